"""Read-only by construction: the KPI transaction, its limits, and models that refuse writes."""

import threading
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from uuid import uuid4

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import DatabaseError, connection
from django.db.models import Model
from django.utils import timezone

from reception_stats.db import (
    RecyclicReadOnlyError,
    allow_recyclic_writes,
    is_transaction_control,
    read_only,
    refuse_write,
    timeout_kind,
    without_limits,
)
from reception_stats.kpis import compute_live_stats
from reception_stats.models import (
    RECYCLIC_MODELS,
    Category,
    LigneDepot,
    LiveStats,
    RecyclicModel,
    Site,
    TicketDepot,
)
from tests.recipes import make_category, make_poste, make_site, make_ticket

pytestmark = pytest.mark.django_db


def show(name: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SHOW {name}")
        return cursor.fetchone()[0]


@pytest.fixture
def postgresql(on_postgresql):
    if not on_postgresql:
        pytest.skip("SET TRANSACTION READ ONLY and the timeouts are PostgreSQL's")


# --- read_only() ------------------------------------------------------------------------------


def test_inside_the_transaction_is_read_only_and_bounded(postgresql, settings):
    settings.RECEPTION_STATS = {
        **settings.RECEPTION_STATS,
        "STATEMENT_TIMEOUT_MS": 2000,
        "LOCK_TIMEOUT_MS": 500,
    }
    with read_only("default"):
        inside = (show("transaction_read_only"), show("statement_timeout"), show("lock_timeout"))
    assert inside == ("on", "2s", "500ms")


def test_the_database_itself_refuses_a_write_inside_even_when_models_may(postgresql):
    with allow_recyclic_writes(), pytest.raises(DatabaseError, match="read-only transaction"):  # noqa: SIM117
        with read_only("default"), connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO sites (id, name, is_active) VALUES (%s, 'x', true)", [uuid4()]
            )
    assert not Site.objects.exists()


def test_afterwards_the_callers_transaction_is_as_it_was(postgresql):
    """Nested in the test's transaction, the block is a savepoint rolled back: no limit stays."""
    before = (show("transaction_read_only"), show("statement_timeout"), show("lock_timeout"))
    compute_live_stats("24h")
    after = (show("transaction_read_only"), show("statement_timeout"), show("lock_timeout"))

    assert after == before == ("off", "0", "0")
    make_site()  # the test's transaction still writes


def test_an_error_inside_rolls_the_block_back_and_goes_through(postgresql):
    with pytest.raises(DatabaseError), read_only("default"), connection.cursor() as cursor:
        cursor.execute("SELECT 1/0")
    assert show("transaction_read_only") == "off"
    make_site()


def test_on_sqlite_it_is_a_plain_transaction(on_postgresql):
    if on_postgresql:
        pytest.skip("the SQLite variant")
    with read_only("default"):
        assert connection.in_atomic_block
        site = make_site()
    # Rolled back: nothing a computation could have written survives the block.
    assert not Site.objects.filter(pk=site.pk).exists()


# --- One statement outside any transaction: its own implicit transaction, one round trip ----


@pytest.mark.django_db(transaction=True)
def test_one_statement_outside_a_transaction_is_read_only_and_bounded(postgresql, options):
    """``consistent=False`` outside any transaction: each statement carries the limits in the
    same string and is a transaction of its own; nothing stays on the connection after it."""
    options(STATEMENT_TIMEOUT_MS=2000, LOCK_TIMEOUT_MS=500)
    assert connection.get_autocommit() and not connection.in_atomic_block
    with read_only("default", consistent=False):
        inside = (show("transaction_read_only"), show("statement_timeout"), show("lock_timeout"))
        with allow_recyclic_writes(), pytest.raises(DatabaseError, match="read-only"):  # noqa: SIM117
            with connection.cursor() as cursor:
                cursor.execute(
                    "INSERT INTO sites (id, name, is_active) VALUES (%s, 'x', true)", [uuid4()]
                )
        assert not connection.in_atomic_block  # no transaction was opened around the block
    after = (show("transaction_read_only"), show("statement_timeout"), show("lock_timeout"))

    assert inside == ("on", "2s", "500ms")
    assert after == ("off", "0", "0")
    assert not Site.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_lock_ends_a_one_statement_computation_and_leaves_the_connection_clean(
    postgresql, options
):
    import time

    import psycopg

    options(LOCK_TIMEOUT_MS=300)
    settings_dict = connection.settings_dict
    with psycopg.connect(
        host=settings_dict["HOST"] or "127.0.0.1",
        port=settings_dict["PORT"] or 5432,
        user=settings_dict["USER"],
        dbname=settings_dict["NAME"],
    ) as locker:
        locker.execute("LOCK TABLE ticket_depot IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        with pytest.raises(DatabaseError) as failure:
            compute_live_stats("24h")
        elapsed = time.monotonic() - started
        locker.rollback()

    assert timeout_kind(failure.value) == "lock"
    assert elapsed < 2
    assert show("transaction_read_only") == "off"  # not left in an aborted transaction
    assert compute_live_stats("24h").tickets_open == 0


@pytest.mark.django_db(transaction=True)
def test_with_server_side_binding_the_transaction_is_opened_as_before(postgresql, options):
    """The extended protocol of server-side binding takes one statement per message: the
    computation then runs in a transaction of its own, BEGIN and ROLLBACK around it."""
    from django.db import connections
    from django.db.backends.postgresql.base import DatabaseWrapper

    from bench.wire import traced

    alias = "server_side_binding"
    options_ = {**connection.settings_dict["OPTIONS"], "server_side_binding": True}
    connections[alias] = DatabaseWrapper({**connection.settings_dict, "OPTIONS": options_}, alias)
    options(DATABASE=alias)
    try:
        with allow_recyclic_writes():
            make_ticket(make_poste(timezone.now() - timedelta(hours=1)), lines=["2.5"])
        wire = traced(lambda: compute_live_stats("24h"), alias)
        stats = compute_live_stats("24h")
    finally:
        connections[alias].close()
        del connections[alias]

    statements = [trip.statement for trip in wire.round_trips]
    assert statements[0] == "BEGIN" and statements[-1] == "ROLLBACK"
    assert statements[1].startswith("SET TRANSACTION ")  # the limits, a statement of their own
    assert (stats.tickets_open, stats.weight_in) == (1, Decimal("2.500"))


@pytest.mark.parametrize(
    "value", [0, -1, 600_001, True, 2000.5, "2000", "2000; DROP TABLE sites", None]
)
def test_limits_must_be_whole_milliseconds_in_range(settings, value):
    settings.RECEPTION_STATS = {**settings.RECEPTION_STATS, "STATEMENT_TIMEOUT_MS": value}
    with pytest.raises(ImproperlyConfigured, match="STATEMENT_TIMEOUT_MS"), read_only("default"):
        pass


class _Error(Exception):
    def __init__(self, sqlstate=None, cause=None):
        super().__init__("x")
        self.sqlstate = sqlstate
        self.__cause__ = cause


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (_Error("57014"), "statement"),
        (_Error(cause=_Error("55P03")), "lock"),
        (_Error("08006"), None),
        (DatabaseError("gone"), None),
    ],
)
def test_timeout_kind(error, kind):
    assert timeout_kind(error) == kind


@pytest.mark.parametrize(
    ("sql", "control"),
    [
        ("BEGIN", True),
        ("SET TRANSACTION READ ONLY; SET LOCAL statement_timeout = 2000; SET LOCAL ...", True),
        ('SAVEPOINT "s1_x1"', True),
        ('RELEASE SAVEPOINT "s1_x1"', True),
        ('ROLLBACK TO SAVEPOINT "s1_x1"', True),
        ("ROLLBACK", True),
        ("COMMIT", True),
        ('SELECT COUNT("sales"."id") FROM "sales"', False),
        ("SET statement_timeout = 0", False),  # not read_only()'s: counted like any statement
        # read_only()'s limits in front of a query: a query.
        ("SET TRANSACTION READ ONLY; SET LOCAL jit = off; SELECT 1", False),
    ],
)
def test_what_counts_as_the_transactions_own_statements(sql, control):
    assert is_transaction_control(sql) is control


def test_without_limits_gives_the_query_as_the_orm_wrote_it():
    limits = (
        "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ; SET TRANSACTION READ ONLY; "
        "SET LOCAL statement_timeout = 2000; SET LOCAL lock_timeout = 500; SET LOCAL jit = off; "
    )
    query = 'SELECT COUNT("sales"."id") FROM "sales" WHERE "sales"."payment_method" = \'SET x;\''
    assert without_limits(limits + query) == query
    assert without_limits(query) == query


# --- The models refuse writes -----------------------------------------------------------------


FIXTURE = Path(__file__).with_name("fixtures") / "injected_site.json"


@pytest.fixture
def rows():
    with allow_recyclic_writes():
        poste = make_poste(timezone.now() - timedelta(hours=1))
        ticket = make_ticket(poste, lines=["2.5"])
    return ticket


WRITES = {
    "save": lambda t: t.save(),
    "delete": lambda t: t.delete(),
    "create": lambda t: Site.objects.create(id=uuid4(), name="x", is_active=True),
    "get_or_create": lambda t: Site.objects.get_or_create(
        id=uuid4(), defaults={"name": "x", "is_active": True}
    ),
    "update_or_create": lambda t: Site.objects.update_or_create(
        id=uuid4(), defaults={"name": "x", "is_active": True}
    ),
    "bulk_create": lambda t: Site.objects.bulk_create([Site(id=uuid4(), name="x", is_active=1)]),
    "bulk_update": lambda t: TicketDepot.objects.bulk_update([t], ["status"]),
    "update": lambda t: TicketDepot.objects.filter(pk=t.pk).update(status="closed"),
    "queryset delete": lambda t: LigneDepot.objects.all().delete(),
    "related update": lambda t: t.lignes.update(notes="x"),
    "related add": lambda t: t.poste.tickets.add(t),
    "category tree": lambda t: Category.objects.update(parent=None),
    # Fixtures save through Model.save_base() directly, past save().
    "raw save (loaddata)": lambda t: Model.save_base(
        Site(id=uuid4(), name="Injected", is_active=True), raw=True
    ),
    "loaddata": lambda t: call_command("loaddata", FIXTURE, verbosity=0),
}


@pytest.mark.recyclic_read_only
@pytest.mark.parametrize("write", WRITES.values(), ids=WRITES.keys())
def test_every_write_is_refused_outside_the_context(rows, write):
    counts = {model: model.objects.count() for model in RECYCLIC_MODELS}

    with pytest.raises(RecyclicReadOnlyError, match="read-only for reception_stats"):
        write(rows)

    assert {model: model.objects.count() for model in RECYCLIC_MODELS} == counts
    rows.refresh_from_db()
    assert rows.status == "opened"


@pytest.mark.recyclic_read_only
def test_inside_the_context_writes_work(rows):
    with allow_recyclic_writes():
        TicketDepot.objects.filter(pk=rows.pk).update(status="closed")
        make_category("Nouvelle")
    rows.refresh_from_db()
    assert rows.status == "closed"
    with pytest.raises(RecyclicReadOnlyError):
        make_category("Encore une")


@pytest.mark.recyclic_read_only
def test_the_context_does_not_leak_to_other_threads(rows):
    refused = []

    def write():
        try:
            refuse_write(Site, "save")
        except RecyclicReadOnlyError:
            refused.append(True)

    with allow_recyclic_writes():
        thread = threading.Thread(target=write)
        thread.start()
        thread.join()
    assert refused == [True]


@pytest.mark.recyclic_read_only
def test_reading_needs_no_context(rows):
    assert compute_live_stats("24h").weight_in == Decimal("2.500")


def test_every_mapped_model_is_guarded_and_live_stats_is_not():
    assert all(issubclass(model, RecyclicModel) for model in RECYCLIC_MODELS)
    assert all(model._base_manager.name == "objects" for model in RECYCLIC_MODELS)
    assert not issubclass(LiveStats, RecyclicModel)
