"""Sessions kept in the cache and the database, for a cache that may fail.

Set ``SESSION_ENGINE = "reception_stats.sessions"``. It is Django's ``cached_db`` engine: a
session is read from the cache first, so that a manager stays logged in while the database does
not answer. Django's engine lets a cache error through when it writes a session it has just
read from the database (a 500 with Redis down); here every cache operation goes through the
app's :class:`~reception_stats.cache.Store`, which treats a failing cache as an empty one and
leaves it alone for a while. Sessions then live in the database alone, as with Django's
``db`` engine.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.sessions.backends import cached_db

from .cache import Store


class _SessionCache:
    """The session cache with the methods Django's engine calls, none of which may raise."""

    def __init__(self) -> None:
        self._store = Store("sessions", settings.SESSION_CACHE_ALIAS)

    def get(self, key: str, default: Any = None) -> Any:
        value = self._store.get(key)
        return default if value is None else value

    def set(self, key: str, value: Any, timeout: Any = None) -> None:
        self._store.set(key, value, timeout)

    def delete(self, key: str) -> None:
        self._store.delete(key)

    def __contains__(self, key: str) -> bool:
        return self._store.get(key) is not None


class SessionStore(cached_db.SessionStore):
    cache_key_prefix = cached_db.KEY_PREFIX

    def __init__(self, session_key: str | None = None) -> None:
        super().__init__(session_key)
        self._cache = _SessionCache()
