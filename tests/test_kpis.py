"""Every rule of docs/figures.md, with concrete values.

The same assertions run on PostgreSQL and on SQLite (`.ci/run` runs the suite on both), so the
same data gives the same numbers on each.
"""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from reception_stats.kpis import (
    QUERIES_PER_COMPUTATION,
    SiteNotFound,
    compute_live_stats,
    period_for,
)
from reception_stats.models import ReceptionStatus
from tests.recipes import (
    NOW,
    TODAY,
    YESTERDAY,
    build_worked_example,
    make_cash_session,
    make_poste,
    make_recyclic_user,
    make_sale,
    make_site,
    make_ticket,
    other_statements,
    paris,
    recyclic_selects,
)

pytestmark = pytest.mark.django_db

OPENED, CLOSED = ReceptionStatus.OPENED, ReceptionStatus.CLOSED


def figures(stats) -> dict:
    return {name: getattr(stats, name) for name in stats.FIGURES}


@pytest.fixture
def worked_example():
    build_worked_example()


def test_worked_example_24h(worked_example):
    stats = compute_live_stats("24h", now=NOW)

    assert figures(stats) == {
        "tickets_open": 1,
        "tickets_closed_24h": 2,
        "items_received": 3,
        "weight_in": Decimal("19.500"),
        "weight_out_exits": Decimal("5.000"),
        "sales_count": 1,
        "turnover_eur": Decimal("75.00"),
        "donations_eur": Decimal("6.00"),
        "last_sale_amount": Decimal("75.00"),
        "weight_out_sales": Decimal("10.000"),
        "weight_out": Decimal("15.000"),
    }
    assert stats.enabled is True
    assert stats.window == "24h"
    assert stats.period_start.isoformat() == "2026-03-09T15:00:00+01:00"
    assert stats.period_end.isoformat() == "2026-03-10T15:00:00+01:00"
    assert stats.timezone == "Europe/Paris"
    assert stats.site is None


def test_worked_example_today(worked_example):
    stats = compute_live_stats("today", now=NOW)

    assert figures(stats) == {
        "tickets_open": 1,
        "tickets_closed_24h": 1,
        "items_received": 2,
        "weight_in": Decimal("17.500"),
        "weight_out_exits": Decimal("5.000"),
        "sales_count": 1,
        "turnover_eur": Decimal("75.00"),
        "donations_eur": Decimal("6.00"),
        "last_sale_amount": Decimal("75.00"),
        "weight_out_sales": Decimal("10.000"),
        "weight_out": Decimal("15.000"),
    }
    assert stats.period_start.isoformat() == "2026-03-10T00:00:00+01:00"


def test_query_count_is_fixed(worked_example):
    # The SELECTs on Recyclic's tables; around them only the read-only transaction's own
    # statements (its SET of limits on PostgreSQL, its savepoint inside the test's transaction).
    with CaptureQueriesContext(connection) as captured:
        compute_live_stats("24h", now=NOW)
    assert len(recyclic_selects(captured)) == QUERIES_PER_COMPUTATION
    assert other_statements(captured) == []
    # More data does not mean more queries.
    for hour in range(9, 14):
        poste = make_poste(paris(f"{TODAY} {hour:02d}:00"))
        make_ticket(poste, lines=["1", "2", ("3", True)])
        make_sale(created_at=paris(f"{TODAY} {hour:02d}:30"), total_amount=1, item_weights=[1])
    with CaptureQueriesContext(connection) as captured:
        compute_live_stats("today", now=NOW)
    assert len(recyclic_selects(captured)) == QUERIES_PER_COMPUTATION
    assert other_statements(captured) == []


def test_one_statement_with_a_site_too():
    """The site's existence is a subquery of the same statement, not a query of its own."""
    site = make_site()
    with CaptureQueriesContext(connection) as captured:
        compute_live_stats("24h", site=site.pk, now=NOW)
    assert QUERIES_PER_COMPUTATION == 1
    assert len(recyclic_selects(captured)) == 1
    assert other_statements(captured) == []


def test_empty_database_gives_zeros_not_nulls():
    stats = compute_live_stats("24h", now=NOW)

    assert figures(stats) == {
        "tickets_open": 0,
        "tickets_closed_24h": 0,
        "items_received": 0,
        "weight_in": Decimal("0.000"),
        "weight_out_exits": Decimal("0.000"),
        "sales_count": 0,
        "turnover_eur": Decimal("0.00"),
        "donations_eur": Decimal("0.00"),
        "last_sale_amount": Decimal("0.00"),
        "weight_out_sales": Decimal("0.000"),
        "weight_out": Decimal("0.000"),
    }


@override_settings(LIVE_RECEPTION_STATS_ENABLED=False)
def test_flag_off_answers_zeros_without_any_query(worked_example, django_assert_num_queries):
    with django_assert_num_queries(0):
        stats = compute_live_stats("today", now=NOW)

    assert stats.enabled is False
    assert set(figures(stats).values()) == {0}
    assert stats.window == "today"
    assert stats.period_start.isoformat() == "2026-03-10T00:00:00+01:00"


@override_settings(LIVE_RECEPTION_STATS_ENABLED=False)
def test_flag_off_does_not_look_the_site_up(django_assert_num_queries):
    with django_assert_num_queries(0):
        stats = compute_live_stats("24h", site="6f1c1f4e-5d55-4a57-9f3e-3c1e2c0d9a10", now=NOW)
    assert stats.enabled is False
    assert str(stats.site) == "6f1c1f4e-5d55-4a57-9f3e-3c1e2c0d9a10"


# --- Tickets ---------------------------------------------------------------------------------


def test_deferred_ticket_counts_on_its_notebooks_date():
    notebook_day = NOW - timedelta(days=12)
    poste = make_poste(notebook_day, closed_at=paris(f"{TODAY} 10:30"))
    make_ticket(poste, status=CLOSED, closed_at=paris(f"{TODAY} 10:00"), lines=["20"])

    assert compute_live_stats("24h", now=NOW).tickets_closed_24h == 0
    on_notebook_day = compute_live_stats("24h", now=notebook_day + timedelta(hours=2))
    assert on_notebook_day.tickets_closed_24h == 1
    assert on_notebook_day.weight_in == Decimal("20.000")


def test_ticket_closed_just_within_the_threshold_is_not_deferred():
    poste = make_poste(paris(f"{YESTERDAY} 15:30"))
    # 23 h 59 after the poste opened: business time is the real closing time, today.
    make_ticket(poste, status=CLOSED, closed_at=paris(f"{TODAY} 15:29"), lines=["1"])
    make_ticket(poste, status=CLOSED, closed_at=paris(f"{TODAY} 15:31"), lines=["1"])

    at = paris(f"{TODAY} 16:00")
    assert compute_live_stats("today", now=at).tickets_closed_24h == 1
    # The second one, deferred, counts on the poste's opening, yesterday 15:30.
    assert compute_live_stats("24h", now=at).tickets_closed_24h == 1
    assert compute_live_stats("24h", now=paris(f"{TODAY} 15:30")).tickets_closed_24h == 2


def test_abandoned_open_ticket_is_not_live():
    poste = make_poste(NOW - timedelta(days=3))
    make_ticket(poste, status=OPENED, lines=["4"])

    assert compute_live_stats("24h", now=NOW).tickets_open == 0
    # Back when its poste opened, the same ticket (read with its current status) was live.
    earlier = compute_live_stats("24h", now=NOW - timedelta(days=3) + timedelta(hours=1))
    assert earlier.tickets_open == 1
    assert earlier.weight_in == Decimal("4.000")


def test_open_tickets_are_a_snapshot_whatever_the_window():
    poste = make_poste(paris(f"{YESTERDAY} 20:00"))
    make_ticket(poste, status=OPENED, lines=["3"])

    # Opened yesterday evening, 19 h before now: live in both windows.
    assert compute_live_stats("today", now=NOW).tickets_open == 1
    assert compute_live_stats("24h", now=NOW).tickets_open == 1


def test_poste_left_open_overnight_counts_its_tickets_on_their_closing_time():
    poste = make_poste(paris(f"{YESTERDAY} 18:00"))
    make_ticket(poste, status=CLOSED, closed_at=paris(f"{YESTERDAY} 23:30"), lines=["1.250"])
    make_ticket(poste, status=CLOSED, closed_at=paris(f"{TODAY} 00:30"), lines=["2.500"])
    make_ticket(poste, status=OPENED, lines=["0.750"])

    today = compute_live_stats("today", now=NOW)
    assert (today.tickets_open, today.tickets_closed_24h) == (1, 1)
    assert today.weight_in == Decimal("3.250")

    last_24h = compute_live_stats("24h", now=NOW)
    assert (last_24h.tickets_open, last_24h.tickets_closed_24h) == (1, 2)
    assert last_24h.weight_in == Decimal("4.500")


def test_closed_ticket_without_closed_at_counts_nowhere():
    poste = make_poste(paris(f"{TODAY} 08:00"))
    make_ticket(poste, status=CLOSED, closed_at=None, lines=["8", ("2", True)])

    stats = compute_live_stats("24h", now=NOW)
    assert (stats.tickets_open, stats.tickets_closed_24h, stats.items_received) == (0, 0, 0)
    assert stats.weight_in == stats.weight_out_exits == Decimal("0.000")


def test_ticket_created_at_is_never_used():
    poste = make_poste(paris(f"{TODAY} 08:00"))
    ticket = make_ticket(poste, status=CLOSED, closed_at=paris(f"{TODAY} 09:00"), lines=["1"])
    type(ticket).objects.filter(pk=ticket.pk).update(created_at=NOW - timedelta(days=30))

    assert compute_live_stats("24h", now=NOW).tickets_closed_24h == 1


def test_period_bounds_are_inclusive():
    poste = make_poste(paris(f"{YESTERDAY} 15:00"))
    make_ticket(poste, status=CLOSED, closed_at=paris(f"{YESTERDAY} 15:00"), lines=["1"])
    make_ticket(poste, status=CLOSED, closed_at=NOW, lines=["1"])

    assert compute_live_stats("24h", now=NOW).tickets_closed_24h == 2


def test_a_ticket_with_many_lines_counts_once_and_each_line_once():
    poste = make_poste(paris(f"{TODAY} 08:00"))
    make_ticket(
        poste,
        status=CLOSED,
        closed_at=paris(f"{TODAY} 09:00"),
        lines=["1.111", "2.222", "3.333", ("4.444", True), ("5.555", True)],
    )

    stats = compute_live_stats("24h", now=NOW)
    assert stats.tickets_closed_24h == 1
    assert stats.items_received == 3
    assert stats.weight_in == Decimal("6.666")
    assert stats.weight_out_exits == Decimal("9.999")


def test_tickets_with_no_line_count_as_tickets():
    poste = make_poste(paris(f"{TODAY} 08:00"))
    make_ticket(poste, status=OPENED)
    make_ticket(poste, status=CLOSED, closed_at=paris(f"{TODAY} 09:00"))

    stats = compute_live_stats("24h", now=NOW)
    assert (stats.tickets_open, stats.tickets_closed_24h, stats.items_received) == (1, 1, 0)


# --- Sales -----------------------------------------------------------------------------------


def test_sale_business_time_is_sale_date_then_created_at():
    make_sale(created_at=paris(f"{TODAY} 10:00"), total_amount=10.0)
    # Typed today for a notebook twelve days old: outside.
    make_sale(
        created_at=paris(f"{TODAY} 10:05"), sale_date=NOW - timedelta(days=12), total_amount=20.0
    )
    # Typed twelve days ago with a sale_date of this morning: inside.
    make_sale(
        created_at=NOW - timedelta(days=12), sale_date=paris(f"{TODAY} 09:00"), total_amount=40.0
    )
    make_sale(created_at=None, sale_date=None, total_amount=80.0)

    stats = compute_live_stats("today", now=NOW)
    assert stats.sales_count == 2
    assert stats.turnover_eur == Decimal("50.00")


def test_sale_with_several_items_counts_its_amount_once():
    make_sale(
        created_at=paris(f"{TODAY} 10:00"),
        total_amount=12.5,
        donation=2.0,
        item_weights=[1.2, 0.8, None],
    )

    stats = compute_live_stats("24h", now=NOW)
    assert stats.sales_count == 1
    assert stats.turnover_eur == Decimal("12.50")
    assert stats.donations_eur == Decimal("2.00")
    assert stats.weight_out_sales == Decimal("2.000")


def test_money_is_summed_as_decimals_and_rounded_half_up():
    for amount in (0.3, 0.6, 0.005):
        make_sale(created_at=paris(f"{TODAY} 10:00"), total_amount=amount, donation=0.1)
    make_sale(created_at=paris(f"{TODAY} 10:00"), total_amount=0.0, donation=0.2)

    stats = compute_live_stats("24h", now=NOW)
    # As binary floats 0.3 + 0.6 + 0.005 is 0.9049999999999999, which would round to 0.90.
    assert stats.turnover_eur == Decimal("0.91")
    assert stats.donations_eur == Decimal("0.50")


def test_a_single_half_cent_rounds_up():
    make_sale(created_at=paris(f"{TODAY} 10:00"), total_amount=1.005)
    # The float 1.005 is 1.00499999999999989…; converted to a decimal first, it is 1.005.
    assert compute_live_stats("24h", now=NOW).turnover_eur == Decimal("1.01")
    assert compute_live_stats("24h", now=NOW).last_sale_amount == Decimal("1.01")


def test_null_donations_and_weights_count_zero():
    make_sale(
        created_at=paris(f"{TODAY} 10:00"), total_amount=5.0, donation=None, item_weights=[None]
    )
    make_sale(
        created_at=paris(f"{TODAY} 11:00"), total_amount=5.0, donation=1.5, item_weights=[0.25]
    )

    stats = compute_live_stats("24h", now=NOW)
    assert stats.donations_eur == Decimal("1.50")
    assert stats.weight_out_sales == Decimal("0.250")


def test_weight_out_adds_sales_and_exits():
    poste = make_poste(paris(f"{TODAY} 08:00"))
    make_ticket(poste, status=OPENED, lines=[("2.5", True), "7"])
    make_sale(created_at=paris(f"{TODAY} 10:00"), total_amount=1.0, item_weights=[0.1, 0.2])

    stats = compute_live_stats("24h", now=NOW)
    assert stats.weight_out_exits == Decimal("2.500")
    assert stats.weight_out_sales == Decimal("0.300")
    assert stats.weight_out == Decimal("2.800")


def test_last_sale_is_the_latest_business_time():
    make_sale(created_at=paris(f"{TODAY} 12:00"), total_amount=11.0)
    # Typed later, but its business time (sale_date) is earlier.
    make_sale(
        created_at=paris(f"{TODAY} 14:00"), sale_date=paris(f"{TODAY} 09:00"), total_amount=22.0
    )

    assert compute_live_stats("24h", now=NOW).last_sale_amount == Decimal("11.00")


def test_last_sale_ties_go_to_latest_created_at_then_greatest_id():
    business_time = paris(f"{TODAY} 12:00")
    make_sale(created_at=paris(f"{TODAY} 12:10"), sale_date=business_time, total_amount=1.0)
    make_sale(created_at=paris(f"{TODAY} 12:20"), sale_date=business_time, total_amount=2.0)
    assert compute_live_stats("24h", now=NOW).last_sale_amount == Decimal("2.00")

    make_sale(created_at=paris(f"{TODAY} 13:00"), total_amount=3.0, item_weights=[])
    same = paris(f"{TODAY} 14:00")
    first = make_sale(created_at=same, total_amount=4.0)
    second = make_sale(created_at=same, total_amount=5.0)
    expected = max((first, second), key=lambda sale: sale.pk.hex)
    assert compute_live_stats("24h", now=NOW).last_sale_amount == Decimal(
        repr(expected.total_amount)
    ).quantize(Decimal("0.01"))


# --- Sites -----------------------------------------------------------------------------------


def test_site_filter():
    centre, quais = make_site("Centre"), make_site("Quais")
    for site, weight in ((centre, "10"), (quais, "20"), (None, "40")):
        poste = make_poste(paris(f"{TODAY} 08:00"), opened_by=make_recyclic_user(site=site))
        make_ticket(poste, status=CLOSED, closed_at=paris(f"{TODAY} 09:00"), lines=[weight])
    make_sale(
        created_at=paris(f"{TODAY} 10:00"), total_amount=7.0, cash_session=make_cash_session(centre)
    )
    make_sale(
        created_at=paris(f"{TODAY} 10:00"), total_amount=9.0, cash_session=make_cash_session(quais)
    )

    for_centre = compute_live_stats("24h", site=centre.pk, now=NOW)
    assert (for_centre.tickets_closed_24h, for_centre.weight_in) == (1, Decimal("10.000"))
    assert (for_centre.sales_count, for_centre.turnover_eur) == (1, Decimal("7.00"))
    assert for_centre.site == centre.pk

    for_quais = compute_live_stats("24h", site=str(quais.pk), now=NOW)
    assert (for_quais.weight_in, for_quais.turnover_eur) == (Decimal("20.000"), Decimal("9.00"))

    # The user without a site: their postes count only when no site is asked.
    everything = compute_live_stats("24h", now=NOW)
    assert (everything.tickets_closed_24h, everything.weight_in) == (3, Decimal("70.000"))
    assert everything.turnover_eur == Decimal("16.00")


def test_unknown_site_is_refused():
    with pytest.raises(SiteNotFound):
        compute_live_stats("24h", site="6f1c1f4e-5d55-4a57-9f3e-3c1e2c0d9a10", now=NOW)


# --- Time zones ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "start", "hours"),
    [
        ("2026-03-29", "2026-03-29T00:00:00+01:00", 23),  # clocks go forward at 02:00
        ("2026-10-25", "2026-10-25T00:00:00+02:00", 25),  # clocks go back at 03:00
    ],
)
def test_today_on_daylight_saving_days(day, start, hours):
    end_of_day = paris(f"{day} 23:59:59")
    period = period_for("today", end_of_day)
    assert period.start.isoformat() == start
    # Real elapsed time: subtracting two Paris datetimes directly would compare wall clocks.
    elapsed = period.end.astimezone(UTC) - period.start.astimezone(UTC)
    assert elapsed == timedelta(hours=hours - 1, minutes=59, seconds=59)

    night = make_poste(period.start - timedelta(minutes=30))
    make_ticket(night, status=CLOSED, closed_at=period.start - timedelta(minutes=1), lines=["1"])
    make_ticket(night, status=CLOSED, closed_at=period.start, lines=["2"])
    evening = make_poste(paris(f"{day} 20:00"))
    make_ticket(evening, status=CLOSED, closed_at=paris(f"{day} 23:30"), lines=["4"])

    stats = compute_live_stats("today", now=end_of_day)
    assert stats.tickets_closed_24h == 2
    assert stats.weight_in == Decimal("6.000")


def test_24h_window_is_24_real_hours_across_a_clock_change():
    now = paris("2026-03-29 12:00")
    period = period_for("24h", now)
    assert period.end.astimezone(UTC) - period.start.astimezone(UTC) == timedelta(hours=24)
    assert period.start.isoformat() == "2026-03-28T11:00:00+01:00"


@override_settings(RECEPTION_STATS={"TIME_ZONE": "America/Montreal"})
def test_configured_time_zone_cuts_the_day():
    stats = compute_live_stats("today", now=NOW)
    assert stats.timezone == "America/Montreal"
    assert stats.period_start.isoformat() == "2026-03-10T00:00:00-04:00"
    assert stats.period_end.isoformat() == "2026-03-10T10:00:00-04:00"


@override_settings(RECEPTION_STATS={"DEFERRAL_THRESHOLD_HOURS": 48})
def test_deferral_threshold_is_a_setting():
    poste = make_poste(NOW - timedelta(hours=40))
    make_ticket(poste, status=OPENED, lines=["1"])
    make_ticket(poste, status=CLOSED, closed_at=paris(f"{TODAY} 10:00"), lines=["2"])

    stats = compute_live_stats("24h", now=NOW)
    assert (stats.tickets_open, stats.tickets_closed_24h) == (1, 1)


def test_naive_now_is_refused():
    with pytest.raises(ValueError, match="aware"):
        compute_live_stats("24h", now=datetime(2026, 3, 10, 15))


def test_unknown_window_is_refused():
    with pytest.raises(ValueError, match="window"):
        compute_live_stats("week", now=NOW)


def test_as_json_has_numbers_and_iso_times(worked_example):
    data = compute_live_stats("24h", now=NOW).as_json()
    assert data["turnover_eur"] == 75.0
    assert data["weight_in"] == 19.5
    assert data["tickets_open"] == 1
    assert data["period_start"] == "2026-03-09T15:00:00+01:00"
    assert data["enabled"] is True
    assert data["site"] is None
