"""The one service that computes the live reception and till KPIs.

Every door (admin page, API, management command, metrics) calls :func:`compute_live_stats`;
none computes a figure itself. The rules are those of ``shared/kpi-semantics.md``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from uuid import UUID

from django.db.models import Count, F, Q, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone

from .aggregates import ExactSum
from .conf import app_settings, is_enabled
from .db import read_only
from .models import ReceptionStatus, Sale, SaleItem, Site, TicketDepot

WINDOW_24H = "24h"
WINDOW_TODAY = "today"
WINDOWS = (WINDOW_24H, WINDOW_TODAY)

CENT = Decimal("0.01")
GRAM = Decimal("0.001")

#: SELECT queries one computation runs: reception tickets and lines (1), sales totals (1), the
#: last sale (1), sale items' weight (1); plus 1 when a site is given, to tell an unknown site
#: apart. They run in one read-only transaction (:func:`~reception_stats.db.read_only`), which
#: on PostgreSQL adds one ``SET`` statement for its limits.
QUERIES_PER_COMPUTATION = 4


class SiteNotFound(LookupError):
    """The ``site`` asked for is a well-formed UUID that no row of ``sites`` holds."""

    def __init__(self, site: UUID) -> None:
        super().__init__(f"No site {site} in Recyclic's sites table.")
        self.site = site


@dataclass(frozen=True)
class Period:
    window: str
    start: datetime
    end: datetime
    timezone: str


@dataclass(frozen=True)
class LiveStats:
    """Every figure of kpi-semantics.md with its metadata; money and weights as ``Decimal``."""

    tickets_open: int
    tickets_closed_24h: int
    items_received: int
    weight_in: Decimal
    weight_out_exits: Decimal
    sales_count: int
    turnover_eur: Decimal
    donations_eur: Decimal
    last_sale_amount: Decimal
    weight_out_sales: Decimal
    weight_out: Decimal
    window: str
    period_start: datetime
    period_end: datetime
    timezone: str
    site: UUID | None
    generated_at: datetime
    enabled: bool

    FIGURES = (
        "tickets_open",
        "tickets_closed_24h",
        "items_received",
        "weight_in",
        "weight_out_exits",
        "sales_count",
        "turnover_eur",
        "donations_eur",
        "last_sale_amount",
        "weight_out_sales",
        "weight_out",
    )

    def as_json(self) -> dict[str, Any]:
        """The JSON shape of kpi-semantics.md: numbers as numbers, times in ISO 8601."""
        data: dict[str, Any] = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, Decimal):
                value = float(value)
            elif isinstance(value, datetime):
                value = value.isoformat()
            elif isinstance(value, UUID):
                value = str(value)
            data[field.name] = value
        return data


def period_for(window: str, now: datetime, tz=None) -> Period:
    """The period a window covers at ``now``, in the configured time zone.

    ``today`` starts at local midnight: on the days the clocks change it lasts 23 or 25 hours,
    which the time zone handles, never a fixed 24 hours.
    """
    if window not in WINDOWS:
        raise ValueError(f"Unknown window {window!r}; expected one of {', '.join(WINDOWS)}.")
    tz = tz or app_settings.time_zone
    local_now = now.astimezone(tz)
    if window == WINDOW_24H:
        # In UTC: arithmetic on a local datetime would move the wall clock, not 24 real hours.
        start = now.astimezone(UTC) - timedelta(hours=24)
    else:
        # Through UTC so that a midnight the clocks skip still gives the first instant of the day
        # with the offset in force then.
        start = datetime.combine(local_now.date(), time.min, tzinfo=tz).astimezone(UTC)
    return Period(window=window, start=start.astimezone(tz), end=local_now, timezone=str(tz))


def compute_live_stats(
    window: str = WINDOW_24H,
    site: UUID | str | None = None,
    now: datetime | None = None,
) -> LiveStats:
    """Compute the live KPIs for ``window`` (``24h`` or ``today``) ending at ``now``.

    ``site`` (a ``sites.id``) restricts tickets to postes opened by that site's users and sales to
    that site's till sessions. Runs :data:`QUERIES_PER_COMPUTATION` SELECT queries (4), one more
    with a site, whatever the size of the data, in one read-only transaction whose statements
    PostgreSQL cancels past ``STATEMENT_TIMEOUT_MS`` (or ``LOCK_TIMEOUT_MS`` waiting for a lock).
    With the feature flag off it runs no query at all and answers zeros with ``enabled=False``.
    Raises :class:`SiteNotFound` for an unknown site and lets database errors (a cancelled
    statement included) through for the caller to report.
    """
    now = now or timezone.now()
    if timezone.is_naive(now):
        raise ValueError("now must be an aware datetime.")
    site = UUID(str(site)) if site is not None else None
    period = period_for(window, now)

    if not is_enabled():
        return _stats(period, site, enabled=False)

    with read_only(app_settings.DATABASE):
        check_site(site)
        reception = _reception_totals(period, site)
        till = _till_totals(period, site)
    return _stats(period, site, enabled=True, **reception, **till)


def check_site(site: UUID | None) -> None:
    """Raise :class:`SiteNotFound` unless ``site`` is None or a row of ``sites`` (one query)."""
    if site is not None and not Site.objects.using(app_settings.DATABASE).filter(pk=site).exists():
        raise SiteNotFound(site)


def tickets_in(period: Period, site: UUID | None) -> QuerySet:
    """``T_open`` and ``T_closed``: the tickets whose lines the figures of ``period`` count."""
    threshold = app_settings.deferral_threshold
    poste_opened = F("poste__opened_at")
    live_open = Q(
        status=ReceptionStatus.OPENED,
        poste__opened_at__gt=period.end - threshold,
        poste__opened_at__lte=period.end,
    )
    # A ticket's business time is closed_at, or its poste's opening (the notebook's date) when it
    # was closed more than D after that.
    closed_in_period = Q(status=ReceptionStatus.CLOSED, closed_at__isnull=False) & (
        (
            Q(closed_at__range=(period.start, period.end))
            & Q(closed_at__lte=poste_opened + threshold)
        )
        | (
            Q(poste__opened_at__range=(period.start, period.end))
            & Q(closed_at__gt=poste_opened + threshold)
        )
    )
    # Every ticket this rule keeps belongs to a poste opened at most D before the period's
    # start: an open one's poste opened less than D before its end, a closed one's business time
    # is closed_at only when closed_at - D <= opened_at. Saying so adds nothing to the rule but
    # lets PostgreSQL find those few postes by an index on opened_at, then their tickets by
    # poste_id, instead of testing the rule, an OR over two tables, on every ticket ever made.
    tickets = TicketDepot.objects.using(app_settings.DATABASE).filter(
        live_open | closed_in_period, poste__opened_at__gte=period.start - threshold
    )
    if site is not None:
        tickets = tickets.filter(poste__opened_by__site_id=site)
    return tickets


def sales_in(period: Period, site: UUID | None) -> QuerySet:
    """``S``: the sales whose business time, ``COALESCE(sale_date, created_at)``, is in period."""
    sales = (
        Sale.objects.using(app_settings.DATABASE)
        .alias(business_time=Coalesce("sale_date", "created_at"))
        .filter(business_time__gte=period.start, business_time__lte=period.end)
    )
    if site is not None:
        sales = sales.filter(cash_session__site_id=site)
    return sales


def _reception_totals(period: Period, site: UUID | None) -> dict[str, Any]:
    """Open tickets, closed tickets and their lines: one query, tickets left-joined to lines."""
    tickets = tickets_in(period, site)
    # One row per (ticket, line): tickets are counted distinct, lines once each.
    entry = Q(lignes__is_exit=False)
    exit_ = Q(lignes__is_exit=True)
    totals = tickets.aggregate(
        tickets_open=Count("id", distinct=True, filter=Q(status=ReceptionStatus.OPENED)),
        tickets_closed_24h=Count("id", distinct=True, filter=Q(status=ReceptionStatus.CLOSED)),
        items_received=Count("lignes", filter=entry),
        weight_in=ExactSum("lignes__poids_kg", filter=entry),
        weight_out_exits=ExactSum("lignes__poids_kg", filter=exit_),
    )
    return totals


def _till_totals(period: Period, site: UUID | None) -> dict[str, Any]:
    """Sales totals, the last sale and the items' weight: three queries, no double counting."""
    sales = sales_in(period, site)
    totals = sales.aggregate(
        sales_count=Count("id"),
        turnover_eur=ExactSum("total_amount"),
        donations_eur=ExactSum("donation"),
    )
    last_amount = (
        sales.order_by(
            F("business_time").desc(),
            F("created_at").desc(nulls_last=True),
            F("id").desc(),
        )
        .values_list("total_amount", flat=True)
        .first()
    )
    totals["last_sale_amount"] = None if last_amount is None else Decimal(repr(last_amount))
    totals.update(
        SaleItem.objects.using(app_settings.DATABASE)
        .filter(sale__in=sales.values("id"))
        .aggregate(weight_out_sales=ExactSum("weight"))
    )
    return totals


def _round(value: Decimal | None, unit: Decimal) -> Decimal:
    return (value or Decimal(0)).quantize(unit, rounding=ROUND_HALF_UP)


def _stats(period: Period, site: UUID | None, *, enabled: bool, **figures: Any) -> LiveStats:
    weight_out_sales = _round(figures.get("weight_out_sales"), GRAM)
    weight_out_exits = _round(figures.get("weight_out_exits"), GRAM)
    return LiveStats(
        tickets_open=figures.get("tickets_open") or 0,
        tickets_closed_24h=figures.get("tickets_closed_24h") or 0,
        items_received=figures.get("items_received") or 0,
        weight_in=_round(figures.get("weight_in"), GRAM),
        weight_out_exits=weight_out_exits,
        sales_count=figures.get("sales_count") or 0,
        turnover_eur=_round(figures.get("turnover_eur"), CENT),
        donations_eur=_round(figures.get("donations_eur"), CENT),
        last_sale_amount=_round(figures.get("last_sale_amount"), CENT),
        weight_out_sales=weight_out_sales,
        weight_out=weight_out_sales + weight_out_exits,
        window=period.window,
        period_start=period.start,
        period_end=period.end,
        timezone=period.timezone,
        site=site,
        generated_at=timezone.now().astimezone(period.end.tzinfo),
        enabled=enabled,
    )
