"""``manage.py reception_stats_indexes`` and the list of advised indexes."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.utils import translation

from reception_stats.indexes import PREFIX, RECOMMENDED_INDEXES, index_states

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="CREATE INDEX CONCURRENTLY and pg_index exist on PostgreSQL only",
)


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    with translation.override("en"):
        call_command("reception_stats_indexes", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_the_list_is_data_with_a_reason_for_each_index():
    names = [index.name for index in RECOMMENDED_INDEXES]
    assert len(set(names)) == len(names)
    for index in RECOMMENDED_INDEXES:
        assert index.name.startswith(PREFIX)
        assert len(index.name) <= 63  # PostgreSQL truncates longer identifiers
        assert index.reason


def test_listing_prints_one_concurrent_statement_per_index():
    out, _err = run()
    statements = [line for line in out.splitlines() if line.startswith("CREATE")]
    assert statements == [index.create_sql() for index in RECOMMENDED_INDEXES]
    assert all(
        line.startswith("CREATE INDEX CONCURRENTLY IF NOT EXISTS reception_stats_")
        and line.endswith(";")
        for line in statements
    )
    assert 'ON "sales" (COALESCE(sale_date, created_at));' in out


def test_unknown_alias_is_refused():
    with pytest.raises(CommandError, match="Unknown database alias"):
        run("--check", "--database", "nowhere")


def test_check_and_apply_cannot_be_combined():
    with pytest.raises(CommandError):
        run("--check", "--apply")


@pytest.mark.skipif(connection.vendor == "postgresql", reason="the non-PostgreSQL answer")
@pytest.mark.django_db
@pytest.mark.parametrize("option", ["--check", "--apply"])
def test_on_another_database_it_says_so_and_succeeds(option):
    out, err = run(option)
    assert "PostgreSQL only" in err
    assert out == ""


@pytest.fixture
def no_advised_indexes(transactional_db):
    """CREATE INDEX CONCURRENTLY cannot run in the test's transaction: commit, then clean up."""

    def drop(extra=()):
        with connection.cursor() as cursor:
            for index in RECOMMENDED_INDEXES:
                cursor.execute(index.drop_sql(concurrently=False))
            for name in extra:
                cursor.execute(f"DROP INDEX IF EXISTS {name}")

    drop()
    yield drop
    drop(extra=["recyclic_own_equivalent"])


@postgresql_only
def test_check_reports_every_index_missing_and_exits_1(no_advised_indexes):
    with pytest.raises(CommandError) as raised:
        run("--check")
    assert raised.value.returncode == 1
    assert f"{len(RECOMMENDED_INDEXES)} advised index(es) missing" in str(raised.value)


@postgresql_only
def test_apply_creates_them_then_check_is_clean_and_apply_again_does_nothing(
    no_advised_indexes,
):
    out, _err = run("--apply")
    assert out.count("Created ") == len(RECOMMENDED_INDEXES)

    out, _err = run("--check")  # no CommandError: exit 0
    assert out.count("present as reception_stats_") == len(RECOMMENDED_INDEXES)

    out, _err = run("--apply", "--database", "default")
    assert "Created" not in out


@postgresql_only
def test_definitions_match_what_postgresql_prints_back(no_advised_indexes):
    # The same index under another name (Recyclic may add one some day) counts as present,
    # which also proves each ``columns`` is written as pg_get_indexdef() prints it.
    run("--apply")
    states = index_states("default")
    assert all(state.present_as == state.index.name for state in states)
    first = RECOMMENDED_INDEXES[0]
    with connection.cursor() as cursor:
        cursor.execute(first.drop_sql(concurrently=False))
        cursor.execute(f'CREATE INDEX recyclic_own_equivalent ON "{first.table}" ({first.columns})')
    out, _err = run("--check")
    assert f"{first.name}: present as recyclic_own_equivalent" in out


@postgresql_only
@pytest.mark.django_db
def test_apply_refuses_to_run_inside_a_transaction():
    with transaction.atomic(), pytest.raises(CommandError, match="transaction"):
        run("--apply")


@postgresql_only
def test_a_large_history_without_the_indexes_is_a_warning_on_every_door(
    no_advised_indexes, monkeypatch, client, manager
):
    """W015: the check, /healthz (degraded, with the line) and the admin page say so; once the
    indexes exist, nothing is said."""
    from reception_stats import checks
    from tests.recipes import build_worked_example

    build_worked_example()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE ticket_depot")  # PostgreSQL's estimate of the rows
    monkeypatch.setattr(checks, "LARGE_HISTORY_TICKETS", 3)  # the worked example's few

    with translation.override("en"):
        (warning,) = [
            message
            for message in checks.check_recyclic_schema(None, databases=["default"])
            if message.id == "reception_stats.W015"
        ]
    assert f"{len(RECOMMENDED_INDEXES)} of the advised indexes are missing" in warning.msg
    assert all(index.name in warning.msg for index in RECOMMENDED_INDEXES)
    assert "reception_stats_indexes --apply" in warning.hint

    client.force_login(manager)
    health = client.get("/healthz").json()
    assert health["status"] == "degraded"
    assert [line for line in health["schema"] if line.startswith("reception_stats.W015: ")]
    page = client.get("/admin/reception_stats/livestats/").content.decode()
    assert RECOMMENDED_INDEXES[1].name in page

    run("--apply")
    assert not [
        message
        for message in checks.check_recyclic_schema(None, databases=["default"])
        if message.id == "reception_stats.W015"
    ]


@postgresql_only
def test_a_small_history_without_the_indexes_is_no_warning(no_advised_indexes):
    from reception_stats import checks
    from tests.recipes import build_worked_example

    build_worked_example()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE ticket_depot")
    messages = checks.check_recyclic_schema(None, databases=["default"])
    assert "reception_stats.W015" not in [message.id for message in messages]
