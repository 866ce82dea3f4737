"""Every wait for PostgreSQL has a bound: ``db.bounded()`` and the watchdog, in-process.

A connection of its own goes through a relay the test freezes (the server's side of the
connection stays open and answers nothing, as when a host stalls). Inside ``bounded()`` a
statement, a health check or a connection attempt ends within its bound with a
``DatabaseError``; the database is then left alone for ``UNRESPONSIVE_PAUSE_SECONDS``; outside
``bounded()`` nothing of Django's behaviour changes. The bounds are the one place a duration is
asserted against the clock.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from django.db import DatabaseError, connections
from django.db.backends.postgresql.base import DatabaseWrapper

from reception_stats import db
from reception_stats.db import DatabaseUnresponsive, bounded, install_bounds, query_seconds
from reception_stats.watchdog import bounded_by
from tests.relays import TcpRelay

pytestmark = pytest.mark.django_db

#: What a bounded wait may take beyond its bound: thread wake-up, a busy 2-core machine.
MARGIN = 1.0


@pytest.fixture
def relay(on_postgresql) -> Iterator[TcpRelay]:
    if not on_postgresql:
        pytest.skip("a server to freeze: PostgreSQL's")
    settings = connections["default"].settings_dict
    relay = TcpRelay((settings["HOST"] or "127.0.0.1", int(settings["PORT"] or 5432)))
    relay.restore()
    yield relay
    relay.cut()


@pytest.fixture
def frozen_alias(relay, options) -> Iterator[str]:
    """An alias connected through the relay, with the app's bounds installed, as the project's
    settings make every PostgreSQL connection (connect_timeout 2 s)."""
    alias = "through_relay"
    settings_dict = {
        **connections["default"].settings_dict,
        "HOST": "127.0.0.1",
        "PORT": str(relay.port),
        "CONN_HEALTH_CHECKS": True,
        "CONN_MAX_AGE": 60,
        "OPTIONS": {"connect_timeout": 2},
    }
    connections[alias] = DatabaseWrapper(settings_dict, alias)
    install_bounds(None, connections[alias])
    options(STATEMENT_TIMEOUT_MS=1000)
    yield alias
    connections[alias].close()
    del connections[alias]


def select_one(alias: str) -> int:
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT 1")
        return cursor.fetchone()[0]


def test_a_statement_the_server_never_answers_is_cut(frozen_alias, relay):
    assert select_one(frozen_alias) == 1
    connection = connections[frozen_alias]
    connection.health_check_done = True  # as within a request that has used it already
    relay.freeze()

    started = time.monotonic()
    with pytest.raises(DatabaseUnresponsive, match=r"did not answer within 1\.5 s"), bounded():
        select_one(frozen_alias)
    elapsed = time.monotonic() - started

    assert query_seconds() <= elapsed < query_seconds() + MARGIN
    assert db.is_unresponsive(frozen_alias)


def test_a_kept_connection_that_no_longer_answers_fails_its_health_check_quickly(
    frozen_alias, relay
):
    assert select_one(frozen_alias) == 1
    connections[frozen_alias].health_check_done = False  # a new request
    relay.freeze()

    started = time.monotonic()
    with pytest.raises(DatabaseError), bounded():
        select_one(frozen_alias)
    elapsed = time.monotonic() - started

    # The health check is cut, and the reconnection is not even tried: the database is left
    # alone for a while.
    assert elapsed < db.HEALTH_CHECK_SECONDS + MARGIN


def test_a_database_left_alone_fails_at_once_then_is_asked_again(frozen_alias, relay, options):
    options(STATEMENT_TIMEOUT_MS=1000, UNRESPONSIVE_PAUSE_SECONDS=1)
    db.mark_unresponsive(frozen_alias)

    started = time.monotonic()
    with pytest.raises(DatabaseUnresponsive, match="unanswered moments ago"), bounded():
        select_one(frozen_alias)
    assert time.monotonic() - started < 0.2

    time.sleep(1.1)
    with bounded():
        assert select_one(frozen_alias) == 1


def test_connecting_to_a_frozen_server_ends_with_connect_timeout(frozen_alias, relay):
    relay.freeze()  # new connections are accepted by the kernel, answered by nobody

    started = time.monotonic()
    with pytest.raises(DatabaseError), bounded():
        select_one(frozen_alias)
    elapsed = time.monotonic() - started

    assert 2.0 <= elapsed < 2.0 + MARGIN
    assert db.is_unresponsive(frozen_alias)


def test_outside_bounded_nothing_changes(frozen_alias, relay):
    """A host project's own queries are not cut: the bounds are the app's doors'."""
    assert select_one(frozen_alias) == 1
    db.mark_unresponsive(frozen_alias)
    assert select_one(frozen_alias) == 1  # not refused outside bounded()


def test_a_watchdog_that_is_disarmed_in_time_cuts_nothing(frozen_alias):
    assert select_one(frozen_alias) == 1
    raw = connections[frozen_alias].connection
    with bounded_by(raw, 5.0) as cut:
        raw.execute("SELECT 1")
    assert cut == [False]
    assert raw.execute("SELECT 2").fetchone() == (2,)
