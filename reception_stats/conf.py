"""The app's settings: one ``RECEPTION_STATS`` dict, defaults here, read lazily.

``app_settings.DEFERRAL_THRESHOLD_HOURS`` reads the project's value or the default below; the cache
is dropped on Django's ``setting_changed`` signal so ``override_settings`` works in tests.
The feature flag keeps its historical top-level name, ``LIVE_RECEPTION_STATS_ENABLED``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.signals import setting_changed

DEFAULTS: dict[str, Any] = {
    # Time zone that cuts days for ``window=today`` and formats the period; None = TIME_ZONE.
    "TIME_ZONE": None,
    # ``D`` of docs/figures.md: a ticket closed more than D after its poste opened is deferred.
    "DEFERRAL_THRESHOLD_HOURS": 24,
    # Database alias the KPI queries read (a read replica, for instance).
    "DATABASE": "default",
    # Milliseconds a KPI query may run on PostgreSQL before the server cancels it
    # (``SET LOCAL statement_timeout``): the door then answers stale figures or 503.
    "STATEMENT_TIMEOUT_MS": 2000,
    # Milliseconds a KPI query may wait for a lock Recyclic holds (``SET LOCAL lock_timeout``).
    "LOCK_TIMEOUT_MS": 500,
    # Seconds a database that left a statement or a connection unanswered (frozen server or
    # network) is not asked again: meanwhile every door answers from the cache at once.
    "UNRESPONSIVE_PAUSE_SECONDS": 5,
    # Seconds computed figures are reused, so that many screens polling cost one computation.
    "CACHE_TIMEOUT": 10,
    # Seconds the last good figures may still be served, marked stale, while the database fails.
    "STALE_MAX": 300,
    # Seconds a lookup of a user or an API token is reused (and, while Django's database fails,
    # up to STALE_MAX): see reception_stats.accounts.
    "ACCOUNT_CHECK_SECONDS": 60,
    # Recyclic's own accounts (reception_stats.recyclic_users): sign in to the admin page with
    # a Recyclic user name and password (RecyclicBackend), and the API with a Recyclic token.
    "RECYCLIC_LOGIN": True,
    # Recyclic roles that may read the figures, and statuses of an account that may sign in.
    "RECYCLIC_ROLES": ("admin", "super-admin"),
    "RECYCLIC_STATUSES": ("active", "approved"),
    # Recyclic's own SECRET_KEY, which signs its tokens (HS256); empty: Recyclic tokens refused.
    "RECYCLIC_SECRET_KEY": "",
    # Alias in CACHES of the cache that keeps the figures and the API's request counts.
    "CACHE": "default",
    # Requests per user the API accepts, in DRF's rate syntax; None turns throttling off.
    "THROTTLE_RATE": "120/min",
    # Processes serving the app (gunicorn's workers): with a per-process cache each one allows
    # THROTTLE_RATE / WORKERS, so that together they allow THROTTLE_RATE.
    "WORKERS": 1,
    # Seconds a client is asked to wait (Retry-After) when the figures are unavailable.
    "RETRY_AFTER": 30,
    # Seconds between two refreshes of the admin page; never less than MIN_REFRESH_SECONDS.
    "REFRESH_SECONDS": 30,
    # False turns /metrics off (404), e.g. where another exporter is used.
    "METRICS": True,
    # Addresses or networks (CIDR) that may read /metrics and the details of /healthz.
    "METRICS_ALLOWED_IPS": ("127.0.0.1", "::1"),
    # Bearer token that grants the same access from anywhere; empty turns token access off.
    "METRICS_TOKEN": "",
}


#: A dashboard refreshing faster than this would only load the database.
MIN_REFRESH_SECONDS = 10


class AppSettings:
    def __init__(self, defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        self._cache: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        if name not in self.defaults:
            raise AttributeError(f"Unknown RECEPTION_STATS setting: {name!r}")
        if name not in self._cache:
            user_settings = getattr(settings, "RECEPTION_STATS", {}) or {}
            self._cache[name] = user_settings.get(name, self.defaults[name])
        return self._cache[name]

    def reload(self) -> None:
        self._cache.clear()

    # Derived values, so that callers never convert units themselves.
    @property
    def deferral_threshold(self) -> timedelta:
        return timedelta(hours=float(self.DEFERRAL_THRESHOLD_HOURS))

    @property
    def refresh_seconds(self) -> int:
        return max(int(self.REFRESH_SECONDS), MIN_REFRESH_SECONDS)

    @property
    def time_zone(self) -> ZoneInfo:
        return ZoneInfo(self.TIME_ZONE or settings.TIME_ZONE)


app_settings = AppSettings(DEFAULTS)


def is_enabled() -> bool:
    """The feature flag, read on every call so that a change needs no restart of the code path."""
    return bool(getattr(settings, "LIVE_RECEPTION_STATS_ENABLED", True))


def _reload(*, setting: str, **kwargs: Any) -> None:
    if setting in ("RECEPTION_STATS", "TIME_ZONE"):
        app_settings.reload()


setting_changed.connect(_reload)
