"""Bad data in Recyclic's tables never crashes a computation and counts as the semantics say.

docs/figures.md: tickets count by ``status = 'opened'`` / ``'closed'`` exactly (lower case; any
other value counts nowhere), a closed ticket without ``closed_at`` counts nowhere, a null
donation or item weight counts 0, a sale without business time counts nowhere, and a line counts
only with its ticket (so an orphan line counts nowhere). Each bad row below weighs or costs
100 or more, so that counting it anywhere would show in the totals.
"""

from datetime import timedelta
from decimal import Decimal
from uuid import uuid4

import pytest
from django.db import connection

from reception_stats.breakdowns import compute_breakdown
from reception_stats.kpis import compute_live_stats
from reception_stats.models import Destination, LigneDepot, SaleItem, TicketDepot
from tests.recipes import (
    NOW,
    TODAY,
    make_category,
    make_poste,
    make_sale,
    make_ticket,
    paris,
)

pytestmark = pytest.mark.django_db

#: What the good rows of each test add up to, whatever bad rows lie beside them.
GOOD_RECEPTION = {
    "tickets_open": 1,
    "tickets_closed_24h": 1,
    "items_received": 2,
    "weight_in": Decimal("3.000"),
    "weight_out_exits": Decimal("0.500"),
}


def figures(stats, names=None) -> dict:
    return {name: getattr(stats, name) for name in names or stats.FIGURES}


@pytest.fixture
def poste():
    return make_poste(paris(f"{TODAY} 08:00"))


@pytest.fixture
def good_reception(poste):
    make_ticket(poste, status="opened", lines=["1"])
    make_ticket(
        poste, status="closed", closed_at=paris(f"{TODAY} 09:00"), lines=["2", ("0.5", True)]
    )


@pytest.fixture
def orphans(on_postgresql):
    """Rows whose parent does not exist: written past the foreign keys, removed at the end.

    PostgreSQL checks Recyclic's foreign keys at once; ``session_replication_role = replica``
    (for the test's transaction only) skips them, as a restore or a replication glitch would.
    SQLite's are deferred to a commit that never comes, but Django checks them at the end of the
    test: the rows are removed before.
    """
    if on_postgresql:
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL session_replication_role = replica")
    created = []
    yield created
    for row in reversed(created):
        row.delete()


def assert_breakdown_adds_up(stats):
    breakdown = compute_breakdown("24h", now=NOW)
    assert sum(h.weight_in for h in breakdown.hours) == stats.weight_in
    assert sum(h.weight_out for h in breakdown.hours) == stats.weight_out
    assert sum(h.turnover_eur for h in breakdown.hours) == stats.turnover_eur
    assert sum(d.weight for d in breakdown.destinations) == stats.weight_in + stats.weight_out_exits


@pytest.mark.parametrize(
    "status", ["OPENED", "Opened", "opened ", "Closed", "CLOSED", "in_progress", "", "ouvert"]
)
def test_a_status_in_another_case_or_unknown_counts_nowhere(poste, good_reception, status):
    make_ticket(
        poste, status=status, closed_at=paris(f"{TODAY} 10:00"), lines=["100", ("100", True)]
    )
    make_ticket(poste, status=status, closed_at=None, lines=["100"])

    stats = compute_live_stats("24h", now=NOW)

    assert figures(stats, GOOD_RECEPTION) == GOOD_RECEPTION
    assert_breakdown_adds_up(stats)


def test_a_closed_ticket_without_closed_at_counts_nowhere(poste, good_reception):
    make_ticket(poste, status="closed", closed_at=None, lines=["100", ("100", True)])

    stats = compute_live_stats("24h", now=NOW)

    assert figures(stats, GOOD_RECEPTION) == GOOD_RECEPTION
    assert_breakdown_adds_up(stats)


def test_an_orphan_line_counts_nowhere(good_reception, orphans):
    orphans.append(
        LigneDepot.objects.create(
            id=uuid4(),
            ticket_id=uuid4(),  # no such ticket
            category=make_category(),
            poids_kg=Decimal("100"),
            destination=Destination.MAGASIN,
            is_exit=False,
        )
    )

    stats = compute_live_stats("24h", now=NOW)

    assert figures(stats, GOOD_RECEPTION) == GOOD_RECEPTION
    assert_breakdown_adds_up(stats)


def test_a_ticket_of_an_unknown_poste_counts_nowhere(poste, good_reception, orphans):
    # Its business time and its liveness come from its poste: without one it has neither.
    ticket = TicketDepot.objects.create(
        id=uuid4(),
        poste_id=uuid4(),
        benevole=poste.opened_by,
        created_at=NOW,
        status="opened",
    )
    orphans.append(ticket)
    orphans.append(
        LigneDepot.objects.create(
            id=uuid4(),
            ticket=ticket,
            category=make_category(),
            poids_kg=Decimal("100"),
            destination=Destination.MAGASIN,
        )
    )

    stats = compute_live_stats("24h", now=NOW)

    assert figures(stats, GOOD_RECEPTION) == GOOD_RECEPTION
    assert_breakdown_adds_up(stats)


def test_null_donations_and_weights_count_zero_and_lower_case_payments_count():
    make_sale(
        created_at=paris(f"{TODAY} 11:00"),
        total_amount=10.0,
        donation=None,
        item_weights=[None, 1.5],
        payment_method="cash",
    )
    make_sale(
        created_at=paris(f"{TODAY} 12:00"),
        total_amount=5.5,
        donation=0.5,
        item_weights=[None],
        payment_method="card",
    )
    make_sale(created_at=paris(f"{TODAY} 12:30"), total_amount=1.0, payment_method=None)

    stats = compute_live_stats("24h", now=NOW)

    assert figures(stats) == {
        "tickets_open": 0,
        "tickets_closed_24h": 0,
        "items_received": 0,
        "weight_in": Decimal("0.000"),
        "weight_out_exits": Decimal("0.000"),
        "sales_count": 3,
        "turnover_eur": Decimal("16.50"),
        "donations_eur": Decimal("0.50"),
        "last_sale_amount": Decimal("1.00"),
        "weight_out_sales": Decimal("1.500"),
        "weight_out": Decimal("1.500"),
    }
    assert_breakdown_adds_up(stats)


def test_a_sale_without_business_time_counts_nowhere_nor_its_items():
    make_sale(created_at=paris(f"{TODAY} 11:00"), total_amount=10.0, item_weights=[2.0])
    make_sale(
        created_at=None, sale_date=None, total_amount=1000.0, donation=100.0, item_weights=[100.0]
    )

    stats = compute_live_stats("24h", now=NOW)

    assert figures(stats, ["sales_count", "turnover_eur", "donations_eur", "last_sale_amount"]) == {
        "sales_count": 1,
        "turnover_eur": Decimal("10.00"),
        "donations_eur": Decimal("0.00"),
        "last_sale_amount": Decimal("10.00"),
    }
    assert stats.weight_out_sales == Decimal("2.000")
    assert_breakdown_adds_up(stats)


def test_an_orphan_sale_item_counts_nowhere(orphans):
    make_sale(created_at=paris(f"{TODAY} 11:00"), total_amount=10.0, item_weights=[2.0])
    orphans.append(
        SaleItem.objects.create(
            id=uuid4(),
            sale_id=uuid4(),  # no such sale
            category="EEE",
            quantity=1,
            weight=100.0,
            unit_price=1.0,
            total_price=1.0,
        )
    )

    stats = compute_live_stats("24h", now=NOW)

    assert (stats.sales_count, stats.weight_out_sales) == (1, Decimal("2.000"))
    assert_breakdown_adds_up(stats)


def test_everything_bad_at_once_through_the_api(client, manager, poste, good_reception, orphans):
    """All of it together, through a door: 200 with the good rows' figures, no error."""
    for status in ("OPENED", "Closed", "in_progress"):
        make_ticket(poste, status=status, closed_at=paris(f"{TODAY} 10:00"), lines=["100"])
    make_ticket(poste, status="closed", closed_at=None, lines=["100"])
    orphans.append(
        LigneDepot.objects.create(
            id=uuid4(),
            ticket_id=uuid4(),
            category=make_category(),
            poids_kg=Decimal("100"),
            destination=Destination.DECHETERIE,
            is_exit=True,
        )
    )
    make_sale(created_at=None, total_amount=1000.0, item_weights=[None])
    make_sale(created_at=paris(f"{TODAY} 11:00"), total_amount=2.0, payment_method="free")
    client.force_login(manager)

    for url in ("/api/v1/reception/stats/live", "/api/v1/reception/stats/live/breakdown"):
        assert client.get(url, {"at": NOW.isoformat()}).status_code == 200
    body = client.get("/api/v1/reception/stats/live", {"at": NOW.isoformat()}).json()
    assert {name: body[name] for name in ("tickets_open", "tickets_closed_24h", "weight_in")} == {
        "tickets_open": 1,
        "tickets_closed_24h": 1,
        "weight_in": 3.0,
    }
    assert (body["sales_count"], body["turnover_eur"], body["weight_out"]) == (1, 2.0, 0.5)


def test_dates_at_infinity_compare_like_any_other(on_postgresql):
    """docs/figures.md, "Dates at infinity": a ticket's created_at is never read, a poste opened
    at -infinity is older than every window, a sale dated infinity is in no window."""
    if not on_postgresql:
        pytest.skip("SQLite has no infinite timestamps")
    live = make_poste(NOW - timedelta(hours=1))
    counted = make_ticket(live, status="closed", closed_at=NOW - timedelta(minutes=5), lines=["10"])
    ancient = make_poste(NOW - timedelta(hours=1))
    make_ticket(ancient, status="closed", closed_at=NOW - timedelta(minutes=5), lines=["7"])
    make_ticket(ancient, status="opened", lines=["3"])
    dated_later = make_sale(created_at=NOW - timedelta(minutes=5), total_amount=5.0)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE ticket_depot SET created_at = '-infinity' WHERE id = %s", [counted.pk]
        )
        cursor.execute(
            "UPDATE poste_reception SET opened_at = '-infinity' WHERE id = %s", [ancient.pk]
        )
        cursor.execute("UPDATE sales SET sale_date = 'infinity' WHERE id = %s", [dated_later.pk])

    stats = compute_live_stats(now=NOW)

    assert (stats.tickets_open, stats.tickets_closed_24h) == (0, 1)
    assert (stats.items_received, stats.weight_in) == (1, Decimal("10.000"))
    assert (stats.sales_count, stats.turnover_eur) == (0, Decimal("0.00"))
