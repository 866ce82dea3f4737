"""Recyclic's tables for the demo and the tests: create them, tell whether they hold rows.

In a real deployment Recyclic owns its tables and this module is never used on them. On
PostgreSQL the tables are created from ``sql/recyclic_schema.sql``, a faithful DDL of Recyclic's
schema (enum types, defaults, constraints); on other databases from the unmanaged models.
"""

from __future__ import annotations

from pathlib import Path

from django.db import connections, transaction

from .models import RECYCLIC_MODELS

SCHEMA_SQL = Path(__file__).resolve().parent / "sql" / "recyclic_schema.sql"


def recyclic_table_names() -> list[str]:
    return [model._meta.db_table for model in RECYCLIC_MODELS]


def existing_recyclic_tables(using: str = "default") -> list[str]:
    connection = connections[using]
    with connection.cursor() as cursor:
        present = set(connection.introspection.table_names(cursor))
    return [name for name in recyclic_table_names() if name in present]


def tables_with_rows(using: str = "default") -> list[str]:
    """The mapped tables that exist and hold at least one row."""
    existing = set(existing_recyclic_tables(using))
    return [
        model._meta.db_table
        for model in RECYCLIC_MODELS
        if model._meta.db_table in existing and model.objects.using(using).exists()
    ]


def create_recyclic_tables(using: str = "default") -> None:
    """Create every mapped table that is missing, as Recyclic's own migrations would."""
    connection = connections[using]
    existing = set(existing_recyclic_tables(using))
    if existing == set(recyclic_table_names()):
        return
    if connection.vendor == "postgresql" and not existing:
        with transaction.atomic(using=using), connection.cursor() as cursor:
            cursor.execute(SCHEMA_SQL.read_text(encoding="utf-8"))
        return
    # The schema editor runs in a transaction of its own where the database allows it.
    with connection.schema_editor() as editor:
        for model in RECYCLIC_MODELS:
            if model._meta.db_table not in existing:
                editor.create_model(model)
