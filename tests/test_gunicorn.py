"""Gunicorn with two workers, as deployed: /metrics adds up what every worker counted.

A real ``gunicorn -c gunicorn.conf.py recyclic.wsgi`` on a free loopback port, with
``PROMETHEUS_MULTIPROC_DIR`` in a temporary directory, on the suite's database: the PostgreSQL
test database, or on SQLite a file database migrated for the occasion. Requests go to both
workers concurrently; the counts must add up, and survive a ``kill -HUP`` that replaces both
workers. The server's process group is always killed at the end.

Deselect with ``-m "not gunicorn"``.
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
import redis
from django.db import connections
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.authtoken.models import Token

from tests.processes import (
    ROOT,
    STARTUP_SECONDS,
    Gunicorn,
    environment_without,
    gunicorn,
    postgres_url,
)
from tests.recipes import NOW, build_worked_example
from tests.services import GUNICORN_REDIS_URL, redis_listens

# The workers read the suite's test database: the mark makes pytest-django create it even when
# this module runs alone.
pytestmark = [pytest.mark.gunicorn, pytest.mark.django_db(transaction=True)]

REQUESTS_PER_BATCH = 40
HEALTHZ_COUNTER = "django_http_requests_total_by_view_transport_method_total"
HEALTHZ_VIEW = "reception_stats:healthz"


def database_url(tmp_path: Path) -> str:
    default = connections["default"]
    if default.vendor == "postgresql":
        # The suite's test database, which holds Recyclic's tables already.
        return postgres_url(default.settings_dict)
    url = f"sqlite:///{tmp_path / 'gunicorn.sqlite3'}"
    prepare = (
        "import django; django.setup(); "
        "from django.core.management import call_command; call_command('migrate', verbosity=0); "
        "from reception_stats.schema import create_recyclic_tables; create_recyclic_tables()"
    )
    environment = server_environment(url, tmp_path)
    # Out of multiprocess mode: the directory is gunicorn's to create.
    del environment["PROMETHEUS_MULTIPROC_DIR"]
    done = subprocess.run(
        [sys.executable, "-c", prepare],
        cwd=ROOT,
        env=environment,
        timeout=120,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    return url


def server_environment(url: str, tmp_path: Path) -> dict[str, str]:
    return environment_without(
        ("DJANGO_", "PROMETHEUS_", "GUNICORN_", "METRICS_", "LIVE_"),
        DJANGO_SETTINGS_MODULE="recyclic.settings",
        SECRET_KEY="tests-only-gunicorn",
        DEBUG="false",
        SECURE_SSL_REDIRECT="false",  # plain http on loopback
        ALLOWED_HOSTS="127.0.0.1",
        DATABASE_URL=url,
        CACHE_URL="locmemcache://",
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "prometheus"),
        LOG_FORMAT="json",
        # Figures served from the cache log at DEBUG: show them, so every request has its line.
        RECEPTION_STATS_LOG_LEVEL="DEBUG",
    )


@pytest.fixture
def server(django_db_setup, django_db_blocker, tmp_path) -> Iterator[Gunicorn]:
    with django_db_blocker.unblock():
        url = database_url(tmp_path)
    with gunicorn(server_environment(url, tmp_path), tmp_path, workers=2) as running:
        yield running


def healthz_counts_by_worker(directory: Path) -> dict[int, float]:
    """Each worker's own count of /healthz requests, read from its file."""
    counts: dict[int, float] = {}
    for path in directory.glob("counter_*.db"):
        pid = int(path.stem.rpartition("_")[2])
        for family in MultiProcessCollector.merge([str(path)], accumulate=False):
            for sample in family.samples:
                if sample.name == HEALTHZ_COUNTER and sample.labels.get("view") == HEALTHZ_VIEW:
                    counts[pid] = counts.get(pid, 0) + sample.value
    return counts


def samples_of(page: str) -> dict[tuple[str, tuple], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(page)
        for sample in family.samples
    }


def healthz_total(samples) -> float:
    return sum(
        value
        for (name, labels), value in samples.items()
        if name == HEALTHZ_COUNTER and ("view", HEALTHZ_VIEW) in labels
    )


def live_stats_requests(samples, source: str) -> float:
    return sum(
        value
        for (name, labels), value in samples.items()
        if name == "reception_live_stats_requests_total" and ("source", source) in labels
    )


def test_metrics_add_up_every_workers_requests(server, tmp_path):
    metrics_dir = tmp_path / "prometheus"
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        try:
            if server.get("/metrics")[0] == 200:
                break
        except OSError:
            pass
        assert time.monotonic() < deadline, server.log_text()
        time.sleep(0.2)

    sent = 0
    with ThreadPoolExecutor(max_workers=8) as pool:
        # Concurrent requests keep one worker busy while the other accepts; a few batches at
        # most until both have answered some.
        for _batch in range(5):
            statuses = list(
                pool.map(lambda _: server.get("/healthz")[0], range(REQUESTS_PER_BATCH))
            )
            assert statuses == [200] * REQUESTS_PER_BATCH
            sent += REQUESTS_PER_BATCH
            if len(healthz_counts_by_worker(metrics_dir)) >= 2:
                break
    by_worker = healthz_counts_by_worker(metrics_dir)
    assert len(by_worker) == 2, by_worker
    assert sum(by_worker.values()) == sent

    status, page = server.get("/metrics")
    assert status == 200
    samples = samples_of(page)
    assert healthz_total(samples) == sent
    # A scrape reads the figures the doors left in the cache; it never asks for any itself.
    assert live_stats_requests(samples, "metrics") == 0
    assert samples[("reception_live_stats_enabled", ())] == 1

    # HUP replaces both workers; what the old ones counted is still counted.
    old_workers = set(by_worker)
    os.kill(server.process.pid, signal.SIGHUP)
    server.wait_for(r"Booting worker with pid: (\d+)", count=4)
    server.wait_for(r"Worker exiting \(pid: \d+\)", count=2)
    status, page = server.get("/metrics")
    assert status == 200
    samples = samples_of(page)
    assert healthz_total(samples) == sent
    assert live_stats_requests(samples, "metrics") == 0
    new_workers = {
        int(pid) for pid in re.findall(r"Booting worker with pid: (\d+)", server.log_text())
    }
    assert len(new_workers - old_workers) >= 2

    # One access line per request on stdout; the app's JSON lines and no traceback on stderr.
    access = server.access_log.read_text()
    assert access.count('"GET /healthz HTTP/1.1" 200') == sent
    # Each ends with the microseconds the worker spent on it (bench.load reads them).
    spent = re.findall(r'"GET /healthz HTTP/1\.1" 200 .* (\d+)$', access, re.MULTILINE)
    assert len(spent) == sent
    assert all(0 < int(microseconds) < 30_000_000 for microseconds in spent)
    assert server.get("/api/v1/reception/stats/live")[0] == 401
    log = server.log_text()
    assert "Traceback" not in log
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    # A scrape asks for no figures: no request for them was logged.
    assert [line for line in lines if line.get("event") == "reception_live_stats"] == []
    # The app's logs are JSON objects, one a line: here Django's for the refused request.
    assert any(line["logger"] == "django.request" and line["status_code"] == 401 for line in lines)


def wait_for_a_backend_blocked_by(locker: psycopg.Connection, admin: psycopg.Connection) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while not admin.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))",
        [locker.info.backend_pid],
    ).fetchone()[0]:
        assert time.monotonic() < deadline, "no computation ever waited for the lock"
        time.sleep(0.02)


@pytest.mark.skipif(not redis_listens(), reason="no Redis server on 127.0.0.1:6379")
def test_workers_sharing_redis_refresh_an_expired_entry_once_and_nobody_waits(
    django_db_setup, django_db_blocker, tmp_path, manager
):
    """Three workers, one Redis, an entry past CACHE_TIMEOUT: the first request to claim it
    refreshes it while every other is answered at once with the entry there is.

    ``ticket_depot`` is locked by another transaction, so that the refresh is still running
    while the other requests arrive; they must all be answered before the lock is released.
    """
    default = connections["default"]
    if default.vendor != "postgresql":
        pytest.skip("needs PostgreSQL's LOCK TABLE to hold a computation")
    build_worked_example()
    token = Token.objects.create(user=manager).key
    redis.Redis.from_url(GUNICORN_REDIS_URL).flushdb()
    environment = {
        **server_environment(postgres_url(default.settings_dict), tmp_path),
        "CACHE_URL": GUNICORN_REDIS_URL,
        "RECEPTION_STATS_CACHE_TIMEOUT": "1",
        # Long enough for the lock below: the refresh waits for it instead of failing.
        "RECEPTION_STATS_LOCK_TIMEOUT_MS": "10000",
        "RECEPTION_STATS_STATEMENT_TIMEOUT_MS": "10000",
    }
    path = "/api/v1/reception/stats/live?at=" + quote(NOW.isoformat())
    requests = 24
    try:
        with gunicorn(environment, tmp_path, workers=3) as server:
            # Each worker loads Django on its first request: have all three loaded it first.
            with ThreadPoolExecutor(max_workers=8) as pool:
                deadline = time.monotonic() + STARTUP_SECONDS
                while len(healthz_counts_by_worker(tmp_path / "prometheus")) < 3:
                    assert time.monotonic() < deadline, server.log_text()
                    list(pool.map(lambda _: server.get("/healthz"), range(REQUESTS_PER_BATCH)))
            status, first = server.get(path, token)
            assert status == 200, server.log_text()
            time.sleep(1.1)  # the entry is now older than CACHE_TIMEOUT
            url = postgres_url(default.settings_dict)
            with psycopg.connect(url, autocommit=True) as admin, psycopg.connect(url) as locker:
                locker.execute("LOCK TABLE ticket_depot IN ACCESS EXCLUSIVE MODE")
                with ThreadPoolExecutor(max_workers=requests) as pool:
                    futures = [pool.submit(server.get, path, token) for _ in range(requests)]
                    # One worker's refresh waits for the lock; the others answer meanwhile.
                    wait_for_a_backend_blocked_by(locker, admin)
                    deadline = time.monotonic() + STARTUP_SECONDS
                    while sum(future.done() for future in futures) < requests - 1:
                        assert time.monotonic() < deadline, server.log_text()
                        time.sleep(0.05)
                    answered_during_the_refresh = sum(future.done() for future in futures)
                    locker.rollback()
                    answers = [future.result() for future in futures]
            log = server.log_text()
    finally:
        redis.Redis.from_url(GUNICORN_REDIS_URL).flushdb()

    assert answered_during_the_refresh == requests - 1
    assert [status for status, _ in answers] == [200] * requests, log
    bodies = [json.loads(body) for _, body in answers]
    old = json.loads(first)["generated_at"]
    assert sorted(body["generated_at"] == old for body in bodies) == [False] + [True] * 23
    assert {body["stale"] for body in bodies} == {False}
    events = [
        json.loads(line)
        for line in log.splitlines()
        if line.startswith("{") and '"reception_live_stats"' in line
    ]
    outcomes = sorted(event["outcome"] for event in events if event["source"] == "api")
    # The first request, then the refresh; every other answer came from the entry.
    assert outcomes == ["cached"] * (requests - 1) + ["computed"] * 2, log


def test_slow_clients_are_cut_off_and_never_get_a_worker_killed(tmp_path, django_db_blocker):
    """Clients that send half a request and then nothing (as a slow-loris attack does) hold a
    sync worker each: every read waits GUNICORN_CLIENT_TIMEOUT at most, then the connection is
    closed with one line in the log, and the workers go on serving."""
    with django_db_blocker.unblock():
        url = database_url(tmp_path)
    environment = {**server_environment(url, tmp_path), "GUNICORN_CLIENT_TIMEOUT": "1"}
    with gunicorn(environment, tmp_path, workers=2) as running:
        address = running.url.removeprefix("http://").split(":")
        slow = []
        for _ in range(4):
            connection = socket.create_connection((address[0], int(address[1])))
            connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # never ended
            slow.append(connection)
        started = time.monotonic()
        status, _body = running.get("/healthz")
        elapsed = time.monotonic() - started
        for connection in slow:
            connection.close()

        # One header line every half second never lets a read time out: the request's own
        # deadline (twice the timeout) closes it, long before gunicorn would kill the worker.
        trickler = socket.create_connection((address[0], int(address[1])))
        trickler.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        trickler.settimeout(0.5)
        started = time.monotonic()
        closed_after = None
        while time.monotonic() - started < 8:
            try:
                trickler.sendall(b"X-Slow: yes\r\n")
                if trickler.recv(1024) == b"":
                    closed_after = time.monotonic() - started
                    break
            except TimeoutError:
                continue
            except OSError:  # reset by the server
                closed_after = time.monotonic() - started
                break
        trickler.close()

        # Static files go out whole (gunicorn sends them with sendfile).
        request = urllib.request.Request(running.url + "/static/reception_stats/dashboard.js")
        with urllib.request.urlopen(request, timeout=10) as response:
            declared = int(response.headers["Content-Length"])
            script = response.read()
        log = running.log_text()

    assert status == 200
    # Four slow clients, one second each, shared by two workers: about 2 s, never gunicorn's 30.
    assert elapsed < 6, elapsed
    assert log.count("left its request or its answer unfinished (1.0 s per read, 2.0 s") >= 2
    assert closed_after is not None and closed_after < 3.5, closed_after
    assert declared > 0 and len(script) == declared
    assert "WORKER TIMEOUT" not in log
    assert "Traceback" not in log
