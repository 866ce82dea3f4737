"""EXPLAIN (ANALYZE, BUFFERS) of every query the KPIs run, on the bench database as it is.

``.venv/bin/python -m bench.explain [--site] [--breakdown] [--plans] [--now ISO]``: captures the
SQL that ``compute_live_stats`` (both windows) and ``compute_breakdown`` send, explains each query
and prints, per query, its execution time, the time JIT compilation took when PostgreSQL chose to
compile, shared buffers touched and every sequential scan of a table; ``--plans`` prints the
whole plans too. It reads ``BENCH_DATABASE_URL`` (the database ``bench.run`` leaves at its
largest size, with the advised indexes) and changes nothing there. ``--now`` is the history's
end, which ``bench.run`` prints: its data stop there, and the live window with them.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime

from . import db


def jit_ms(explained: dict) -> float | None:
    """Milliseconds of JIT compilation in one EXPLAIN ANALYZE (JSON), None when not compiled."""
    jit = explained.get("JIT")
    return None if jit is None else jit["Timing"]["Total"]


def seq_scans(plan: dict) -> list[str]:
    found = []
    if plan.get("Node Type") == "Seq Scan":
        rows = plan.get("Actual Rows", 0) * plan.get("Actual Loops", 1)
        found.append(f"{plan['Relation Name']} ({rows:,} rows kept)")
    for child in plan.get("Plans", []):
        found.extend(seq_scans(child))
    return found


def explain(sql: str) -> tuple[dict, str]:
    from django.db import connections

    from reception_stats.conf import app_settings
    from reception_stats.db import read_only

    # Under the settings the app's own transaction gives its queries (JIT off, ...).
    alias = app_settings.DATABASE
    with read_only(alias), connections[alias].cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql)
        as_json = cursor.fetchone()[0]
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
        as_text = "\n".join(row[0] for row in cursor.fetchall())
    if isinstance(as_json, str):
        as_json = json.loads(as_json)
    return as_json[0], as_text


def captured(call) -> list[str]:
    """The SELECTs ``call`` sends, as ``QUERIES_PER_COMPUTATION`` counts them."""
    from django.db import connections
    from django.test.utils import CaptureQueriesContext

    from reception_stats.conf import app_settings
    from reception_stats.db import is_transaction_control, without_limits

    with CaptureQueriesContext(connections[app_settings.DATABASE]) as queries:
        call()
    # The queries only, as the ORM wrote them: not the read-only transaction's BEGIN and
    # ROLLBACK, nor the SETs sent in front of a query.
    return [
        without_limits(query["sql"])
        for query in queries
        if not is_transaction_control(query["sql"])
    ]


def aware_datetime(text: str) -> datetime:
    """An argparse ``type``: an ISO 8601 date and time with its offset from UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 time with its offset.")
    return moment


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--site", action="store_true", help="Also with a site filter.")
    parser.add_argument("--breakdown", action="store_true", help="Also compute_breakdown.")
    parser.add_argument("--plans", action="store_true", help="Print the whole plans.")
    parser.add_argument(
        "--now",
        type=aware_datetime,
        help="The end of the live window (ISO 8601 with its offset); default: the clock.",
    )
    args = parser.parse_args(argv)
    db.configure_django(db.database_url())

    from reception_stats.breakdowns import compute_breakdown
    from reception_stats.kpis import compute_live_stats
    from reception_stats.models import Site

    now = args.now or datetime.now(UTC)
    cases = [
        (f"live {window}", lambda w=window: compute_live_stats(w, None, now))
        for window in ("24h", "today")
    ]
    if args.site:
        # "Ressourcerie 1", the busiest site of bench.data's histories.
        site = Site.objects.order_by("name").values_list("id", flat=True).first()
        cases.append(("live 24h, one site", lambda: compute_live_stats("24h", site, now)))
    if args.breakdown:
        cases.append(("breakdown 24h", lambda: compute_breakdown("24h", None, now)))
    for title, call in cases:
        for number, sql in enumerate(captured(call), start=1):
            plan, text = explain(sql)
            top = plan["Plan"]
            scans = seq_scans(top)
            jit = jit_ms(plan)
            print(
                f"{title} #{number}: {plan['Execution Time']:.2f} ms"
                f"{'' if jit is None else f' (JIT {jit:.2f} ms of it)'}, "
                f"buffers hit {top.get('Shared Hit Blocks', 0):,} "
                f"read {top.get('Shared Read Blocks', 0):,}, "
                f"seq scans: {', '.join(scans) or 'none'}"
            )
            if args.plans:
                print(sql, "\n", text, "\n", sep="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
