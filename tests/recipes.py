"""Realistic Recyclic rows for the tests, built with model-bakery.

Each builder fills what the test does not care about with plausible values and takes the few
values the test is about as arguments, so that a test reads like the rule it checks.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from model_bakery import baker

from reception_stats.db import is_transaction_control, without_limits
from reception_stats.models import (
    RECYCLIC_MODELS,
    CashSession,
    CashSessionStatus,
    Category,
    Destination,
    LigneDepot,
    PosteReception,
    ReceptionStatus,
    RecyclicUser,
    Sale,
    SaleItem,
    Site,
    TicketDepot,
    UserRole,
    UserStatus,
)


def make_site(name: str = "Ressourcerie du Centre", **fields) -> Site:
    return baker.make(Site, name=name, is_active=True, **fields)


def make_recyclic_user(site: Site | None = None, **fields) -> RecyclicUser:
    defaults = {"role": UserRole.USER, "status": UserStatus.ACTIVE, "is_active": True}
    return baker.make(RecyclicUser, site=site, email=None, **{**defaults, **fields})


CATEGORY_NAMES = ("EEE", "Textile", "Mobilier", "Livres", "Vaisselle", "Jouets", "Bibelots")


def make_category(name: str | None = None) -> Category:
    """A category; without a name, the next of a few real ones (names are unique)."""
    if name is None:
        taken = Category.objects.count()
        base = CATEGORY_NAMES[taken % len(CATEGORY_NAMES)]
        name = base if taken < len(CATEGORY_NAMES) else f"{base} {taken}"
    return baker.make(Category, name=name, is_active=True, parent=None)


def make_poste(
    opened_at: datetime,
    *,
    opened_by: RecyclicUser | None = None,
    closed_at: datetime | None = None,
) -> PosteReception:
    return baker.make(
        PosteReception,
        opened_by=opened_by or make_recyclic_user(),
        opened_at=opened_at,
        closed_at=closed_at,
        status=ReceptionStatus.CLOSED if closed_at else ReceptionStatus.OPENED,
    )


def make_ticket(
    poste: PosteReception,
    *,
    status: str = ReceptionStatus.OPENED,
    closed_at: datetime | None = None,
    lines: Iterable[str | Decimal | tuple[str | Decimal, bool]] = (),
    category: Category | None = None,
) -> TicketDepot:
    """A ticket of ``poste``; each line is a weight, or ``(weight, is_exit)``."""
    ticket = baker.make(
        TicketDepot,
        poste=poste,
        benevole=poste.opened_by,
        # Recyclic stores the poste's opening time here, never the ticket's.
        created_at=poste.opened_at,
        closed_at=closed_at,
        status=status,
    )
    category = category or make_category()
    for line in lines:
        weight, is_exit = line if isinstance(line, tuple) else (line, False)
        baker.make(
            LigneDepot,
            ticket=ticket,
            category=category,
            poids_kg=Decimal(weight),
            destination=Destination.RECYCLAGE if is_exit else Destination.MAGASIN,
            is_exit=is_exit,
        )
    return ticket


def make_cash_session(site: Site | None = None, opened_at: datetime | None = None) -> CashSession:
    site = site or make_site()
    return baker.make(
        CashSession,
        site=site,
        operator=make_recyclic_user(site=site),
        register_id=None,
        initial_amount=50.0,
        current_amount=50.0,
        status=CashSessionStatus.OPEN,
        opened_at=opened_at or datetime.fromisoformat("2026-01-01T08:00:00+01:00"),
    )


def make_sale(
    *,
    created_at: datetime | None,
    total_amount: float,
    donation: float | None = None,
    sale_date: datetime | None = None,
    cash_session: CashSession | None = None,
    item_weights: Iterable[float | None] = (),
    payment_method: str | None = "CASH",
) -> Sale:
    sale = baker.make(
        Sale,
        cash_session=cash_session or make_cash_session(),
        operator=None,
        total_amount=total_amount,
        donation=donation,
        payment_method=payment_method,
        sale_date=sale_date,
        created_at=created_at,
        updated_at=created_at,
    )
    for weight in item_weights:
        baker.make(
            SaleItem,
            sale=sale,
            category="EEE",
            quantity=1,
            weight=weight,
            unit_price=1.0,
            total_price=1.0,
            preset_id=None,
        )
    return sale


PARIS = ZoneInfo("Europe/Paris")


def paris(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=PARIS)


#: The ``now`` of the worked example of docs/figures.md.
NOW = paris("2026-03-10 15:00")
TODAY = "2026-03-10"
YESTERDAY = "2026-03-09"


def build_worked_example() -> None:
    """The worked example of docs/figures.md, row for row."""
    OPENED, CLOSED = ReceptionStatus.OPENED, ReceptionStatus.CLOSED
    poste_a = make_poste(paris(f"{TODAY} 08:00"))
    make_ticket(poste_a, status=OPENED, lines=["10", ("5", True)])
    make_ticket(poste_a, status=CLOSED, closed_at=paris(f"{TODAY} 09:00"), lines=["7.5"])

    poste_z = make_poste(paris(f"{YESTERDAY} 09:00"), closed_at=paris(f"{YESTERDAY} 18:00"))
    make_ticket(poste_z, status=CLOSED, closed_at=paris(f"{YESTERDAY} 16:00"), lines=["2"])

    poste_b = make_poste(NOW - timedelta(days=12), closed_at=paris(f"{TODAY} 10:30"))
    make_ticket(poste_b, status=CLOSED, closed_at=paris(f"{TODAY} 10:00"), lines=["20"])

    poste_c = make_poste(NOW - timedelta(days=3))
    make_ticket(poste_c, status=OPENED, lines=["4"])

    make_sale(
        created_at=paris(f"{TODAY} 11:00"),
        total_amount=75.0,
        donation=6.0,
        item_weights=[9.0, 1.0],
    )
    make_sale(
        created_at=paris(f"{TODAY} 11:05"),
        sale_date=NOW - timedelta(days=12),
        total_amount=30.0,
        item_weights=[3.0],
    )


# Queries


_RECYCLIC_TABLES = tuple(f'"{model._meta.db_table}"' for model in RECYCLIC_MODELS)


def recyclic_selects(captured) -> list[str]:
    """The SELECT statements on Recyclic's tables among a CaptureQueriesContext's queries, with
    the limits ``read_only`` sends in front of one, if any."""
    return [
        query["sql"]
        for query in captured.captured_queries
        if without_limits(query["sql"]).upper().startswith("SELECT")
        and any(table in query["sql"] for table in _RECYCLIC_TABLES)
    ]


def other_statements(captured) -> list[str]:
    """Whatever else ran: neither such a SELECT nor the read-only transaction's own control."""
    selects = recyclic_selects(captured)
    return [
        query["sql"]
        for query in captured.captured_queries
        if query["sql"] not in selects and not is_transaction_control(query["sql"])
    ]


def assert_breakdown_adds_up(breakdown, stats) -> None:
    """The breakdown's hours, categories and destinations add up to the headline figures."""
    assert sum(h.weight_in for h in breakdown.hours) == stats.weight_in
    assert sum(h.weight_out for h in breakdown.hours) == stats.weight_out
    assert sum(h.turnover_eur for h in breakdown.hours) == stats.turnover_eur
    assert sum(c.weight for c in breakdown.categories) == stats.weight_in
    assert sum(d.weight for d in breakdown.destinations) == (
        stats.weight_in + stats.weight_out_exits
    )


def password_login(client, username: str, password: str) -> bool:
    """Sign in through the admin's login form, as a person does (django-axes watches it; the
    test client's ``login()`` gives the backends no request, which axes refuses)."""
    response = client.post(
        "/admin/login/?next=/admin/", {"username": username, "password": password}
    )
    return response.status_code == 302
