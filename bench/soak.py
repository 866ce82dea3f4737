"""Soak test: the API polled for ten minutes through gunicorn; memory and connections sampled.

``.venv/bin/python -m bench.soak [--duration 600] [--clients 8] [--interval 10]``

Re-creates ``SOAK_DATABASE_URL`` (default ``postgres://postgres@127.0.0.1:5432/rs_rel_soak``)
with the demo history (``reception_demo``), starts gunicorn on a free loopback port as deployed
(two workers, ``CONN_MAX_AGE=60``, the figures' cache at one second so that the database really
computes), and lets ``--clients`` threads poll the live figures, the breakdown, ``/healthz`` and
``/metrics`` without pause. Every ``--interval`` seconds it samples the resident memory (RSS) of
the gunicorn processes and the number of PostgreSQL connections to the database
(``pg_stat_activity``). It prints the samples and a summary, writes them as JSON
(``--output``), and always stops gunicorn.

Nothing in the database is written by the app: the row counts of Recyclic's tables are compared
before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/rs_rel_soak"
TABLES = (
    "sites",
    "users",
    "categories",
    "poste_reception",
    "ticket_depot",
    "ligne_depot",
    "cash_sessions",
    "sales",
    "sale_items",
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def progress(message: str) -> None:
    print(message, flush=True)


def environment(url: str, port: int) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("DJANGO_", "RECEPTION_STATS", "GUNICORN_", "PROMETHEUS_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="recyclic.settings",
        SECRET_KEY="soak-only-not-a-secret-" + "x" * 40,
        DEBUG="false",
        SECURE_SSL_REDIRECT="false",
        ALLOWED_HOSTS="127.0.0.1",
        DATABASE_URL=url,
        CONN_MAX_AGE="60",
        CACHE_URL="locmemcache://",
        RECEPTION_STATS_CACHE_TIMEOUT="1",
        RECEPTION_STATS_THROTTLE_RATE="1000000/min",
        GUNICORN_BIND=f"127.0.0.1:{port}",
        GUNICORN_WORKERS="2",
        LOG_LEVEL="WARNING",
        RECEPTION_STATS_LOG_LEVEL="WARNING",
        DJANGO_LOG_LEVEL="WARNING",
    )
    return env


def prepare(url: str, env: dict[str, str]) -> tuple[str, str]:
    """A fresh database with the demo history, Django's tables and a staff token."""
    name = conninfo_to_dict(url)["dbname"]
    with psycopg.connect(make_conninfo(url, dbname="postgres"), autocommit=True) as connection:
        connection.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    manage = [sys.executable, "manage.py"]
    for command in (["reception_demo"], ["migrate", "--noinput", "-v0"]):
        # Fixed commands of this project, no outside input.
        subprocess.run(manage + command, cwd=ROOT, env=env, check=True, capture_output=True)  # noqa: S603
    code = (
        "import django; django.setup(); "
        "from bench.db import manager_token; "
        "from reception_stats.models import Site; "
        "print(manager_token('soak'), Site.objects.order_by('name').first().pk)"
    )
    output = subprocess.run(  # noqa: S603 - a fixed script
        [sys.executable, "-c", code], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    ).stdout.split()
    return output[0], output[1]


def row_counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as connection:
        return {
            table: connection.execute(
                sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
            ).fetchone()[0]
            for table in TABLES
        }


def connections_to(url: str, sampler: psycopg.Connection) -> int:
    name = conninfo_to_dict(url)["dbname"]
    return sampler.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
        [name],
    ).fetchone()[0]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def workers_of(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children")
    return sorted(int(pid) for pid in children.read_text().split()) if children.exists() else []


class Poller:
    def __init__(self, base: str, token: str, site: str) -> None:
        self.base = base
        self.paths = [
            ("/api/v1/reception/stats/live", True),
            ("/api/v1/reception/stats/live?window=today", True),
            (f"/api/v1/reception/stats/live?site={site}", True),
            ("/api/v1/reception/stats/live/breakdown", True),
            ("/api/v1/reception/stats/live/breakdown?window=today", True),
            ("/healthz", False),
            ("/metrics", False),
        ]
        self.token = token
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.statuses: Counter[str] = Counter()
        self.latencies: list[float] = []

    def run(self, offset: int) -> None:
        index = offset
        while not self.stop.is_set():
            path, authenticated = self.paths[index % len(self.paths)]
            index += 1
            request = urllib.request.Request(self.base + path)  # noqa: S310 - http on loopback
            if authenticated:
                request.add_header("Authorization", f"Token {self.token}")
            started = time.perf_counter()
            try:
                with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                    response.read()
                    status = str(response.status)
            except urllib.error.HTTPError as error:
                status = str(error.code)
            except OSError as error:
                status = type(error).__name__
            elapsed = time.perf_counter() - started
            with self.lock:
                self.statuses[status] += 1
                self.latencies.append(elapsed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=600, help="seconds of polling")
    parser.add_argument("--interval", type=int, default=10, help="seconds between samples")
    parser.add_argument("--clients", type=int, default=8, help="polling threads")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "soak-results.json")
    args = parser.parse_args()

    url = os.environ.get("SOAK_DATABASE_URL", DEFAULT_URL)
    port = free_port()
    env = environment(url, port)
    progress(f"Preparing {url} with the demo history ...")
    token, site = prepare(url, env)
    before = row_counts(url)
    log_path = Path(tempfile.gettempdir()) / "reception-stats-soak-gunicorn.log"
    log = log_path.open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "recyclic.wsgi"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
        start_new_session=True,
    )
    samples: list[dict] = []
    poller = Poller(f"http://127.0.0.1:{port}", token, site)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    message = f"gunicorn did not start; see {log_path}"
                    raise SystemExit(message) from None
                time.sleep(0.2)
        threads = [
            threading.Thread(target=poller.run, args=(n,), daemon=True) for n in range(args.clients)
        ]
        for thread in threads:
            thread.start()
        started = time.monotonic()
        with psycopg.connect(url, autocommit=True) as sampler:
            while True:
                elapsed = time.monotonic() - started
                workers = workers_of(server.pid)
                with poller.lock:
                    done = sum(poller.statuses.values())
                sample = {
                    "t": round(elapsed),
                    "requests": done,
                    "master_rss_kib": rss_kib(server.pid),
                    "workers_rss_kib": {str(pid): rss_kib(pid) for pid in workers},
                    "pg_connections": connections_to(url, sampler),
                }
                samples.append(sample)
                progress(json.dumps(sample))
                if elapsed >= args.duration:
                    break
                time.sleep(min(args.interval, max(args.duration - elapsed, 0.1)))
        poller.stop.set()
        for thread in threads:
            thread.join(timeout=35)
    finally:
        for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
            try:
                os.killpg(server.pid, sig)
                server.wait(timeout=wait)
                break
            except ProcessLookupError:
                break
            except subprocess.TimeoutExpired:
                continue
        log.close()
    after = row_counts(url)
    latencies = sorted(poller.latencies)
    summary = {
        "duration_s": args.duration,
        "clients": args.clients,
        "requests": len(latencies),
        "statuses": dict(poller.statuses),
        "latency_ms": {
            "median": round(statistics.median(latencies) * 1000, 1),
            "p95": round(latencies[int(len(latencies) * 0.95)] * 1000, 1),
            "max": round(latencies[-1] * 1000, 1),
        },
        "worker_rss_kib_first": samples[1]["workers_rss_kib"] if len(samples) > 1 else {},
        "worker_rss_kib_last": samples[-1]["workers_rss_kib"],
        "pg_connections_max": max(sample["pg_connections"] for sample in samples),
        "pg_connections_last": samples[-1]["pg_connections"],
        "rows_unchanged": before == after,
        "rows": after,
    }
    args.output.write_text(json.dumps({"summary": summary, "samples": samples}, indent=2) + "\n")
    progress(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
