"""What the admin page shows: the figures as cards and the breakdowns as inline SVG charts.

:func:`build_panel` reads the page's query, asks the service (through its cache) for the figures
and the breakdown, and turns them into cards and chart geometry for the templates. It computes
no figure: it only lays out what the service returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import DatabaseError
from django.utils import timezone
from django.utils.formats import time_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from .breakdowns import Breakdown
from .cache import Store, get_snapshot
from .conf import app_settings, is_enabled
from .db import read_only
from .formatting import FIGURES, format_figure, format_number
from .forms import LiveStatsQueryForm
from .kpis import LiveStats, SiteNotFound
from .models import Site

CHART_WIDTH = 720
CHART_HEIGHT = 180
CHART_LEFT = 84
CHART_BOTTOM = 24
CHART_TOP = 8


@dataclass(frozen=True)
class Card:
    name: str
    label: str
    value: str
    headline: bool


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    title: str


@dataclass(frozen=True)
class HourChart:
    title: str
    series: list[dict[str, Any]]
    ticks: list[dict[str, Any]]
    maximum: str
    width: int = CHART_WIDTH
    height: int = CHART_HEIGHT
    left: int = CHART_LEFT
    baseline: int = CHART_HEIGHT - CHART_BOTTOM


@dataclass(frozen=True)
class ShareRow:
    label: str
    value: str
    percent: str
    width: float


@dataclass
class Panel:
    state: str  # ok, stale, disabled, unavailable, invalid, unknown_site
    status_code: int
    form: LiveStatsQueryForm
    message: str = ""
    stats: LiveStats | None = None
    cards: list[Card] = field(default_factory=list)
    hour_charts: list[HourChart] = field(default_factory=list)
    categories: list[ShareRow] = field(default_factory=list)
    destinations: list[ShareRow] = field(default_factory=list)
    updated_at: str = ""

    @property
    def bad_values_note(self) -> str:
        """ "3 valeurs ignorées": values Recyclic holds that the figures left out."""
        count = self.stats.bad_value_count if self.stats else 0
        if not count:
            return ""
        return ngettext("%(count)d value left out", "%(count)d values left out", count) % {
            "count": count
        }

    @property
    def bad_values_detail(self) -> str:
        """Which columns, for the note's tooltip and for screen readers."""
        if not self.stats or not self.stats.bad_values:
            return ""
        columns = ", ".join(
            f"{column} ({count})" for column, count in sorted(self.stats.bad_values.items())
        )
        return _(
            "NaN, infinite or absurd values (1e9 or more) in Recyclic, counted as empty: "
            "%(columns)s. Mend them in Recyclic."
        ) % {"columns": columns}

    @property
    def window(self) -> str:
        """The window the controls show as chosen, even when the query was refused."""
        data = self.form.cleaned_data if self.form.is_bound and not self.form.errors else {}
        return data.get("window") or self.form.data.get("window") or "24h"

    @property
    def site(self) -> str:
        return str(self.form.data.get("site") or "")

    @property
    def at(self) -> str:
        return str(self.form.data.get("at") or "")

    @property
    def card_groups(self) -> list[tuple[str, list[Card]]]:
        """The six headline figures large, the others small."""
        return [
            ("headline", [card for card in self.cards if card.headline]),
            ("small", [card for card in self.cards if not card.headline]),
        ]

    @property
    def has_figures(self) -> bool:
        return self.state in ("ok", "stale")


def build_panel(query: Any, source: str = "admin") -> Panel:
    form = LiveStatsQueryForm(query)
    if not form.is_valid():
        return Panel("invalid", 400, form, message=form.error_summary())
    window, site, at = (form.cleaned_data[key] for key in ("window", "site", "at"))
    try:
        served = get_snapshot(window, site, at, compare="week", source=source)
    except SiteNotFound as error:
        return Panel(
            "unknown_site", 404, form, message=_("Unknown site %(site)s.") % {"site": error.site}
        )
    except DatabaseError:
        return Panel(
            "unavailable",
            503,
            form,
            message=_("The statistics are temporarily unavailable. Try again in a moment."),
        )
    stats, breakdown, stale = served.snapshot.stats, served.snapshot.breakdown, served.stale
    if not stats.enabled:
        return Panel(
            "disabled",
            200,
            form,
            message=_(
                "Live statistics are turned off (LIVE_RECEPTION_STATS_ENABLED=false): "
                "no figure is computed."
            ),
        )
    panel = Panel("stale" if stale else "ok", 200, form, stats=stats)
    panel.cards = [
        Card(
            figure.name,
            str(figure.label),
            format_figure(figure.kind, getattr(stats, figure.name), weight_decimals=1),
            figure.headline,
        )
        for figure in FIGURES
    ]
    panel.hour_charts = _hour_charts(breakdown)
    panel.categories = _share_rows(breakdown.categories)
    panel.destinations = _share_rows(breakdown.destinations)
    panel.updated_at = time_format(
        timezone.localtime(stats.generated_at, app_settings.time_zone), "H:i:s"
    )
    if stale:
        panel.message = _("The database does not answer: these figures date from %(time)s.") % {
            "time": panel.updated_at
        }
    return panel


def schema_problems() -> list[str]:
    """What the schema check found in Recyclic's database (run at most once a minute), for a
    banner: the figures are wrong or fail until it is mended."""
    if not is_enabled():
        return []
    from .health import latest_schema_problems

    return latest_schema_problems(app_settings.DATABASE, check=True) or []


#: Seconds the site selector's list is reused; while the database fails, up to STALE_MAX.
SITES_SECONDS = 300
SITES_KEY = "reception_stats:sites"


def site_choices() -> list[tuple[str, str]]:
    """``(id, name)`` of every site, for the selector; empty when nothing can be read."""
    if not is_enabled():
        return []  # the flag off reads no Recyclic table, not even the sites
    store = Store("admin")
    cached = store.get(SITES_KEY)
    if cached is not None and cached[1] > timezone.now().timestamp() - SITES_SECONDS:
        return cached[0]
    try:
        with read_only(app_settings.DATABASE):
            sites = Site.objects.using(app_settings.DATABASE).order_by("name")
            choices = [(str(pk), name) for pk, name in sites.values_list("pk", "name")]
    except DatabaseError:
        return cached[0] if cached is not None else []
    store.set(SITES_KEY, (choices, timezone.now().timestamp()), int(app_settings.STALE_MAX) + 1)
    return choices


def _hour_charts(breakdown: Breakdown) -> list[HourChart]:
    hours = breakdown.hours
    kilos = [(h.weight_in, h.weight_out) for h in hours]
    return [
        _hour_chart(
            _("Kilos in and out per hour"),
            hours,
            [
                {"name": "in", "label": _("kilos in"), "values": [k[0] for k in kilos]},
                {"name": "out", "label": _("kilos out"), "values": [k[1] for k in kilos]},
            ],
            "weight",
        ),
        _hour_chart(
            _("Turnover per hour"),
            hours,
            [
                {
                    "name": "turnover",
                    "label": _("turnover"),
                    "values": [h.turnover_eur for h in hours],
                }
            ],
            "money",
        ),
    ]


def _hour_chart(title: str, hours, series: list[dict[str, Any]], kind: str) -> HourChart:
    top = max((value for s in series for value in s["values"]), default=Decimal(0)) or Decimal(1)
    plot_width = CHART_WIDTH - CHART_LEFT - 4
    plot_height = CHART_HEIGHT - CHART_BOTTOM - CHART_TOP
    slot = plot_width / max(len(hours), 1)
    bar_width = max(slot * 0.8 / len(series), 1)
    drawn = []
    for index, serie in enumerate(series):
        bars = []
        for position, (hour, value) in enumerate(zip(hours, serie["values"], strict=True)):
            height = max(float(value / top), 0.0) * plot_height
            local = timezone.localtime(hour.start, app_settings.time_zone)
            bars.append(
                Bar(
                    x=CHART_LEFT + position * slot + slot * 0.1 + index * bar_width,
                    y=CHART_HEIGHT - CHART_BOTTOM - height,
                    width=bar_width,
                    height=height,
                    title=f"{local:%H}h : {format_figure(kind, value, weight_decimals=1)} "
                    f"{serie['label']}",
                )
            )
        drawn.append({**serie, "bars": bars})
    ticks = [
        {
            "x": CHART_LEFT + position * slot + slot / 2,
            "label": f"{timezone.localtime(hour.start, app_settings.time_zone):%H}h",
        }
        for position, hour in enumerate(hours)
        if position % 3 == 0
    ]
    return HourChart(title, drawn, ticks, format_figure(kind, top, weight_decimals=1))


def _share_rows(shares) -> list[ShareRow]:
    total = sum((share.weight for share in shares), Decimal(0))
    largest = max((share.weight for share in shares), default=Decimal(0)) or Decimal(1)
    return [
        ShareRow(
            label=str(share.label),
            value=format_figure("weight", share.weight, weight_decimals=1),
            percent=f"{format_number(share.weight * 100 / total, 0)} %" if total else "0 %",
            # A negative weight (a correction typed in Recyclic) draws no bar, never a negative one.
            width=max(float(share.weight / largest) * 100, 0.0),
        )
        for share in shares
    ]
