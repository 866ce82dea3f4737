"""The benchmark: ``make bench`` or ``.venv/bin/python -m bench.run [--sizes 5000,50000]``.

Builds the PostgreSQL database ``BENCH_DATABASE_URL`` (default
``postgres://postgres@127.0.0.1:5432/reception_stats_bench``; it is DROPPED and re-created),
loads Recyclic's schema and a synthetic history, then for each size (grown from the previous one)
times, in each variant of :data:`VARIANTS` (the code of ``reception_stats`` as it is, with no
index; with the advised indexes; with them and ``random_page_cost = 1.1``):

- ``compute_live_stats`` for both windows (no cache: the service itself never caches);
- the number of queries one computation runs;
- ``compute_breakdown``;
- ``GET /api/v1/reception/stats/live`` through the whole Django stack with a warm cache
  (``django.test.Client``, a staff user's token).

It prints a table and writes ``bench/results/<timestamp>.json``. Timings are medians and 95th
percentiles after one untimed run (PostgreSQL's buffers warm, as on a server in use). Numbers are
printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from . import db
from .data import History, site_count
from .explain import captured

RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_SIZES = (5_000, 50_000, 500_000, 1_000_000)
#: Without the advised indexes; with them; with them and ``random_page_cost = 1.1``
#: (PostgreSQL's default, 4, prices a random read of a page as a spinning disk would, while
#: these tables sit in memory or on SSD).
VARIANTS = ("none", "advised", "tuned")
TUNING = "SET random_page_cost = 1.1"


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def latency(samples: list[float], prefix: str = "") -> dict[str, float | None]:
    """Median, 95th percentile and maximum of ``samples`` milliseconds (None when empty)."""
    ordered = sorted(samples)
    if not ordered:
        return {f"{prefix}median_ms": None, f"{prefix}p95_ms": None, f"{prefix}max_ms": None}
    return {
        f"{prefix}median_ms": round(statistics.median(ordered), 2),
        f"{prefix}p95_ms": round(ordered[math.ceil(0.95 * len(ordered)) - 1], 2),
        f"{prefix}max_ms": round(ordered[-1], 2),
    }


def timings(call: Callable[[], object], runs: int, budget: float) -> dict[str, float]:
    """Milliseconds of ``runs`` calls (fewer if ``budget`` seconds run out, never under 3)."""
    call()  # untimed: warms PostgreSQL's buffers and Django's lazy imports
    samples: list[float] = []
    deadline = time.perf_counter() + budget
    while len(samples) < runs and (len(samples) < 3 or time.perf_counter() < deadline):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return {**latency(samples), "runs": len(samples)}


def measure(runs: int, budget: float, client, setup: str = "RESET random_page_cost"):
    from django.db import connections

    from reception_stats.breakdowns import compute_breakdown
    from reception_stats.conf import app_settings
    from reception_stats.kpis import WINDOW_24H, WINDOW_TODAY, compute_live_stats
    from reception_stats.models import Site

    result: dict[str, object] = {}
    with connections[app_settings.DATABASE].cursor() as cursor:
        cursor.execute(setup)  # for the session: the connection outlives requests (CONN_MAX_AGE)
    for window in (WINDOW_24H, WINDOW_TODAY):
        result[f"live_{window}"] = timings(lambda w=window: compute_live_stats(w), runs, budget)
    # The busiest site alone (300 tickets a day): what one ressourcerie's screen asks.
    site = (
        Site.objects.using(app_settings.DATABASE).order_by("name").values_list("id", flat=True)[0]
    )
    result["live_24h_site"] = timings(lambda: compute_live_stats(WINDOW_24H, site), runs, budget)
    result["queries"] = len(captured(lambda: compute_live_stats(WINDOW_24H)))
    result["figures_24h"] = compute_live_stats(WINDOW_24H).as_json()
    result["breakdown_24h"] = timings(lambda: compute_breakdown(WINDOW_24H), runs, budget)
    if client is not None:
        url = "/api/v1/reception/stats/live"

        def request() -> None:
            response = client.get(url)
            if response.status_code != 200:
                raise RuntimeError(f"{url} answered {response.status_code}: {response.content!r}")

        # More runs: each takes a few milliseconds once the cache is warm.
        result["endpoint_warm"] = timings(request, runs * 10, budget)
    return result


def api_client():
    """A test client authenticated by a staff user's token, or None when there is no API."""
    from django.urls import NoReverseMatch, reverse

    try:
        reverse("reception_stats_api:live-stats")
    except NoReverseMatch:
        progress("No API route reception_stats_api:live-stats: the endpoint is not measured.")
        return None
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client
    from rest_framework.authtoken.models import Token

    call_command("migrate", verbosity=0)
    user = get_user_model().objects.create_user("bench", password=None, is_staff=True)
    token = Token.objects.create(user=user)
    return Client(headers={"authorization": f"Token {token.key}"})


def print_table(rows: list[dict[str, object]], *, header: bool = True) -> None:
    title = (
        f"{'tickets':>9} {'variant':>8} | {'24h med':>8} {'p95':>8} | {'today med':>9} "
        f"{'p95':>8} | {'1 site':>7} | {'queries':>7} | {'breakdown':>9} | "
        f"{'API warm':>8} {'p95':>6}"
    )
    if header:
        print(title)
        print("-" * len(title))
    for row in rows:
        endpoint = row.get("endpoint_warm") or {}
        print(
            f"{row['tickets']:>9,} {row['variant']:>8} | "
            f"{row['live_24h']['median_ms']:>8.1f} {row['live_24h']['p95_ms']:>8.1f} | "
            f"{row['live_today']['median_ms']:>9.1f} {row['live_today']['p95_ms']:>8.1f} | "
            f"{row['live_24h_site']['median_ms']:>7.1f} | "
            f"{row['queries']:>7} | {row['breakdown_24h']['median_ms']:>9.1f} | "
            f"{endpoint.get('median_ms', float('nan')):>8.2f} "
            f"{endpoint.get('p95_ms', float('nan')):>6.2f}",
            flush=True,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        default=",".join(str(size) for size in DEFAULT_SIZES),
        help="Comma-separated numbers of tickets, grown in increasing order.",
    )
    parser.add_argument("--runs", type=int, default=30, help="Timed runs per measurement.")
    parser.add_argument(
        "--budget", type=float, default=10.0, help="Seconds per measurement before stopping."
    )
    parser.add_argument(
        "--sites",
        type=site_count,
        default=4,
        help="Number of sites, 1 to 10 (1: one ressourcerie, 300 tickets a day).",
    )
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)
    sizes = sorted({int(size.replace("_", "")) for size in args.sizes.split(",")})
    url = db.database_url()
    started = time.perf_counter()

    progress(f"Re-creating {url} ...")
    db.recreate_database(url)
    db.configure_django(url)
    from reception_stats.indexes import RECOMMENDED_INDEXES  # only once Django is set up

    now = datetime.now(UTC)
    history = History(now, sites=args.sites, seed=args.seed)
    db.load_reference(url, history)
    client = api_client()
    report = {
        "started_at": now.isoformat(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "postgresql": db.server_facts(url),
        "sites": args.sites,
        "results": [],
        "disk": {},
    }
    rows: list[dict[str, object]] = []
    tickets = 0
    for size in sizes:
        progress(f"Growing to {size:,} tickets ...")
        db.drop_indexes(url, RECOMMENDED_INDEXES)
        tickets = db.grow_to(url, history, tickets, size, progress)
        for variant in VARIANTS:
            if variant == "advised":
                index_seconds = db.create_indexes(url, RECOMMENDED_INDEXES, progress)
            progress(f"Measuring {size:,} tickets, {variant} ...")
            if variant == "tuned":
                measured = measure(args.runs, args.budget, client, TUNING)
            else:
                measured = measure(args.runs, args.budget, client)
            row = {"tickets": size, "variant": variant, **measured}
            if variant == "advised":
                row["index_build_s"] = round(index_seconds, 1)
            rows.append(row)
            print_table(rows[-1:], header=len(rows) == 1)
        report["disk"][str(size)] = db.sizes_on_disk(url, RECOMMENDED_INDEXES)
    report["results"] = rows
    report["elapsed_s"] = round(time.perf_counter() - started, 1)

    print()
    print_table(rows)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{now.strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    progress(
        f"\nWritten {path} in {report['elapsed_s']:.0f} s. The database is left at "
        f"{tickets:,} tickets with the advised indexes, for `python -m bench.explain`."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
