"""How many requests a user may send: ``RECEPTION_STATS["THROTTLE_RATE"]`` (120/min)."""

from __future__ import annotations

import logging
from typing import Any

from django.core.cache import caches
from rest_framework.throttling import UserRateThrottle

from reception_stats.conf import app_settings

logger = logging.getLogger(__name__)


class LiveStatsRateThrottle(UserRateThrottle):
    """A per-user rate read from the app's settings, counted in the app's cache."""

    scope = "reception_stats"

    def get_rate(self) -> str | None:
        return app_settings.THROTTLE_RATE

    @property
    def cache(self) -> Any:
        return caches[app_settings.CACHE]

    def allow_request(self, request: Any, view: Any) -> bool:
        # The counts live in the cache: with the cache down, let requests through rather than
        # refuse every one; the figures' own cache logs the outage too.
        try:
            return super().allow_request(request, view)
        except Exception as error:
            logger.warning(
                "api: cache %r unavailable (%s: %s); requests are not throttled.",
                app_settings.CACHE,
                type(error).__name__,
                error,
            )
            return True
