"""Wall screens: paired once with a code, then shown the desk's figures with a cookie of their own.

- :func:`new_code` gives a screen a one-time pairing code (valid ``PAIRING_MINUTES``), shown
  once in the admin; only its hash is kept.
- :func:`pair` trades a valid code for the screen's secret, which the screen keeps in a signed,
  long-lived, HTTP-only cookie scoped to ``/ecran/``; only the secret's hash is kept.
- :func:`screen_of` reads that cookie back: the screen, or None if the cookie is missing, forged,
  or the screen was revoked or paired again. The lookup goes through the cache
  (:func:`~reception_stats.accounts.cached_lookup`), so a screen keeps showing the last good
  figures while Django's database does not answer; a change to the screen (revoked, paired
  again) drops it at once, so that a revoked screen loses the page at its next refresh.

The cookie opens the screen page and its refresh, nothing else: no other door reads it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

from django.core import signing
from django.db import DatabaseError
from django.db.models.signals import post_delete, post_save
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from . import cache
from .accounts import cached_lookup
from .models import Screen

COOKIE = "reception_stats_screen"
COOKIE_PATH = "/ecran/"
COOKIE_SALT = "reception_stats.screen"
#: Ten years: a screen by the desk is paired once, and revoked when it is no longer wanted.
COOKIE_MAX_AGE = 10 * 365 * 24 * 3600
PAIRING_MINUTES = 15
#: Without 0/O, 1/I/L: a code read across a room and typed on a TV remote.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8
#: Wrong codes an address may type in ``PAIRING_WINDOW`` seconds before being refused for that long.
#: Behind a proxy every screen shares the proxy's address: the limit leaves room for typos
#: there, and a guess still has one chance in 31**8 / 30 (about 3e10) per pending code.
#: A code that cannot be one (wrong length, a letter the codes never use) is not counted.
PAIRING_ATTEMPTS = 30
PAIRING_WINDOW = 600
#: A screen's last visit is written at most this often (a refresh every 30 s would write each time).
LAST_SEEN_SECONDS = 60


@dataclass(frozen=True)
class ScreenAccess:
    """What the cookie check needs of a screen, kept in the cache."""

    pk: int
    name: str
    site: UUID | None
    token_hash: str
    active: bool
    last_seen_at: Any


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_code(screen: Screen) -> str:
    """A fresh one-time pairing code for ``screen``; an older one stops working."""
    code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    screen.code_hash = _digest(code)
    screen.code_expires_at = timezone.now() + timedelta(minutes=PAIRING_MINUTES)
    screen.revoked_at = None
    screen.save(update_fields=["code_hash", "code_expires_at", "revoked_at"])
    return f"{code[:4]}-{code[4:]}"


def normalize_code(typed: str) -> str:
    return "".join(char for char in typed.upper() if char.isalnum())


def pairing_refused(address: str) -> bool:
    """True once ``address`` typed too many wrong codes lately."""
    return (cache.Store("screens").get(_attempts_key(address)) or 0) >= PAIRING_ATTEMPTS


def _attempts_key(address: str) -> str:
    return f"reception_stats:screen-pairing:{address}"


def pair(code: str, address: str) -> tuple[Screen, str] | None:
    """The screen whose valid code this is, with its new secret; None for a wrong code."""
    typed = normalize_code(code)
    if len(typed) != CODE_LENGTH or not set(typed) <= set(CODE_ALPHABET):
        return None  # a typo no code could match: nothing guessed, nothing counted
    screen = Screen.objects.filter(
        code_hash=_digest(typed), code_expires_at__gt=timezone.now(), revoked_at__isnull=True
    ).first()
    if screen is None:
        store = cache.Store("screens")
        key = _attempts_key(address)
        store.set(key, (store.get(key) or 0) + 1, PAIRING_WINDOW)
        return None
    secret = secrets.token_urlsafe(32)
    screen.token_hash = _digest(secret)
    screen.code_hash, screen.code_expires_at = "", None  # one use only
    screen.paired_at = timezone.now()
    screen.save(update_fields=["token_hash", "code_hash", "code_expires_at", "paired_at"])
    return screen, secret


def set_cookie(response: HttpResponse, screen: Screen, secret: str, *, secure: bool) -> None:
    """The screen's secret, signed, kept by the browser for ``COOKIE_MAX_AGE``."""
    response.set_signed_cookie(
        COOKIE,
        f"{screen.pk}:{secret}",
        salt=COOKIE_SALT,
        max_age=COOKIE_MAX_AGE,
        path=COOKIE_PATH,
        secure=secure,
        httponly=True,
        samesite="Lax",
    )


def forget_cookie(response: HttpResponse) -> None:
    response.delete_cookie(COOKIE, path=COOKIE_PATH, samesite="Lax")


def screen_of(request: HttpRequest) -> ScreenAccess | None:
    """The paired, not revoked screen the request's cookie stands for, or None."""
    try:
        value = request.get_signed_cookie(COOKIE, salt=COOKIE_SALT, max_age=COOKIE_MAX_AGE)
        pk, secret = value.split(":", 1)
        pk = int(pk)
    except (KeyError, ValueError, signing.BadSignature):
        return None
    access = cached_lookup(_screen_key(pk), lambda: _read(pk))
    if access is None or not access.active or not access.token_hash:
        return None
    if not hmac.compare_digest(access.token_hash, _digest(secret)):
        return None
    _note_visit(access)
    return access


def _read(pk: int) -> ScreenAccess | None:
    screen = Screen.objects.filter(pk=pk).first()
    if screen is None:
        return None
    return ScreenAccess(
        pk=screen.pk,
        name=screen.name,
        site=screen.site,
        token_hash=screen.token_hash,
        active=screen.revoked_at is None,
        last_seen_at=screen.last_seen_at,
    )


def _note_visit(access: ScreenAccess) -> None:
    now = timezone.now()
    if access.last_seen_at and now - access.last_seen_at < timedelta(seconds=LAST_SEEN_SECONDS):
        return
    try:
        # Written to Django's own database; the save signal drops the cached lookup.
        screen = Screen.objects.filter(pk=access.pk).first()
        if screen is not None:
            screen.last_seen_at = now
            screen.save(update_fields=["last_seen_at"])
    except DatabaseError:
        pass  # a visit not noted never stops the figures


def _screen_key(pk: int) -> str:
    return f"reception_stats:account:screen:{pk}"


def _screen_changed(sender: Any, instance: Screen, **kwargs: Any) -> None:
    cache.Store("screens").delete(_screen_key(instance.pk))


def connect_signals() -> None:
    post_save.connect(_screen_changed, sender=Screen, dispatch_uid="rs-screen-save")
    post_delete.connect(_screen_changed, sender=Screen, dispatch_uid="rs-screen-delete")
