"""The admin page's layout of the figures: value axes, hour columns, last week's lines, shares,
and each card's change against last week, with concrete values."""

from datetime import timedelta
from decimal import Decimal

import pytest

from reception_stats.breakdowns import compute_breakdown
from reception_stats.charts import hour_charts, share_rows, value_axis
from reception_stats.dashboard import change
from reception_stats.formatting import FIGURES
from reception_stats.kpis import compute_live_stats, week_before
from tests.recipes import NOW, build_worked_example, make_poste, make_ticket

pytestmark = pytest.mark.django_db

FIGURE = {figure.name: figure for figure in FIGURES}


@pytest.mark.parametrize(
    ("values", "top", "labels"),
    [
        ([Decimal("528")], Decimal(600), ["0\u00a0€", "200\u00a0€", "400\u00a0€", "600\u00a0€"]),
        (
            [Decimal("19.5")],
            Decimal(20),
            ["0\u00a0€", "5\u00a0€", "10\u00a0€", "15\u00a0€", "20\u00a0€"],
        ),
        ([Decimal("3")], Decimal(3), ["0\u00a0€", "1\u00a0€", "2\u00a0€", "3\u00a0€"]),
        (
            [Decimal("0.7")],
            Decimal("0.8"),
            ["0,0\u00a0€", "0,2\u00a0€", "0,4\u00a0€", "0,6\u00a0€", "0,8\u00a0€"],
        ),
        ([Decimal(0), Decimal(-5)], Decimal(0), ["0\u00a0€"]),
    ],
)
def test_the_value_axis_takes_a_few_round_ticks_above_the_largest_value(values, top, labels):
    axis_top, ticks = value_axis(values, "money")
    assert axis_top == top
    assert [tick.label for tick in ticks] == labels
    assert ticks[0].position == 0.0
    assert ticks[-1].position == pytest.approx(100.0) or top == 0


def test_hour_columns_bars_and_last_weeks_line():
    build_worked_example()
    breakdown = compute_breakdown("24h", now=NOW)
    previous = compute_breakdown("24h", now=week_before(NOW))

    kilos, turnover = hour_charts(breakdown, previous)

    assert (kilos.count, turnover.count) == (25, 25)
    assert [serie.name for serie in kilos.series] == ["in", "out"]
    assert kilos.columns[-1].hour == "15" and kilos.columns[-1].major
    assert not kilos.columns[-2].major  # every other hour on narrow screens, now included
    # No bar over the top of its axis, none below zero.
    heights = [bar.height for column in kilos.columns for bar in column.bars]
    assert max(heights) <= 100.0 and min(heights) >= 0.0
    assert {line.serie for line in kilos.lines} == {"in", "out"}
    assert len(kilos.lines[0].points.split()) == 25  # a point per hour of last week


def test_without_a_comparison_there_is_no_line():
    build_worked_example()
    kilos, _turnover = hour_charts(compute_breakdown("24h", now=NOW), None)
    assert kilos.lines == ()


def test_a_negative_share_draws_no_bar():
    poste = make_poste(NOW - timedelta(hours=2))
    make_ticket(poste, lines=["10"])
    shares = compute_breakdown("24h", now=NOW).categories
    rows = share_rows(shares)
    assert rows[0].width == 100.0
    assert rows[0].percent == "100\u00a0%"


@pytest.mark.parametrize(
    ("name", "now", "before", "text", "direction"),
    [
        ("weight_in", Decimal("30"), Decimal("20"), "▲\u00a050\u00a0%", "up"),
        ("weight_out", Decimal("15"), Decimal("20"), "▼\u00a025\u00a0%", "down"),
        ("turnover_eur", Decimal("1247.50"), Decimal("1000"), "▲\u00a025\u00a0%", "up"),
        ("tickets_open", 1, 1, "=\u00a00\u00a0%", "same"),
        ("donations_eur", Decimal("5"), Decimal("0"), "—", "none"),
        ("sales_count", 0, 0, "—", "none"),
        ("sales_count", 201, 200, "▲\u00a01\u00a0%", "up"),  # 0.5 % rounds half-up
        ("sales_count", 199, 200, "▼\u00a01\u00a0%", "down"),
    ],
)
def test_a_cards_change_against_last_week(name, now, before, text, direction):
    current = compute_live_stats("24h", now=NOW)
    previous = compute_live_stats("24h", now=week_before(NOW))
    current = current.__class__(**{**current.__dict__, name: now})
    previous = previous.__class__(**{**previous.__dict__, name: before})

    result = change(FIGURE[name], current, previous)

    assert (result.text, result.direction) == (text, direction)
    assert str(FIGURE[name].label) in result.description
