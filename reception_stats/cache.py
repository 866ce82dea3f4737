"""The figures through a short cache: what every door calls instead of the service directly.

The API, the admin page and the metrics all call :func:`get_live_stats` (and the admin page
:func:`get_breakdown`), never :func:`~reception_stats.kpis.compute_live_stats` itself, so that
twenty wall screens polling every few seconds cost one computation per ``CACHE_TIMEOUT``.
(``manage.py reception_stats`` calls the service directly: an operator wants figures of now.)

- At most one computation per key runs at a time, across every process that shares the cache
  (gunicorn's workers with Redis): within a process the others wait on a lock; across processes
  the first to ``cache.add`` the key's *claim* computes, the others poll the cache for its
  result, for at most as long as a computation may last (its statements times the statement
  timeout, 12 s by default), after which the claim has expired anyway. A process that fails to
  compute gives the claim back and the next one waiting computes in its turn.
- Each result is also kept ``STALE_MAX`` seconds under a second key, the "last good" copy, served
  marked stale while the database fails. With no such copy the database error goes through, for
  the door to answer "unavailable".
- With the feature flag off nothing is cached, so that turning it back on is instant.
- ``CACHE_TIMEOUT = 0`` turns the short cache off; the last good copy is still kept.
- A cache that fails (Redis down) never breaks a door: the figures are computed without it and a
  warning is logged.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar
from uuid import UUID, uuid4

from django.core.cache import caches
from django.db import DatabaseError
from django.utils import timezone

from .breakdowns import QUERIES_PER_BREAKDOWN, Breakdown, compute_breakdown
from .conf import app_settings, is_enabled
from .db import statement_timeout_ms
from .kpis import QUERIES_PER_COMPUTATION, WINDOW_24H, LiveStats, compute_live_stats
from .metrics import observe

logger = logging.getLogger(__name__)

COMPUTED = "computed"
CACHED = "cached"
STALE = "stale"
DISABLED = "disabled"
OUTCOMES = (COMPUTED, CACHED, STALE, DISABLED)

#: Part of every key: bump it when the cached objects change shape, so that a deployment never
#: reads what an older version stored.
KEY_VERSION = 1

T = TypeVar("T", LiveStats, Breakdown)


@dataclass(frozen=True)
class CachedStats(Generic[T]):
    """Figures with where they came from: ``computed``, ``cached``, ``stale`` or ``disabled``."""

    stats: T
    outcome: str

    @property
    def stale(self) -> bool:
        """True when the database failed and these are the last good figures."""
        return self.outcome == STALE


def get_live_stats(
    window: str = WINDOW_24H,
    site: UUID | str | None = None,
    at: datetime | None = None,
    *,
    source: str = "api",
) -> CachedStats[LiveStats]:
    """The live KPIs of :func:`~reception_stats.kpis.compute_live_stats`, through the cache.

    ``source`` names the door asking (``api``, ``admin``, ``metrics``) in the logs. Raises
    :class:`~reception_stats.kpis.SiteNotFound` for an unknown site, and
    :class:`~django.db.DatabaseError` when the database fails with no last good copy at most
    ``STALE_MAX`` seconds old.
    """
    with observe(source, window, site) as observation:
        result = _through_cache("live", compute_live_stats, window, site, at, source)
        observation.outcome = result.outcome
        if result.stale:
            observation.error_kind = "database"  # the failure behind the stale answer
        return result


def get_breakdown(
    window: str = WINDOW_24H,
    site: UUID | str | None = None,
    at: datetime | None = None,
    *,
    source: str = "admin",
) -> CachedStats[Breakdown]:
    """The per-hour, per-category and per-destination breakdown, through the cache likewise."""
    return _through_cache("breakdown", compute_breakdown, window, site, at, source)


def cache_key(kind: str, window: str, site: UUID | str | None, at: datetime | None) -> str:
    """One key per question: the same site or moment written differently is the same key."""
    site_part = str(UUID(str(site))) if site is not None else "all"
    at_part = at.astimezone(UTC).isoformat() if at is not None else "now"
    return f"reception_stats:v{KEY_VERSION}:{kind}:{window}:{site_part}:{at_part}"


def _through_cache(
    kind: str,
    compute: Callable[..., T],
    window: str,
    site: UUID | str | None,
    at: datetime | None,
    source: str,
) -> CachedStats[T]:
    if not is_enabled():
        return CachedStats(compute(window, site, at), DISABLED)

    key = cache_key(kind, window, site, at)
    timeout = float(app_settings.CACHE_TIMEOUT)
    store = _Store(source)
    cached = store.get(key) if timeout > 0 else None
    if cached is not None:
        return CachedStats(cached, CACHED)

    with _locks.hold(key):
        # Whoever held the lock before us has most likely just stored the figures.
        cached = store.get(key) if timeout > 0 else None
        if cached is not None:
            return CachedStats(cached, CACHED)
        claim = None
        if timeout > 0:
            # Another process may be computing them: wait for its figures, or claim the work.
            cached, claim = _claim_or_wait(store, key, source)
            if cached is not None:
                return CachedStats(cached, CACHED)
        try:
            stats = compute(window, site, at)
            if timeout > 0:
                store.set(key, stats, timeout)
            store.set(_last_good_key(key), stats, app_settings.STALE_MAX)
        except DatabaseError as error:
            last_good = store.get(_last_good_key(key))
            if last_good is None or _age(last_good) > _stale_max():
                raise
            logger.warning(
                "%s: the database failed (%s); serving the figures of %s.",
                source,
                type(error).__name__,
                last_good.generated_at.isoformat(),
            )
            return CachedStats(last_good, STALE)
        finally:
            # Only once the figures are stored: a process waiting for them must find them.
            if claim is not None:
                _release(key, claim)
        return CachedStats(stats, COMPUTED)


def _last_good_key(key: str) -> str:
    return f"{key}:last-good"


def _claim_key(key: str) -> str:
    return f"{key}:computing"


#: Seconds between two looks at the cache while another process computes (one takes 10 to 30 ms).
CLAIM_POLL_SECONDS = 0.02
#: Statements one computation runs at most (the figures' or a breakdown's queries, the site
#: check, the read-only transaction's SET); PostgreSQL stops each at the statement timeout.
MAX_STATEMENTS = max(QUERIES_PER_COMPUTATION, QUERIES_PER_BREAKDOWN) + 2


def claim_seconds() -> int:
    """How long a claim lasts, and a process waits on it: the longest a computation may run,
    in whole seconds (Redis keeps keys for whole seconds)."""
    return max(1, math.ceil(MAX_STATEMENTS * statement_timeout_ms() / 1000))


def _claim_or_wait(store: _Store, key: str, source: str) -> tuple[Any, str | None]:
    """``(figures, None)`` once another process has stored them under ``key``; otherwise
    ``(None, token)``: the caller computes them, then gives the claim back with
    :func:`_release` (``token`` is None when it computes without the claim).

    The claim is an entry the first process to ask adds (``cache.add``, atomic on Redis) with a
    token of its own, for :func:`claim_seconds`. A process that ends without figures (the
    database failed) gives it back, and the next one waiting takes it in turn; one that died
    leaves it to expire, and the next one waiting takes it then.
    """
    claim = _claim_key(key)
    token = uuid4().hex
    lifetime = claim_seconds()
    started = time.monotonic()
    while not store.add(claim, token, lifetime):
        if time.monotonic() - started >= lifetime:
            logger.warning(
                "%s: other processes have been computing %s for %d s; computing it here too.",
                source,
                key,
                lifetime,
            )
            return None, None
        time.sleep(CLAIM_POLL_SECONDS)
        cached = store.get(key)
        if cached is not None:
            logger.debug(
                "%s: %s computed by another process, after %.0f ms of waiting.",
                source,
                key,
                (time.monotonic() - started) * 1000,
            )
            return cached, None
    # The figures may have been stored, and their claim given back, just before this one.
    cached = store.get(key)
    if cached is not None:
        _release(key, token)
        return cached, None
    waited = time.monotonic() - started
    if waited >= CLAIM_POLL_SECONDS:
        logger.info(
            "%s: %s left without figures by another process after %.0f ms (its computation "
            "failed, or the process died); computing it here.",
            source,
            key,
            waited * 1000,
        )
    return None, token


def _release(key: str, token: str) -> None:
    """Delete the claim if it is still ``token``'s, even after the call's store failed once: a
    claim left behind would keep other processes waiting for figures nobody computes."""
    claim = _claim_key(key)
    try:
        cache = caches[app_settings.CACHE]
        # Not atomic, but the claim outlives any computation: another process can only hold it
        # here if this one ran past claim_seconds(), and that one's claim then ends on its own.
        if cache.get(claim) == token:
            cache.delete(claim)
    except Exception as error:
        # The cache's failure was logged already, by the call that met it first.
        logger.debug(
            "Could not give back the claim on %s (%s: %s); it expires in %d s.",
            key,
            type(error).__name__,
            error,
            claim_seconds(),
        )


def _age(stats: LiveStats | Breakdown) -> timedelta:
    return timezone.now() - stats.generated_at


def _stale_max() -> timedelta:
    return timedelta(seconds=float(app_settings.STALE_MAX))


class _Store:
    """The configured cache for one call; after its first failure it is left alone.

    Any backend error counts (a Redis connection error, a memcached timeout, an entry an older
    version pickled): the caller then computes without the cache, as if it were empty.
    """

    def __init__(self, source: str) -> None:
        self.source = source
        self.broken = False

    def get(self, key: str) -> Any:
        return self._call("read", lambda cache: cache.get(key))

    def set(self, key: str, value: Any, timeout: float) -> None:
        self._call("write", lambda cache: cache.set(key, value, timeout))

    def add(self, key: str, value: Any, timeout: float) -> bool:
        """True when ``key`` was absent and is now set; True as well once the cache failed, so
        that the caller goes on as without a cache."""
        return self._call("write", lambda cache: cache.add(key, value, timeout)) is not False

    def _call(self, action: str, operation: Callable[[Any], Any]) -> Any:
        if self.broken:
            return None
        try:
            return operation(caches[app_settings.CACHE])
        except Exception as error:
            self.broken = True
            logger.warning(
                "%s: cache %r unavailable (%s: %s) on %s; computing the figures without it.",
                self.source,
                app_settings.CACHE,
                type(error).__name__,
                error,
                action,
            )
            return None


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
