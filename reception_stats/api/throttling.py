"""How many requests a user may send: ``RECEPTION_STATS["THROTTLE_RATE"]`` (120/min).

The counts live in the app's cache. Two cases keep the limit honest:

- a per-process cache (``locmemcache://``) under several workers would let each worker allow the
  whole rate: each then allows ``THROTTLE_RATE ÷ WORKERS``, so that together they allow the rate;
- a cache that fails (Redis down or stalled) falls back to a per-process count, divided the same
  way, rather than no limit at all.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache
from rest_framework.throttling import UserRateThrottle

from reception_stats.cache import cache_available, pause_cache
from reception_stats.conf import app_settings

logger = logging.getLogger(__name__)

#: The counts while the shared cache is down: this process's own.
_fallback = LocMemCache("reception-stats-throttle", {})


class LiveStatsRateThrottle(UserRateThrottle):
    """A per-user rate read from the app's settings, counted in the app's cache."""

    scope = "reception_stats"

    def get_rate(self) -> str | None:
        return app_settings.THROTTLE_RATE

    def allow_request(self, request: Any, view: Any) -> bool:
        if self.rate is None:
            return True
        self.cache = caches[app_settings.CACHE] if cache_available() else _fallback
        try:
            return self._allow(request, view)
        except Exception as error:
            pause_cache()
            logger.warning(
                "api: cache %r unavailable (%s: %s); counting requests in this process.",
                app_settings.CACHE,
                type(error).__name__,
                error,
            )
            self.cache = _fallback
            return self._allow(request, view)

    def _allow(self, request: Any, view: Any) -> bool:
        # This process's share of the rate when the counts are this process's alone.
        allowed, _duration = self.parse_rate(self.rate)
        if isinstance(self.cache, LocMemCache):
            allowed = max(1, allowed // max(1, int(app_settings.WORKERS)))
        self.num_requests = allowed
        return super().allow_request(request, view)
