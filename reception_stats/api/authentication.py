"""How the API knows who is asking.

:class:`CachedTokenAuthentication` is DRF's ``Authorization: Token <key>``, its lookup kept in
the cache (:mod:`reception_stats.accounts`), so that a wall screen keeps reading the last good
figures while Django's database does not answer.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication

from reception_stats.accounts import cached_token_user


class CachedTokenAuthentication(TokenAuthentication):
    """DRF's token authentication, looked up through the cache."""

    def authenticate_credentials(self, key: str) -> tuple[Any, str]:
        user = cached_token_user(key)
        if user is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        return user, key
