"""Who is asking, answered from the cache when the database cannot: users and API tokens.

A wall screen's token or a manager's session is looked up in Django's tables on every request
(and a Recyclic account's row in Recyclic's, :mod:`reception_stats.recyclic_users`).
When that database stops answering (one database for everything is a common setup), the figures
are still in the cache, but without these lookups nobody could be let in to see them. So each
lookup is kept in the app's cache: reused as it is for ``ACCOUNT_CHECK_SECONDS`` (a minute), and
while the database fails, for up to ``STALE_MAX`` seconds. The user is cached with its
permissions already read, so that checking them needs no query either.

Changes made through Django (an account deactivated, a token deleted, a permission granted to
the user) drop the cached lookup at once; a permission granted to a *group* reaches its members
within ``ACCOUNT_CHECK_SECONDS``.
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth import get_user_model
from django.db import DatabaseError
from django.db.models.signals import m2m_changed, post_delete, post_save

from . import cache
from .conf import app_settings

logger = logging.getLogger(__name__)


def _user_key(user_id: Any) -> str:
    return f"reception_stats:account:user:{user_id}"


def _token_key(key: str) -> str:
    return f"reception_stats:account:token:{key}"


def cached_lookup(cache_key: str, read: Any) -> Any:
    """``read()``'s result through the cache: fresh for ``ACCOUNT_CHECK_SECONDS``, and served
    up to ``STALE_MAX`` seconds old while ``read`` fails with a database error."""
    store = cache.Store("accounts")
    cached = store.get(cache_key)
    age = None if cached is None else cache.clock() - cached[1]
    if cached is not None and age < float(app_settings.ACCOUNT_CHECK_SECONDS):
        return cached[0]
    try:
        value = read()
    except DatabaseError:
        if cached is not None and age <= float(app_settings.STALE_MAX):
            logger.warning("accounts: the database failed; using a lookup %.0f s old.", age)
            return cached[0]
        raise
    remember_lookup(cache_key, value)
    return value


def remember_lookup(cache_key: str, value: Any) -> None:
    """Keep ``value`` as the fresh answer of the lookup ``cache_key``, read just now."""
    lifetime = max(int(app_settings.STALE_MAX), int(app_settings.ACCOUNT_CHECK_SECONDS), 1)
    cache.Store("accounts").set(cache_key, (value, cache.clock()), lifetime)


def _with_permissions(user: Any) -> Any:
    # Reading them fills the user's own permission caches, which are pickled with it.
    if user is not None:
        user.get_all_permissions()
    return user


def cached_user(user_id: Any) -> Any:
    """The Django user ``user_id``, or None if there is none."""
    model = get_user_model()

    def read() -> Any:
        users = model._default_manager.select_related("recyclic_account")
        return _with_permissions(users.filter(pk=user_id).first())

    return cached_lookup(_user_key(user_id), read)


def cached_token_user(key: str) -> Any:
    """The user of DRF token ``key``, or None if no such token."""
    from rest_framework.authtoken.models import Token

    def read() -> Any:
        tokens = Token.objects.select_related("user", "user__recyclic_account")
        token = tokens.filter(key=key).first()
        return None if token is None else _with_permissions(token.user)

    return cached_lookup(_token_key(key), read)


def forget_user(user_id: Any) -> None:
    cache.Store("accounts").delete(_user_key(user_id))


def forget_token(key: str) -> None:
    cache.Store("accounts").delete(_token_key(key))


# --- what Django changes drops at once ------------------------------------------------------


def _user_changed(sender: Any, instance: Any, **kwargs: Any) -> None:
    # A sign-in saves last_login, which grants or takes nothing: forgetting the user then would
    # leave the person's other sessions (their wall screens, their phone) with no cached copy
    # if the database stops answering right after.
    if set(kwargs.get("update_fields") or ()) == {"last_login"}:
        return
    _forget_everything_of(instance.pk)


def _user_relations_changed(sender: Any, instance: Any, **kwargs: Any) -> None:
    if isinstance(instance, get_user_model()):
        _forget_everything_of(instance.pk)


def _forget_everything_of(user_id: Any) -> None:
    """The user's cached lookups, their API token's too: a user activated or given the
    permission is let in by their token at once, not a minute later."""
    forget_user(user_id)
    try:
        from rest_framework.authtoken.models import Token
    except (ImportError, RuntimeError):  # authtoken not installed: no tokens
        return
    for key in Token.objects.filter(user_id=user_id).values_list("key", flat=True):
        forget_token(key)


def _token_changed(sender: Any, instance: Any, **kwargs: Any) -> None:
    forget_token(instance.key)
    forget_user(instance.user_id)


def connect_signals() -> None:
    """Called by the app's ``ready()``."""
    user_model = get_user_model()
    post_save.connect(_user_changed, sender=user_model, dispatch_uid="rs-account-user-save")
    post_delete.connect(_user_changed, sender=user_model, dispatch_uid="rs-account-user-delete")
    for relation in ("user_permissions", "groups"):
        through = getattr(user_model, relation, None)
        if through is not None:
            m2m_changed.connect(
                _user_relations_changed,
                sender=through.through,
                dispatch_uid=f"rs-account-{relation}",
            )
    try:
        from rest_framework.authtoken.models import Token
    except (ImportError, RuntimeError):  # authtoken not installed: no tokens to forget
        return
    post_save.connect(_token_changed, sender=Token, dispatch_uid="rs-account-token-save")
    post_delete.connect(_token_changed, sender=Token, dispatch_uid="rs-account-token-delete")
