"""Authentication backends for Django's ``AUTHENTICATION_BACKENDS``.

- :class:`CachedModelBackend` is Django's ``ModelBackend`` whose session lookups
  (``get_user``, on every request of a logged-in user) go through
  :mod:`reception_stats.accounts`: a manager keeps seeing the last good figures while Django's
  database does not answer.
- :class:`RecyclicBackend` lets Recyclic's admins sign in to the admin page with the user name
  and password they have in Recyclic (:mod:`reception_stats.recyclic_users`), and logs them out
  within ``ACCOUNT_CHECK_SECONDS`` once Recyclic deactivates or demotes them. Put it after
  ``CachedModelBackend``: Django's own accounts keep working beside it. While Recyclic's
  database does not answer, a sign-in that only Recyclic could check answers 503
  (:class:`RecyclicUnavailable`) and is not counted as a failure. Needs the ``bcrypt``
  package (the ``recyclic`` extra); ``RECEPTION_STATS["RECYCLIC_LOGIN"] = False`` turns it off.
"""

from __future__ import annotations

import logging
from importlib.util import find_spec
from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.db import DatabaseError, OperationalError

from . import recyclic_users
from .accounts import cached_user
from .conf import app_settings

logger = logging.getLogger(__name__)


class RecyclicUnavailable(OperationalError):
    """Recyclic's database did not answer while a Recyclic password was to be checked.

    Raised out of ``authenticate()``, so that neither Django nor django-axes takes it for a
    wrong password; as a ``DatabaseError``, every door answers it 503 with ``Retry-After``
    (:mod:`reception_stats.middleware`), with a message of its own."""


class CachedModelBackend(ModelBackend):
    """``ModelBackend`` with ``get_user`` answered from the cache when it can."""

    def get_user(self, user_id: Any) -> Any:
        user = cached_user(user_id)
        return user if user is not None and self.user_can_authenticate(user) else None


class RecyclicBackend(CachedModelBackend):
    """Sign in with a Recyclic account: user name and password checked against Recyclic."""

    def authenticate(
        self, request: Any, username: str | None = None, password: str | None = None, **kwargs: Any
    ) -> Any:
        if not app_settings.RECYCLIC_LOGIN or username is None or password is None:
            return None
        if not find_spec("bcrypt"):
            return None  # reception_stats.W023 says so; Django's own accounts still sign in
        if recyclic_users.is_django_account(username):
            # Django's password check came first; Recyclic never signs this name in. As slow as
            # a Recyclic check all the same: the time must not tell a Django account's name.
            recyclic_users.password_matches(None, password)
            return None
        try:
            person = recyclic_users.find(username=username)
        except OperationalError as error:
            # Recyclic's database down, frozen or locked: the password cannot be checked. Not a
            # wrong password: nothing for django-axes to count, a 503 that says so.
            logger.warning("Recyclic sign-in unavailable (%s).", type(error).__name__)
            raise RecyclicUnavailable(str(error)) from error
        except DatabaseError as error:
            # No Recyclic users table where the figures are read: Django's accounts only.
            logger.warning("Recyclic sign-in unavailable (%s).", type(error).__name__)
            return None
        if not recyclic_users.password_matches(person, password) or not person.may_read:
            return None
        recyclic_users.remember(person)  # fresher than any verdict kept from before
        try:
            return recyclic_users.linked_user(person)
        except recyclic_users.UsernameTaken:
            logger.warning(
                "Recyclic account %s not signed in: a Django account has the same user name.",
                person.id,
            )
            return None

    def get_user(self, user_id: Any) -> Any:
        user = super().get_user(user_id)
        return user if user is not None and recyclic_users.still_allowed(user) else None
