"""System checks: the database this app reads really holds Recyclic's tables, as the models expect.

Also, without a database (E004): the time limits of the KPI queries are usable, so that a typo in
``RECEPTION_STATS_STATEMENT_TIMEOUT_MS`` stops ``migrate`` and every management command with one
clear line instead of failing each request.

The models are unmanaged, so nothing else tells an operator that ``RECEPTION_STATS["DATABASE"]``
points at the wrong database or at an older Recyclic: the KPIs would fail at the first request,
or worse, read a column wrongly. These checks query the database, so Django runs them only when
asked, with ``manage.py check --database default`` (and ``migrate``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.apps import AppConfig
from django.core.checks import CheckMessage, Error, Tags, register
from django.core.checks import Warning as CheckWarning
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field, Model
from django.utils.translation import gettext_lazy as _

from .conf import app_settings
from .db import lock_timeout_ms, statement_timeout_ms
from .models import RECYCLIC_MODELS

# Column types each kind of field reads correctly, as PostgreSQL's information_schema names them.
# Django's introspection is not enough there: it cannot name Recyclic's enum types (USER-DEFINED)
# and reports timestamps with and without time zone alike.
POSTGRESQL_TYPES: dict[str, set[str]] = {
    "UUIDField": {"uuid"},
    "CharField": {"character varying", "text", "USER-DEFINED"},
    "TextField": {"text", "character varying"},
    "DecimalField": {"numeric"},
    "FloatField": {"double precision", "real"},
    "IntegerField": {"integer", "bigint", "smallint"},
    "BooleanField": {"boolean"},
    "DateTimeField": {"timestamp with time zone"},
    "JSONField": {"json", "jsonb"},
}

# The same, as Django's introspection (``get_field_type``) names them on the other databases.
INTROSPECTED_TYPES: dict[str, set[str]] = {
    # Without a native uuid type (SQLite), Django stores UUIDs as char(32).
    "UUIDField": {"UUIDField", "CharField"},
    "CharField": {"CharField", "TextField"},
    "TextField": {"TextField", "CharField"},
    "DecimalField": {"DecimalField"},
    "FloatField": {"FloatField"},
    "IntegerField": {"IntegerField", "BigIntegerField", "SmallIntegerField"},
    "BooleanField": {"BooleanField"},
    "DateTimeField": {"DateTimeField"},
    "JSONField": {"JSONField"},
}

NAIVE_TIMESTAMP = "timestamp without time zone"

# Restricted to the schema of the table the search path finds, as the queries will.
_POSTGRESQL_COLUMN_TYPES = """
    SELECT column_name, data_type,
           CASE WHEN data_type = 'USER-DEFINED' THEN udt_name ELSE data_type END
    FROM information_schema.columns
    WHERE table_name = %s
      AND table_schema = (
          SELECT n.nspname
          FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
          WHERE c.oid = to_regclass(quote_ident(%s))
      )
"""

HINT_DATABASE = _(
    'Point RECEPTION_STATS["DATABASE"] (DATABASE_URL in the bundled project) at a Recyclic '
    "database, or upgrade Recyclic if this database predates its current schema."
)


@dataclass(frozen=True)
class Column:
    type: str  # the name matched against POSTGRESQL_TYPES or INTROSPECTED_TYPES
    shown: str  # the name told to the operator (an enum's own name rather than USER-DEFINED)
    null: bool


@register()
def check_time_limits(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    """E004: ``STATEMENT_TIMEOUT_MS`` and ``LOCK_TIMEOUT_MS`` are whole milliseconds in range."""
    messages: list[CheckMessage] = []
    for read in (statement_timeout_ms, lock_timeout_ms):
        try:
            read()
        except ImproperlyConfigured as error:
            messages.append(
                Error(
                    str(error),
                    hint=_(
                        "Set RECEPTION_STATS_STATEMENT_TIMEOUT_MS and "
                        "RECEPTION_STATS_LOCK_TIMEOUT_MS to whole numbers of milliseconds, "
                        "such as 2000 and 500, or leave them unset."
                    ),
                    id="reception_stats.E004",
                )
            )
    return messages


@register(Tags.database)
def check_recyclic_schema(
    app_configs: Sequence[AppConfig] | None, databases: Sequence[str] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """E000-E003 and W001: the tables, columns and types the models read, in the KPI database."""
    alias = app_settings.DATABASE
    if not databases or alias not in databases:
        return []
    if app_configs is not None and all(config.label != "reception_stats" for config in app_configs):
        return []
    connection = connections[alias]
    try:
        with connection.cursor() as cursor:
            tables = {info.name for info in connection.introspection.get_table_list(cursor)}
            messages: list[CheckMessage] = []
            for model in RECYCLIC_MODELS:
                table = model._meta.db_table
                if table not in tables:
                    messages.append(_missing_table(model, alias))
                    continue
                columns = _columns(connection, cursor, table)
                for field in model._meta.concrete_fields:
                    messages.extend(
                        _check_column(connection, model, field, columns.get(field.column))
                    )
            return messages
    except DatabaseError as exc:
        # An outage must read as one line an operator can act on, not as a traceback.
        return [_unreachable(connection, exc)]


def _columns(connection: BaseDatabaseWrapper, cursor: Any, table: str) -> dict[str, Column]:
    description = connection.introspection.get_table_description(cursor, table)
    if connection.vendor != "postgresql":
        return {
            info.name: Column(
                _introspected_type(connection, info), str(info.type_code).lower(), info.null_ok
            )
            for info in description
        }
    cursor.execute(_POSTGRESQL_COLUMN_TYPES, [table, table])
    types = {name: (data_type, shown) for name, data_type, shown in cursor.fetchall()}
    return {
        info.name: Column(*types.get(info.name, ("unknown", "unknown")), bool(info.null_ok))
        for info in description
    }


def _introspected_type(connection: BaseDatabaseWrapper, info: Any) -> str:
    try:
        return connection.introspection.get_field_type(info.type_code, info)
    except KeyError:
        # A type Django cannot map matches no field: the check reports it as incompatible.
        return str(info.type_code)


def _check_column(
    connection: BaseDatabaseWrapper, model: type[Model], field: Field, column: Column | None
) -> list[CheckMessage]:
    name = f"{model._meta.db_table}.{field.column}"
    if column is None:
        return [
            Error(
                _("Column {column} is missing; the model {model} reads it.").format(
                    column=name, model=model.__name__
                ),
                hint=HINT_DATABASE,
                obj=model,
                id="reception_stats.E002",
            )
        ]
    kind = (field.target_field if field.is_relation else field).get_internal_type()
    compatible = (
        POSTGRESQL_TYPES if connection.vendor == "postgresql" else INTROSPECTED_TYPES
    ).get(kind)
    messages: list[CheckMessage] = []
    if compatible is not None and column.type not in compatible:
        if column.type == NAIVE_TIMESTAMP:
            hint = _(
                "Recyclic stores times as timestamp with time zone; without one the times would "
                "be read in the wrong zone and the day boundaries would shift. Upgrade Recyclic "
                "or convert the column to timestamp with time zone."
            )
        else:
            hint = HINT_DATABASE
        messages.append(
            Error(
                _("Column {column} has type {found}; {field} expects {expected}.").format(
                    column=name,
                    found=column.shown,
                    field=f"{model.__name__}.{field.name}",
                    expected=" or ".join(sorted(compatible)),
                ),
                hint=hint,
                obj=model,
                id="reception_stats.E003",
            )
        )
    if column.null and not field.null:
        messages.append(
            CheckWarning(
                _("Column {column} may hold NULL; {field} expects NOT NULL.").format(
                    column=name, field=f"{model.__name__}.{field.name}"
                ),
                hint=_(
                    "A NULL there would break the figures. Recyclic declares the column NOT NULL: "
                    "upgrade Recyclic, or check that this database is Recyclic's."
                ),
                obj=model,
                id="reception_stats.W001",
            )
        )
    return messages


def _missing_table(model: type[Model], alias: str) -> CheckMessage:
    return Error(
        _("Table {table} is missing from database '{alias}'; the model {model} reads it.").format(
            table=model._meta.db_table, alias=alias, model=model.__name__
        ),
        hint=HINT_DATABASE,
        obj=model,
        id="reception_stats.E001",
    )


def _unreachable(connection: BaseDatabaseWrapper, exc: DatabaseError) -> CheckMessage:
    settings = connection.settings_dict
    host = settings.get("HOST") or settings.get("NAME") or "localhost"
    if settings.get("PORT"):
        host = f"{host}:{settings['PORT']}"
    reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return Error(
        _(
            "Database '{alias}' on {host} cannot be reached to check Recyclic's tables: {reason}"
        ).format(alias=connection.alias, host=host, reason=reason),
        hint=_(
            "Start the database server, or fix the host, port, name, credentials or permissions "
            'in DATABASE_URL / RECEPTION_STATS["DATABASE"].'
        ),
        id="reception_stats.E000",
    )
