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
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connections
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from tests.processes import stop_process_group

# The workers read the suite's test database: the mark makes pytest-django create it even when
# this module runs alone.
pytestmark = [pytest.mark.gunicorn, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parent.parent
STARTUP_SECONDS = 60
REQUESTS_PER_BATCH = 40
HEALTHZ_COUNTER = "django_http_requests_total_by_view_transport_method_total"


class Server:
    def __init__(self, process: subprocess.Popen, log: Path, access_log: Path, metrics: Path):
        self.process = process
        self.log = log
        self.access_log = access_log
        self.metrics_dir = metrics
        self.url = ""

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, pattern: str, count: int = 1) -> list[str]:
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            found = re.findall(pattern, self.log_text())
            if len(found) >= count:
                return found
            if self.process.poll() is not None:
                pytest.fail(f"gunicorn exited ({self.process.returncode}):\n{self.log_text()}")
            time.sleep(0.1)
        pytest.fail(f"gunicorn never logged {pattern!r} {count} times:\n{self.log_text()}")

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=15) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()


def database_url(tmp_path: Path) -> str:
    settings = connections["default"].settings_dict
    if connections["default"].vendor == "postgresql":
        # The suite's test database, which holds Recyclic's tables already.
        credentials = quote(settings["USER"] or "", safe="")
        if settings["PASSWORD"]:
            credentials += ":" + quote(settings["PASSWORD"], safe="")
        host = settings["HOST"] or "127.0.0.1"
        port = settings["PORT"] or "5432"
        return f"postgres://{credentials}@{host}:{port}/{settings['NAME']}"
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
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("DJANGO_", "PROMETHEUS_", "GUNICORN_", "METRICS_", "LIVE_"))
    }
    environment.update(
        DJANGO_SETTINGS_MODULE="recyclic.settings",
        SECRET_KEY="tests-only-gunicorn",
        DEBUG="false",
        SECURE_SSL_REDIRECT="false",  # plain http on loopback
        ALLOWED_HOSTS="127.0.0.1",
        DATABASE_URL=url,
        CACHE_URL="locmemcache://",
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "prometheus"),
        GUNICORN_BIND="127.0.0.1:0",
        GUNICORN_WORKERS="2",
        LOG_FORMAT="json",
        # Figures served from the cache log at DEBUG: show them, so every request has its line.
        RECEPTION_STATS_LOG_LEVEL="DEBUG",
    )
    return environment


@pytest.fixture
def server(django_db_setup, django_db_blocker, tmp_path) -> Iterator[Server]:
    with django_db_blocker.unblock():
        url = database_url(tmp_path)
    log, access_log = tmp_path / "gunicorn.log", tmp_path / "access.log"
    with log.open("wb") as stderr, access_log.open("wb") as stdout:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "recyclic.wsgi"],
            cwd=ROOT,
            env=server_environment(url, tmp_path),
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
        )
    running = Server(process, log, access_log, tmp_path / "prometheus")
    try:
        (address,) = running.wait_for(r"Listening at: (http://127\.0\.0\.1:\d+)")
        running.url = address
        running.wait_for(r"Booting worker with pid: (\d+)", count=2)
        yield running
    finally:
        stop_process_group(process)


def healthz_counts_by_worker(directory: Path) -> dict[int, float]:
    """Each worker's own count of /healthz requests, read from its file."""
    counts: dict[int, float] = {}
    for path in directory.glob("counter_*.db"):
        pid = int(path.stem.rpartition("_")[2])
        for family in MultiProcessCollector.merge([str(path)], accumulate=False):
            for sample in family.samples:
                if sample.name == HEALTHZ_COUNTER and sample.labels.get("view") == "healthz":
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
        if name == HEALTHZ_COUNTER and ("view", "healthz") in labels
    )


def live_stats_requests(samples, source: str) -> float:
    return sum(
        value
        for (name, labels), value in samples.items()
        if name == "reception_live_stats_requests_total" and ("source", source) in labels
    )


def test_metrics_add_up_every_workers_requests(server):
    scrapes = 0
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        try:
            if server.get("/metrics")[0] == 200:
                break
        except OSError:
            pass
        assert time.monotonic() < deadline, server.log_text()
        time.sleep(0.2)
    scrapes += 1

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
            if len(healthz_counts_by_worker(server.metrics_dir)) >= 2:
                break
    by_worker = healthz_counts_by_worker(server.metrics_dir)
    assert len(by_worker) == 2, by_worker
    assert sum(by_worker.values()) == sent

    status, page = server.get("/metrics")
    scrapes += 1
    assert status == 200
    samples = samples_of(page)
    assert healthz_total(samples) == sent
    # Each scrape asks for the figures of both windows (computed or from the worker's cache).
    assert live_stats_requests(samples, "metrics") == 2 * scrapes
    assert samples[("reception_live_stats_enabled", ())] == 1
    assert samples[("reception_live_stats_tickets_open", (("window", "24h"),))] == 0

    # HUP replaces both workers; what the old ones counted is still counted.
    old_workers = set(by_worker)
    os.kill(server.process.pid, signal.SIGHUP)
    server.wait_for(r"Booting worker with pid: (\d+)", count=4)
    server.wait_for(r"Worker exiting \(pid: \d+\)", count=2)
    status, page = server.get("/metrics")
    scrapes += 1
    assert status == 200
    samples = samples_of(page)
    assert healthz_total(samples) == sent
    assert live_stats_requests(samples, "metrics") == 2 * scrapes
    new_workers = {
        int(pid) for pid in re.findall(r"Booting worker with pid: (\d+)", server.log_text())
    }
    assert len(new_workers - old_workers) >= 2

    # One access line per request on stdout; the app's JSON lines and no traceback on stderr.
    access = server.access_log.read_text()
    assert access.count('"GET /healthz HTTP/1.1" 200') == sent
    log = server.log_text()
    assert "Traceback" not in log
    events = [
        json.loads(line)
        for line in log.splitlines()
        if line.startswith("{") and '"reception_live_stats"' in line
    ]
    assert len(events) == 2 * scrapes
    assert {event["source"] for event in events} == {"metrics"}
