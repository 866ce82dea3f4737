"""The benchmark: ``make bench`` or ``.venv/bin/python -m bench.run [--sizes 5000,50000]``.

Builds the PostgreSQL database ``BENCH_DATABASE_URL`` (default
``postgres://postgres@127.0.0.1:5432/reception_stats_bench``; it is DROPPED and re-created),
loads Recyclic's schema and a synthetic history, then for each size (grown from the previous one)
measures, in each variant of :data:`VARIANTS` (the code of ``reception_stats`` as it is, with no
index; with the advised indexes; with them and no parallel worker):

- ``compute_live_stats`` for both windows and for the busiest site's 24 hours (no cache: the
  service itself never caches), at the history's own "now": wall time, and for one computation
  its round trips to PostgreSQL, its SELECTs, and its SQL and Python time (:mod:`bench.wire`);
- ``compute_breakdown``;
- ``compute_snapshot``, what a door computes when its cache has nothing: the figures and their
  breakdown in one transaction (wall time and wire, as above);
- ``GET /api/v1/reception/stats/live`` through the whole Django stack with a warm cache
  (``django.test.Client``, a manager's token).

``--shape small|long|busy`` builds instead one of the data shapes of docs/performance.md
(:data:`bench.data.SHAPES`), ``--shape all`` the three one after the other, each in a database
of its own (the same URL, re-created); ``--sizes``, ``--sites``, ``--history-days``,
``--sale-date`` and ``--open-days`` given with a shape override its own values.

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
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from . import db
from .data import SALE_DATES, SHAPES, History, history_day_count, open_day_count, site_count
from .wire import traced

RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_SIZES = (5_000, 50_000, 500_000, 1_000_000)
#: Without the advised indexes; with them; with them and no parallel worker (PostgreSQL's
#: default gives a query up to two on these 2 cores), the session's setting, which the
#: computation's own transaction leaves as it is.
VARIANTS = ("none", "advised", "serial")
SETUP = {
    "none": "RESET max_parallel_workers_per_gather",
    "advised": "RESET max_parallel_workers_per_gather",
    "serial": "SET max_parallel_workers_per_gather = 0",
}
#: What the bench builds without ``--shape``: the history it has always measured.
DEFAULT_SHAPE = "default"


@dataclass(frozen=True)
class Plan:
    """One database to build and measure: a shape, with the flags given on the command line."""

    shape: str
    sizes: tuple[int, ...]
    sites: int
    history_days: int | None
    sale_date: str
    open_days: int


def plans(args: argparse.Namespace) -> list[Plan]:
    """The databases ``args`` ask for, in order: each flag given wins over its shape's value."""
    if args.shape is None:
        names = [DEFAULT_SHAPE]
    elif args.shape == "all":
        names = list(SHAPES)
    else:
        names = [args.shape]
    result = []
    for name in names:
        shape = SHAPES.get(name)
        own = {
            "sizes": shape.sizes if shape else DEFAULT_SIZES,
            "sites": shape.sites if shape else 4,
            "history_days": shape.history_days if shape else None,
            "sale_date": shape.sale_date if shape else "legacy",
            "open_days": shape.open_days if shape else 5,
        }
        given = {key: getattr(args, key) for key in own if getattr(args, key) is not None}
        result.append(Plan(shape=name, **{**own, **given}))
    return result


def ticket_sizes(text: str) -> tuple[int, ...]:
    """An argparse ``type`` for ``--sizes``: comma-separated positive numbers, sorted."""
    try:
        sizes = sorted({int(size.replace("_", "")) for size in text.split(",")})
    except ValueError:
        sizes = []
    if not sizes or sizes[0] < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of numbers of tickets.")
    return tuple(sizes)


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


def on_the_wire(call: Callable[[], object], runs: int, budget: float) -> dict[str, object]:
    """Round trips and SELECTs of one call of ``call``; medians of its SQL and Python time.

    Traced runs (:func:`bench.wire.traced`) apart from the timed ones, as many as
    :func:`timings` makes (at least 3, at most ``runs`` within ``budget`` seconds). The medians
    of SQL and Python time are each their own: they need not add up to the wall time's median.
    """
    from reception_stats.conf import app_settings

    samples = []
    deadline = time.perf_counter() + budget
    while len(samples) < runs and (len(samples) < 3 or time.perf_counter() < deadline):
        samples.append(traced(call, app_settings.DATABASE))
    # A computation sends the same statements every time: the last run's stand for all.
    last = samples[-1]
    return {
        "round_trips": len(last.round_trips),
        "selects": last.selects,
        "statements": last.statements,
        "sql_ms": round(statistics.median(sample.sql_ms for sample in samples), 2),
        "python_ms": round(statistics.median(sample.python_ms for sample in samples), 2),
        "traced_runs": len(samples),
    }


def measure(
    runs: int,
    budget: float,
    client,
    now: datetime,
    site: str,
    setup: str = SETUP["advised"],
) -> dict[str, object]:
    """Every measurement of one variant, at ``now``; ``site`` is the busiest site's id."""
    from django.db import connections

    from reception_stats.breakdowns import compute_breakdown
    from reception_stats.conf import app_settings
    from reception_stats.kpis import compute_live_stats
    from reception_stats.snapshot import Question, compute_snapshot

    result: dict[str, object] = {}
    with connections[app_settings.DATABASE].cursor() as cursor:
        cursor.execute(setup)  # for the session: the connection outlives requests (CONN_MAX_AGE)
    # At the history's "now", not the clock's: loading a million tickets takes minutes, and the
    # window must hold the working day the history ends with.
    live_cases = {
        "live_24h": lambda: compute_live_stats("24h", None, now),
        "live_today": lambda: compute_live_stats("today", None, now),
        # The busiest site alone: what one ressourcerie's screen asks.
        "live_24h_site": lambda: compute_live_stats("24h", site, now),
    }
    for name, call in live_cases.items():
        result[name] = {**timings(call, runs, budget), **on_the_wire(call, runs, budget)}
    result["queries"] = result["live_24h"]["selects"]
    result["figures_24h"] = compute_live_stats("24h", None, now).as_json()
    result["breakdown_24h"] = timings(lambda: compute_breakdown("24h", None, now), runs, budget)
    # What a door computes on a cache miss: the figures and their breakdown, one transaction.
    question = Question("24h", None, now)
    snapshot = {"snapshot_24h": lambda: compute_snapshot(question)}
    for name, call in snapshot.items():
        result[name] = {**timings(call, runs, budget), **on_the_wire(call, runs, budget)}
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
        reverse("reception_stats:api:live-stats")
    except NoReverseMatch:
        progress("No API route reception_stats:api:live-stats: the endpoint is not measured.")
        return None
    from django.core.management import call_command
    from django.test import Client

    call_command("migrate", verbosity=0)
    token = db.manager_token("bench")
    return Client(headers={"authorization": f"Token {token}"})


#: The printed table's lines for each variant: the key in the results and its label.
MEASURED = (
    ("live_24h", "live 24h"),
    ("live_today", "live today"),
    ("live_24h_site", "live 24h, 1 site"),
    ("breakdown_24h", "breakdown 24h"),
    ("snapshot_24h", "door, cache miss"),
    ("endpoint_warm", "API, warm cache"),
)


def print_table(rows: list[dict[str, object]], *, header: bool = True) -> None:
    """One line per measurement, in milliseconds; the wire's columns for the live figures."""
    title = (
        f"{'shape':>7} {'tickets':>9} {'variant':>8}  {'measured':<16} | {'median':>8} "
        f"{'p95':>8} | {'trips':>5} {'SELECTs':>7} | {'SQL':>7} {'Python':>7}"
    )
    if header:
        print(title)
        print("-" * len(title))
    for row in rows:
        for key, label in MEASURED:
            measured = row.get(key)
            if measured is None:
                continue  # no API to measure
            line = (
                f"{row['shape']:>7} {row['tickets']:>9,} {row['variant']:>8}  {label:<16} | "
                f"{measured['median_ms']:>8.1f} {measured['p95_ms']:>8.1f} |"
            )
            if "round_trips" in measured:
                line += (
                    f" {measured['round_trips']:>5} {measured['selects']:>7} | "
                    f"{measured['sql_ms']:>7.1f} {measured['python_ms']:>7.1f}"
                )
            print(line, flush=True)


def describe_window(figures: dict[str, object]) -> str:
    """What the live 24 hours hold, from the figures (read with ``get``: names may change)."""

    def count(name: str) -> str:
        value = figures.get(name)
        return f"{value:,}" if isinstance(value, int) else "?"

    return (
        f"  the 24-hour window holds {count('tickets_closed_24h')} closed and "
        f"{count('tickets_open')} open tickets, {count('items_received')} items received, "
        f"{count('sales_count')} sales"
    )


def build_and_measure(
    plan: Plan, args: argparse.Namespace, url: str, report: dict[str, object]
) -> list[dict[str, object]]:
    """Re-create the database, grow it through ``plan``'s sizes, measure every variant."""
    from django.db import connections

    progress(f"Shape {plan.shape}: re-creating {url} ...")
    # Django's connection to the previous shape's database would outlive its DROP.
    connections.close_all()
    db.recreate_database(url)
    from reception_stats.indexes import RECOMMENDED_INDEXES  # only once Django is set up

    now = datetime.now(UTC)
    history = History(
        now,
        sites=plan.sites,
        seed=args.seed,
        spread=(max(plan.sizes), plan.history_days) if plan.history_days else None,
        sale_date=plan.sale_date,
        open_days=plan.open_days,
    )
    progress(
        f"  {len(history.sites)} sites, {history.daily_tickets:,.0f} tickets a day "
        f"({plan.open_days} days a week), sale_date {plan.sale_date}"
    )
    db.load_reference(url, history)
    client = api_client()
    busiest = history.sites[0].id  # History draws the busiest site first
    shape_report: dict[str, object] = {
        "plan": asdict(plan),
        "now": now.isoformat(),
        "daily_tickets": round(history.daily_tickets, 1),
        "disk": {},
    }
    report["shapes"][plan.shape] = shape_report
    rows: list[dict[str, object]] = []
    tickets = 0
    for size in plan.sizes:
        progress(f"Growing to {size:,} tickets ...")
        db.drop_indexes(url, RECOMMENDED_INDEXES)
        tickets = db.grow_to(url, history, tickets, size, progress)
        for variant in VARIANTS:
            if variant == "advised":
                index_seconds = db.create_indexes(url, RECOMMENDED_INDEXES, progress)
            progress(f"Measuring {plan.shape}, {size:,} tickets, {variant} ...")
            measured = measure(args.runs, args.budget, client, now, busiest, SETUP[variant])
            row = {"shape": plan.shape, "tickets": size, "variant": variant, **measured}
            if variant == "advised":
                row["index_build_s"] = round(index_seconds, 1)
            if variant == VARIANTS[0]:
                progress(describe_window(row["figures_24h"]))
            rows.append(row)
            print_table(rows[-1:], header=not report["results"] and len(rows) == 1)
        shape_report["disk"][str(size)] = db.sizes_on_disk(url, RECOMMENDED_INDEXES)
    return rows


def parser() -> argparse.ArgumentParser:
    shapes = "; ".join(f"{name}: {shape.description}" for name, shape in SHAPES.items())
    default_sizes = ", ".join(f"{size:,}" for size in DEFAULT_SIZES)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--shape",
        choices=(*SHAPES, "all"),
        help=(
            f"A data shape of docs/performance.md ({shapes}), or all three one after the "
            f"other. Without it: {default_sizes} tickets, 4 sites with their own volumes."
        ),
    )
    parser.add_argument(
        "--sizes",
        type=ticket_sizes,
        help="Comma-separated numbers of tickets, grown in increasing order.",
    )
    parser.add_argument("--runs", type=int, default=30, help="Timed runs per measurement.")
    parser.add_argument(
        "--budget", type=float, default=10.0, help="Seconds per measurement before stopping."
    )
    parser.add_argument(
        "--sites",
        type=site_count,
        help="Number of sites, 1 to 100 (1: one ressourcerie, 300 tickets a day). Default 4.",
    )
    parser.add_argument(
        "--history-days",
        type=history_day_count,
        help=(
            "Spread the largest size's tickets over this many days ending today (the daily "
            "volume follows from size / days); smaller sizes hold its newest days. Default: "
            "each site's own volume, 60 to 300 tickets a day."
        ),
    )
    parser.add_argument(
        "--sale-date",
        choices=SALE_DATES,
        help=(
            "legacy (default): 60 %% of the sales older than a year have no sale_date; "
            "always: every sale has one, as current Recyclic writes them."
        ),
    )
    parser.add_argument(
        "--open-days",
        type=open_day_count,
        help="Days a week the sites open, 2 to 7, today and yesterday among them. Default 5.",
    )
    parser.add_argument("--seed", type=int, default=2026)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    url = db.database_url()
    started = time.perf_counter()
    db.configure_django(url)
    report: dict[str, object] = {
        "started_at": datetime.now(UTC).isoformat(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "postgresql": {},
        "shapes": {},
        "results": [],
    }
    for plan in plans(args):
        report["results"].extend(build_and_measure(plan, args, url, report))
    report["postgresql"] = db.server_facts(url)
    report["elapsed_s"] = round(time.perf_counter() - started, 1)

    print()
    print_table(report["results"])
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.fromisoformat(report["started_at"]).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"{stamp}.json"
    path.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    last = report["results"][-1]
    progress(
        f"\nWritten {path} in {report['elapsed_s']:.0f} s. The database is left at "
        f"{last['tickets']:,} tickets ({last['shape']}) with the advised indexes, for "
        f"`python -m bench.explain --now {report['shapes'][last['shape']]['now']}`."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
