"""What ``/metrics`` serves, and to whom.

- Every metric of the process (django-prometheus's, :mod:`reception_stats.metrics`'), or of every
  worker under gunicorn's multiprocess mode (``PROMETHEUS_MULTIPROC_DIR`` set).
- The live figures themselves, all sites, as gauges per window
  (``reception_live_stats_tickets_open{window="24h"}`` …) by :class:`LiveFiguresCollector`:
  the figures the doors last computed for "now", as the cache holds them
  (:func:`~reception_stats.cache.peek`). A scrape never computes and never touches the database;
  a window nobody asked for in the last ``STALE_MAX`` seconds is left out, and
  ``reception_live_stats_generated_timestamp_seconds`` tells how old the others are.
- Only to callers :func:`may_read_metrics` lets in: an address of ``METRICS_ALLOWED_IPS`` or the
  bearer token ``METRICS_TOKEN``; the others get 403.

Include :func:`metrics_view` in the project's URLs, e.g. ``path("metrics", metrics_view)``.
Needs prometheus_client (``pip install django-reception-stats[metrics]``); without it the view
answers 404.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseForbidden, HttpResponseNotFound
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from .cache import peek
from .conf import app_settings, is_enabled
from .kpis import WINDOWS, compute_live_stats

try:
    from prometheus_client import REGISTRY, CollectorRegistry, multiprocess
    from prometheus_client.core import GaugeMetricFamily
    from prometheus_client.exposition import choose_encoder
except ImportError:  # pragma: no cover - exercised in a subprocess by the tests
    REGISTRY = None

logger = logging.getLogger(__name__)

PREFIX = "reception_live_stats_"
GRAMS_PER_KG = Decimal(1000)

#: (metric name after the prefix, LiveStats field, help, factor). Weights in grams, Prometheus'
#: base unit of mass (exact: the figures are rounded to the gram); money in euros.
FIGURE_GAUGES = (
    ("tickets_open", "tickets_open", "Tickets open now on a poste opened within D hours.", 1),
    ("tickets_closed", "tickets_closed_24h", "Tickets closed in the window (business time).", 1),
    ("items_received", "items_received", "Entry lines of the window's tickets.", 1),
    ("weight_in_grams", "weight_in", "Weight received (entry lines).", GRAMS_PER_KG),
    ("weight_out_exits_grams", "weight_out_exits", "Weight out by exit lines.", GRAMS_PER_KG),
    ("weight_out_sales_grams", "weight_out_sales", "Weight out by sales.", GRAMS_PER_KG),
    ("weight_out_grams", "weight_out", "Weight out: sales plus exit lines.", GRAMS_PER_KG),
    ("sales", "sales_count", "Sales in the window.", 1),
    ("turnover_euros", "turnover_eur", "Turnover of the window's sales.", 1),
    ("donations_euros", "donations_eur", "Donations of the window's sales.", 1),
    ("last_sale_amount_euros", "last_sale_amount", "Amount of the window's last sale.", 1),
)


class LiveFiguresCollector:
    """The live figures as gauges, read from the cache at scrape time; registered once, below."""

    def describe(self) -> Iterator[Any]:
        # Without describe() registering would collect, that is query the database, at import.
        yield from self._families()

    def collect(self) -> Iterator[Any]:
        enabled, *figures, generated = self._families()
        enabled.add_metric([], 1 if is_enabled() else 0)
        for window in WINDOWS:
            if is_enabled():
                snapshot = peek(window)
                if snapshot is None:
                    continue
                stats = snapshot.stats
            else:
                stats = compute_live_stats(window)  # zeros, read from no table
            for family, (_name, field, _help, factor) in zip(figures, FIGURE_GAUGES, strict=True):
                family.add_metric([window], float(getattr(stats, field) * factor))
            generated.add_metric([window], stats.generated_at.timestamp())
        yield enabled
        yield from figures
        yield generated

    @staticmethod
    def _families() -> list[Any]:
        families = [
            GaugeMetricFamily(
                PREFIX + "enabled", "1 when LIVE_RECEPTION_STATS_ENABLED is on, else 0."
            )
        ]
        families += [
            GaugeMetricFamily(PREFIX + name, help_text, labels=["window"])
            for name, _field, help_text, _factor in FIGURE_GAUGES
        ]
        families.append(
            GaugeMetricFamily(
                PREFIX + "generated_timestamp_seconds",
                "When the reported figures were computed (Unix time).",
                labels=["window"],
            )
        )
        return families


if REGISTRY is not None:
    FIGURES = LiveFiguresCollector()
    # The process-wide registry, served as is when there is a single process.
    REGISTRY.register(FIGURES)


def metrics_registry() -> Any:
    """The registry a scrape serves.

    Under gunicorn's multiprocess mode each worker writes its metrics to files in
    ``PROMETHEUS_MULTIPROC_DIR`` and the worker answering the scrape adds them all up, as
    django-prometheus' own ExportToDjangoView does; the figures are added to that registry.
    """
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        # The figures first, so that the counters read afterwards include this very scrape.
        registry.register(FIGURES)
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY


def may_read_metrics(request: HttpRequest) -> bool:
    """True for the bearer token ``METRICS_TOKEN`` or an address of ``METRICS_ALLOWED_IPS``.

    The address is the TCP peer's (``REMOTE_ADDR``); ``X-Forwarded-For`` is never trusted, as
    any client can write it. Behind a proxy, give Prometheus the token.
    """
    token = app_settings.METRICS_TOKEN
    if token:
        scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            credentials.strip().encode(), str(token).encode()
        ):
            return True
    return _address_allowed(request.META.get("REMOTE_ADDR", ""))


def _address_allowed(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        # A dual-stack socket reports IPv4 clients as ::ffff:a.b.c.d.
        ip = ip.ipv4_mapped
    return any(ip in network for network in _allowed_networks())


def _allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    entries = app_settings.METRICS_ALLOWED_IPS
    if isinstance(entries, str):
        entries = entries.split(",")
    networks = []
    for entry in entries:
        entry = str(entry).strip()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            logger.warning(
                "METRICS_ALLOWED_IPS: %r is not an address or a network; ignored.", entry
            )
    return networks


@never_cache
@require_safe
def metrics_view(request: HttpRequest) -> HttpResponse:
    """``GET /metrics`` in Prometheus' text format (or OpenMetrics when asked), access checked."""
    if REGISTRY is None:
        return HttpResponseNotFound(
            "prometheus_client is not installed.\n", content_type="text/plain; charset=utf-8"
        )
    if not app_settings.METRICS:
        return HttpResponseNotFound(
            "Metrics are turned off.\n", content_type="text/plain; charset=utf-8"
        )
    if not may_read_metrics(request):
        return HttpResponseForbidden("Forbidden.\n", content_type="text/plain; charset=utf-8")
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    return HttpResponse(encoder(metrics_registry()), content_type=content_type)
