"""The figures' statement compiled once per process: binding gives exactly what the ORM compiles.

reception_stats.prepared keeps the SQL of ``figures_query`` compiled from stand-in values and
binds each computation's own. The one thing to prove is that the bound statement is the one the
ORM would have compiled for the same question, parameter for parameter; the figures themselves
are pinned by every other test of the suite, which goes through it on PostgreSQL.
"""

from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reception_stats import breakdowns, prepared
from reception_stats.kpis import WINDOWS, compute_live_stats, figures_query, period_for
from reception_stats.models import TicketDepot
from tests.recipes import NOW, build_worked_example

pytestmark = pytest.mark.django_db


@pytest.fixture
def postgresql(on_postgresql):
    if not on_postgresql:
        pytest.skip("the demo's SQLite compiles every time")


#: Every statement the figures and the breakdown keep.
BUILDS = {
    "figures": figures_query,
    "breakdown lines": breakdowns._line_rows,
    "breakdown sales": breakdowns._sales_rows,
    "breakdown items": breakdowns._item_rows,
}


def orm_compiled(period, site, build=figures_query):
    return build(period, site).query.get_compiler(using="default").as_sql()


# The fixture only skips on SQLite: nothing of it is reset between examples.
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    window=st.sampled_from(WINDOWS),
    now=st.datetimes(
        min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
    ),
    site=st.none() | st.uuids(),
    build=st.sampled_from(list(BUILDS.values())),
)
def test_binding_gives_what_the_orm_compiles(postgresql, window, now, site, build):
    period = period_for(window, now)
    statement = prepared._compile(build, period, site is not None, "default")

    sql, params = orm_compiled(period, site, build)

    assert statement.sql == sql
    assert statement.params(period, site) == tuple(params)


@pytest.mark.parametrize("hours", [1, 24, 24 * 14])
def test_every_deferral_threshold_binds(postgresql, options, hours):
    """D is a constant of the statement, and start - D an instant bound from the start."""
    options(DEFERRAL_THRESHOLD_HOURS=hours)
    period = period_for("24h", NOW)
    site = UUID("6f1c1f4e-5d55-4a57-9f3e-3c1e2c0d9a10")
    statement = prepared._compile(figures_query, period, True, "default")
    assert statement.params(period, site) == tuple(orm_compiled(period, site)[1])


def test_one_compilation_per_question_shape(postgresql):
    build_worked_example()
    prepared.forget()
    for minutes in range(3):
        compute_live_stats("24h", None, NOW + timedelta(minutes=minutes))
    compute_live_stats("today", None, NOW)
    # 24h and today, no site: two statements kept, whatever the moment.
    assert len(prepared._statements) == 2
    breakdowns.compute_breakdown("24h", None, NOW)
    assert len(prepared._statements) == 2 + 3
    assert all(statement is not None for statement in prepared._statements.values())


def test_a_change_of_settings_drops_the_kept_statements(postgresql, options):
    build_worked_example()
    compute_live_stats("24h", None, NOW)
    assert prepared._statements
    options(DEFERRAL_THRESHOLD_HOURS=48)
    assert not prepared._statements


def test_a_statement_that_does_not_bind_is_compiled_every_time(postgresql):
    """An instant far from the period's bounds is not one the module can rebind: the rows are
    then those of the queryset itself."""
    build_worked_example()
    since = datetime(1990, 1, 1, tzinfo=UTC)

    def build(period, site):
        return TicketDepot.objects.filter(created_at__gte=since).values("status").order_by("pk")

    period = period_for("24h", NOW)
    rows = prepared.rows("far instant", build, period, None, "default")

    assert prepared._statements[("far instant", "default", "24h", True)] is None
    assert rows == list(build(period, None))


@pytest.mark.parametrize("name", BUILDS)
def test_rows_are_converted_as_the_orm_converts_them(postgresql, name):
    build_worked_example()
    period = period_for("24h", NOW)
    kept = prepared.rows(name, BUILDS[name], period, None, "default")
    fresh = list(BUILDS[name](period, None))
    assert kept == fresh
    assert kept  # the worked example has some of each
