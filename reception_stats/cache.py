"""The figures through a cache: what every door calls instead of the service directly.

One entry per question (:class:`~reception_stats.snapshot.Question`): the snapshot of its
figures, breakdown and comparison, kept ``STALE_MAX`` seconds. Stale-while-revalidate:

- an entry younger than ``CACHE_TIMEOUT`` is served as it is (``cached``);
- once older, the first caller to win ``cache.add`` of the entry's *claim* (atomic on Redis,
  so across gunicorn's workers too) computes it again, under the bounds of
  :func:`~reception_stats.db.bounded`, while every other caller gets the existing entry at once;
- if that computation fails (the database is down or frozen), the entry is marked failing and
  served with ``stale: true`` to everyone, and the claim is kept ``CACHE_TIMEOUT`` seconds, so
  that one caller, not all, tries the database again meanwhile;
- with no entry at all (first request, or older than ``STALE_MAX``) the caller computes (the
  other threads of its process asking the same wait for it), and a database failure goes
  through for the door to answer 503.

With the feature flag off nothing is cached, so that turning it back on is instant.
``CACHE_TIMEOUT = 0`` computes on every request, still serving the entry while another request
computes or when the database fails.

A cache that fails (Redis down or stalled) never breaks a door: the figures are computed without
it, a warning is logged, and the cache is left alone for ``UNRESPONSIVE_PAUSE_SECONDS`` in this
process, so that a stalled Redis costs its socket timeout once, not on every call.
``/metrics`` reads the entries with :func:`peek` and never computes.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from django.core.cache import caches
from django.db import DatabaseError

from .conf import app_settings, is_enabled
from .db import query_seconds
from .kpis import WINDOW_24H
from .metrics import CACHED, COMPUTED, DISABLED, STALE, error_kind, observe
from .snapshot import MAX_STATEMENTS, Question, Snapshot, compute_snapshot

logger = logging.getLogger(__name__)

#: The clock entries are dated with (wall-clock seconds, shared across processes through Redis).
#: Tests replace it to age entries without sleeping.
clock: Callable[[], float] = time.time


@dataclass(frozen=True)
class Served:
    """A snapshot with where it came from: ``computed``, ``cached``, ``stale`` or ``disabled``."""

    snapshot: Snapshot
    outcome: str
    #: For a stale answer, the kind of the failure behind it (``database``, ``timeout``).
    failure: str | None = None

    @property
    def stale(self) -> bool:
        """True when the database failed and these are the last good figures."""
        return self.outcome == STALE


@dataclass(frozen=True)
class _Entry:
    snapshot: Snapshot
    #: ``clock()`` when computed.
    computed_at: float
    #: True once a computation meant to replace it failed: served as stale until one succeeds.
    failing: bool = False
    #: The kind of that failure, in the metrics and logs of whoever is served it.
    failure: str = "database"


def get_snapshot(
    window: str = WINDOW_24H,
    site: UUID | str | None = None,
    at: datetime | None = None,
    *,
    compare: str | None = None,
    source: str = "api",
) -> Served:
    """The snapshot of one question, through the cache; every door asks this.

    ``source`` names the door asking (``api``, ``admin``, ``screen``, ``recyclic``) in the
    metrics and logs. Raises :class:`~reception_stats.kpis.SiteNotFound` for an unknown site, and
    :class:`~django.db.DatabaseError` when the database fails with no entry at most ``STALE_MAX``
    seconds old.
    """
    question = Question(window, site, at, compare)
    with observe(source, window, question.site) as observation:
        served = _through_cache(question, source)
        observation.outcome = served.outcome
        if served.stale:
            observation.error_kind = served.failure or "database"  # the failure behind it
        if served.outcome == COMPUTED:
            observation.bad_values = served.snapshot.stats.bad_values
        return served


def peek(window: str, site: UUID | None = None) -> Snapshot | None:
    """The latest snapshot any door had computed for ``window`` now, or None; never computes."""
    store = Store("metrics")
    for compare in (None, "week"):
        entry = store.get(Question(window, site, None, compare).key())
        if entry is not None and clock() - entry.computed_at <= _stale_max():
            return entry.snapshot
    return None


def _through_cache(question: Question, source: str) -> Served:
    if not is_enabled():
        return Served(compute_snapshot(question), DISABLED)

    key = question.key()
    store = Store(source)
    entry = _servable(store.get(key))
    if entry is None:
        with _locks.hold(key):
            # Another thread of this process may have just computed it.
            entry = _servable(store.get(key))
            if entry is None:
                return _compute(question, store, key, None, None, source)
    if _fresh(entry):
        return Served(entry.snapshot, CACHED)
    claim = uuid4().hex
    if not store.add(_claim_key(key), claim, _seconds(MAX_STATEMENTS * query_seconds())):
        # Another caller is computing it, or failed to moments ago: serve what there is.
        if entry.failing:
            return Served(entry.snapshot, STALE, entry.failure)
        return Served(entry.snapshot, CACHED)
    return _compute(question, store, key, entry, claim, source)


def _servable(entry: _Entry | None) -> _Entry | None:
    """The entry, unless it is too old to be served even marked stale."""
    if entry is None or clock() - entry.computed_at > _stale_max():
        return None
    return entry


def _fresh(entry: _Entry) -> bool:
    age = clock() - entry.computed_at
    return not entry.failing and age < float(app_settings.CACHE_TIMEOUT)


def _compute(
    question: Question,
    store: Store,
    key: str,
    entry: _Entry | None,
    claim: str | None,
    source: str,
) -> Served:
    """Compute ``question`` and store it; on a database failure serve ``entry`` as stale."""
    try:
        snapshot = compute_snapshot(question)
    except DatabaseError as error:
        if entry is None:
            raise
        kind = error_kind(error)
        store.set(key, replace(entry, failing=True, failure=kind), _remaining(entry))
        _hold_or_release(store, key, claim)
        logger.warning(
            "%s: the database failed (%s); serving the figures of %s.",
            source,
            type(error).__name__,
            entry.snapshot.generated_at.isoformat(),
        )
        return Served(entry.snapshot, STALE, kind)
    store.set(key, _Entry(snapshot, clock()), _seconds(_stale_max()))
    if claim is not None:
        store.delete(_claim_key(key))
    return Served(snapshot, COMPUTED)


def _claim_key(key: str) -> str:
    return f"{key}:computing"


def _hold_or_release(store: Store, key: str, claim: str | None) -> None:
    """After a failed computation: keep the claim ``CACHE_TIMEOUT`` seconds, so that one caller
    tries the database again then while the others are served at once; or give it back."""
    if claim is None:
        return
    retry = float(app_settings.CACHE_TIMEOUT)
    if retry > 0:
        store.set(_claim_key(key), claim, _seconds(retry))
    else:
        store.delete(_claim_key(key))


def _stale_max() -> float:
    return float(app_settings.STALE_MAX)


def _remaining(entry: _Entry) -> int:
    return _seconds(_stale_max() - (clock() - entry.computed_at))


def _seconds(value: float) -> int:
    # Whole seconds, at least one: Redis keeps keys for whole seconds, and 0 would mean "never".
    return max(1, math.ceil(value))


class _KeyLocks:
    """One lock per key while someone uses it, forgotten afterwards so that keys never pile up."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, tuple[threading.Lock, list[int]]] = {}

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        with self._guard:
            lock, users = self._locks.setdefault(key, (threading.Lock(), [0]))
            users[0] += 1
        try:
            with lock:
                yield
        finally:
            with self._guard:
                users[0] -= 1
                if not users[0]:
                    del self._locks[key]


_locks = _KeyLocks()


# --- the cache itself, and what to do when it fails ----------------------------------------


_paused_until = 0.0
_pause_lock = threading.Lock()


def cache_available() -> bool:
    """False while the cache is left alone after a failure (this process)."""
    return time.monotonic() >= _paused_until


def pause_cache() -> None:
    global _paused_until
    with _pause_lock:
        _paused_until = time.monotonic() + float(app_settings.UNRESPONSIVE_PAUSE_SECONDS)


class Store:
    """The app's cache (or ``alias``); while it fails, as if it were empty.

    Any backend error counts (a Redis connection error or timeout, an entry an older version
    pickled): the caller then computes without the cache.
    """

    def __init__(self, source: str, alias: str | None = None) -> None:
        self.source = source
        self.alias = alias

    def get(self, key: str) -> Any:
        return self._call("read", lambda cache: cache.get(key))

    def set(self, key: str, value: Any, timeout: int) -> None:
        self._call("write", lambda cache: cache.set(key, value, timeout))

    def delete(self, key: str) -> None:
        self._call("write", lambda cache: cache.delete(key))

    def add(self, key: str, value: Any, timeout: int) -> bool:
        """True when ``key`` was absent and is now set; True as well when the cache fails, so
        that the caller goes on as without a cache."""
        return self._call("write", lambda cache: cache.add(key, value, timeout)) is not False

    def _call(self, action: str, operation: Callable[[Any], Any]) -> Any:
        if not cache_available():
            return None
        alias = self.alias or app_settings.CACHE
        try:
            return operation(caches[alias])
        except Exception as error:
            pause_cache()
            logger.warning(
                "%s: cache %r unavailable (%s: %s) on %s; going on without it for %s s.",
                self.source,
                alias,
                type(error).__name__,
                error,
                action,
                app_settings.UNRESPONSIVE_PAUSE_SECONDS,
            )
            return None
