"""Load test: wall screens polling the live figures through gunicorn.

``.venv/bin/python -m bench.load [--size 50000] [--screens 50] [--duration 60]``

Re-creates the bench database (``BENCH_DATABASE_URL``) at ``--size`` tickets with the advised
indexes, gives each screen a staff account and a DRF token, starts gunicorn on 127.0.0.1 on a
free port (with ``gunicorn.conf.py`` when the project has one), and lets ``--screens`` asyncio
clients poll ``GET /api/v1/reception/stats/live`` every ``--interval`` second for ``--duration``
seconds. It prints requests per second, median and 95th-percentile latency as the screens saw it
and as gunicorn spent it (the last field of its access log, so that the client's share of the two
cores and the queueing can be told apart), errors, and how many KPI computations PostgreSQL really
ran. gunicorn is always stopped, even on Ctrl-C.

The client is aiohttp: a mature asyncio client whose connection pool keeps 50 keep-alive
connections for little CPU, which matters when the client shares two cores with the server.

Computations are counted by PostgreSQL, not by the app: ``pg_stat_user_tables`` counts every
scan of ``sales``, which only the KPI queries read; one computation's scans are measured first
on its own (they depend on the plans: 11 at 50,000 tickets), and the load's scans are divided
by that. The app's own log lines (``outcome: computed``, at INFO) are counted too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import psycopg

from . import db
from .data import History, site_count, whole_number
from .run import RESULTS, latency, progress

ROOT = Path(__file__).resolve().parent.parent
URL_PATH = "/api/v1/reception/stats/live"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def sales_scans(url: str) -> int:
    """Scans PostgreSQL has started on ``sales`` (sequential and index), flushed stats only."""
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("SELECT pg_stat_clear_snapshot()")
        row = connection.execute(
            "SELECT coalesce(seq_scan, 0) + coalesce(idx_scan, 0) FROM pg_stat_user_tables "
            "WHERE relname = 'sales'"
        ).fetchone()
    return int(row[0])


def scans_per_computation(url: str) -> int:
    """Scans of ``sales`` one ``compute_live_stats("24h")`` starts, on a connection of its own."""
    from django.db import connections

    from reception_stats.kpis import compute_live_stats

    before = sales_scans(url)
    compute_live_stats("24h")
    connections.close_all()  # a backend that exits flushes its statistics
    time.sleep(1)
    return sales_scans(url) - before


def prepare(url: str, size: int, screens: int, sites: int) -> list[str]:
    """The bench database at ``size`` tickets with the advised indexes; one token per screen."""
    progress(f"Re-creating {url} at {size:,} tickets ...")
    db.recreate_database(url)
    db.configure_django(url)
    from django.core.management import call_command

    from reception_stats.indexes import RECOMMENDED_INDEXES

    history = History(time_now(), sites=sites)
    db.load_reference(url, history)
    db.grow_to(url, history, 0, size, progress)
    db.create_indexes(url, RECOMMENDED_INDEXES, progress)
    call_command("migrate", verbosity=0)
    return [db.manager_token(f"screen-{n:02d}") for n in range(1, screens + 1)]


def existing_tokens(url: str, screens: int) -> list[str]:
    """The screens' tokens of an earlier run (``--reuse``)."""
    db.configure_django(url)
    from rest_framework.authtoken.models import Token

    tokens = list(
        Token.objects.filter(user__username__startswith="screen-")
        .order_by("user__username")
        .values_list("key", flat=True)[:screens]
    )
    if len(tokens) < screens:
        raise SystemExit(f"Only {len(tokens)} screen tokens in {url}: run without --reuse.")
    return tokens


def time_now():
    from datetime import UTC, datetime

    return datetime.now(UTC)


def start_gunicorn(url: str, port: int, args: argparse.Namespace, logs: Path):
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DEBUG": "false",
        "SECURE_SSL_REDIRECT": "false",  # plain http on loopback
        "SECRET_KEY": "bench-only-not-a-secret",
        "ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SETTINGS_MODULE": "recyclic.settings",
    }
    for name in ("RECEPTION_STATS_DATABASE_URL", "RECEPTION_STATS_DATABASE", "CACHE_URL"):
        env.pop(name, None)
    if args.cache_url:
        env["CACHE_URL"] = args.cache_url
    if args.conn_max_age is not None:
        env["CONN_MAX_AGE"] = str(args.conn_max_age)
    workers = args.workers
    env.update(GUNICORN_BIND=f"127.0.0.1:{port}", GUNICORN_WORKERS=str(workers))
    command = [str(ROOT / ".venv" / "bin" / "gunicorn")]
    config = ROOT / "gunicorn.conf.py"
    if config.exists():
        command += ["-c", str(config)]
    command += ["-w", str(workers), "-b", f"127.0.0.1:{port}", "recyclic.wsgi"]
    progress(f"Starting {' '.join(command[1:])}")
    # A session of its own, so that stopping it stops its workers and nothing else. Its access
    # log (stdout) and its log (stderr, one JSON line per request for figures) go to files.
    with (logs / "stdout.log").open("wb") as out, (logs / "stderr.log").open("wb") as err:
        return subprocess.Popen(  # noqa: S603
            command, cwd=ROOT, env=env, stdout=out, stderr=err, start_new_session=True
        )


def app_outcomes(stderr: Path) -> dict[str, int]:
    """Requests for figures per outcome (computed, cached ...) from the app's own log lines.

    Only what the log level lets through: ``computed`` is logged at INFO, ``cached`` at DEBUG.
    """
    outcomes: dict[str, int] = {}
    for line in stderr.read_text(encoding="utf-8", errors="replace").splitlines():
        if '"reception_live_stats"' not in line:
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        outcome = str(record.get("outcome"))
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes


def server_times(stdout: Path) -> list[float]:
    """Milliseconds gunicorn spent on each request for figures answered 200 (its access log)."""
    answered = re.compile(rf'"GET {re.escape(URL_PATH)}[?" ][^"]*" 200 .* (\d+)$')
    times = []
    for line in stdout.read_text(encoding="utf-8", errors="replace").splitlines():
        match = answered.search(line)
        if match:
            times.append(int(match.group(1)) / 1000)
    return times


def stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


async def wait_ready(base: str, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    # Each look bounded too: a socket that accepts but never answers must not hang the run.
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {process.returncode}")
            try:
                async with session.get(base + URL_PATH) as response:
                    if response.status in (200, 401, 403):
                        return
            except (TimeoutError, aiohttp.ClientError):
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer within {timeout:.0f} s")


async def screen(session, base, token, interval, deadline, latencies, errors) -> None:
    # Screens are switched on at different moments: spread their first poll over a period.
    await asyncio.sleep(random.uniform(0, interval))  # noqa: S311
    headers = {"Authorization": f"Token {token}"}
    while time.monotonic() < deadline:
        started = time.monotonic()
        try:
            async with session.get(base + URL_PATH, headers=headers) as response:
                body = await response.read()
                if response.status != 200:
                    errors[str(response.status)] = errors.get(str(response.status), 0) + 1
                elif not json.loads(body).get("enabled", False):
                    errors["disabled"] = errors.get("disabled", 0) + 1
        except (TimeoutError, aiohttp.ClientError) as error:
            errors[type(error).__name__] = errors.get(type(error).__name__, 0) + 1
        elapsed = time.monotonic() - started
        latencies.append(elapsed * 1000)
        await asyncio.sleep(max(0.0, interval - elapsed))


async def poll(base: str, tokens: list[str], interval: float, duration: float) -> dict:
    latencies: list[float] = []
    errors: dict[str, int] = {}
    timeout = aiohttp.ClientTimeout(total=10)
    connector = aiohttp.TCPConnector(limit=len(tokens))
    started = time.monotonic()
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        deadline = started + duration
        await asyncio.gather(
            *(screen(session, base, t, interval, deadline, latencies, errors) for t in tokens)
        )
    elapsed = time.monotonic() - started
    return {
        "requests": len(latencies),
        "requests_per_s": round(len(latencies) / elapsed, 1),
        **latency(latencies),
        "errors": sum(errors.values()),
        "errors_by_kind": errors,
        "elapsed_s": round(elapsed, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=50_000, help="Tickets in the database.")
    parser.add_argument("--screens", type=int, default=50)
    parser.add_argument("--interval", type=float, default=1.0, help="Seconds between polls.")
    parser.add_argument("--duration", type=float, default=60.0, help="Seconds of load (max 600).")
    parser.add_argument(
        "--workers",
        type=whole_number(1, 64, "a number of gunicorn workers"),
        default=2,
        help="gunicorn workers, 1 to 64 (2, the project's default).",
    )
    parser.add_argument("--cache-url", help="CACHE_URL for gunicorn, e.g. redis://127.0.0.1:6379/9")
    parser.add_argument(
        "--conn-max-age",
        type=int,
        help="CONN_MAX_AGE for gunicorn (default: the project's, 60 with DEBUG off).",
    )
    parser.add_argument("--sites", type=site_count, default=4, help="Number of sites, 1 to 100.")
    parser.add_argument(
        "--reuse", action="store_true", help="Keep the database and tokens of the last run."
    )
    args = parser.parse_args(argv)
    duration = min(args.duration, 600.0)
    url = db.database_url()

    if args.reuse:
        tokens = existing_tokens(url, args.screens)
    else:
        tokens = prepare(url, args.size, args.screens, args.sites)
    per_computation = scans_per_computation(url)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    logs = Path(tempfile.mkdtemp(prefix="reception-stats-load-"))
    process = start_gunicorn(url, port, args, logs)
    try:
        try:
            asyncio.run(wait_ready(base, process))
        except RuntimeError as error:
            progress(f"{error}; its logs: {logs}")
            return 2
        scans_before = sales_scans(url)
        progress(f"{args.screens} screens polling every {args.interval:g} s for {duration:g} s ...")
        result = asyncio.run(poll(base, tokens, args.interval, duration))
    finally:
        stop(process)
    time.sleep(1)  # exited backends have flushed their statistics by now
    scans = sales_scans(url) - scans_before
    result.update(
        tickets=args.size if not args.reuse else "as left by the last run",
        screens=args.screens,
        workers=args.workers,
        cache=args.cache_url or "locmem (per process)",
        conn_max_age=args.conn_max_age if args.conn_max_age is not None else "project default (60)",
        sales_scans_per_computation=per_computation,
        kpi_computations=round(scans / per_computation, 1) if per_computation else None,
        app_log_outcomes=app_outcomes(logs / "stderr.log"),
        **latency(server_times(logs / "stdout.log"), prefix="server_"),
        access_log_lines=sum(1 for _ in (logs / "stdout.log").open("rb")),
        gunicorn_logs=str(logs),
    )
    print(json.dumps(result, indent=2))
    RESULTS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    (RESULTS / f"load-{stamp}.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0 if result["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
