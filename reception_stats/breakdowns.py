"""The pictures behind the headline figures: per hour, per category, per destination.

They count exactly the tickets, lines and sales that :mod:`reception_stats.kpis` counts (they
reuse its ``tickets_in`` and ``sales_in``), so each breakdown adds up to its headline figure:
the hours' kilos in to ``weight_in``, their kilos out to ``weight_out``, their turnover to
``turnover_eur``, the categories to ``weight_in``, the destinations to ``weight_in +
weight_out_exits``.

A line has no time of its own: it takes its ticket's business time. Lines of tickets still open
are being weighed now, so they fall in the current hour. Hours are cut in UTC and labelled in the
configured time zone, so that the hour repeated when the clocks go back is two buckets, not one.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.db.models import Case, DateTimeField, F, QuerySet, Value, When
from django.db.models.functions import TruncHour
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from . import prepared
from .aggregates import ExactSum, valid
from .conf import app_settings, is_enabled
from .db import read_only
from .kpis import (
    CENT,
    GRAM,
    WINDOW_24H,
    Period,
    check_site,
    period_for,
    round_half_up,
    sales_in,
    tickets_in,
)
from .models import Destination, ReceptionStatus

#: SELECT queries one breakdown runs: reception lines (1), sales per hour (1), sale items per
#: hour (1); plus 1 when a site is given. Like the figures, in one read-only transaction.
QUERIES_PER_BREAKDOWN = 3

OTHER_CATEGORIES = "__other__"


@dataclass(frozen=True)
class HourBucket:
    start: datetime
    weight_in: Decimal
    weight_out: Decimal
    turnover_eur: Decimal


@dataclass(frozen=True)
class Share:
    """A category's weight (by name, or the other categories together) or a destination's."""

    key: str
    weight: Decimal
    kind: str = "category"

    @property
    def label(self) -> str:
        # Translated when shown, not when computed: the cached breakdown holds plain strings,
        # which unpickle at once (a lazy translation rebuilds a class each time).
        if self.kind == "destination" and self.key in Destination.values:
            return str(Destination(self.key).label)
        if self.kind == "category" and self.key == OTHER_CATEGORIES:
            return str(_("Other categories"))
        return self.key


@dataclass(frozen=True)
class Breakdown:
    """Per-hour series and shares for one window; values are exact, rounded when shown."""

    window: str
    period_start: datetime
    period_end: datetime
    timezone: str
    site: UUID | None
    generated_at: datetime
    enabled: bool
    hours: tuple[HourBucket, ...]
    categories: tuple[Share, ...]
    destinations: tuple[Share, ...]

    def as_json(self) -> dict[str, Any]:
        def hour(bucket: HourBucket) -> dict[str, Any]:
            return {
                "start": bucket.start.isoformat(),
                "weight_in": float(round_half_up(bucket.weight_in, GRAM)),
                "weight_out": float(round_half_up(bucket.weight_out, GRAM)),
                "turnover_eur": float(round_half_up(bucket.turnover_eur, CENT)),
            }

        def share(item: Share) -> dict[str, Any]:
            return {
                "key": item.key,
                "label": str(item.label),
                "weight": float(round_half_up(item.weight, GRAM)),
            }

        return {
            "window": self.window,
            "period_start": self.period_start.isoformat(),
            "period_end": self.period_end.isoformat(),
            "timezone": self.timezone,
            "site": str(self.site) if self.site else None,
            "generated_at": self.generated_at.isoformat(),
            "enabled": self.enabled,
            "hours": [hour(bucket) for bucket in self.hours],
            "categories": [share(item) for item in self.categories],
            "destinations": [share(item) for item in self.destinations],
        }


def compute_breakdown(
    window: str = WINDOW_24H,
    site: UUID | str | None = None,
    now: datetime | None = None,
    top_categories: int = 8,
    *,
    check: bool = True,
) -> Breakdown:
    """Kilos and turnover per hour, kilos per category and per destination, for ``window``.

    Runs :data:`QUERIES_PER_BREAKDOWN` SELECT queries (3), in one read-only, time-bounded
    transaction (:func:`~reception_stats.db.read_only`); none with the flag off. With a site
    it first checks that the site exists (one more), unless ``check`` is false because the
    caller just did. Bad values (NaN, infinite, absurd) add nothing, as in the figures.
    """
    now = now or timezone.now()
    site = UUID(str(site)) if site is not None else None
    period = period_for(window, now)
    hours = _hour_starts(period)
    empty = {start: Decimal(0) for start in hours}
    weight_in, weight_out, turnover = dict(empty), dict(empty), dict(empty)
    categories: dict[str, Decimal] = defaultdict(Decimal)
    destinations: dict[str, Decimal] = {code: Decimal(0) for code in Destination.values}

    enabled = is_enabled()
    if enabled:
        with read_only(app_settings.DATABASE):
            if check:
                check_site(site)
            using = app_settings.DATABASE
            for row in prepared.rows("breakdown lines", _line_rows, period, site, using):
                if row["is_exit"] is None:
                    continue  # a ticket without lines
                weight = row["weight"] or Decimal(0)
                hour = _bucket(row["hour"], hours)
                if row["is_exit"]:
                    weight_out[hour] += weight
                else:
                    weight_in[hour] += weight
                    categories[row["category"]] += weight
                destinations[row["destination"]] = destinations.get(row["destination"], 0) + weight
            for row in prepared.rows("breakdown sales", _sales_rows, period, site, using):
                turnover[_bucket(row["hour"], hours)] += row["turnover"] or Decimal(0)
            for row in prepared.rows("breakdown items", _item_rows, period, site, using):
                weight_out[_bucket(row["hour"], hours)] += row["weight"] or Decimal(0)

    tz = app_settings.time_zone
    return Breakdown(
        window=period.window,
        period_start=period.start,
        period_end=period.end,
        timezone=period.timezone,
        site=site,
        generated_at=timezone.now().astimezone(period.end.tzinfo),
        enabled=enabled,
        hours=tuple(
            HourBucket(start.astimezone(tz), weight_in[start], weight_out[start], turnover[start])
            for start in hours
        ),
        categories=_top(categories, top_categories),
        destinations=tuple(
            Share(code, weight, kind="destination") for code, weight in destinations.items()
        ),
    )


def _hour_starts(period: Period) -> list[datetime]:
    first = period.start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    last = period.end.astimezone(UTC)
    starts = []
    while first <= last:
        starts.append(first)
        first += timedelta(hours=1)
    return starts


def _bucket(hour: datetime, starts: list[datetime]) -> datetime:
    # Every counted row lies in the period, so its hour is one of the starts; clamp regardless.
    hour = hour.astimezone(UTC)
    return min(max(hour, starts[0]), starts[-1])


def _line_rows(period: Period, site: UUID | None) -> QuerySet:
    """Lines of the counted tickets, summed per (hour, exit, category, destination).

    From the counted tickets to their lines in one pass, as the figures go: a ticket without
    lines gives one row of nulls, which adds nothing."""
    threshold = app_settings.deferral_threshold
    poste_opened = F("poste__opened_at")
    business_time = Case(
        When(status=ReceptionStatus.OPENED, then=Value(period.end)),
        When(closed_at__gt=poste_opened + threshold, then=poste_opened),
        default=F("closed_at"),
        output_field=DateTimeField(),
    )
    return (
        tickets_in(period, site)
        .annotate(hour=TruncHour(business_time, tzinfo=UTC))
        .values(
            "hour",
            is_exit=F("lignes__is_exit"),
            category=F("lignes__category__name"),
            destination=F("lignes__destination"),
        )
        .annotate(weight=ExactSum(valid("lignes__poids_kg")))
        .order_by()
    )


def _sales_rows(period: Period, site: UUID | None) -> QuerySet:
    """The counted sales' turnover per hour of their business time."""
    sales = sales_in(period, site)
    return _per_hour(sales, "business_time", turnover=ExactSum(valid("total_amount")))


def _item_rows(period: Period, site: UUID | None) -> QuerySet:
    """The counted sales' items' weight per hour of their sale's business time: from the sales
    to their items in one pass."""
    sales = sales_in(period, site)
    return _per_hour(sales, "business_time", weight=ExactSum(valid("items__weight")))


def _per_hour(queryset, moment, **aggregates):
    return (
        queryset.annotate(hour=TruncHour(moment, tzinfo=UTC))
        .values("hour")
        .annotate(**aggregates)
        .order_by()
    )


def _top(weights: dict[str, Decimal], count: int) -> tuple[Share, ...]:
    ranked = sorted(weights.items(), key=lambda item: (-item[1], item[0]))
    shares = [Share(name, weight) for name, weight in ranked[:count]]
    rest = sum((weight for _name, weight in ranked[count:]), Decimal(0))
    if rest:
        shares.append(Share(OTHER_CATEGORIES, rest))
    return tuple(shares)
