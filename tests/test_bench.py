"""The benchmark's tools still read what the service sends (they print numbers; no timing here)."""

import argparse
import asyncio
import json
import re
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bench.data import SHAPES, History, site_count
from bench.explain import aware_datetime, captured, explain, jit_ms, seq_scans
from bench.load import main as load_main
from bench.load import server_times, wait_ready
from bench.run import DEFAULT_SIZES, Plan, latency, on_the_wire, parser, plans
from bench.run import main as run_main
from bench.wire import parse_trace, traced
from reception_stats.breakdowns import QUERIES_PER_BREAKDOWN, compute_breakdown
from reception_stats.db import is_transaction_control, without_limits
from reception_stats.kpis import QUERIES_PER_COMPUTATION, compute_live_stats
from tests.recipes import NOW, build_worked_example, make_site

pytestmark = pytest.mark.django_db


def test_captured_keeps_the_selects_of_one_computation():
    with CaptureQueriesContext(connection) as everything:
        statements = captured(lambda: compute_live_stats("24h", now=NOW))
    assert len(statements) == QUERIES_PER_COMPUTATION
    # What it leaves out is the read-only transaction's own statements, and only those.
    sent = [query["sql"] for query in everything]
    assert [without_limits(sql) for sql in sent if not is_transaction_control(sql)] == statements
    # What it leaves out is the read-only transaction's own statements, and only those.
    assert all(is_transaction_control(sql) for sql in sent if without_limits(sql) not in statements)


def test_every_captured_query_can_be_explained(on_postgresql):
    if not on_postgresql:
        pytest.skip("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) is PostgreSQL's")
    build_worked_example()
    statements = captured(lambda: compute_breakdown("24h", now=NOW))
    assert len(statements) == QUERIES_PER_BREAKDOWN
    for sql in statements:
        plan, text = explain(sql)
        assert plan["Execution Time"] >= 0
        assert "Execution Time" in text
        # Sequential scans are listed by table, however deep in the plan.
        assert all(" rows kept)" in scan for scan in seq_scans(plan["Plan"]))


def test_the_app_s_statement_is_never_jit_compiled(on_postgresql):
    """What a plan over the busy shape's history costs makes PostgreSQL JIT-compile the query
    first; the app's own transaction turns JIT off, and bench.explain explains under it."""
    if not on_postgresql:
        pytest.skip("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) is PostgreSQL's")
    build_worked_example()
    (sql,) = captured(lambda: compute_live_stats("24h", None, NOW))
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_jit_available()")
        if not cursor.fetchone()[0]:
            pytest.skip("this PostgreSQL has no JIT")
        cursor.execute("SET LOCAL jit_above_cost = 0")  # any plan is costly enough
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql)
        alone = cursor.fetchone()[0]
    alone = json.loads(alone) if isinstance(alone, str) else alone
    assert jit_ms(alone[0]) > 0

    plan, text = explain(sql)
    assert jit_ms(plan) is None
    assert "JIT:" not in text


@pytest.mark.parametrize("text", ["2026-12-01T16:20:16+00:00", "2026-12-01 17:20:16.5+01:00"])
def test_explain_takes_the_history_s_now_with_its_offset(text):
    assert aware_datetime(text) == datetime.fromisoformat(text)


@pytest.mark.parametrize("text", ["2026-12-01T16:20:16", "yesterday", ""])
def test_explain_refuses_a_now_without_its_offset(text):
    with pytest.raises(argparse.ArgumentTypeError, match="ISO 8601 time with its offset"):
        aware_datetime(text)


@pytest.mark.parametrize("text", ["1", "4", "40", "100"])
def test_sites_from_one_ressourcerie_to_a_network_of_a_hundred(text):
    assert site_count(text) == int(text)


@pytest.mark.parametrize("text", ["0", "101", "-2", "four", ""])
def test_sites_out_of_range_are_refused_with_the_range(text, capsys):
    with pytest.raises(argparse.ArgumentTypeError, match="from 1 to 100"):
        site_count(text)
    # Both scripts say so on the command line, before touching any database.
    with pytest.raises(SystemExit) as exit_:
        run_main(["--sites", text])
    assert exit_.value.code == 2
    assert "from 1 to 100" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        load_main(["--sites", text])
    assert exit_.value.code == 2
    assert "from 1 to 100" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--history-days", "0"], "'0' is not a number of days from 1 to 36500"),
        (["--history-days", "sixty"], "'sixty' is not a number of days from 1 to 36500"),
        (["--open-days", "1"], "'1' is not a number of open days a week from 2 to 7"),
        (["--open-days", "8"], "'8' is not a number of open days a week from 2 to 7"),
        (["--sale-date", "sometimes"], "invalid choice: 'sometimes'"),
        (["--shape", "huge"], "invalid choice: 'huge'"),
        (["--sizes", "0"], "'0' is not a list of numbers of tickets"),
        (["--sizes", "5000,many"], "'5000,many' is not a list of numbers of tickets"),
    ],
)
def test_the_new_options_are_checked_before_any_database_is_touched(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        run_main(argv)
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


def test_without_a_shape_the_bench_builds_what_it_always_built():
    assert plans(parser().parse_args([])) == [
        Plan("default", DEFAULT_SIZES, sites=4, history_days=None, sale_date="legacy", open_days=5)
    ]


def test_a_shape_sets_its_sizes_sites_days_and_sale_dates_and_flags_given_win():
    assert plans(parser().parse_args(["--shape", "long"])) == [
        Plan("long", (1_000_000,), sites=2, history_days=2_000, sale_date="always", open_days=7)
    ]
    overridden = plans(parser().parse_args(["--shape", "busy", "--sizes", "2000", "--sites", "8"]))
    assert overridden == [
        Plan("busy", (2_000,), sites=8, history_days=60, sale_date="legacy", open_days=7)
    ]
    # Without a shape, a flag changes only itself.
    assert plans(parser().parse_args(["--history-days", "60", "--sale-date", "always"])) == [
        Plan("default", DEFAULT_SIZES, sites=4, history_days=60, sale_date="always", open_days=5)
    ]


def test_all_runs_the_three_shapes_in_turn_with_the_flags_given_applied_to_each():
    chosen = plans(parser().parse_args(["--shape", "all", "--sizes", "300"]))
    assert [plan.shape for plan in chosen] == ["small", "long", "busy"]
    assert [plan.sites for plan in chosen] == [2, 2, 40]
    assert {plan.sizes for plan in chosen} == {(300,)}


def _ages_in_days(history: History, rows) -> list[float]:
    """How long before ``now`` each ticket's poste opened, in days."""
    ages = []
    for line in rows.tables["ticket_depot"]:
        created_at = datetime.fromisoformat(line.split("\t")[3])
        ages.append((history.now - created_at.timestamp()) / 86400)
    return ages


@pytest.mark.parametrize("days", [10, 30])
def test_history_days_spreads_the_tickets_over_the_days_asked(days):
    history = History(NOW, sites=2, spread=(600, days), open_days=7)
    rows = history.take(600)
    # The daily volume follows from the size and the days, shared by the sites.
    assert history.daily_tickets == pytest.approx(600 / days)
    ages = _ages_in_days(history, rows)
    # From today back to the first of those days (each day's volume varies by ±30 %, so the
    # last ticket may fall a day or two either side), with tickets on nearly every day between.
    assert min(ages) < 1
    assert days - 2 <= max(ages) <= days + 2
    assert len({int(age) for age in ages}) >= days - 2


def test_history_days_counts_only_the_open_days_of_the_sites():
    history = History(NOW, sites=2, spread=(600, 28), open_days=5)
    # 28 days are four weeks: 20 open days share the 600 tickets.
    assert history.daily_tickets == pytest.approx(30)
    assert len(history.closed_weekdays) == 2
    assert 26 <= max(_ages_in_days(history, history.take(600))) <= 30


def test_a_spread_keeps_the_sites_proportions_and_every_other_row():
    plain, spread = History(NOW, sites=3), History(NOW, sites=3, spread=(9_000, 60))
    ratios = [site.daily_tickets / plain.sites[0].daily_tickets for site in plain.sites]
    assert [site.daily_tickets / spread.sites[0].daily_tickets for site in spread.sites] == (
        pytest.approx(ratios)
    )
    assert [site.id for site in plain.sites] == [site.id for site in spread.sites]
    assert plain.reference.tables == spread.reference.tables


def _sales_and_openings(rows) -> tuple[list[list[str]], dict[str, str]]:
    sales = [line.split("\t") for line in rows.tables["sales"]]
    openings = {}
    for line in rows.tables["cash_sessions"]:
        fields = line.split("\t")
        openings[fields[0]] = fields[6]
    return sales, openings


def test_sale_date_always_dates_every_sale_as_current_recyclic_does():
    # Two and a half years of a small history: a third of it is older than a year.
    legacy = History(NOW, sites=1, spread=(3_000, 900), sale_date="legacy").take(3_000)
    always = History(NOW, sites=1, spread=(3_000, 900), sale_date="always").take(3_000)
    legacy_sales, _ = _sales_and_openings(legacy)
    assert sum(sale[6] == r"\N" for sale in legacy_sales) > 100
    sales, openings = _sales_and_openings(always)
    # sales columns: id, cash_session_id, ..., sale_date (6), created_at (7).
    assert all(sale[6] != r"\N" for sale in sales)
    deferred = [sale for sale in sales if sale[6] != sale[7]]
    # Only sales entered late differ, dated at their session's opening: about 3 % of them.
    assert all(sale[6] == openings[sale[1]] and sale[6] < sale[7] for sale in deferred)
    assert 0.01 < len(deferred) / len(sales) < 0.06


def test_the_busy_shape_is_a_network_of_forty_sites_registering_16_667_tickets_a_day():
    shape = SHAPES["busy"]
    history = History(
        datetime.now(UTC),
        sites=shape.sites,
        spread=(max(shape.sizes), shape.history_days),
        sale_date=shape.sale_date,
        open_days=shape.open_days,
    )
    assert len(history.sites) == 40
    assert len(history.reference.tables["sites"]) == 40
    # 1,000,000 tickets in 60 days, every one of them open, whatever day the bench runs.
    assert history.closed_weekdays == frozenset()
    assert history.daily_tickets == pytest.approx(1_000_000 / 60)
    # Still one busiest site, first, as one ressourcerie's screen is measured on it.
    assert history.sites[0].daily_tickets == max(site.daily_tickets for site in history.sites)
    assert 300 < history.sites[0].daily_tickets < 1_000


@pytest.mark.parametrize("open_days", [2, 5, 6, 7])
def test_today_and_yesterday_are_open_days_whatever_the_weekday(open_days):
    for day in range(1, 8):  # 2026-06-01 is a Monday: each weekday in turn
        history = History(datetime(2026, 6, day, 14, tzinfo=UTC), sites=1, open_days=open_days)
        assert len(history.closed_weekdays) == 7 - open_days
        assert history.today.isoweekday() not in history.closed_weekdays
        assert (history.today.isoweekday() - 2) % 7 + 1 not in history.closed_weekdays


# --- bench.wire: round trips, SQL and Python time -----------------------------------------------

# libpq's trace of one session, fields separated by tabs (written | here): the time, F (client) or
# B (server), the length, the message and its fields, strings printed as they are.
TRACE = r"""
2026-12-01 16:16:07.100000|F|10|Query| "BEGIN"
2026-12-01 16:16:07.100300|B|10|CommandComplete| "BEGIN"
2026-12-01 16:16:07.100400|B|5|ReadyForQuery| T
2026-12-01 16:16:07.101000|F|60|Query| "SELECT "sales"."id" FROM "sales" WHERE x = 'a'"
2026-12-01 16:16:07.103000|B|33|RowDescription| 1 "id" 0 0 23 4 -1 0
2026-12-01 16:16:07.103500|B|5|ReadyForQuery| T
2026-12-01 16:16:07.104000|F|26|Parse| "_pg3_0" "SELECT "a" FROM "b" WHERE c = $1" 1 23
2026-12-01 16:16:07.104010|F|22|Bind| "" "_pg3_0" 1 1 1 2 '\x00\x02' 1 0
2026-12-01 16:16:07.104020|F|6|Describe| P ""
2026-12-01 16:16:07.104030|F|9|Execute| "" 0
2026-12-01 16:16:07.104040|F|4|Sync
2026-12-01 16:16:07.105000|B|5|ReadyForQuery| T
2026-12-01 16:16:07.106000|F|22|Bind| "" "_pg3_0" 1 1 1 2 '\x00\x03' 1 0
2026-12-01 16:16:07.106040|F|4|Sync
2026-12-01 16:16:07.106500|B|5|ReadyForQuery| T
2026-12-01 16:16:07.107000|F|13|Query| "ROLLBACK"
2026-12-01 16:16:07.107200|B|5|ReadyForQuery| I
2026-12-01 16:16:07.108000|F|4|Terminate
""".replace("|", "\t")


def test_a_libpq_trace_reads_as_round_trips_each_ended_by_ready_for_query():
    trips = parse_trace(TRACE)
    assert [trip.statement for trip in trips] == [
        "BEGIN",
        """SELECT "sales"."id" FROM "sales" WHERE x = 'a'""",
        'SELECT "a" FROM "b" WHERE c = $1',
        "<prepared _pg3_0>",
        "ROLLBACK",
    ]
    # From the first message sent to ReadyForQuery; Terminate, unanswered, is no round trip.
    assert [round(trip.seconds * 1e6) for trip in trips] == [400, 2500, 1000, 500, 200]
    assert [trip.is_select for trip in trips] == [False, True, True, False, False]


@pytest.mark.django_db(transaction=True)
def test_a_computation_is_one_round_trip_its_limits_in_front_of_its_query():
    if connection.vendor != "postgresql":
        with pytest.raises(RuntimeError, match="only a PostgreSQL connection is traced"):
            traced(lambda: compute_live_stats("24h", None, NOW), "default")
        pytest.skip("SQLite runs in the process: there is no wire to trace")
    build_worked_example()

    def compute():
        return compute_live_stats("24h", None, NOW)

    # Outside any transaction, as in the service: the limits and the query in one string, an
    # implicit transaction of its own; no BEGIN, no ROLLBACK.
    with CaptureQueriesContext(connection) as logged:
        wire = traced(compute, "default")
    assert len(wire.round_trips) == wire.selects == QUERIES_PER_COMPUTATION == 1
    (statement,) = [trip.statement for trip in wire.round_trips]
    assert statement.startswith("SET TRANSACTION READ ONLY; SET LOCAL statement_timeout = ")
    assert "SET LOCAL jit = off; " in statement
    assert "SET LOCAL random_page_cost = 1.1; SELECT " in statement
    # Django's log holds what was sent; captured() the query as the ORM wrote it.
    assert [query["sql"] for query in logged] == [statement]
    assert [without_limits(statement)] == captured(compute)
    assert re.match(r"\[\d SET\] SELECT ", wire.statements[0])

    # Within a transaction of several statements (the breakdown), the limits go in front of
    # the first one only; psycopg's BEGIN and Django's ROLLBACK are round trips of their own.
    breakdown = traced(lambda: compute_breakdown("24h", None, NOW), "default")
    statements = [trip.statement for trip in breakdown.round_trips]
    assert statements[0] == "BEGIN"
    assert statements[1].startswith("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ; ")
    assert statements[-1] == "ROLLBACK"
    assert breakdown.selects == QUERIES_PER_BREAKDOWN == len(statements) - 2

    # A site adds no query: its check is a subquery of the same statement.
    site = make_site()
    with_site = traced(lambda: compute_live_stats("24h", site.pk, NOW), "default")
    assert len(with_site.round_trips) == len(wire.round_trips)
    assert with_site.selects == wire.selects


@pytest.mark.django_db(transaction=True)
def test_sql_time_is_waiting_for_postgresql_and_python_time_the_rest(on_postgresql):
    if not on_postgresql:
        pytest.skip("SQLite runs in the process: there is no wire to trace")
    build_worked_example()

    def computation_then_a_slow_query():
        compute_live_stats("24h", None, NOW)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_sleep(0.2)")

    def computation_then_slow_python():
        compute_live_stats("24h", None, NOW)
        time.sleep(0.2)

    slow_sql = traced(computation_then_a_slow_query, "default")
    assert slow_sql.sql_ms >= 200
    assert slow_sql.sql_ms + slow_sql.python_ms == pytest.approx(slow_sql.wall_ms)
    slow_python = traced(computation_then_slow_python, "default")
    assert slow_python.python_ms >= 200
    assert 0 < slow_python.sql_ms < 200
    assert all(trip.seconds >= 0 for trip in slow_python.round_trips)


@pytest.mark.django_db(transaction=True)
def test_the_bench_reports_a_computation_on_the_wire(on_postgresql):
    if not on_postgresql:
        pytest.skip("SQLite runs in the process: there is no wire to trace")
    build_worked_example()
    report = on_the_wire(lambda: compute_live_stats("today", None, NOW), runs=3, budget=0)
    assert report["traced_runs"] == 3
    assert report["round_trips"] == len(report["statements"])
    assert report["round_trips"] == report["selects"] == QUERIES_PER_COMPUTATION
    assert re.match(r"\[\d SET\] SELECT ", report["statements"][0])
    assert report["sql_ms"] > 0
    assert report["python_ms"] > 0


def test_one_site_is_one_ressourcerie_day():
    history = History(NOW, sites=1)
    rows = history.take(1_000)
    assert len(history.sites) == 1
    assert [line.split("\t")[1] for line in history.reference.tables["sites"]] == ["Ressourcerie 1"]
    # The one site is the busy one: 300 tickets on each open day.
    assert history.sites[0].daily_tickets == 300
    assert rows.tickets >= 1_000


def test_the_load_test_reads_gunicorns_time_for_each_answered_request_for_figures(tmp_path):
    log = tmp_path / "stdout.log"
    log.write_text(
        '127.0.0.1 - - [30/Nov/2026:20:57:20 +0100] "GET /api/v1/reception/stats/live HTTP/1.1" '
        '401 58 "-" "Python/3.11 aiohttp/3.14.5" 1800\n'
        '127.0.0.1 - - [30/Nov/2026:20:57:20 +0100] "GET /api/v1/reception/stats/live HTTP/1.1" '
        '200 488 "-" "Python/3.11 aiohttp/3.14.5" 2345\n'
        '127.0.0.1 - - [30/Nov/2026:20:57:21 +0100] "GET /api/v1/reception/stats/live?window=today '
        'HTTP/1.1" 200 490 "-" "Python/3.11 aiohttp/3.14.5" 61250\n'
        '127.0.0.1 - - [30/Nov/2026:20:57:21 +0100] "GET /api/v1/reception/stats/live/breakdown '
        'HTTP/1.1" 200 900 "-" "curl/8" 5000\n'
        '127.0.0.1 - - [30/Nov/2026:20:57:22 +0100] "GET /healthz HTTP/1.1" 200 2 "-" "curl" 900\n'
        "[2026-11-30 20:57:19 +0100] [12856] [INFO] Starting gunicorn 27.0.1\n",
        encoding="utf-8",
    )
    assert server_times(log) == [2.345, 61.25]
    assert latency(server_times(log), prefix="server_") == {
        "server_median_ms": 31.8,
        "server_p95_ms": 61.25,
        "server_max_ms": 61.25,
    }
    assert latency([]) == {"median_ms": None, "p95_ms": None, "max_ms": None}


@pytest.mark.parametrize("text", ["0", "65", "two"])
def test_the_load_test_refuses_a_number_of_workers_gunicorn_cannot_run(text, capsys):
    with pytest.raises(SystemExit) as exit_:
        load_main(["--workers", text])
    assert exit_.value.code == 2
    assert "is not a number of gunicorn workers from 1 to 64" in capsys.readouterr().err


def test_a_server_that_accepts_but_never_answers_is_reported_not_waited_for_forever():
    # What gunicorn's master does with no worker: it listens, and nobody answers.
    with socket.create_server(("127.0.0.1", 0)) as silent:
        base = f"http://127.0.0.1:{silent.getsockname()[1]}"
        process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
        started = time.monotonic()
        try:
            with pytest.raises(RuntimeError, match="gunicorn did not answer within 3 s"):
                asyncio.run(wait_ready(base, process, timeout=3))
        finally:
            process.kill()
            process.wait()
    assert time.monotonic() - started < 8
