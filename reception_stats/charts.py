"""The pictures of the figures, as HTML the browser lays out at whatever width it has.

An hourly chart is a grid of one column per hour (a bar per series, its height a percentage of
the value axis), a value axis of a few round ticks, an hour label every hour (every other one on
a narrow screen, by CSS), and last week's values as a line over the bars (an SVG stretched over
the plot; its stroke keeps its width). Text is HTML, at the page's own size, never scaled down
with a drawing. Shares (categories, destinations) are rows of a table: name, bar, weight, share.

Nothing here computes a figure: it lays out what the service answered. Negative values (a
correction typed in Recyclic) draw nothing below zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, Decimal

from django.utils import timezone
from django.utils.translation import gettext as _

from .breakdowns import Breakdown, HourBucket, Share
from .conf import app_settings
from .formatting import format_figure, format_number

#: Steps a value axis may take, times a power of ten: 1, 2, 2.5, 5, 10, 20…
NICE_STEPS = (Decimal(1), Decimal(2), Decimal("2.5"), Decimal(5))
#: Ticks above zero the axis aims at; it takes the fewest round steps that cover the values.
TICKS = 4


@dataclass(frozen=True)
class Tick:
    label: str
    position: float  # percent of the plot's height, from the bottom


@dataclass(frozen=True)
class Bar:
    serie: str
    height: float  # percent of the plot's height


@dataclass(frozen=True)
class Column:
    hour: str  # "14", shown as "14h"
    title: str  # every value of the hour, for a tooltip and screen readers
    bars: tuple[Bar, ...]
    major: bool  # labelled on a narrow screen too (every other hour)
    x: float  # the column's middle, percent of the plot's width


@dataclass(frozen=True)
class Line:
    serie: str
    label: str
    points: str  # SVG polyline points, in a 1000 x 1000 box


@dataclass(frozen=True)
class Serie:
    name: str
    label: str


@dataclass(frozen=True)
class HourChart:
    key: str
    title: str
    series: tuple[Serie, ...]
    columns: tuple[Column, ...]
    ticks: tuple[Tick, ...]
    lines: tuple[Line, ...]
    previous_label: str

    @property
    def count(self) -> int:
        return len(self.columns)


@dataclass(frozen=True)
class ShareRow:
    label: str
    value: str
    percent: str
    width: float  # percent of the largest share


def hour_charts(breakdown: Breakdown, previous: Breakdown | None) -> list[HourChart]:
    """Kilos in and out per hour, and turnover per hour, with last week's lines if compared."""
    last_week = _last_week_by_hour(breakdown, previous)
    return [
        _hour_chart(
            "kilos",
            _("Kilos in and out per hour"),
            breakdown.hours,
            last_week,
            (
                ("in", _("kilos in"), "weight_in"),
                ("out", _("kilos out"), "weight_out"),
            ),
            "weight",
        ),
        _hour_chart(
            "turnover",
            _("Turnover per hour"),
            breakdown.hours,
            last_week,
            (("turnover", _("turnover"), "turnover_eur"),),
            "money",
        ),
    ]


def _last_week_by_hour(
    breakdown: Breakdown, previous: Breakdown | None
) -> dict[datetime, HourBucket]:
    """Last week's hours keyed by the local wall-clock hour a week later, so that each lines
    up with this week's same hour, across a change of the clocks too."""
    if previous is None:
        return {}
    tz = app_settings.time_zone
    return {
        timezone.localtime(bucket.start, tz).replace(tzinfo=None) + timedelta(days=7): bucket
        for bucket in previous.hours
    }


def _hour_chart(
    key: str,
    title: str,
    hours: tuple[HourBucket, ...],
    last_week: dict[datetime, HourBucket],
    series: tuple[tuple[str, str, str], ...],
    kind: str,
) -> HourChart:
    tz = app_settings.time_zone
    local = [timezone.localtime(bucket.start, tz) for bucket in hours]
    earlier = [last_week.get(moment.replace(tzinfo=None)) for moment in local]
    values = [getattr(b, field) for b in hours for _name, _label, field in series]
    values += [getattr(b, field) for b in earlier if b for _name, _label, field in series]
    top, ticks = value_axis(values, kind)

    def height(value: Decimal) -> float:
        return max(float(value / top), 0.0) * 100 if top else 0.0

    columns = []
    for index, (bucket, moment, before) in enumerate(zip(hours, local, earlier, strict=True)):
        parts = [
            f"{label} {format_figure(kind, getattr(bucket, field), weight_decimals=1)}"
            for _name, label, field in series
        ]
        if before is not None:
            parts += [
                _("last week: %(label)s %(value)s")
                % {
                    "label": label,
                    "value": format_figure(kind, getattr(before, field), weight_decimals=1),
                }
                for _name, label, field in series
            ]
        columns.append(
            Column(
                hour=f"{moment:%H}",
                x=(index + 0.5) * 100 / len(hours),
                title=f"{moment:%H}h : " + ", ".join(parts),
                bars=tuple(Bar(name, height(getattr(bucket, field))) for name, _l, field in series),
                major=index % 2 == (len(hours) - 1) % 2,  # the last hour, now, is labelled
            )
        )
    lines = ()
    if last_week:
        lines = tuple(
            Line(name, label, _points([b and getattr(b, field) for b in earlier], height))
            for name, label, field in series
        )
    return HourChart(
        key=key,
        title=title,
        series=tuple(Serie(name, label) for name, label, _field in series),
        columns=tuple(columns),
        ticks=ticks,
        lines=lines,
        previous_label=_("same hours last week"),
    )


def _points(values: list[Decimal | None], height) -> str:
    """A polyline through the middle of each column; an hour without a value last week is
    skipped (the line joins its neighbours)."""
    count = len(values)
    return " ".join(
        f"{(index + 0.5) * 1000 / count:.1f},{1000 - height(value) * 10:.1f}"
        for index, value in enumerate(values)
        if value is not None
    )


def value_axis(values: list[Decimal], kind: str) -> tuple[Decimal, tuple[Tick, ...]]:
    """The top of the value axis and its round ticks (French formatting), zero included."""
    largest = max((value for value in values if value > 0), default=Decimal(0))
    if not largest:
        return Decimal(0), (Tick(_tick_label(kind, Decimal(0), 0), 0.0),)
    step = _nice_step(largest / TICKS)
    # The fewest steps that reach the largest value (Decimal's // truncates: no ceiling trick).
    count = int((largest / step).to_integral_value(rounding=ROUND_CEILING))
    top = step * count
    decimals = 0 if step == step.to_integral_value() else 1
    return top, tuple(
        Tick(_tick_label(kind, step * n, decimals), float(step * n / top) * 100)
        for n in range(count + 1)
    )


def _tick_label(kind: str, value: Decimal, decimals: int) -> str:
    if kind == "money":
        return f"{format_number(value, decimals)}\u00a0€"
    return f"{format_number(value, decimals)}\u00a0kg"


def _nice_step(rough: Decimal) -> Decimal:
    exponent = rough.adjusted()
    for scale in (exponent - 1, exponent, exponent + 1):
        for step in NICE_STEPS:
            candidate = step.scaleb(scale)
            if candidate >= rough:
                return candidate
    return NICE_STEPS[0].scaleb(exponent + 2)


def share_rows(shares: tuple[Share, ...]) -> list[ShareRow]:
    total = sum((share.weight for share in shares if share.weight > 0), Decimal(0))
    largest = max((share.weight for share in shares), default=Decimal(0))
    return [
        ShareRow(
            label=str(share.label),
            value=format_figure("weight", share.weight, weight_decimals=1),
            percent=f"{format_number(share.weight * 100 / total, 0)}\u00a0%" if total else "—",
            # A negative weight (a correction typed in Recyclic) draws no bar.
            width=max(float(share.weight / largest) * 100, 0.0) if largest > 0 else 0.0,
        )
        for share in shares
    ]
