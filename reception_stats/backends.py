"""Authentication backends for Django's ``AUTHENTICATION_BACKENDS``.

:class:`CachedModelBackend` is Django's ``ModelBackend`` whose session lookups
(``get_user``, on every request of a logged-in user) go through
:mod:`reception_stats.accounts`: a manager keeps seeing the last good figures while Django's
database does not answer.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend

from .accounts import cached_user


class CachedModelBackend(ModelBackend):
    """``ModelBackend`` with ``get_user`` answered from the cache when it can."""

    def get_user(self, user_id: Any) -> Any:
        user = cached_user(user_id)
        return user if user is not None and self.user_can_authenticate(user) else None
