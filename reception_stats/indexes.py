"""The indexes that make the KPI queries cost the live window, not the whole history.

A fresh Recyclic database indexes none of the columns the figures filter on (no index on a
timestamp, a status or a foreign key: see recyclic-schema.md), so without these every
computation reads every ticket, line, sale and sale item ever recorded: 1.5 s at 1,000,000
tickets on a 2-core box, against 20 to 35 ms with them, ``kpis.tickets_in`` bounding the
postes' opening time so that PostgreSQL starts from the few live postes (docs/performance.md).

They are additive: plain b-tree indexes that Recyclic's own code neither knows nor needs, built
``CONCURRENTLY`` so that the desks and tills keep writing meanwhile. They cost disk space (about
a tenth of the tables they index) and a little time on each insert. This module never
creates them from a migration: Recyclic owns these tables, so an administrator creates them on
request, with ``manage.py reception_stats_indexes --apply`` or by piping the listing to ``psql``.

Left out on purpose, each checked with ``EXPLAIN (ANALYZE, BUFFERS)`` at 1,000,000 tickets:
``ticket_depot(closed_at)`` (a ticket closed in the window has its poste opened at most D before
it, so the tickets are reached through their postes), ``ticket_depot(status)`` (the open tickets
left on old postes are exactly what a status index would make us read), ``sales(cash_session_id)``
and ``users(site_id)`` (a site filter is applied to the window's few rows through the primary
keys, or a scan of the small ``cash_sessions`` and ``users`` tables: a few rows a day).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import connections

PREFIX = "reception_stats_"


@dataclass(frozen=True)
class AdvisedIndex:
    """One b-tree index: ``columns`` is the parenthesised list as PostgreSQL prints it back."""

    name: str
    table: str
    columns: str
    reason: str

    def create_sql(self, *, concurrently: bool = True) -> str:
        how = "CONCURRENTLY " if concurrently else ""
        return f'CREATE INDEX {how}IF NOT EXISTS {self.name} ON "{self.table}" ({self.columns});'

    def drop_sql(self, *, concurrently: bool = True) -> str:
        how = "CONCURRENTLY " if concurrently else ""
        return f"DROP INDEX {how}IF EXISTS {self.name};"

    @property
    def definition(self) -> str:
        """What ``pg_get_indexdef`` prints after ``USING``, to spot the same index by any name."""
        return f"btree ({self.columns})"


RECOMMENDED_INDEXES: tuple[AdvisedIndex, ...] = (
    AdvisedIndex(
        name=f"{PREFIX}poste_reception_opened_at",
        table="poste_reception",
        columns="opened_at",
        reason=(
            "Postes opened since D hours before the window: every counted ticket, open, "
            "closed or typed in from a notebook, belongs to one of them."
        ),
    ),
    AdvisedIndex(
        name=f"{PREFIX}ticket_depot_poste_id",
        table="ticket_depot",
        columns="poste_id",
        reason="From those few postes to their tickets (foreign key, unindexed by Recyclic).",
    ),
    AdvisedIndex(
        name=f"{PREFIX}ligne_depot_ticket_id",
        table="ligne_depot",
        columns="ticket_id",
        reason="From the counted tickets to their lines (foreign key, unindexed by Recyclic).",
    ),
    AdvisedIndex(
        name=f"{PREFIX}sales_business_time",
        table="sales",
        columns="COALESCE(sale_date, created_at)",
        reason=(
            "Sales in the window by their business time, COALESCE(sale_date, created_at): an "
            "expression index, as neither column alone can serve that range."
        ),
    ),
    AdvisedIndex(
        name=f"{PREFIX}sale_items_sale_id",
        table="sale_items",
        columns="sale_id",
        reason="From the window's sales to their items (foreign key, unindexed by Recyclic).",
    ),
)


@dataclass(frozen=True)
class IndexState:
    index: AdvisedIndex
    #: Name of a valid index that does the job: ours or an equivalent one; None if missing.
    present_as: str | None
    #: True when our index exists but is INVALID (a CONCURRENTLY build that failed).
    invalid: bool = False

    @property
    def missing(self) -> bool:
        return self.present_as is None


def is_postgresql(using: str) -> bool:
    return connections[using].vendor == "postgresql"


def index_states(
    using: str, indexes: Iterable[AdvisedIndex] = RECOMMENDED_INDEXES
) -> list[IndexState]:
    """Which advised indexes exist on ``using`` (PostgreSQL only), ours or equivalent ones."""
    indexes = tuple(indexes)
    tables = sorted({index.table for index in indexes})
    with connections[using].cursor() as cursor:
        cursor.execute(
            """
            SELECT t.relname, c.relname, x.indisvalid, pg_get_indexdef(c.oid)
            FROM pg_index x
            JOIN pg_class c ON c.oid = x.indexrelid
            JOIN pg_class t ON t.oid = x.indrelid
            JOIN pg_namespace n ON n.oid = t.relnamespace
            WHERE n.nspname = current_schema() AND t.relname = ANY(%s)
            """,
            [tables],
        )
        existing = cursor.fetchall()
    states = []
    for index in indexes:
        present_as, invalid = None, False
        for table, name, valid, definition in existing:
            if table != index.table:
                continue
            if name == index.name:
                if valid:
                    present_as = name
                    break
                invalid = True
            # Recyclic or a DBA may have created the same index under another name.
            elif valid and definition.endswith(f" USING {index.definition}"):
                present_as = name
                break
        states.append(IndexState(index, present_as, invalid and present_as is None))
    return states


def estimated_rows(using: str, table: str) -> int | None:
    """PostgreSQL's own estimate of ``table``'s rows (``pg_class.reltuples``, kept by ANALYZE
    and autovacuum): a catalog read, no lock on the table. None while never analyzed."""
    with connections[using].cursor() as cursor:
        cursor.execute(
            """
            SELECT c.reltuples::bigint FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = current_schema() AND c.relname = %s AND c.relkind = 'r'
            """,
            [table],
        )
        row = cursor.fetchone()
    return None if row is None or row[0] < 0 else int(row[0])


def create_missing_indexes(using: str, states: Iterable[IndexState]) -> list[AdvisedIndex]:
    """Create each missing index ``CONCURRENTLY``; an INVALID leftover is dropped first.

    ``CREATE INDEX CONCURRENTLY`` cannot run in a transaction block, so this refuses to run
    inside ``atomic()`` and relies on Django's default autocommit.
    """
    connection = connections[using]
    if connection.in_atomic_block:
        raise RuntimeError("CREATE INDEX CONCURRENTLY cannot run inside a transaction.")
    created = []
    for state in states:
        if not state.missing:
            continue
        with connection.cursor() as cursor:
            if state.invalid:
                cursor.execute(state.index.drop_sql())
            cursor.execute(state.index.create_sql())
        created.append(state.index)
    return created
