"""How the API knows who is asking.

- :class:`CachedTokenAuthentication` is DRF's ``Authorization: Token <key>``, its lookup kept
  in the cache (:mod:`reception_stats.accounts`), so that a wall screen keeps reading the last
  good figures while Django's database does not answer.
- :class:`RecyclicTokenAuthentication` is ``Authorization: Bearer <token>`` with the token
  Recyclic gives its users: Recyclic's frontend calls this app with it, unchanged.
"""

from __future__ import annotations

import time
from importlib.util import find_spec
from typing import Any
from uuid import UUID

from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import (
    BaseAuthentication,
    TokenAuthentication,
    get_authorization_header,
)

from reception_stats.accounts import cached_token_user
from reception_stats.conf import app_settings
from reception_stats.recyclic_users import recheck

#: Recyclic lets an administrator set its tokens' lifetime between 1 minute and 7 days (its
#: session settings): a token that expires later than that was not signed by Recyclic's login.
RECYCLIC_TOKEN_MAX_SECONDS = 7 * 24 * 3600
#: Clocks of two servers differ a little.
CLOCK_LEEWAY_SECONDS = 60


class CachedTokenAuthentication(TokenAuthentication):
    """DRF's token authentication, looked up through the cache."""

    def authenticate_credentials(self, key: str) -> tuple[Any, str]:
        user = cached_token_user(key)
        if user is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        return user, key


class RecyclicPrincipal:
    """Who a Recyclic token stands for: a Recyclic account, with no Django account of its own.

    Nothing is written to Django's database for an API call; the account's role decides
    (``may_read``), checked against Recyclic's ``users`` every ``ACCOUNT_CHECK_SECONDS``.
    """

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False

    def __init__(self, person: Any) -> None:
        self.person = person
        # Throttling counts requests per ``pk``: one count per Recyclic account.
        self.pk = self.id = f"recyclic:{person.id}"
        self.username = person.username

    def has_perm(self, perm: str, obj: Any = None) -> bool:
        from reception_stats.permissions import VIEW_PERMISSION

        return perm == VIEW_PERMISSION and self.person.may_read

    def get_username(self) -> str:
        return self.username

    def __str__(self) -> str:
        return self.username


class RecyclicTokenAuthentication(BaseAuthentication):
    """``Authorization: Bearer <token>``, the token Recyclic's own API gives its users.

    With ``RECYCLIC_SECRET_KEY`` set (Recyclic's own ``SECRET_KEY``): HS256 only (``none`` and
    every other algorithm refused), signature and expiry checked, ``sub`` the Recyclic user's
    id, and a token with a ``scope`` (Recyclic's password-reset tokens) refused. The account
    must be one Recyclic itself lets in; its role decides whether it may read (403 otherwise).
    Needs the PyJWT package (the ``recyclic`` extra).
    """

    keyword = "Bearer"

    def authenticate(self, request: Any) -> tuple[RecyclicPrincipal, str] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword.lower().encode():
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(_("Invalid token header."))
        secret = app_settings.RECYCLIC_SECRET_KEY
        if not secret or not find_spec("jwt"):  # reception_stats.W024 says why, if it is PyJWT
            raise exceptions.AuthenticationFailed(_("Recyclic tokens are not accepted here."))
        token = parts[1].decode("latin-1")
        import jwt

        try:
            claims = jwt.decode(
                token, secret, algorithms=["HS256"], options={"require": ["exp", "sub"]}
            )
        except jwt.PyJWTError:
            raise exceptions.AuthenticationFailed(_("Invalid or expired token.")) from None
        if float(claims["exp"]) > time.time() + RECYCLIC_TOKEN_MAX_SECONDS + CLOCK_LEEWAY_SECONDS:
            # Valid for longer than Recyclic ever signs one: a forged or leaked forever-token.
            raise exceptions.AuthenticationFailed(_("Invalid or expired token."))
        if "scope" in claims:
            # Recyclic's password-reset tokens carry one: they open nothing but that reset.
            raise exceptions.AuthenticationFailed(_("Invalid or expired token."))
        try:
            recyclic_id = UUID(str(claims["sub"]))
        except ValueError:
            raise exceptions.AuthenticationFailed(_("Invalid or expired token.")) from None
        person = recheck(recyclic_id)
        if person is None or not person.may_sign_in:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        return RecyclicPrincipal(person), token

    def authenticate_header(self, request: Any) -> str:
        return self.keyword
