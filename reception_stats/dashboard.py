"""What the admin page and the wall screen show: the figures as cards, compared with last week.

:func:`build_panel` reads the page's query, asks the service (through its cache) for the figures,
their breakdown and last week's, and lays them out: cards with their change against the same
moment last week, and the charts of :mod:`reception_stats.charts`. It computes no figure: the
change of a card is the comparison docs/figures.md defines, ``(current - previous) / previous``,
shown only when last week's figure is not 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db import DatabaseError
from django.utils import timezone
from django.utils.formats import time_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from .cache import Store, get_snapshot
from .charts import HourChart, ShareRow, hour_charts, share_rows
from .conf import app_settings, is_enabled
from .db import read_only
from .formatting import FIGURES, Figure, format_figure, format_number
from .forms import LiveStatsQueryForm
from .kpis import COMPARE_WEEK, LiveStats, SiteNotFound
from .models import Site


@dataclass(frozen=True)
class Change:
    """A card's change against the same moment last week."""

    text: str  # "▲ 12 %", "▼ 5 %", "= 0 %", or "—" when there is nothing to compare with
    direction: str  # up, down, same, none
    previous: str  # last week's figure, formatted
    description: str  # the whole sentence, for the tooltip and for screen readers


@dataclass(frozen=True)
class Card:
    name: str
    label: str
    value: str
    headline: bool
    change: Change | None = None


@dataclass
class Panel:
    state: str  # ok, stale, disabled, unavailable, invalid, unknown_site
    status_code: int
    form: LiveStatsQueryForm
    message: str = ""
    stats: LiveStats | None = None
    cards: list[Card] = field(default_factory=list)
    hour_charts: list[HourChart] = field(default_factory=list)
    previous_period: str = ""
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
        served = get_snapshot(window, site, at, compare=COMPARE_WEEK, source=source)
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
    snapshot, stale = served.snapshot, served.stale
    stats, breakdown = snapshot.stats, snapshot.breakdown
    previous = snapshot.previous
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
            change(figure, stats, previous.stats) if previous else None,
        )
        for figure in FIGURES
    ]
    panel.hour_charts = hour_charts(breakdown, previous.breakdown if previous else None)
    panel.categories = share_rows(breakdown.categories)
    panel.destinations = share_rows(breakdown.destinations)
    tz = app_settings.time_zone
    panel.updated_at = time_format(timezone.localtime(stats.generated_at, tz), "H:i:s")
    if previous is not None:
        panel.previous_period = _("compared with %(day)s, same time") % {
            "day": _weekday(timezone.localtime(previous.stats.period_end, tz))
        }
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


def site_choices(*, strict: bool = False) -> list[tuple[str, str]]:
    """``(id, name)`` of every site, for the selector; empty when nothing can be read, or with
    ``strict`` the database's error then (a form whose choice would silently be "all sites")."""
    if not is_enabled():
        return []  # the flag off reads no Recyclic table, not even the sites
    store = Store("admin")
    cached = store.get(SITES_KEY)
    if cached is not None and cached[1] > timezone.now().timestamp() - SITES_SECONDS:
        return cached[0]
    try:
        with read_only(app_settings.DATABASE, consistent=False):
            sites = Site.objects.using(app_settings.DATABASE).order_by("name")
            choices = [(str(pk), name) for pk, name in sites.values_list("pk", "name")]
    except DatabaseError:
        if cached is not None:
            return cached[0]
        if strict:
            raise
        return []
    store.set(SITES_KEY, (choices, timezone.now().timestamp()), int(app_settings.STALE_MAX) + 1)
    return choices


def change(figure: Figure, current: LiveStats, previous: LiveStats) -> Change:
    """The change of one figure against last week's, as docs/figures.md defines it."""
    now, before = getattr(current, figure.name), getattr(previous, figure.name)
    shown_before = format_figure(figure.kind, before, weight_decimals=1)
    if not before:
        return Change(
            "—",
            "none",
            shown_before,
            _("%(label)s: nothing to compare with last week (%(previous)s).")
            % {"label": figure.label, "previous": shown_before},
        )
    ratio = (Decimal(now) - Decimal(before)) * 100 / Decimal(before)
    percent = ratio.copy_abs().quantize(Decimal(1), rounding=ROUND_HALF_UP)
    direction = "same" if not percent else ("up" if ratio > 0 else "down")
    arrow = {"up": "▲", "down": "▼", "same": "="}[direction]
    text = f"{arrow}\u00a0{format_number(percent, 0)}\u00a0%"
    sentence = {
        "up": _("%(label)s: up %(percent)s %% on last week (%(previous)s)."),
        "down": _("%(label)s: down %(percent)s %% on last week (%(previous)s)."),
        "same": _("%(label)s: as last week (%(previous)s)."),
    }[direction]
    return Change(
        text,
        direction,
        shown_before,
        sentence
        % {"label": figure.label, "percent": format_number(percent, 0), "previous": shown_before},
    )


def _weekday(moment) -> str:
    from django.utils.formats import date_format

    return date_format(moment, "l j F")
