"""Authentication backends for Django's ``AUTHENTICATION_BACKENDS``.

- :class:`CachedModelBackend` is Django's ``ModelBackend`` whose session lookups
  (``get_user``, on every request of a logged-in user) go through
  :mod:`reception_stats.accounts`: a manager keeps seeing the last good figures while Django's
  database does not answer.
- :class:`RecyclicBackend` lets Recyclic's admins sign in to the admin page with the user name
  and password they have in Recyclic (:mod:`reception_stats.recyclic_users`), and logs them out
  within ``ACCOUNT_CHECK_SECONDS`` once Recyclic deactivates or demotes them. Put it after
  ``CachedModelBackend``: Django's own accounts keep working beside it. Needs the ``bcrypt``
  package (the ``recyclic`` extra); ``RECEPTION_STATS["RECYCLIC_LOGIN"] = False`` turns it off.
"""

from __future__ import annotations

import logging
from importlib.util import find_spec
from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.db import DatabaseError

from . import recyclic_users
from .accounts import cached_user
from .conf import app_settings

logger = logging.getLogger(__name__)


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
        try:
            person = recyclic_users.find(username=username)
        except DatabaseError as error:
            # Recyclic's users table missing or its database down: Django's accounts still work.
            logger.warning("Recyclic sign-in unavailable (%s).", type(error).__name__)
            return None
        if not recyclic_users.password_matches(person, password) or not person.may_read:
            return None
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
