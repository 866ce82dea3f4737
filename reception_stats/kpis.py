"""The one service that computes the live reception and till KPIs.

Every door (admin page, API, management command, metrics) gets its figures from
:func:`compute_live_stats`, directly or through :mod:`reception_stats.cache`; none computes a
figure itself. The rules are those of ``docs/figures.md``.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from uuid import UUID

from django.db.models import Count, F, Q, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone

from . import prepared
from .aggregates import (
    ExactSum,
    ScalarSubquery,
    Totals,
    bad,
    from_micro,
    one_row,
    to_decimal,
    valid,
)
from .conf import app_settings, is_enabled
from .db import read_only
from .models import LigneDepot, ReceptionStatus, Sale, SaleItem, Site, TicketDepot

logger = logging.getLogger(__name__)

WINDOW_24H = "24h"
WINDOW_TODAY = "today"
WINDOWS = (WINDOW_24H, WINDOW_TODAY)

#: ``compare=week``: the same computation at the same local time a week earlier.
COMPARE_WEEK = "week"
COMPARES = (COMPARE_WEEK,)

CENT = Decimal("0.01")
GRAM = Decimal("0.001")

#: SQL statements one computation sends, whatever the size of the data and with or without a
#: site: the reception and till figures together (scalar subqueries for the till). They run in
#: one read-only transaction (:func:`~reception_stats.db.read_only`). When a figure met bad
#: values, one more statement per column concerned reads which rows hold them, for the log.
QUERIES_PER_COMPUTATION = 1

#: The columns whose bad values are counted, as ``table.column``: every float column the
#: figures sum, and the reception weights (``numeric``, which can hold NaN too).
BAD_VALUE_COLUMNS = (
    "ligne_depot.poids_kg",
    "sales.total_amount",
    "sales.donation",
    "sale_items.weight",
)
#: Row ids a warning names per column, at most: enough to find the rows to mend in Recyclic.
BAD_ROWS_LOGGED = 10


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
    """Every figure of docs/figures.md with its metadata; money and weights as ``Decimal``."""

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
    #: Bad values met and left out, per ``table.column`` (only those with some).
    bad_values: dict[str, int] = field(default_factory=dict)

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

    @property
    def bad_value_count(self) -> int:
        return sum(self.bad_values.values())

    def as_json(self) -> dict[str, Any]:
        """The JSON shape of docs/figures.md: numbers as numbers, times in ISO 8601."""
        data: dict[str, Any] = {}
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if isinstance(value, Decimal):
                value = float(value)
            elif isinstance(value, datetime):
                value = value.isoformat()
            elif isinstance(value, UUID):
                value = str(value)
            elif isinstance(value, dict):
                value = dict(value)
            data[item.name] = value
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


def week_before(now: datetime, tz=None) -> datetime:
    """The same weekday and local wall-clock time a week before ``now`` (docs/figures.md).

    Seven days on the local clock, not 168 hours: across a change of the clocks "last Tuesday
    at 15:00" is 167 or 169 real hours away.
    """
    tz = tz or app_settings.time_zone
    local = now.astimezone(tz)
    earlier = datetime.combine(
        local.date() - timedelta(days=7), local.timetz().replace(tzinfo=None)
    )
    # fold=local.fold keeps the first or second 02:30 of a day the clocks go back.
    return earlier.replace(tzinfo=tz, fold=local.fold).astimezone(UTC).astimezone(tz)


def compute_live_stats(
    window: str = WINDOW_24H,
    site: UUID | str | None = None,
    now: datetime | None = None,
) -> LiveStats:
    """Compute the live KPIs for ``window`` (``24h`` or ``today``) ending at ``now``.

    ``site`` (a ``sites.id``) restricts tickets to postes opened by that site's users and sales to
    that site's till sessions. Sends :data:`QUERIES_PER_COMPUTATION` statement (one), whatever
    the size of the data, in one read-only transaction whose statements PostgreSQL cancels past
    ``STATEMENT_TIMEOUT_MS`` (or ``LOCK_TIMEOUT_MS`` waiting for a lock). With the feature flag
    off it runs no query at all and answers zeros with ``enabled=False``.
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

    # One statement: it needs no transaction of its own to see one state of the data.
    with read_only(app_settings.DATABASE, consistent=False):
        (row,) = prepared.rows("figures", figures_query, period, site, app_settings.DATABASE)
        if site is not None and row["site_known"] is None:
            raise SiteNotFound(site)
        figures, bad_values = _figures(row)
        if bad_values:
            _log_bad_rows(period, site, bad_values)
    return _stats(period, site, enabled=True, bad_values=bad_values, **figures)


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


def items_of(sales: QuerySet) -> QuerySet:
    """The items of ``sales``: their weight is the kilos out by the till."""
    return SaleItem.objects.using(app_settings.DATABASE).filter(sale__in=sales.values("id"))


def figures_query(period: Period, site: UUID | None) -> QuerySet:
    """Every figure of ``period``, one row of one statement (:func:`_figure_terms`)."""
    return one_row(tickets_in(period, site), **_figure_terms(period, site))


def _figure_terms(period: Period, site: UUID | None) -> dict[str, Any]:
    """Every figure as one aggregate over the counted tickets and their lines.

    The tickets are left-joined to their lines, one row per (ticket, line): tickets are counted
    distinct, lines once each. The till figures do not join: each is a one-row subquery of its
    own table, evaluated once, so a sale counts once however many items it has.
    """
    entry = Q(lignes__is_exit=False)
    exit_ = Q(lignes__is_exit=True)
    weight = valid("lignes__poids_kg")
    sales = sales_in(period, site)
    terms: dict[str, Any] = {
        "tickets_open": Count("id", distinct=True, filter=Q(status=ReceptionStatus.OPENED)),
        "tickets_closed_24h": Count("id", distinct=True, filter=Q(status=ReceptionStatus.CLOSED)),
        "items_received": Count("lignes", filter=entry),
        "weight_in": ExactSum(weight, filter=entry),
        "weight_out_exits": ExactSum(weight, filter=exit_),
        "bad_poids_kg": Count("lignes", filter=bad("lignes__poids_kg")),
        "till": ScalarSubquery(
            one_row(
                sales,
                totals=Totals(
                    Count("id"),
                    ExactSum(valid("total_amount")),
                    ExactSum(valid("donation")),
                    Count("id", filter=bad("total_amount")),
                    Count("id", filter=bad("donation")),
                ),
            )
        ),
        "last_sale_amount": ScalarSubquery(
            sales.order_by(
                F("business_time").desc(),
                F("created_at").desc(nulls_last=True),
                F("id").desc(),
            ).values("total_amount")[:1]
        ),
        "sold": ScalarSubquery(
            one_row(
                items_of(sales),
                totals=Totals(ExactSum(valid("weight")), Count("id", filter=bad("weight"))),
            )
        ),
    }
    if site is not None:
        # Tells an unknown site from a site without activity, in the same statement.
        terms["site_known"] = ScalarSubquery(
            Site.objects.using(app_settings.DATABASE).filter(pk=site).values("pk")[:1]
        )
    return terms


def _figures(row: dict[str, Any]) -> tuple[dict[str, Any], dict[str, int]]:
    """The figures and the bad values counted, from the row of :func:`_figure_terms`."""
    sales_count, turnover, donations, bad_total, bad_donation = row["till"] or [None] * 5
    weight_out_sales, bad_weight = row["sold"] or [None] * 2
    figures = {
        "tickets_open": row["tickets_open"],
        "tickets_closed_24h": row["tickets_closed_24h"],
        "items_received": row["items_received"],
        "weight_in": row["weight_in"],
        "weight_out_exits": row["weight_out_exits"],
        "sales_count": int(sales_count or 0),
        "turnover_eur": from_micro(turnover),
        "donations_eur": from_micro(donations),
        # The same rule as the sums: a bad amount counts as null, hence 0.
        "last_sale_amount": to_decimal(row["last_sale_amount"]),
        "weight_out_sales": from_micro(weight_out_sales),
    }
    counts = zip(
        BAD_VALUE_COLUMNS,
        (row["bad_poids_kg"], bad_total, bad_donation, bad_weight),
        strict=True,
    )
    return figures, {column: int(count) for column, count in counts if count}


def _log_bad_rows(period: Period, site: UUID | None, bad_values: dict[str, int]) -> None:
    """One warning per column holding bad values, naming rows to mend in Recyclic."""
    sales = sales_in(period, site)
    rows = {
        "ligne_depot.poids_kg": (
            LigneDepot.objects.using(app_settings.DATABASE).filter(
                ticket__in=tickets_in(period, site).values("id")
            ),
            "poids_kg",
        ),
        "sales.total_amount": (sales, "total_amount"),
        "sales.donation": (sales, "donation"),
        "sale_items.weight": (items_of(sales), "weight"),
    }
    for column, count in bad_values.items():
        queryset, name = rows[column]
        ids = [
            str(pk)
            for pk in queryset.filter(bad(name))
            .order_by("pk")
            .values_list("pk", flat=True)[:BAD_ROWS_LOGGED]
        ]
        logger.warning(
            "%d bad value(s) in %s (NaN, infinite or of magnitude 1e9 or more) left out of the "
            "figures; rows: %s. Mend them in Recyclic.",
            count,
            column,
            ", ".join(ids),
            extra={"event": "reception_bad_values", "column": column, "count": count, "ids": ids},
        )


def round_half_up(value: Decimal | None, unit: Decimal) -> Decimal:
    """``value`` rounded half-up to ``unit`` (the cent or the gram); None is 0."""
    return (value or Decimal(0)).quantize(unit, rounding=ROUND_HALF_UP)


def _stats(
    period: Period,
    site: UUID | None,
    *,
    enabled: bool,
    bad_values: dict[str, int] | None = None,
    **figures: Any,
) -> LiveStats:
    weight_out_sales = round_half_up(figures.get("weight_out_sales"), GRAM)
    weight_out_exits = round_half_up(figures.get("weight_out_exits"), GRAM)
    return LiveStats(
        tickets_open=figures.get("tickets_open") or 0,
        tickets_closed_24h=figures.get("tickets_closed_24h") or 0,
        items_received=figures.get("items_received") or 0,
        weight_in=round_half_up(figures.get("weight_in"), GRAM),
        weight_out_exits=weight_out_exits,
        sales_count=figures.get("sales_count") or 0,
        turnover_eur=round_half_up(figures.get("turnover_eur"), CENT),
        donations_eur=round_half_up(figures.get("donations_eur"), CENT),
        last_sale_amount=round_half_up(figures.get("last_sale_amount"), CENT),
        weight_out_sales=weight_out_sales,
        weight_out=weight_out_sales + weight_out_exits,
        window=period.window,
        period_start=period.start,
        period_end=period.end,
        timezone=period.timezone,
        site=site,
        generated_at=timezone.now().astimezone(period.end.tzinfo),
        enabled=enabled,
        bad_values=bad_values or {},
    )
