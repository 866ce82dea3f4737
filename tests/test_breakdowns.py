"""The breakdowns count what the headline figures count: their totals are the headline figures."""

from datetime import UTC, timedelta
from decimal import Decimal
from itertools import pairwise

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from reception_stats.breakdowns import QUERIES_PER_BREAKDOWN, compute_breakdown
from reception_stats.kpis import SiteNotFound, compute_live_stats
from reception_stats.models import ReceptionStatus
from tests.recipes import (
    NOW,
    TODAY,
    assert_breakdown_adds_up,
    build_worked_example,
    make_category,
    make_poste,
    make_sale,
    make_ticket,
    other_statements,
    paris,
    recyclic_selects,
)

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("window", ["24h", "today"])
def test_worked_example_adds_up(window):
    build_worked_example()
    breakdown = compute_breakdown(window, now=NOW)
    assert_breakdown_adds_up(breakdown, compute_live_stats(window, now=NOW))


def test_worked_example_per_hour():
    build_worked_example()
    breakdown = compute_breakdown("today", now=NOW)
    by_hour = {h.start.strftime("%H:%M"): h for h in breakdown.hours}

    assert next(iter(by_hour)) == "00:00"
    assert list(by_hour)[-1] == "15:00"
    assert by_hour["09:00"].weight_in == Decimal("7.5")  # ticket 2, closed at 09:00
    assert by_hour["11:00"].turnover_eur == Decimal("75")  # sale X
    assert by_hour["11:00"].weight_out == Decimal("10")  # sale X's items
    # Ticket 1 is still open: its lines are being weighed now, in the current hour.
    assert by_hour["15:00"].weight_in == Decimal("10")
    assert by_hour["15:00"].weight_out == Decimal("5")


def test_categories_rank_kilos_received_and_group_the_rest():
    poste = make_poste(paris(f"{TODAY} 08:00"))
    for index, weight in enumerate(["9", "8", "7", "1", "0.5"]):
        make_ticket(
            poste,
            status=ReceptionStatus.CLOSED,
            closed_at=paris(f"{TODAY} 09:00"),
            lines=[weight, ("100", True)],
            category=make_category(f"Catégorie {index}"),
        )

    breakdown = compute_breakdown("today", now=NOW, top_categories=3)
    assert [(c.key, c.weight) for c in breakdown.categories] == [
        ("Catégorie 0", Decimal("9")),
        ("Catégorie 1", Decimal("8")),
        ("Catégorie 2", Decimal("7")),
        ("__other__", Decimal("1.5")),
    ]
    destinations = {d.key: d.weight for d in breakdown.destinations}
    assert destinations == {
        "MAGASIN": Decimal("25.5"),
        "RECYCLAGE": Decimal("500"),
        "DECHETERIE": Decimal("0"),
    }


def test_query_count_is_fixed():
    build_worked_example()
    with CaptureQueriesContext(connection) as captured:
        compute_breakdown("24h", now=NOW)
    assert len(recyclic_selects(captured)) == QUERIES_PER_BREAKDOWN
    assert other_statements(captured) == []


@override_settings(LIVE_RECEPTION_STATS_ENABLED=False)
def test_flag_off_runs_no_query(django_assert_num_queries):
    with django_assert_num_queries(0):
        breakdown = compute_breakdown("today", now=NOW)
    assert breakdown.enabled is False
    assert all(h.weight_in == h.weight_out == h.turnover_eur == 0 for h in breakdown.hours)
    assert breakdown.categories == ()


def test_unknown_site_is_refused():
    with pytest.raises(SiteNotFound):
        compute_breakdown("24h", site="6f1c1f4e-5d55-4a57-9f3e-3c1e2c0d9a10", now=NOW)


def test_the_hour_repeated_when_clocks_go_back_is_two_buckets():
    night = paris("2026-10-25 23:59")
    breakdown = compute_breakdown("today", now=night)
    assert len(breakdown.hours) == 25
    labels = [h.start.isoformat() for h in breakdown.hours[2:5]]
    assert labels == [
        "2026-10-25T02:00:00+02:00",
        "2026-10-25T02:00:00+01:00",
        "2026-10-25T03:00:00+01:00",
    ]


def test_sales_fall_in_their_business_hour():
    make_sale(
        created_at=paris(f"{TODAY} 14:10"),
        sale_date=paris(f"{TODAY} 08:30"),
        total_amount=12.5,
        item_weights=[2.0, None],
    )
    breakdown = compute_breakdown("24h", now=NOW)
    hour = next(h for h in breakdown.hours if h.start == paris(f"{TODAY} 08:00"))
    assert (hour.turnover_eur, hour.weight_out) == (Decimal("12.5"), Decimal("2.0"))
    # Hours are one real hour apart, the first containing the start of the period.
    starts = [h.start.astimezone(UTC) for h in breakdown.hours]
    assert all(b - a == timedelta(hours=1) for a, b in pairwise(starts))
    assert starts[0] <= breakdown.period_start < starts[0] + timedelta(hours=1)


def test_as_json_rounds_and_labels():
    build_worked_example()
    data = compute_breakdown("today", now=NOW).as_json()
    assert data["enabled"] is True
    assert data["hours"][9] == {
        "start": "2026-03-10T09:00:00+01:00",
        "weight_in": 7.5,
        "weight_out": 0.0,
        "turnover_eur": 0.0,
    }
    assert {d["key"] for d in data["destinations"]} == {"MAGASIN", "RECYCLAGE", "DECHETERIE"}
