"""The benchmark's tools still read what the service sends (they print numbers; no timing here)."""

import argparse
import asyncio
import socket
import subprocess
import sys
import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bench.data import History, site_count
from bench.explain import captured, explain, seq_scans
from bench.load import main as load_main
from bench.load import server_times, wait_ready
from bench.run import latency
from bench.run import main as run_main
from reception_stats.breakdowns import QUERIES_PER_BREAKDOWN, compute_breakdown
from reception_stats.db import is_transaction_control
from reception_stats.kpis import QUERIES_PER_COMPUTATION, compute_live_stats
from tests.recipes import NOW, build_worked_example

pytestmark = pytest.mark.django_db


def test_captured_keeps_the_selects_of_one_computation():
    with CaptureQueriesContext(connection) as everything:
        statements = captured(lambda: compute_live_stats("24h", now=NOW))
    assert len(statements) == QUERIES_PER_COMPUTATION
    # What it leaves out is the read-only transaction's own statements, and only those.
    left_out = [query["sql"] for query in everything if query["sql"] not in statements]
    assert all(is_transaction_control(sql) for sql in left_out)
    if connection.vendor == "postgresql":
        assert any(sql.startswith("SET TRANSACTION READ ONLY") for sql in left_out)


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


@pytest.mark.parametrize("text", ["1", "4", "10"])
def test_sites_from_one_ressourcerie_to_ten(text):
    assert site_count(text) == int(text)


@pytest.mark.parametrize("text", ["0", "11", "-2", "four", ""])
def test_sites_out_of_range_are_refused_with_the_range(text, capsys):
    with pytest.raises(argparse.ArgumentTypeError, match="from 1 to 10"):
        site_count(text)
    # Both scripts say so on the command line, before touching any database.
    with pytest.raises(SystemExit) as exit_:
        run_main(["--sites", text])
    assert exit_.value.code == 2
    assert "from 1 to 10" in capsys.readouterr().err


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
