"""Bad values (NaN, ±Infinity, magnitudes of 10⁹ or more) count as null, and every door answers.

docs/figures.md: such a value adds nothing to a sum, a sale whose amount is bad gives 0 as the
last sale's amount, the row itself still counts (a sale with a bad donation is still a sale),
and each bad value is reported per table and column. Negative values count as they are.

On PostgreSQL every bad value can be stored. SQLite stores NaN as NULL, so there the columns
that may be null hold a NULL instead, and the NOT NULL ones cannot hold a NaN at all; ±Infinity
and huge values are stored as they are on both.
"""

import json
import logging
from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from reception_stats.aggregates import to_decimal, to_micro
from reception_stats.cache import get_snapshot
from reception_stats.kpis import compute_live_stats
from tests.recipes import NOW, TODAY, make_poste, make_sale, make_ticket, paris

pytestmark = pytest.mark.django_db

NAN, INF = float("nan"), float("inf")
HUGE = 1e26
AT = {"at": NOW.isoformat()}
LIVE = "/api/v1/reception/stats/live"
BREAKDOWN = "/api/v1/reception/stats/live/breakdown"
FRAGMENT = "/admin/reception_stats/livestats/fragment/"


def bad_floats(on_postgresql: bool) -> list[float]:
    return [NAN, INF, -INF, HUGE, -1e9] if on_postgresql else [INF, -INF, HUGE, -1e9]


@pytest.fixture
def good_sale():
    """The one good sale beside the bad ones: 10.00 €, 2.00 € of donation, 3 kg sold."""
    return make_sale(
        created_at=paris(f"{TODAY} 09:00"), total_amount=10.0, donation=2.0, item_weights=[3.0]
    )


@pytest.fixture
def bad_sales(on_postgresql, good_sale):
    """A sale per bad value, each amount, donation and item weight bad, later than the good one."""
    values = bad_floats(on_postgresql)
    for minute, value in enumerate(values):
        make_sale(
            created_at=paris(f"{TODAY} 10:{minute:02d}"),
            total_amount=value,
            donation=value,
            item_weights=[value],
        )
    return len(values)


# --- the rule, in Python ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "micro"),
    [
        (75.0, 75_000_000),
        (0.1, 100_000),
        (-12.5, -12_500_000),
        (1.0049999999999997, 1_005_000),  # 15 digits say 1.005, 17 say 1.0049999999999997
        (999_999_999.99, 999_999_999_990_000),
        (1e9, None),
        (-1e9, None),
        (HUGE, None),
        (INF, None),
        (-INF, None),
        (NAN, None),
        (None, None),
        (Decimal("2.345"), 2_345_000),
        (Decimal("NaN"), None),
    ],
)
def test_one_float_to_decimal_rule(value, micro):
    assert to_micro(value) == micro


# --- the figures ------------------------------------------------------------------------------


def test_bad_values_add_nothing_and_the_rows_still_count(bad_sales):
    stats = compute_live_stats("24h", now=NOW)

    assert stats.sales_count == 1 + bad_sales
    assert stats.turnover_eur == Decimal("10.00")
    assert stats.donations_eur == Decimal("2.00")
    assert stats.weight_out_sales == Decimal("3.000")
    assert stats.weight_out == Decimal("3.000")
    # The last sale is a bad one: its amount counts as null, hence 0.
    assert stats.last_sale_amount == Decimal("0.00")
    assert stats.bad_values == {
        "sales.total_amount": bad_sales,
        "sales.donation": bad_sales,
        "sale_items.weight": bad_sales,
    }


def test_a_nan_weight_at_reception_counts_as_null(on_postgresql):
    if not on_postgresql:
        pytest.skip("SQLite cannot store NaN in a NOT NULL column")
    poste = make_poste(paris(f"{TODAY} 08:00"))
    ticket = make_ticket(poste, lines=["4.5", "1"])
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE ligne_depot SET poids_kg = 'NaN' WHERE ticket_id = %s AND poids_kg = 1",
            [ticket.pk],
        )

    stats = compute_live_stats("24h", now=NOW)

    assert (stats.items_received, stats.weight_in) == (2, Decimal("4.500"))
    assert stats.bad_values == {"ligne_depot.poids_kg": 1}


def test_each_bad_value_is_logged_with_its_row(bad_sales, caplog):
    with caplog.at_level(logging.WARNING, logger="reception_stats"):
        compute_live_stats("24h", now=NOW)

    warnings = [r for r in caplog.records if getattr(r, "event", "") == "reception_bad_values"]
    assert {record.column for record in warnings} == {
        "sales.total_amount",
        "sales.donation",
        "sale_items.weight",
    }
    amounts = next(r for r in warnings if r.column == "sales.total_amount")
    assert amounts.count == bad_sales
    assert len(amounts.ids) == bad_sales
    assert amounts.ids[0] in amounts.getMessage()
    assert "Mend them in Recyclic" in amounts.getMessage()


def test_negative_values_count_as_they_are():
    make_sale(created_at=paris(f"{TODAY} 09:00"), total_amount=30.0, item_weights=[4.0])
    make_sale(created_at=paris(f"{TODAY} 09:30"), total_amount=-12.5, item_weights=[-1.5])

    stats = compute_live_stats("24h", now=NOW)

    assert (stats.turnover_eur, stats.last_sale_amount) == (Decimal("17.50"), Decimal("-12.50"))
    assert stats.weight_out_sales == Decimal("2.500")
    assert stats.bad_values == {}


def test_one_sale_rounds_the_same_in_the_turnover_and_as_the_last_sale():
    """PostgreSQL's ::numeric kept 15 digits (1.005: 1.01 €) and Python's repr 17
    (1.0049999999999997: 1.00 €): one rule now, the same cent everywhere."""
    make_sale(created_at=paris(f"{TODAY} 09:00"), total_amount=1.0049999999999997)

    stats = compute_live_stats("24h", now=NOW)

    assert stats.turnover_eur == stats.last_sale_amount == Decimal("1.01")
    assert to_decimal(1.0049999999999997) == Decimal("1.005000")


# --- every door answers ---------------------------------------------------------------------


def test_the_api_answers_json_with_the_bad_values_listed(api, bad_sales):
    response = api.get(LIVE, AT)

    assert response.status_code == 200
    body = json.loads(response.content)  # strict: NaN or Infinity would not parse as numbers
    assert (body["turnover_eur"], body["last_sale_amount"]) == (10.0, 0.0)
    assert body["bad_values"]["sales.total_amount"] == bad_sales
    assert "NaN" not in response.content.decode()


def test_the_breakdown_answers_and_adds_up(api, bad_sales):
    response = api.get(BREAKDOWN, AT)

    assert response.status_code == 200
    body = response.json()
    assert sum(hour["turnover_eur"] for hour in body["hours"]) == 10.0
    assert sum(hour["weight_out"] for hour in body["hours"]) == 3.0


def test_the_admin_page_notes_the_values_left_out(client, manager, bad_sales):
    client.force_login(manager)

    response = client.get(FRAGMENT, {**AT, "window": "24h"})

    assert response.status_code == 200
    page = response.content.decode()
    assert f"{3 * bad_sales} valeurs ignorées" in page
    assert "sales.total_amount" in page


def test_the_command_prints_valid_json(bad_sales):
    out = StringIO()
    call_command("reception_stats", "--at", NOW.isoformat(), "--format", "json", stdout=out)

    body = json.loads(out.getvalue(), parse_constant=pytest.fail)
    assert body["turnover_eur"] == 10.0
    assert body["bad_values"]["sale_items.weight"] == bad_sales


def test_the_table_of_the_command_says_what_was_left_out(bad_sales):
    out = StringIO()
    call_command("reception_stats", "--at", NOW.isoformat(), stdout=out)

    assert "sales.total_amount" in out.getvalue()


def test_metrics_export_finite_numbers(client, bad_sales):
    get_snapshot("24h", source="api")

    page = client.get("/metrics").content.decode()

    figures = [line for line in page.splitlines() if line.startswith("reception_live_stats_t")]
    assert figures
    assert not [line for line in figures if "nan" in line.lower() or "inf" in line.lower()]


# --- half-up rounding everywhere --------------------------------------------------------------


def test_the_breakdown_rounds_half_up_like_the_figures(api):
    make_sale(created_at=paris(f"{TODAY} 09:10"), total_amount=0.125, item_weights=[2.0005])

    hours = api.get(BREAKDOWN, AT).json()["hours"]
    figures = api.get(LIVE, AT).json()

    nine = next(hour for hour in hours if hour["start"].startswith(f"{TODAY}T09:00"))
    assert (nine["turnover_eur"], nine["weight_out"]) == (0.13, 2.001)
    assert (figures["turnover_eur"], figures["weight_out_sales"]) == (0.13, 2.001)


def test_recyclics_endpoint_names_the_bad_values_in_a_header(api):
    """Recyclic's format has no field for them: a header lists them, as bad_values does."""
    make_sale(created_at=timezone.now() - timedelta(minutes=5), total_amount=1e30)

    response = api.get("/api/v1/stats/live")

    assert response.status_code == 200
    assert response.json()["ca"] == 0.0
    assert response["X-Reception-Stats-Bad-Values"] == "sales.total_amount=1"
