"""Recyclic's own people: who may read the figures with a Recyclic account or token.

The people who need the figures already have accounts in Recyclic's ``users`` table: a bcrypt
password hash (as Recyclic's passlib writes it, ``$2b$12$…``), a role (``super-admin``,
``admin``, ``user``), a status and an ``is_active`` flag. This module reads that table, and
nothing else of Recyclic's, through the figures' database alias, read-only and bounded:

- :func:`find` a person by user name or by id;
- :func:`password_matches`, as Recyclic's login checks it;
- :func:`recheck`: the person as Recyclic has them now, reused ``ACCOUNT_CHECK_SECONDS``
  (a minute) and, while Recyclic's database does not answer, up to ``STALE_MAX``;
- :func:`linked_user`: the Django user a Recyclic account signs in as (Django's own tables),
  with staff status and the one permission ``reception_stats.view_live_stats``.

Who may read the figures (:attr:`RecyclicPerson.may_read`): an active account
(``is_active``, status in ``RECYCLIC_STATUSES``: active or approved) whose role is in
``RECYCLIC_ROLES`` (admin, super-admin). A Recyclic account deactivated or demoted in Recyclic
loses access within ``ACCOUNT_CHECK_SECONDS``, without anyone touching Django.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.contrib.auth import get_user_model
from django.core.exceptions import ObjectDoesNotExist
from django.db import transaction

from .accounts import cached_lookup, remember_lookup
from .conf import app_settings
from .db import read_only
from .models import RecyclicAccount, RecyclicUser
from .permissions import manager_permissions

logger = logging.getLogger(__name__)

#: The columns read, and only those: never the PIN, the phone number, the notes.
COLUMNS = ("id", "username", "hashed_password", "role", "status", "is_active")
#: bcrypt reads the first 72 bytes of a password; passlib, which Recyclic uses, cuts the rest
#: off silently, and the bcrypt package refuses longer ones: cut them off as Recyclic does.
BCRYPT_MAX_BYTES = 72


class UsernameTaken(Exception):
    """A Django account of the same user name exists, not linked to this Recyclic account."""


@dataclass(frozen=True)
class RecyclicPerson:
    id: UUID
    username: str
    role: str
    status: str
    is_active: bool
    hashed_password: str = ""

    @property
    def may_sign_in(self) -> bool:
        """An account Recyclic itself lets in (its login refuses inactive ones)."""
        return self.is_active and self.status in tuple(app_settings.RECYCLIC_STATUSES)

    @property
    def may_read(self) -> bool:
        """Allowed to read the figures: signed in, with one of ``RECYCLIC_ROLES``."""
        return self.may_sign_in and self.role in tuple(app_settings.RECYCLIC_ROLES)


def find(*, username: str | None = None, id: UUID | None = None) -> RecyclicPerson | None:
    """The person of that user name (exact, as Recyclic's login) or id, or None."""
    rows = RecyclicUser.objects.using(app_settings.DATABASE)
    rows = rows.filter(username=username) if username is not None else rows.filter(pk=id)
    with read_only(app_settings.DATABASE, consistent=False):
        row = rows.values(*COLUMNS).first()
    if row is None:
        return None
    return RecyclicPerson(
        id=row["id"],
        username=row["username"],
        role=row["role"],
        status=row["status"],
        is_active=row["is_active"],
        hashed_password=row["hashed_password"] or "",
    )


def is_django_account(username: str) -> bool:
    """A Django account of that name exists that no Recyclic account signs in as."""
    user_model = get_user_model()
    return (
        user_model._default_manager.filter(**{user_model.USERNAME_FIELD: username})
        .filter(recyclic_account__isnull=True)
        .exists()
    )


def password_matches(person: RecyclicPerson | None, password: str) -> bool:
    """bcrypt, as Recyclic checks it; as slow for an unknown user as for a known one."""
    import bcrypt

    secret = password.encode("utf-8")[:BCRYPT_MAX_BYTES]
    hashed = person.hashed_password if person is not None else ""
    try:
        matches = bcrypt.checkpw(secret, hashed.encode("utf-8"))
    except ValueError:  # no hash, or not a bcrypt one: still spend the time of a check
        bcrypt.checkpw(secret, _decoy_hash())
        return False
    return matches and person is not None


@functools.cache
def _decoy_hash() -> bytes:
    import bcrypt

    return bcrypt.hashpw(b"decoy", bcrypt.gensalt(12))


def _recheck_key(recyclic_id: UUID) -> str:
    return f"reception_stats:account:recyclic:{recyclic_id}"


def recheck(recyclic_id: UUID) -> RecyclicPerson | None:
    """The person as Recyclic has them now (None if gone), without the password hash."""

    def read() -> RecyclicPerson | None:
        person = find(id=recyclic_id)
        return None if person is None else _without_hash(person)

    return cached_lookup(_recheck_key(recyclic_id), read)


def remember(person: RecyclicPerson) -> None:
    """The person as a sign-in just read them: what :func:`recheck` answers from now on, so
    that an account reactivated in Recyclic is not refused for the minute an older verdict
    ("inactive") would still be reused."""
    remember_lookup(_recheck_key(person.id), _without_hash(person))


def _without_hash(person: RecyclicPerson) -> RecyclicPerson:
    # What is kept in the cache needs no hash: only the sign-in checks the password.
    return RecyclicPerson(person.id, person.username, person.role, person.status, person.is_active)


def recyclic_id_of(user: Any) -> UUID | None:
    """The Recyclic account a Django user signs in as, if any."""
    try:
        return user.recyclic_account.recyclic_user_id
    except (ObjectDoesNotExist, AttributeError):
        return None


def still_allowed(user: Any) -> bool:
    """False for a Django user linked to a Recyclic account that may no longer read."""
    recyclic_id = recyclic_id_of(user)
    if recyclic_id is None:
        return True
    person = recheck(recyclic_id)
    return person is not None and person.may_read


def linked_user(person: RecyclicPerson) -> Any:
    """The Django user of a Recyclic account, created at the first sign-in and brought up to
    date at each: staff (for the admin page), not superuser, a manager's permissions (the
    figures and the wall screens) and nothing more. Raises :class:`UsernameTaken` rather than
    take over a Django account of the same name."""
    user_model = get_user_model()
    permissions = manager_permissions()
    with transaction.atomic():
        account = (
            RecyclicAccount.objects.select_related("user")
            .filter(recyclic_user_id=person.id)
            .first()
        )
        if account is None:
            if user_model._default_manager.filter(
                **{user_model.USERNAME_FIELD: person.username}
            ).exists():
                raise UsernameTaken(person.username)
            user = user_model(**{user_model.USERNAME_FIELD: person.username})
            user.set_unusable_password()  # they sign in with their Recyclic password only
            user.save()
            account = RecyclicAccount.objects.create(
                user=user, recyclic_user_id=person.id, recyclic_username=person.username
            )
        user = account.user
        # Written only when they change: a write drops the cached user, and the person's other
        # sessions would then have no copy to fall back on if the database stopped answering.
        if (user.is_staff, user.is_superuser, user.is_active) != (True, False, True):
            user.is_staff, user.is_superuser, user.is_active = True, False, True
            user.save(update_fields=["is_staff", "is_superuser", "is_active"])
        if account.recyclic_username != person.username:
            account.recyclic_username = person.username
            account.save(update_fields=["recyclic_username"])
        if user.groups.exists():
            user.groups.clear()
        user.user_permissions.set(permissions)  # sends nothing when they are already those
    return user
