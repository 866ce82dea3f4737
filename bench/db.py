"""The bench database: create it, load Recyclic's schema, grow it, index it, configure Django."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from .data import SCHEMA_SQL, TABLES, History, copy_rows, grow

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/reception_stats_bench"


def database_url() -> str:
    return os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)


def connect(url: str, **kwargs) -> psycopg.Connection:
    return psycopg.connect(url, **kwargs)


def recreate_database(url: str) -> None:
    """Drop and create the database ``url`` names (it must not be one you care about)."""
    name = conninfo_to_dict(url)["dbname"]
    maintenance = make_conninfo(url, dbname="postgres")
    with psycopg.connect(maintenance, autocommit=True) as connection:
        connection.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    with psycopg.connect(url) as connection:
        connection.execute(SCHEMA_SQL.read_text(encoding="utf-8"))


def load_reference(url: str, history: History) -> None:
    with psycopg.connect(url) as connection:
        copy_rows(connection, history.reference)


def grow_to(url: str, history: History, current: int, target: int, progress: Callable) -> int:
    """Add older history until the database holds ``target`` tickets; VACUUM ANALYZE after."""
    if target > current:
        with psycopg.connect(url) as connection:
            connection.execute("SET synchronous_commit = off")
            grow(connection, history, target - current, progress)
        started = time.perf_counter()
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute("VACUUM ANALYZE")
        progress(f"  VACUUM ANALYZE {time.perf_counter() - started:.1f} s")
    return max(current, target)


def create_indexes(url: str, indexes, progress: Callable) -> float:
    """Create the advised indexes (plainly, not CONCURRENTLY: nobody else writes here)."""
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("SET maintenance_work_mem = '256MB'")
        for index in indexes:
            connection.execute(index.create_sql(concurrently=False))
        connection.execute("ANALYZE " + ", ".join(sorted({index.table for index in indexes})))
    elapsed = time.perf_counter() - started
    progress(f"  indexes created in {elapsed:.1f} s")
    return elapsed


def drop_indexes(url: str, indexes) -> None:
    with psycopg.connect(url, autocommit=True) as connection:
        for index in indexes:
            connection.execute(index.drop_sql(concurrently=False))


def sizes_on_disk(url: str, indexes) -> dict[str, dict[str, int]]:
    """Rows and bytes (table with its own indexes) per table, and bytes per advised index."""
    with psycopg.connect(url) as connection:
        tables = {}
        for table in TABLES:
            rows = connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608
            size = connection.execute("SELECT pg_total_relation_size(%s)", [table]).fetchone()[0]
            tables[table] = {"rows": rows, "bytes": size}
        advised = {}
        for index in indexes:
            row = connection.execute(
                "SELECT pg_relation_size(to_regclass(%s))", [index.name]
            ).fetchone()
            if row[0] is not None:
                advised[index.name] = row[0]
    return {"tables": tables, "indexes": advised}


def server_facts(url: str) -> dict[str, str]:
    names = ("server_version", "shared_buffers", "work_mem", "jit", "random_page_cost")
    with psycopg.connect(url) as connection:
        return {name: connection.execute(f"SHOW {name}").fetchone()[0] for name in names}


def configure_django(url: str) -> None:
    """Point the project's settings at the bench database, then set Django up.

    As production runs it: ``DEBUG`` off (Django then keeps no query log and connections last
    ``CONN_MAX_AGE``, 60 s), over plain http since the test client speaks no TLS.
    """
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = "recyclic.settings"
    os.environ["DEBUG"] = "false"
    os.environ["SECURE_SSL_REDIRECT"] = "false"
    os.environ.setdefault("SECRET_KEY", "bench-only-not-a-secret")
    os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")
    for name in ("RECEPTION_STATS_DATABASE_URL", "RECEPTION_STATS_DATABASE", "CACHE_URL"):
        os.environ.pop(name, None)  # the KPIs read the bench database; the cache is in-process
    # The in-process client sends hundreds of requests a minute as one user: lift the per-user
    # rate so that the throttle still runs (its cost is part of a request) but never refuses.
    os.environ["RECEPTION_STATS_THROTTLE_RATE"] = "100000/min"
    # The bench measures what a computation costs, also where it takes longer than the doors
    # would wait (STATEMENT_TIMEOUT_MS, 2 s): a minute, so that the slowest case has a number.
    os.environ["RECEPTION_STATS_STATEMENT_TIMEOUT_MS"] = "60000"
    import django

    django.setup()


def manager_token(username: str) -> str:
    """The API token of a new staff user holding ``view_live_stats``, as a manager's screen has:
    the doors ask for the permission, not for staff alone (migrate first)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission
    from rest_framework.authtoken.models import Token

    user = get_user_model().objects.create_user(username, password=None, is_staff=True)
    user.user_permissions.add(
        Permission.objects.get(
            content_type__app_label="reception_stats", codename="view_live_stats"
        )
    )
    return Token.objects.create(user=user).key
