"""The schema check: what ``manage.py check --database default`` tells about Recyclic's tables.

Warnings, never errors: ``migrate`` runs the database checks too, and Django's own tables must be
creatable whatever state Recyclic's database is in.

Each test breaks the test database with DDL inside its own transaction, which the test's
rollback undoes (both PostgreSQL and SQLite roll back DDL).
"""

import pytest
from django.core.checks import INFO, WARNING, Tags, run_checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db import connection
from django.test import override_settings
from django.utils import translation

from reception_stats.checks import check_installation, check_recyclic_schema
from tests.processes import environment_without, manage_py

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _in_english():
    """The messages are asserted in their source language; French is checked elsewhere."""
    with translation.override("en"):
        yield


postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="needs PostgreSQL's ALTER COLUMN"
)


def execute(*statements: str) -> None:
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def schema_messages(alias: str = "default") -> list[tuple[str, str]]:
    return [
        (message.id, str(message.msg)) for message in check_recyclic_schema(None, databases=[alias])
    ]


def test_clean_on_the_test_database():
    assert check_recyclic_schema(None, databases=["default"]) == []


def test_registered_as_a_database_check():
    execute("ALTER TABLE sale_items RENAME TO sale_items_old")
    ids = [message.id for message in run_checks(tags=[Tags.database], databases=["default"])]
    assert "reception_stats.W010" in ids
    # Without --database, Django runs no database check: the database is not touched.
    assert "reception_stats.W010" not in [message.id for message in run_checks()]


def test_checks_only_the_database_the_figures_are_read_from():
    execute("ALTER TABLE sale_items RENAME TO sale_items_old")
    assert check_recyclic_schema(None, databases=["other"]) == []
    assert check_recyclic_schema(None, databases=None) == []


def test_missing_table_is_w010():
    execute("ALTER TABLE sale_items RENAME TO sale_items_old")
    [message] = check_recyclic_schema(None, databases=["default"])
    assert message.id == "reception_stats.W010"
    assert message.level == WARNING
    assert "sale_items" in message.msg
    assert "Recyclic database" in message.hint


def test_check_command_reports_a_missing_table_and_fails_at_warning_level(capsys):
    execute("ALTER TABLE sale_items RENAME TO sale_items_old")
    call_command("check", databases=["default"])
    assert "(reception_stats.W010) Table sale_items" in capsys.readouterr().err
    with pytest.raises(SystemCheckError, match=r"reception_stats\.W010\) Table sale_items"):
        call_command("check", databases=["default"], fail_level="WARNING")


def test_migrate_is_never_stopped_by_recyclic_tables(capsys):
    """Django's own tables are created whatever state Recyclic's database is in."""
    execute("ALTER TABLE sale_items RENAME TO sale_items_old")
    call_command("migrate", database="default", interactive=False, verbosity=0, skip_checks=False)
    assert "(reception_stats.W010)" in capsys.readouterr().err


def test_missing_column_is_w011():
    execute("ALTER TABLE sales DROP COLUMN note")
    assert schema_messages() == [
        ("reception_stats.W011", "Column sales.note is missing; the model Sale reads it.")
    ]


def test_incompatible_type_is_w012():
    execute(
        "ALTER TABLE sale_items DROP COLUMN notes",
        "ALTER TABLE sale_items ADD COLUMN notes integer",
    )
    [(code, text)] = schema_messages()
    assert code == "reception_stats.W012"
    assert text.startswith("Column sale_items.notes has type integer; SaleItem.notes expects")
    assert "TextField" in text or "text" in text


@postgresql_only
def test_enum_and_text_columns_are_compatible_with_char_fields():
    execute("ALTER TABLE users ALTER COLUMN role TYPE text, ALTER COLUMN username TYPE text")
    assert schema_messages() == []


@postgresql_only
def test_timestamp_without_time_zone_is_w012_with_a_time_zone_hint():
    execute("ALTER TABLE sales ALTER COLUMN sale_date TYPE timestamp without time zone")
    [message] = check_recyclic_schema(None, databases=["default"])
    assert message.id == "reception_stats.W012"
    assert message.msg == (
        "Column sales.sale_date has type timestamp without time zone; "
        "Sale.sale_date expects timestamp with time zone."
    )
    assert "time zone" in message.hint


@postgresql_only
def test_enum_of_another_type_is_named_in_w012():
    execute(
        "ALTER TABLE sale_items DROP COLUMN quantity",
        "ALTER TABLE sale_items ADD COLUMN quantity userrole NOT NULL",
    )
    [(code, text)] = schema_messages()
    assert code == "reception_stats.W012"
    assert "sale_items.quantity has type userrole" in text


def test_nullable_column_for_a_not_null_field_is_w001():
    execute(
        "ALTER TABLE sale_items DROP COLUMN quantity",
        "ALTER TABLE sale_items ADD COLUMN quantity integer NULL",
    )
    assert schema_messages() == [
        (
            "reception_stats.W001",
            "Column sale_items.quantity may hold NULL; SaleItem.quantity expects NOT NULL.",
        )
    ]


def test_unreachable_database_is_one_w014(unreachable_database):
    [message] = check_recyclic_schema(None, databases=[unreachable_database])
    assert message.id == "reception_stats.W014"
    assert "127.0.0.1:1" in message.msg
    assert "Traceback" not in message.msg


def test_check_command_reports_an_unreachable_database(unreachable_database):
    with pytest.raises(SystemCheckError) as raised:
        call_command("check", databases=[unreachable_database], fail_level="WARNING")
    assert "reception_stats.W014" in str(raised.value)
    assert "Traceback" not in str(raised.value)


@postgresql_only
def test_a_locked_table_does_not_stall_the_check(transactional_db, options):
    """The catalog is read, not the tables: a migration of Recyclic holding ACCESS EXCLUSIVE
    on a table leaves the check answering at once."""
    import psycopg

    settings_dict = connection.settings_dict
    with psycopg.connect(
        host=settings_dict["HOST"] or "127.0.0.1",
        port=settings_dict["PORT"] or 5432,
        dbname=settings_dict["NAME"],
        user=settings_dict["USER"] or "postgres",
    ) as locker:
        locker.execute("LOCK TABLE sales IN ACCESS EXCLUSIVE MODE")
        options(LOCK_TIMEOUT_MS=5000, STATEMENT_TIMEOUT_MS=10000)
        assert check_recyclic_schema(None, databases=["default"]) == []
        locker.rollback()


# --- E004: the time limits, without a database ------------------------------------------------


def test_the_default_time_limits_pass():
    assert [m for m in run_checks() if m.id == "reception_stats.E004"] == []


@pytest.mark.parametrize("value", [0, 600_001, "2s", None])
def test_an_unusable_time_limit_is_an_error(options, value):
    options(LOCK_TIMEOUT_MS=value)
    (message,) = [m for m in run_checks() if m.id == "reception_stats.E004"]
    assert (
        'RECEPTION_STATS["LOCK_TIMEOUT_MS"] must be a whole number of milliseconds' in message.msg
    )
    assert repr(value) in message.msg
    assert "RECEPTION_STATS_LOCK_TIMEOUT_MS" in str(message.hint)


def test_the_command_stops_with_one_clear_message_not_a_traceback(tmp_path):
    done = manage_py(
        "reception_stats",
        environment=environment_without(
            ("DJANGO_", "RECEPTION_STATS", "DATABASE_URL"),
            DJANGO_SETTINGS_MODULE="recyclic.settings",
            SECRET_KEY="tests-only",
            DATABASE_URL=f"sqlite:///{tmp_path / 'unused.sqlite3'}",
            LANGUAGE_CODE="en",
            RECEPTION_STATS_STATEMENT_TIMEOUT_MS="0",
        ),
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "(reception_stats.E004)" in done.stderr
    assert 'RECEPTION_STATS["STATEMENT_TIMEOUT_MS"]' in done.stderr


# --- what a host project must add: named with the fix ------------------------------------------


def installation_ids() -> list[str]:
    return [message.id for message in check_installation(None)]


def test_the_bundled_project_needs_nothing_more():
    assert installation_ids() == []


@pytest.mark.parametrize(
    ("app", "code"),
    [
        ("rest_framework.authtoken", "reception_stats.E011"),
        ("rest_framework", "reception_stats.E010"),
    ],
)
def test_a_missing_app_is_an_error_naming_it(settings, app, code):
    with override_settings(INSTALLED_APPS=[a for a in settings.INSTALLED_APPS if a != app]):
        messages = [m for m in check_installation(None) if m.id == code]
    assert len(messages) == 1
    assert app in messages[0].msg
    assert f'Add "{app}" to INSTALLED_APPS' in messages[0].hint


@override_settings(ROOT_URLCONF="tests.urls_without_the_app")
def test_urls_not_included_are_a_warning_with_the_line_to_add():
    [message] = [m for m in check_installation(None) if m.id == "reception_stats.W021"]
    assert "api/v1/reception/stats/live, healthz" in message.msg
    assert 'include("reception_stats.urls")' in message.hint


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_a_postgresql_database_without_connect_timeout_is_a_warning(settings):
    databases = {
        **settings.DATABASES,
        "recyclic": {"ENGINE": "django.db.backends.postgresql", "NAME": "recyclic"},
    }
    with override_settings(DATABASES=databases):
        [message] = [m for m in check_installation(None) if m.id == "reception_stats.W020"]
    assert "'recyclic'" in message.msg
    assert 'DATABASES["recyclic"]["OPTIONS"]["connect_timeout"] = 2' in message.hint


def test_a_per_process_cache_under_several_workers_is_a_warning(options):
    options(WORKERS=2)
    [message] = [m for m in check_installation(None) if m.id == "reception_stats.W022"]
    assert "2 workers" in message.msg
    assert "redis://" in message.hint


@override_settings(
    SESSION_ENGINE="django.contrib.sessions.backends.db",
    AUTHENTICATION_BACKENDS=["django.contrib.auth.backends.ModelBackend"],
)
def test_what_keeps_the_last_figures_on_screen_in_an_outage_is_suggested(settings):
    middleware = [
        m
        for m in settings.MIDDLEWARE
        if m != "reception_stats.middleware.BoundedDatabaseMiddleware"
    ]
    with override_settings(MIDDLEWARE=middleware):
        messages = {m.id: m for m in check_installation(None)}
    assert {"reception_stats.I001", "reception_stats.I002", "reception_stats.I003"} <= set(messages)
    assert all(messages[code].level == INFO for code in ("reception_stats.I001",))
    assert 'SESSION_ENGINE = "reception_stats.sessions"' in messages["reception_stats.I001"].hint


def test_recyclic_accounts_without_their_packages_are_warnings(monkeypatch, settings):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *args: None if name in ("bcrypt", "jwt") else real(name, *args),
    )
    ids = {m.id: m for m in check_installation(None)}
    assert {"reception_stats.W023", "reception_stats.W024"} <= set(ids)
    assert "django-reception-stats[recyclic]" in ids["reception_stats.W023"].hint
