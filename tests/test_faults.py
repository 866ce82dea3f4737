"""Faults the app survives, each caused for real against a PostgreSQL server.

- Recyclic's table locked by another transaction (``LOCK TABLE … ACCESS EXCLUSIVE`` from a
  connection of its own): the request ends within the lock or statement timeout, with the last
  good figures or 503; nothing hangs. ``/healthz`` answers at once.
- The database unreachable when the app starts, gone while it runs, back again: gunicorn
  answers stale figures or 503 meanwhile and recovers by itself, without a restart. The database
  "goes away" through a TCP relay the test cuts and restores (connections reset, then refused),
  since the PostgreSQL server itself is shared; its backends are also killed with
  ``pg_terminate_backend``.
- The database frozen (the relay keeps the connections and answers nothing): every door answers
  within 3 s, stale figures or 503 with Retry-After, and no gunicorn worker is killed.
- Both in the one-database setup (Django's own tables, sessions and tokens, behind the same
  relay) and in the split one (only Recyclic's database behind it).
- The cache server (Redis) gone while the app runs, then back, or stalled: figures still
  computed, a warning logged, no error, and a stalled Redis costs its socket timeout once.
- ``manage.py reception_stats`` as a real process: a distinct exit code and one clear line for
  bad input (2), an unknown site (3), an unreachable database (4), a timeout (5).

The tables must be visible to other connections, so these tests commit (``transactional_db``);
conftest.py empties Recyclic's tables after them.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from urllib.parse import quote

import environ
import psycopg
import pytest
from django.db import connections
from rest_framework.authtoken.models import Token

from reception_stats.management.commands.reception_stats import (
    EXIT_BAD_INPUT,
    EXIT_DATABASE,
    EXIT_TIMEOUT,
    EXIT_UNKNOWN_SITE,
)
from tests.processes import (
    ROOT,
    Gunicorn,
    environment_without,
    gunicorn,
    manage_py,
    postgres_url,
)
from tests.recipes import NOW, build_worked_example
from tests.relays import TcpRelay
from tests.services import REDIS_PORT, redis_listens

LIVE = "/api/v1/reception/stats/live"
FRAGMENT = "/admin/reception_stats/livestats/fragment/"
PAGE = "/admin/reception_stats/livestats/"
#: What a bounded request may take beyond its timeout: a request, a rollback, a busy machine.
MARGIN = 3.0

pytestmark = pytest.mark.django_db(transaction=True)


def errors_counted(source: str, kind: str) -> float:
    from prometheus_client import REGISTRY

    value = REGISTRY.get_sample_value(
        "reception_live_stats_errors_total", {"source": source, "kind": kind}
    )
    return value or 0.0


def _needs_postgresql() -> None:
    if connections["default"].vendor != "postgresql":
        pytest.skip("needs a PostgreSQL server: locks, timeouts and backends are PostgreSQL's")


def _conninfo(**overrides) -> str:
    """The test database as a libpq conninfo, for a connection of the test's own."""
    settings = connections["default"].settings_dict
    return psycopg.conninfo.make_conninfo(
        host=settings["HOST"] or "127.0.0.1",
        port=str(settings["PORT"] or 5432),
        dbname=settings["NAME"],
        user=settings["USER"] or "postgres",
        password=settings["PASSWORD"] or None,
        **overrides,
    )


def _database_url(port: int | None = None, **query: str) -> str:
    return postgres_url(connections["default"].settings_dict, port, **query)


@pytest.fixture
def locked_ticket_depot() -> Iterator[psycopg.Connection]:
    """Another transaction holds ACCESS EXCLUSIVE on ticket_depot until the test ends."""
    _needs_postgresql()
    with psycopg.connect(_conninfo(application_name="rs-test-locker")) as locker:
        locker.execute("LOCK TABLE ticket_depot IN ACCESS EXCLUSIVE MODE")
        yield locker
        locker.rollback()


# --- A table locked by another transaction ----------------------------------------------------


def test_a_locked_table_answers_503_within_the_lock_timeout(api, options, locked_ticket_depot):
    options(LOCK_TIMEOUT_MS=500, STATEMENT_TIMEOUT_MS=2000)

    started = time.monotonic()
    response = api.get(LIVE, {"at": NOW.isoformat()})
    elapsed = time.monotonic() - started

    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert 0.5 <= elapsed < 0.5 + MARGIN


def test_a_locked_table_serves_the_last_good_figures(api, options):
    _needs_postgresql()
    build_worked_example()
    options(CACHE_TIMEOUT=0, LOCK_TIMEOUT_MS=500)
    good = api.get(LIVE, {"at": NOW.isoformat()}).json()
    timeouts_before = errors_counted("api", "timeout")

    with psycopg.connect(_conninfo()) as locker:
        locker.execute("LOCK TABLE ticket_depot IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        stale = api.get(LIVE, {"at": NOW.isoformat()})
        elapsed = time.monotonic() - started
        locker.rollback()
    fresh = api.get(LIVE, {"at": NOW.isoformat()})

    assert stale.status_code == 200
    assert stale.json() == {**good, "stale": True}
    assert elapsed < 0.5 + MARGIN
    # Counted by what failed behind the stale answer: a wait cut short, not a database down.
    assert errors_counted("api", "timeout") == timeouts_before + 1
    assert fresh.json() == {**good, "stale": False, "generated_at": fresh.json()["generated_at"]}


def test_the_statement_timeout_cancels_a_query_that_waits_too_long(
    api, options, locked_ticket_depot
):
    # A lock timeout longer than the statement timeout: the statement timeout fires first.
    options(LOCK_TIMEOUT_MS=10_000, STATEMENT_TIMEOUT_MS=300)

    started = time.monotonic()
    response = api.get(LIVE)
    elapsed = time.monotonic() - started

    assert response.status_code == 503
    assert 0.3 <= elapsed < 0.3 + MARGIN


def test_the_admin_page_under_a_lock_says_unavailable_quickly(
    client, manager, options, locked_ticket_depot
):
    options(LOCK_TIMEOUT_MS=500)
    client.force_login(manager)

    started = time.monotonic()
    response = client.get(FRAGMENT)
    elapsed = time.monotonic() - started

    assert response.status_code == 503
    assert elapsed < 0.5 + MARGIN


def test_the_admin_page_under_a_lock_on_sites_still_opens_quickly(client, manager, options):
    """The site selector reads ``sites`` under the same limits as the figures."""
    _needs_postgresql()
    options(LOCK_TIMEOUT_MS=300, CACHE_TIMEOUT=0)
    client.force_login(manager)

    with psycopg.connect(_conninfo(application_name="rs-test-locker")) as locker:
        locker.execute("LOCK TABLE sites IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        response = client.get(PAGE)
        elapsed = time.monotonic() - started
        locker.rollback()

    # Each read that touches sites gives up after 0.3 s; the page still answers, without sites.
    assert response.status_code == 200
    assert list(response.context["sites"]) == []
    assert elapsed < 2 * 0.3 + MARGIN


def test_the_lock_and_the_limits_end_with_the_computation(api, options):
    """After a computation the connection is back to read-write, without limits."""
    _needs_postgresql()
    options(STATEMENT_TIMEOUT_MS=1234)
    assert api.get(LIVE).status_code == 200
    with connections["default"].cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        (timeout,) = cursor.fetchone()
        cursor.execute("SHOW transaction_read_only")
        (read_only,) = cursor.fetchone()
    assert (timeout, read_only) == ("0", "off")


# --- The database unreachable, gone, back: gunicorn with a cut-able relay -----------------------


def _get_json(server: Gunicorn, path: str, token: str | None = None) -> tuple[int, dict | str]:
    status, body = server.get(path, token)
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body


@pytest.fixture
def relay() -> Iterator[TcpRelay]:
    _needs_postgresql()
    settings = connections["default"].settings_dict
    relay = TcpRelay((settings["HOST"] or "127.0.0.1", int(settings["PORT"] or 5432)))
    yield relay
    relay.cut()


#: The two ways to deploy: one database for everything (Django's own tables, sessions and tokens
#: inside Recyclic's database, as a small install does), or Django's tables apart from
#: Recyclic's (RECYCLIC_DATABASE_URL), where the fault hits the figures only.
SETUPS = ("one database", "split")
SERVER_SECRET_KEY = "tests-only-faults"


@pytest.fixture(params=SETUPS)
def server_through(request, relay, tmp_path) -> Iterator[Gunicorn]:
    """gunicorn, one worker, reading Recyclic's tables through the relay (still cut at start);
    in the one-database setup Django's own tables too."""
    through_relay = _database_url(relay.port, application_name="rs-fault-kpi")
    if request.param == "split":
        databases = {"DATABASE_URL": _database_url(), "RECYCLIC_DATABASE_URL": through_relay}
    else:
        databases = {"DATABASE_URL": through_relay}
    environment = _server_environment(tmp_path, RECEPTION_STATS_CACHE_TIMEOUT="0", **databases)
    with gunicorn(environment, tmp_path, workers=1) as server:
        yield server


def _server_environment(tmp_path, **values: str) -> dict[str, str]:
    """gunicorn's environment as production sets it (DEBUG off, kept connections), the suite's
    own settings left out, then ``values`` (the databases, a setting or two)."""
    production = {
        "DJANGO_SETTINGS_MODULE": "recyclic.settings",
        "SECRET_KEY": SERVER_SECRET_KEY,
        "DEBUG": "false",
        "SECURE_SSL_REDIRECT": "false",
        "ALLOWED_HOSTS": "127.0.0.1",
        "CONN_MAX_AGE": "60",
        "CACHE_URL": "locmemcache://",
        "RECEPTION_STATS_UNRESPONSIVE_PAUSE_SECONDS": "1",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus"),
        "LOG_FORMAT": "plain",
    }
    return environment_without(
        ("DJANGO_", "PROMETHEUS_", "GUNICORN_", "METRICS_", "RECEPTION_", "RECYCLIC_"),
        **{**production, **values},
    )


def _terminate_backends(application_name: str) -> int:
    with psycopg.connect(_conninfo(), autocommit=True) as admin:
        return admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = %s",
            [application_name],
        ).fetchone()[0]


def _session_cookie(user) -> dict[str, str]:
    """A logged-in session of ``user``, written in the database as the login form would,
    signed with the server's secret key."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.test import override_settings

    from reception_stats.sessions import SessionStore

    with override_settings(SECRET_KEY=SERVER_SECRET_KEY):
        session = SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "reception_stats.backends.CachedModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.save()
    return {"Cookie": f"{settings.SESSION_COOKIE_NAME}={session.session_key}"}


@pytest.mark.gunicorn
def test_the_database_unreachable_gone_and_back_without_a_restart(relay, server_through, manager):
    build_worked_example()
    token = Token.objects.create(user=manager).key
    at = "?at=" + quote(NOW.isoformat())

    # Unreachable from the start: 503 with Retry-After, and /healthz says error.
    status, headers, body = server_through.request(LIVE + at, token)
    # In French: the project speaks French whatever the browser asks.
    unavailable = "Les statistiques sont temporairement indisponibles. Réessayez dans un instant."
    assert (status, json.loads(body)) == (503, {"detail": unavailable})
    assert headers["Retry-After"] == "30"
    status, headers, _body = server_through.request("/healthz")
    assert (status, headers["Retry-After"]) == (503, "30")

    # Back: the next request computes, without any restart.
    relay.restore()
    status, good = _get_json(server_through, LIVE + at, token)
    assert status == 200
    assert (good["tickets_open"], good["weight_in"], good["stale"]) == (1, 19.5, False)
    assert server_through.get("/healthz")[0] == 200

    # Gone while running: connections reset, new ones refused. The last good figures, stale,
    # also where the token itself lives in the database that went away.
    relay.cut()
    status, stale = _get_json(server_through, LIVE + at, token)
    assert status == 200
    assert stale == {**good, "stale": True}
    assert server_through.get("/healthz")[0] == 503

    # Back again: fresh figures.
    relay.restore()
    status, fresh = _get_json(server_through, LIVE + at, token)
    assert (status, fresh["stale"], fresh["tickets_open"]) == (200, False, 1)

    # The backends killed under the app's persistent connection: Django's health check finds
    # the dead connection before the query and opens a new one; the answer is fresh.
    assert _terminate_backends("rs-fault-kpi") >= 1
    status, after_kill = _get_json(server_through, LIVE + at, token)
    assert (status, after_kill["stale"], after_kill["tickets_open"]) == (200, False, 1)

    log = server_through.log_text()
    assert "Traceback" not in log
    assert "serving the figures of" in log  # the stale answer was logged as a warning


#: The promise: with the database frozen, every door answers within this many seconds.
FROZEN_BOUND = 3.0


@pytest.mark.gunicorn
def test_a_frozen_database_never_hangs_a_door(relay, server_through, manager):
    build_worked_example()
    token = Token.objects.create(user=manager).key
    session = _session_cookie(manager)
    at = "?at=" + quote(NOW.isoformat())
    relay.restore()
    # Warm: each door has figures, the token and the session are looked up once.
    assert _get_json(server_through, LIVE + at, token)[0] == 200
    assert "rs-state-ok" in server_through.get(FRAGMENT + at, headers=session)[1]
    assert "rs-state-ok" in server_through.get(PAGE + at, headers=session)[1]

    relay.freeze()
    answers = {}
    for name, path, credentials in [
        ("api", LIVE + at, {"token": token}),
        ("fragment", FRAGMENT + at, {"headers": session}),
        ("page", PAGE + at, {"headers": session}),
        ("healthz", "/healthz", {}),
        ("metrics", "/metrics", {}),
        ("api again", LIVE + at, {"token": token}),
    ]:
        started = time.monotonic()
        status, headers, body = server_through.request(path, **credentials)
        answers[name] = (status, time.monotonic() - started, headers, body)

    slowest = max(elapsed for _status, elapsed, _headers, _body in answers.values())
    assert slowest < FROZEN_BOUND, {name: round(a[1], 2) for name, a in answers.items()}
    assert json.loads(answers["api"][3])["stale"] is True
    assert answers["api"][0] == answers["api again"][0] == 200
    assert (answers["fragment"][0], answers["page"][0]) == (200, 200)
    assert "rs-state-stale" in answers["fragment"][3]
    assert (answers["healthz"][0], answers["healthz"][2]["Retry-After"]) == (503, "30")
    assert answers["metrics"][0] == 200

    # Thawed: once the pause is over (1 s here) the next request computes afresh.
    relay.thaw()
    time.sleep(1.2)
    status, fresh = _get_json(server_through, LIVE + at, token)
    assert (status, fresh["stale"]) == (200, False)

    log = server_through.log_text()
    assert "WORKER TIMEOUT" not in log  # gunicorn never had to kill a worker
    assert "Traceback" not in log


@pytest.mark.gunicorn
def test_djangos_own_database_frozen_in_the_split_setup(relay, manager, tmp_path):
    """Recyclic's database answers, Django's own (accounts, sessions, tokens) is frozen: the
    figures still reach those already signed in, /healthz says degraded and which database,
    Django's own pages say a database is down, not the statistics."""
    build_worked_example()
    token = Token.objects.create(user=manager).key
    session = _session_cookie(manager)
    at = "?at=" + quote(NOW.isoformat())
    relay.restore()
    environment = _server_environment(
        tmp_path,
        DATABASE_URL=_database_url(relay.port, application_name="rs-fault-django"),
        RECYCLIC_DATABASE_URL=_database_url(),
    )
    with gunicorn(environment, tmp_path, workers=1) as server:
        assert _get_json(server, LIVE + at, token)[0] == 200  # the token looked up once
        assert server.get(PAGE + at, headers=session)[0] == 200
        assert _get_json(server, "/healthz")[1]["status"] == "ok"

        relay.freeze()
        started = time.monotonic()
        health_status, health = _get_json(server, "/healthz")
        api_status, figures = _get_json(server, LIVE + at, token)
        admin_status, _headers, admin_page = server.request("/admin/", headers=session)
        elapsed = time.monotonic() - started
        relay.thaw()
        log = server.log_text()

    assert elapsed < 3 * FROZEN_BOUND
    assert (health_status, health["status"]) == (200, "degraded")
    assert (health["database"], health["django_database"]) == ("ok", "unreachable")
    assert (api_status, figures["tickets_open"]) == (200, 1)
    assert admin_status == 503
    assert "Cette page est temporairement indisponible" in admin_page
    assert "WORKER TIMEOUT" not in log
    assert "Traceback" not in log


@pytest.mark.gunicorn
def test_a_worker_started_while_the_database_is_frozen_waits_once(relay, manager, tmp_path):
    """A worker (re)started during the freeze has no connection yet: its first attempt waits
    connect_timeout, then the database is left alone for the pause, as for a kept connection;
    every door answers at once meanwhile instead of waiting 2 s at each database access."""
    token = Token.objects.create(user=manager).key
    relay.restore()
    relay.freeze()
    environment = _server_environment(
        tmp_path,
        RECEPTION_STATS_UNRESPONSIVE_PAUSE_SECONDS="30",
        DATABASE_URL=_database_url(relay.port, application_name="rs-fault-fresh"),
    )
    with gunicorn(environment, tmp_path, workers=1) as server:
        timings = []
        for path, credentials in [
            ("/healthz", {}),
            (LIVE, {"token": token}),
            (PAGE, {"headers": _session_cookie(manager)}),
            ("/healthz", {}),
            (LIVE, {"token": token}),
        ]:
            started = time.monotonic()
            status, headers, _body = server.request(path, **credentials)
            timings.append(time.monotonic() - started)
            assert status == 503, path
            assert headers["Retry-After"] == "30"
        log = server.log_text()
    relay.thaw()

    assert timings[0] < FROZEN_BOUND, timings  # connect_timeout, once
    assert max(timings[1:]) < 0.5, timings  # then the database is left alone
    assert "WORKER TIMEOUT" not in log
    assert "Traceback" not in log


# --- The cache server gone while the app runs, then back --------------------------------------


@pytest.mark.skipif(not redis_listens(), reason="no Redis server on 127.0.0.1:6379")
def test_redis_gone_and_back_never_fails_a_request(api, settings, caplog):
    redis_relay = TcpRelay(("127.0.0.1", REDIS_PORT))
    redis_relay.restore()
    settings.CACHES = {
        "default": environ.Env.cache_url_config(f"redis://127.0.0.1:{redis_relay.port}/15")
    }
    from django.core.cache import caches

    build_worked_example()
    query = {"at": NOW.isoformat()}
    try:
        caches["default"].clear()
        with caplog.at_level(logging.WARNING, logger="reception_stats"):
            first = api.get(LIVE, query)
            redis_relay.cut()
            during = [api.get(LIVE, query) for _ in range(3)]
            redis_relay.restore()
            after = api.get(LIVE, query)
        caches["default"].clear()
    finally:
        redis_relay.cut()

    assert first.status_code == 200
    assert [response.status_code for response in during] == [200] * 3
    assert {response.json()["tickets_open"] for response in during} == {1}
    assert after.status_code == 200
    warnings = [r.getMessage() for r in caplog.records if r.name == "reception_stats.cache"]
    assert warnings, "the cache outage was not logged"
    assert all("unavailable" in message for message in warnings)


@pytest.mark.skipif(not redis_listens(), reason="no Redis server on 127.0.0.1:6379")
def test_a_stalled_redis_costs_its_socket_timeout_once(api, settings, caplog):
    """Redis stops answering (a DEBUG SLEEP, a stalled host): the first request waits for the
    socket timeout the settings give Redis (a quarter of a second), then the process leaves the
    cache alone for a while; the figures are computed without it."""
    redis_relay = TcpRelay(("127.0.0.1", REDIS_PORT))
    redis_relay.restore()
    settings.CACHES = {
        "default": {
            **environ.Env.cache_url_config(f"redis://127.0.0.1:{redis_relay.port}/15"),
            "OPTIONS": {"socket_connect_timeout": 0.25, "socket_timeout": 0.25},
        }
    }
    from django.core.cache import caches

    build_worked_example()
    query = {"at": NOW.isoformat()}
    try:
        caches["default"].clear()
        assert api.get(LIVE, query).status_code == 200
        redis_relay.freeze()
        timings = []
        with caplog.at_level(logging.WARNING, logger="reception_stats"):
            for _ in range(3):
                started = time.monotonic()
                response = api.get(LIVE, query)
                timings.append(time.monotonic() - started)
                assert (response.status_code, response.json()["tickets_open"]) == (200, 1)
    finally:
        redis_relay.cut()

    assert timings[0] < 1.0, timings
    assert max(timings[1:]) < 0.25, timings  # the cache is left alone: no wait at all
    assert len([r for r in caplog.records if "unavailable" in r.getMessage()]) == 1


# --- The command line: one exit code per failure ----------------------------------------------


def _command(*args: str, **environment: str) -> subprocess.CompletedProcess:
    return manage_py(
        "reception_stats",
        *args,
        environment=environment_without(
            ("DJANGO_", "RECEPTION_STATS", "DATABASE_URL"),
            DJANGO_SETTINGS_MODULE="recyclic.settings",
            SECRET_KEY="tests-only-command",
            LANGUAGE_CODE="en",
            LOG_LEVEL="CRITICAL",
            RECEPTION_STATS_LOG_LEVEL="CRITICAL",
            METRICS_ENABLED="false",
            **environment,
        ),
    )


def _one_line(result: subprocess.CompletedProcess) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_healthz_answers_at_once_while_recyclic_migrates_a_table(client, manager):
    """An Alembic migration holds ACCESS EXCLUSIVE on a table: the schema check reads the
    catalog, not the table, and /healthz does not wait behind the lock."""
    _needs_postgresql()
    client.force_login(manager)
    with psycopg.connect(_conninfo(application_name="rs-test-locker")) as locker:
        locker.execute("LOCK TABLE sales IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        response = client.get("/healthz")
        elapsed = time.monotonic() - started
        locker.rollback()

    assert response.status_code == 200
    assert response.json()["schema"] == "ok"
    assert elapsed < 1.0


def test_command_exit_codes_for_bad_input_and_an_unreachable_database(tmp_path):
    bad = _command("--window", "week", DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    unreachable = _command(DATABASE_URL="postgres://postgres@127.0.0.1:1/recyclic")

    assert bad.returncode == EXIT_BAD_INPUT == 2
    assert "window" in _one_line(bad)
    assert unreachable.returncode == EXIT_DATABASE == 4
    assert "127.0.0.1:1" in _one_line(unreachable)


def test_command_against_a_frozen_database_ends_with_exit_4(relay):
    """A server that accepts the connection and never answers: connect_timeout (2 s) ends it."""
    relay.restore()
    relay.freeze()

    started = time.monotonic()
    result = _command(DATABASE_URL=_database_url(relay.port))
    elapsed = time.monotonic() - started

    assert result.returncode == EXIT_DATABASE == 4
    assert f"127.0.0.1:{relay.port}" in _one_line(result)
    assert "timeout" in _one_line(result)
    assert elapsed < 20  # a Django start-up and 2 s, not a hang


def test_command_exit_code_for_an_unknown_site(tmp_path):
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); "
            "from reception_stats.schema import create_recyclic_tables; create_recyclic_tables()",
        ],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "recyclic.settings", "DATABASE_URL": url},
        check=True,
        capture_output=True,
    )
    site = "6f1c1f4e-5d55-4a57-9f3e-3c1e2c0d9a10"

    result = _command("--site", site, DATABASE_URL=url)

    assert result.returncode == EXIT_UNKNOWN_SITE == 3
    assert site in _one_line(result)


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        (
            {"RECEPTION_STATS_LOCK_TIMEOUT_MS": "400"},
            "The query waited more than 400 ms for a lock on Recyclic's tables",
        ),
        (
            {
                "RECEPTION_STATS_LOCK_TIMEOUT_MS": "10000",
                "RECEPTION_STATS_STATEMENT_TIMEOUT_MS": "300",
            },
            "The query took longer than 300 ms",
        ),
    ],
)
def test_command_exit_code_for_a_timeout(locked_ticket_depot, limits, message):
    started = time.monotonic()
    result = _command(DATABASE_URL=_database_url(), **limits)
    elapsed = time.monotonic() - started

    assert result.returncode == EXIT_TIMEOUT == 5
    assert _one_line(result).startswith(f"CommandError: {message}")
    assert elapsed < 20  # a Django start-up and the timeout, not a hang
