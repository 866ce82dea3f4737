"""The cache every door goes through: one entry per question, stale-while-revalidate.

Queries are counted on the real database; a failing database is simulated with
``connection.execute_wrapper``, which refuses the queries on Recyclic's tables only. Entries are
aged by replacing the cache's clock, never by sleeping. Another gunicorn worker is played by the
test writing to the shared cache (a real Redis, or the in-process cache) as that worker would.
"""

import logging
import re
import threading
import time
from contextlib import contextmanager
from datetime import UTC, timedelta
from decimal import Decimal
from uuid import uuid4

import environ
import pytest
from django.core.cache import caches
from django.db import OperationalError, connection, connections
from django.test.utils import CaptureQueriesContext

from reception_stats import cache as stats_cache
from reception_stats import snapshot as stats_snapshot
from reception_stats.cache import get_snapshot, peek
from reception_stats.kpis import SiteNotFound
from reception_stats.models import RECYCLIC_MODELS
from reception_stats.snapshot import Question
from tests.recipes import NOW, build_worked_example, make_poste, make_site, make_ticket
from tests.services import REDIS_URL, redis_listens

pytestmark = pytest.mark.django_db

DEAD_REDIS = {
    "BACKEND": "django.core.cache.backends.redis.RedisCache",
    "LOCATION": "redis://127.0.0.1:1/0",
}
RECYCLIC_TABLES = tuple(f'"{model._meta.db_table}"' for model in RECYCLIC_MODELS)


def recyclic_queries(captured) -> list[str]:
    return [
        q["sql"] for q in captured.captured_queries if any(t in q["sql"] for t in RECYCLIC_TABLES)
    ]


@contextmanager
def database_down():
    """Every query on a Recyclic table fails as when the server has gone away."""

    def refuse(execute, sql, params, many, context):
        if any(table in sql for table in RECYCLIC_TABLES):
            raise OperationalError("server closed the connection unexpectedly")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(refuse):
        yield


class Clock:
    """The cache's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch):
    fake = Clock()
    monkeypatch.setattr(stats_cache, "clock", fake)
    return fake


@pytest.fixture(autouse=True)
def _cache_available():
    """A test that broke the cache must not leave the next one without it."""
    stats_cache._paused_until = 0.0
    yield
    stats_cache._paused_until = 0.0


def key_of(window="24h", site=None, at=NOW, compare=None) -> str:
    return Question(window, site, at, compare).key()


def claim_of(key: str) -> str:
    return f"{key}:computing"


# --- hits and keys --------------------------------------------------------------------------


def test_first_call_computes_then_the_cache_answers_without_a_query():
    build_worked_example()

    first = get_snapshot("24h", at=NOW)
    with CaptureQueriesContext(connection) as captured:
        second = get_snapshot("24h", at=NOW)

    assert first.outcome == "computed"
    assert second.outcome == "cached"
    assert recyclic_queries(captured) == []
    assert second.snapshot == first.snapshot
    assert second.snapshot.stats.tickets_open == 1
    assert second.stale is False


def test_figures_and_breakdown_are_one_entry_with_one_generated_at():
    poste = make_poste(NOW - timedelta(hours=2))
    make_ticket(poste, lines=["4.5"])

    served = get_snapshot("24h", at=NOW)

    assert served.snapshot.breakdown.generated_at == served.snapshot.stats.generated_at
    assert sum(hour.weight_in for hour in served.snapshot.breakdown.hours) == Decimal("4.5")
    assert served.snapshot.stats.weight_in == Decimal("4.500")


def test_each_question_has_its_own_key():
    site = make_site()
    get_snapshot("24h", at=NOW)

    assert get_snapshot("today", at=NOW).outcome == "computed"
    assert get_snapshot("24h", site=site.pk, at=NOW).outcome == "computed"
    assert get_snapshot("24h", at=NOW - timedelta(minutes=1)).outcome == "computed"
    assert get_snapshot("24h", at=NOW, compare="week").outcome == "computed"
    assert get_snapshot("24h").outcome == "computed"


def test_the_same_site_and_moment_written_differently_share_a_key():
    site = uuid4()
    assert key_of(site=site, at=NOW) == key_of(site=str(site), at=NOW.astimezone(UTC))
    assert key_of(at=None).endswith(":all:now:-")


def test_moments_within_the_same_second_share_an_answer():
    build_worked_example()
    first = get_snapshot("24h", at=NOW + timedelta(milliseconds=120))
    second = get_snapshot("24h", at=NOW + timedelta(milliseconds=480))

    assert (first.outcome, second.outcome) == ("computed", "cached")
    assert key_of(at=NOW + timedelta(milliseconds=999)) == key_of(at=NOW)
    assert first.snapshot.stats.period_end == NOW


def test_flag_off_runs_no_query_and_caches_nothing(settings):
    build_worked_example()
    settings.LIVE_RECEPTION_STATS_ENABLED = False

    with CaptureQueriesContext(connection) as captured:
        off = get_snapshot("24h", at=NOW)
    settings.LIVE_RECEPTION_STATS_ENABLED = True
    on = get_snapshot("24h", at=NOW)

    assert captured.captured_queries == []
    assert off.outcome == "disabled"
    assert off.snapshot.stats.enabled is False
    assert off.snapshot.stats.tickets_open == 0
    # Turning the flag back on is instant: the zeros were never stored.
    assert on.outcome == "computed"
    assert on.snapshot.stats.tickets_open == 1


def test_an_unknown_site_is_not_cached_and_says_so():
    site = uuid4()

    with pytest.raises(SiteNotFound):
        get_snapshot("24h", site=site)
    make_site(id=site)

    assert get_snapshot("24h", site=site).outcome == "computed"


# --- stale-while-revalidate -------------------------------------------------------------------


def test_an_entry_older_than_the_cache_timeout_is_computed_again(clock, options):
    build_worked_example()
    options(CACHE_TIMEOUT=10)
    first = get_snapshot("24h", at=NOW)
    clock.advance(9)
    assert get_snapshot("24h", at=NOW).outcome == "cached"
    clock.advance(2)

    again = get_snapshot("24h", at=NOW)

    assert again.outcome == "computed"
    assert again.snapshot.stats.generated_at >= first.snapshot.stats.generated_at
    # The claim was given back once the new figures were stored.
    assert caches["default"].get(claim_of(key_of())) is None


def test_while_another_caller_refreshes_the_entry_is_served_at_once(clock, options):
    build_worked_example()
    options(CACHE_TIMEOUT=10)
    first = get_snapshot("24h", at=NOW)
    clock.advance(11)
    assert caches["default"].add(claim_of(key_of()), "another-worker", 30)

    with CaptureQueriesContext(connection) as captured:
        served = get_snapshot("24h", at=NOW)

    assert served.outcome == "cached"
    assert served.stale is False
    assert served.snapshot == first.snapshot
    assert recyclic_queries(captured) == []


def test_a_failed_refresh_serves_the_entry_stale_to_everyone(clock, options, caplog):
    build_worked_example()
    options(CACHE_TIMEOUT=10)
    good = get_snapshot("24h", at=NOW)
    clock.advance(11)

    with database_down(), caplog.at_level(logging.WARNING, logger="reception_stats"):
        refresher = get_snapshot("24h", at=NOW, source="admin")
        with CaptureQueriesContext(connection) as captured:
            other = get_snapshot("24h", at=NOW)

    assert (refresher.outcome, other.outcome) == ("stale", "stale")
    assert refresher.snapshot == other.snapshot == good.snapshot
    # One caller tried the database; the claim it kept spares the others the wait.
    assert recyclic_queries(captured) == []
    assert caches["default"].get(claim_of(key_of())) is not None
    assert "admin: the database failed (OperationalError); serving the figures of" in caplog.text


def test_after_a_failure_the_next_try_comes_a_cache_timeout_later(clock, options):
    build_worked_example()
    options(CACHE_TIMEOUT=10)
    get_snapshot("24h", at=NOW)
    clock.advance(11)
    with database_down():
        assert get_snapshot("24h", at=NOW).outcome == "stale"
    # The database is back, but the claim the failed try kept lasts CACHE_TIMEOUT seconds.
    caches["default"].delete(claim_of(key_of()))  # as Redis would, once they have passed

    back = get_snapshot("24h", at=NOW)

    assert back.outcome == "computed"
    assert get_snapshot("24h", at=NOW).outcome == "cached"


def test_with_cache_timeout_zero_every_call_computes_and_failures_are_stale(options):
    build_worked_example()
    options(CACHE_TIMEOUT=0)
    assert get_snapshot("24h", at=NOW).outcome == "computed"
    good = get_snapshot("24h", at=NOW)
    assert good.outcome == "computed"

    with database_down():
        stale = get_snapshot("24h", at=NOW)
    assert (stale.outcome, stale.snapshot) == ("stale", good.snapshot)
    # No claim is kept: the next call tries the database again.
    assert caches["default"].get(claim_of(key_of())) is None
    assert get_snapshot("24h", at=NOW).outcome == "computed"


def test_database_failure_without_an_entry_raises():
    with database_down(), pytest.raises(OperationalError):
        get_snapshot("24h", at=NOW)


def test_an_entry_older_than_stale_max_is_not_served(clock, options):
    options(CACHE_TIMEOUT=10, STALE_MAX=300)
    get_snapshot("24h", at=NOW)
    clock.advance(299)
    with database_down():
        assert get_snapshot("24h", at=NOW).outcome == "stale"
    clock.advance(2)
    caches["default"].delete(claim_of(key_of()))

    with database_down(), pytest.raises(OperationalError):
        get_snapshot("24h", at=NOW)


def test_a_cold_key_asked_by_twenty_threads_is_computed_once(transactional_db, monkeypatch):
    # Committed rows, so that the callers' own connections see them.
    build_worked_example()
    computations = []
    real_compute = stats_cache.compute_snapshot

    def counted_compute(question):
        computations.append(threading.get_ident())
        time.sleep(0.2)  # long enough for every other caller to arrive and wait
        return real_compute(question)

    monkeypatch.setattr(stats_cache, "compute_snapshot", counted_compute)
    start = threading.Barrier(20)
    results, errors = [], []

    def caller():
        try:
            start.wait()
            results.append(get_snapshot("24h", at=NOW))
        except Exception as error:  # collected, so that the test reports it
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=caller) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(computations) == 1
    assert sorted(result.outcome for result in results) == ["cached"] * 19 + ["computed"]
    assert {result.snapshot.generated_at for result in results} == {
        results[0].snapshot.generated_at
    }
    assert stats_cache._locks._locks == {}


# --- comparison -------------------------------------------------------------------------------


def test_compare_week_adds_last_weeks_snapshot():
    last_week = NOW - timedelta(days=7)
    poste = make_poste(last_week - timedelta(hours=2))
    make_ticket(poste, lines=["12"])

    served = get_snapshot("today", at=NOW, compare="week")

    previous = served.snapshot.previous
    assert previous is not None
    assert previous.stats.period_end == last_week
    # A week ago that ticket was open on a poste of the day; now it is abandoned.
    assert previous.stats.tickets_open == 1
    assert previous.stats.weight_in == Decimal("12.000")
    assert served.snapshot.stats.tickets_open == 0
    assert served.snapshot.stats.weight_in == Decimal("0.000")
    assert served.snapshot.previous.previous is None


# --- /metrics reads, never computes -----------------------------------------------------------


def test_peek_never_computes(clock):
    build_worked_example()
    with CaptureQueriesContext(connection) as captured:
        assert peek("24h") is None
    assert captured.captured_queries == []
    served = get_snapshot("24h", compare="week")

    assert peek("24h") == served.snapshot
    assert peek("today") is None
    clock.advance(301)
    assert peek("24h") is None


# --- the cache server failing -----------------------------------------------------------------


def test_a_failing_cache_is_bypassed_and_left_alone_for_a_while(settings, caplog):
    settings.CACHES = {"default": {**DEAD_REDIS}}
    build_worked_example()

    # at_level attaches caplog to the app's logger, which does not propagate to the root one.
    with caplog.at_level(logging.WARNING, logger="reception_stats"):
        first = get_snapshot("24h", at=NOW, source="admin")
        second = get_snapshot("24h", at=NOW)

    assert (first.outcome, second.outcome) == ("computed", "computed")
    assert second.snapshot.stats.tickets_open == 1
    warnings = [r.getMessage() for r in caplog.records if r.name == "reception_stats.cache"]
    # One warning: after the first failure the process leaves the cache alone for a while.
    assert len(warnings) == 1
    assert warnings[0].startswith("admin: cache 'default' unavailable (ConnectionError")
    assert stats_cache.cache_available() is False


# --- across processes: the claim in a shared cache --------------------------------------------


@pytest.fixture(params=["locmem", "redis"])
def shared_cache(request, settings):
    """The default cache, as gunicorn's workers share it: Redis (real server), or in-process."""
    if request.param == "redis":
        if not redis_listens():
            pytest.skip("no Redis server on 127.0.0.1:6379")
        settings.CACHES = {"default": environ.Env.cache_url_config(REDIS_URL)}
    cache = caches["default"]
    cache.clear()
    yield cache
    cache.clear()


def test_the_claim_is_taken_while_refreshing_and_given_back_after(
    shared_cache, clock, options, monkeypatch
):
    build_worked_example()
    options(CACHE_TIMEOUT=10)
    get_snapshot("24h", at=NOW)
    clock.advance(11)
    claims_seen = []
    real_compute = stats_cache.compute_snapshot

    def watched_compute(question):
        claims_seen.append(shared_cache.get(claim_of(key_of())))
        return real_compute(question)

    monkeypatch.setattr(stats_cache, "compute_snapshot", watched_compute)
    assert get_snapshot("24h", at=NOW).outcome == "computed"

    assert len(claims_seen) == 1
    assert re.fullmatch(r"[0-9a-f]{32}", claims_seen[0])
    assert shared_cache.get(claim_of(key_of())) is None


def test_another_workers_claim_means_no_computation_here(shared_cache, clock, options):
    build_worked_example()
    options(CACHE_TIMEOUT=10)
    first = get_snapshot("24h", at=NOW)
    clock.advance(11)
    assert shared_cache.add(claim_of(key_of()), "another-worker", 30)

    with CaptureQueriesContext(connection) as captured:
        served = get_snapshot("24h", at=NOW)

    assert (served.outcome, served.snapshot) == ("cached", first.snapshot)
    assert recyclic_queries(captured) == []
    assert shared_cache.get(claim_of(key_of())) == "another-worker"


def test_the_claim_lasts_as_long_as_a_computation_may(shared_cache, clock, options):
    """A worker that died while refreshing holds the claim no longer than its statements may
    take, after which another worker refreshes."""
    options(CACHE_TIMEOUT=10, STATEMENT_TIMEOUT_MS=1000)
    build_worked_example()
    get_snapshot("24h", at=NOW)
    clock.advance(11)
    taken = {}
    real_add = stats_cache.Store.add

    def watched_add(store, key, value, timeout):
        taken[key] = timeout
        return real_add(store, key, value, timeout)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(stats_cache.Store, "add", watched_add)
        get_snapshot("24h", at=NOW)

    # 9 statements at most, each cut by the client 0.5 s after its 1 s statement timeout.
    assert taken == {claim_of(key_of()): 14}
    assert stats_snapshot.MAX_STATEMENTS == 9
