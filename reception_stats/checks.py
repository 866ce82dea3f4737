"""System checks: the app is wired so that no door answers 500 or 404, and the database it
reads holds Recyclic's tables as the models expect.

Without a database:

- E004: the time limits of the KPI queries are usable, so that a typo in
  ``RECEPTION_STATS_STATEMENT_TIMEOUT_MS`` stops every management command with one clear line.
- E010-E011, W020-W023: what a host project needs for every door to work (Django REST
  framework and its token app, the URLs, a bounded connection time).

With a database (``manage.py check --database recyclic``), as warnings, never errors:
``migrate`` runs these checks too, and Django's own tables must be creatable whatever state
Recyclic's database is in. The problems are also on ``/healthz`` (``degraded``), on the admin
page and in the command's exit code.

- W010-W014, W001: the tables, columns and types the models read, in the KPI database. The
  models are unmanaged, so nothing else tells an operator that the figures' database is the
  wrong one or an older Recyclic.
- W015: a large history (PostgreSQL's estimate of ``ticket_depot``'s rows) without the advised
  indexes (:mod:`reception_stats.indexes`): each computation then reads all of it.

On PostgreSQL they read ``pg_catalog`` only, which takes no lock on Recyclic's tables (a
migration of Recyclic holding one cannot stall the check), in a read-only transaction with the
figures' time limits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.apps import AppConfig
from django.core.checks import CheckMessage, Error, Info, Tags, register
from django.core.checks import Warning as CheckWarning
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field, Model
from django.utils.formats import number_format
from django.utils.translation import gettext_lazy as _

from .conf import app_settings
from .db import database_location, lock_timeout_ms, read_only, statement_timeout_ms
from .indexes import estimated_rows, index_states
from .models import RECYCLIC_MODELS, TicketDepot

#: Reception tickets from which a database without the advised indexes makes every computation
#: too slow: at 50,000 tickets it already reads 100 ms of history (docs/performance.md).
LARGE_HISTORY_TICKETS = 50_000

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

# Every column of the tables the search path finds under these names, from the catalog alone:
# Django's introspection reads each table itself (for a cursor description), which waits behind
# the lock a migration of Recyclic holds.
_POSTGRESQL_COLUMNS = """
    SELECT c.relname, a.attname,
           CASE WHEN t.typtype = 'e' THEN 'USER-DEFINED' ELSE format_type(t.oid, NULL) END,
           t.typname,
           NOT a.attnotnull
    FROM pg_catalog.pg_attribute a
    JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
    JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
    WHERE c.oid = ANY (ARRAY(SELECT to_regclass(quote_ident(name)) FROM unnest(%s::text[]) name))
      AND a.attnum > 0 AND NOT a.attisdropped
"""

HINT_DATABASE = _(
    'Point RECEPTION_STATS["DATABASE"] (RECYCLIC_DATABASE_URL in the bundled project) at a '
    "Recyclic database, or upgrade Recyclic if this database predates its current schema."
)

#: The one check message that means "could not look", rather than "looked and found this".
UNREACHABLE = "reception_stats.W014"


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
    """W010-W014, W001 and W015: the tables, columns and types the models read, in the KPI
    database, and the advised indexes under a large history."""
    alias = app_settings.DATABASE
    if not databases or alias not in databases:
        return []
    if app_configs is not None and all(config.label != "reception_stats" for config in app_configs):
        return []
    connection = connections[alias]
    tickets, missing_indexes = None, []
    try:
        with read_only(alias):
            tables = _tables(connection)
            if connection.vendor == "postgresql" and TicketDepot._meta.db_table in tables:
                tickets = estimated_rows(alias, TicketDepot._meta.db_table)
                missing_indexes = _missing_indexes(alias)
    except (DatabaseError, ImproperlyConfigured) as exc:
        # An outage must read as one line an operator can act on, not as a traceback.
        return [_unreachable(connection, exc)]
    messages: list[CheckMessage] = []
    for model in RECYCLIC_MODELS:
        columns = tables.get(model._meta.db_table)
        if columns is None:
            messages.append(_missing_table(model, alias))
            continue
        for model_field in model._meta.concrete_fields:
            messages.extend(
                _check_column(connection, model, model_field, columns.get(model_field.column))
            )
    if tickets is not None and tickets >= LARGE_HISTORY_TICKETS and missing_indexes:
        messages.append(_indexes_missing(tickets, missing_indexes))
    return messages


def _missing_indexes(alias: str) -> list[str]:
    """The advised indexes missing; none said while a lock on Recyclic's tables (a migration
    of Recyclic) keeps PostgreSQL from describing their indexes: it would wait for the lock,
    and the check never does for more than a moment."""
    try:
        with transaction.atomic(using=alias):  # a savepoint: its failure ends nothing else
            with connections[alias].cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = 100")
            return [state.index.name for state in index_states(alias) if state.missing]
    except DatabaseError:
        return []


def _indexes_missing(tickets: int, names: list[str]) -> CheckMessage:
    return CheckWarning(
        _(
            "Recyclic's database holds about {tickets} reception tickets and {count} of the "
            "advised indexes are missing ({names}): every computation of the figures reads the "
            "whole history, which grows slower every day and can pass the statement timeout."
        ).format(
            tickets=number_format(tickets, force_grouping=True),
            count=len(names),
            names=", ".join(names),
        ),
        hint=_(
            "An administrator creates them without stopping the desks or the tills: "
            "manage.py reception_stats_indexes --apply (see docs/performance.md)."
        ),
        id="reception_stats.W015",
    )


def schema_problems(alias: str) -> list[str] | None:
    """The schema check's messages as ``"id: message"``, or None if the database failed."""
    messages = check_recyclic_schema(None, databases=[alias])
    if any(message.id == UNREACHABLE for message in messages):
        return None
    return [f"{message.id}: {message.msg}" for message in messages]


def _tables(connection: BaseDatabaseWrapper) -> dict[str, dict[str, Column]]:
    """Every mapped table present, with its columns."""
    names = [model._meta.db_table for model in RECYCLIC_MODELS]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(_POSTGRESQL_COLUMNS, [names])
            tables: dict[str, dict[str, Column]] = {}
            for table, column, data_type, type_name, null in cursor.fetchall():
                shown = type_name if data_type == "USER-DEFINED" else data_type
                tables.setdefault(table, {})[column] = Column(data_type, shown, null)
            return tables
        present = {info.name for info in connection.introspection.get_table_list(cursor)}
        return {
            name: {
                info.name: Column(
                    _introspected_type(connection, info), str(info.type_code).lower(), info.null_ok
                )
                for info in connection.introspection.get_table_description(cursor, name)
            }
            for name in names
            if name in present
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
            CheckWarning(
                _("Column {column} is missing; the model {model} reads it.").format(
                    column=name, model=model.__name__
                ),
                hint=HINT_DATABASE,
                obj=model,
                id="reception_stats.W011",
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
            CheckWarning(
                _("Column {column} has type {found}; {field} expects {expected}.").format(
                    column=name,
                    found=column.shown,
                    field=f"{model.__name__}.{field.name}",
                    expected=" or ".join(sorted(compatible)),
                ),
                hint=hint,
                obj=model,
                id="reception_stats.W012",
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
    return CheckWarning(
        _("Table {table} is missing from database '{alias}'; the model {model} reads it.").format(
            table=model._meta.db_table, alias=alias, model=model.__name__
        ),
        hint=HINT_DATABASE,
        obj=model,
        id="reception_stats.W010",
    )


def _unreachable(connection: BaseDatabaseWrapper, exc: Exception) -> CheckMessage:
    reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return CheckWarning(
        _(
            "Database '{alias}' on {host} cannot be reached to check Recyclic's tables: {reason}"
        ).format(alias=connection.alias, host=database_location(connection), reason=reason),
        hint=_(
            "Start the database server, or fix the host, port, name, credentials or permissions "
            'in RECYCLIC_DATABASE_URL / RECEPTION_STATS["DATABASE"].'
        ),
        id=UNREACHABLE,
    )


# --- what a host project needs for every door to work -----------------------------------------

#: URL names (with their namespaces) under which the doors are routed, old and new layouts.
API_URL_NAMES = ("reception_stats:api:live-stats", "reception_stats_api:live-stats")
HEALTH_URL_NAMES = ("reception_stats:healthz", "healthz")
HINT_URLS = _(
    'Add path("", include("reception_stats.urls")) to the project\'s urlpatterns: it serves '
    "api/v1/…, healthz and metrics."
)
#: Session engines that keep a manager logged in while the database does not answer.
CACHED_SESSION_ENGINES = (
    "reception_stats.sessions",
    "django.contrib.sessions.backends.cached_db",
    "django.contrib.sessions.backends.cache",
    "django.contrib.sessions.backends.signed_cookies",
)


@register()
def check_installation(
    app_configs: Sequence[AppConfig] | None, **kwargs: Any
) -> list[CheckMessage]:
    """E010-E011, W020-W022, I001-I003: the pieces a host project must add, named with the fix."""
    from django.apps import apps
    from django.conf import settings

    messages: list[CheckMessage] = []
    for app, what, code in (
        ("rest_framework", _("the API, with its browsable pages,"), "reception_stats.E010"),
        ("rest_framework.authtoken", _("the API's token authentication"), "reception_stats.E011"),
    ):
        if not apps.is_installed(app):
            messages.append(
                Error(
                    _("{app} is not in INSTALLED_APPS: {what} needs it.").format(
                        app=app, what=what
                    ),
                    hint=_('Add "{app}" to INSTALLED_APPS, then run migrate.').format(app=app),
                    id=code,
                )
            )
    messages += _routing_problems()
    for alias, database in settings.DATABASES.items():
        if "postgresql" in database.get("ENGINE", "") and not database.get("OPTIONS", {}).get(
            "connect_timeout"
        ):
            messages.append(
                CheckWarning(
                    _(
                        "Database '{alias}' has no connect_timeout: a server that accepts "
                        "connections but never answers would hold a request for minutes."
                    ).format(alias=alias),
                    hint=_('Set DATABASES["{alias}"]["OPTIONS"]["connect_timeout"] = 2.').format(
                        alias=alias
                    ),
                    id="reception_stats.W020",
                )
            )
    messages += _per_process_cache(settings)
    messages += _outage_readiness(settings)
    messages += _recyclic_accounts(settings)
    return messages


def _recyclic_accounts(settings: Any) -> list[CheckMessage]:
    """W023-W024: Recyclic's accounts asked for, without the package that reads them."""
    from importlib.util import find_spec

    messages: list[CheckMessage] = []
    backends = getattr(settings, "AUTHENTICATION_BACKENDS", [])
    if "reception_stats.backends.RecyclicBackend" in backends and not find_spec("bcrypt"):
        messages.append(
            CheckWarning(
                _("RecyclicBackend cannot check Recyclic's passwords: bcrypt is not installed."),
                hint=_("pip install django-reception-stats[recyclic]"),
                id="reception_stats.W023",
            )
        )
    if app_settings.RECYCLIC_SECRET_KEY and not find_spec("jwt"):
        messages.append(
            CheckWarning(
                _("Recyclic's tokens are refused: PyJWT is not installed."),
                hint=_("pip install django-reception-stats[recyclic]"),
                id="reception_stats.W024",
            )
        )
    return messages


def _routing_problems() -> list[CheckMessage]:
    from django.urls import NoReverseMatch, reverse

    def routed(names: Sequence[str]) -> bool:
        for name in names:
            try:
                reverse(name)
            except NoReverseMatch:
                continue
            return True
        return False

    missing = [
        door
        for door, names in (
            ("api/v1/reception/stats/live", API_URL_NAMES),
            ("healthz", HEALTH_URL_NAMES),
        )
        if not routed(names)
    ]
    if not missing:
        return []
    return [
        CheckWarning(
            _("Not routed, so answering 404: {doors}.").format(doors=", ".join(missing)),
            hint=HINT_URLS,
            id="reception_stats.W021",
        )
    ]


def _per_process_cache(settings: Any) -> list[CheckMessage]:
    backend = settings.CACHES.get(app_settings.CACHE, {}).get("BACKEND", "")
    if "locmem" not in backend.lower() or int(app_settings.WORKERS) <= 1:
        return []
    return [
        CheckWarning(
            _(
                "The figures' cache '{alias}' is per process while {workers} workers serve the "
                "app: each computes the figures on its own, and shares the API's rate."
            ).format(alias=app_settings.CACHE, workers=app_settings.WORKERS),
            hint=_("Point CACHE_URL (CACHES) at a Redis server, e.g. redis://redis:6379/0."),
            id="reception_stats.W022",
        )
    ]


def _outage_readiness(settings: Any) -> list[CheckMessage]:
    """I001-I003: without these, a database outage shows a login page or a 500, not the last
    good figures."""
    messages: list[CheckMessage] = []
    if settings.SESSION_ENGINE not in CACHED_SESSION_ENGINES:
        messages.append(
            Info(
                _(
                    "Sessions are read from the database: while it does not answer, managers "
                    "get a login page instead of the last good figures."
                ),
                hint=_('Set SESSION_ENGINE = "reception_stats.sessions".'),
                id="reception_stats.I001",
            )
        )
    if "reception_stats.middleware.BoundedDatabaseMiddleware" not in settings.MIDDLEWARE:
        messages.append(
            Info(
                _(
                    "Pages other than the app's own (the admin's login, for one) answer 500 and "
                    "may wait without bound while the database does not answer."
                ),
                hint=_(
                    'Add "reception_stats.middleware.BoundedDatabaseMiddleware" to MIDDLEWARE, '
                    "before SessionMiddleware."
                ),
                id="reception_stats.I002",
            )
        )
    backends = getattr(settings, "AUTHENTICATION_BACKENDS", [])
    if not any(path.startswith("reception_stats.backends.") for path in backends):
        messages.append(
            Info(
                _(
                    "Logged-in users are looked up in the database on every request: while it "
                    "does not answer, they cannot see the last good figures."
                ),
                hint=_(
                    'Use "reception_stats.backends.CachedModelBackend" in '
                    "AUTHENTICATION_BACKENDS instead of Django's ModelBackend."
                ),
                id="reception_stats.I003",
            )
        )
    return messages
