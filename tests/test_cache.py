"""The short cache every door goes through: hits, one computation at a time, stale copies.

Queries are counted on the real database; a failing database is simulated with
``connection.execute_wrapper``, which refuses the queries on Recyclic's tables only.
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
from reception_stats.cache import cache_key, get_breakdown, get_live_stats
from reception_stats.kpis import SiteNotFound, compute_live_stats
from reception_stats.models import RECYCLIC_MODELS
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


def test_first_call_computes_then_the_cache_answers_without_a_query():
    build_worked_example()

    first = get_live_stats("24h", at=NOW)
    with CaptureQueriesContext(connection) as captured:
        second = get_live_stats("24h", at=NOW)

    assert first.outcome == "computed"
    assert second.outcome == "cached"
    assert recyclic_queries(captured) == []
    assert second.stats == first.stats
    assert second.stats.tickets_open == 1
    assert second.stale is False


def test_each_question_has_its_own_key():
    site = make_site()
    get_live_stats("24h", at=NOW)

    assert get_live_stats("today", at=NOW).outcome == "computed"
    assert get_live_stats("24h", site=site.pk, at=NOW).outcome == "computed"
    assert get_live_stats("24h", at=NOW - timedelta(minutes=1)).outcome == "computed"
    assert get_live_stats("24h").outcome == "computed"


def test_the_same_site_and_moment_written_differently_share_a_key():
    site = uuid4()
    same_moment = NOW.astimezone(UTC)

    assert cache_key("live", "24h", site, NOW) == cache_key("live", "24h", str(site), same_moment)
    assert cache_key("live", "24h", None, None).endswith(":all:now")


def test_expired_figures_are_computed_again(options):
    options(CACHE_TIMEOUT=0)

    assert get_live_stats("24h", at=NOW).outcome == "computed"
    assert get_live_stats("24h", at=NOW).outcome == "computed"


def test_flag_off_runs_no_query_and_caches_nothing(settings):
    build_worked_example()
    settings.LIVE_RECEPTION_STATS_ENABLED = False

    with CaptureQueriesContext(connection) as captured:
        off = get_live_stats("24h", at=NOW)
    settings.LIVE_RECEPTION_STATS_ENABLED = True
    on = get_live_stats("24h", at=NOW)

    assert captured.captured_queries == []
    assert off.outcome == "disabled"
    assert off.stats.enabled is False
    assert off.stats.tickets_open == 0
    # Turning the flag back on is instant: the zeros were never stored.
    assert on.outcome == "computed"
    assert on.stats.tickets_open == 1


def test_an_unknown_site_is_not_cached_and_says_so():
    site = uuid4()

    with pytest.raises(SiteNotFound):
        get_live_stats("24h", site=site)
    make_site(id=site)

    assert get_live_stats("24h", site=site).outcome == "computed"


def test_database_failure_serves_the_last_good_figures_marked_stale(options):
    build_worked_example()
    options(CACHE_TIMEOUT=0)  # the short copy is gone at once; the last good one stays
    good = get_live_stats("24h", at=NOW)

    with database_down():
        served = get_live_stats("24h", at=NOW)

    assert served.outcome == "stale"
    assert served.stale is True
    assert served.stats == good.stats


def test_database_failure_without_a_last_good_copy_raises():
    with database_down(), pytest.raises(OperationalError):
        get_live_stats("24h", at=NOW)


def test_a_last_good_copy_older_than_stale_max_is_not_served(options):
    options(CACHE_TIMEOUT=0)
    get_live_stats("24h", at=NOW)
    options(CACHE_TIMEOUT=0, STALE_MAX=0)

    with database_down(), pytest.raises(OperationalError):
        get_live_stats("24h", at=NOW)


def test_the_last_good_copy_expires_with_stale_max(options):
    options(CACHE_TIMEOUT=0, STALE_MAX=1)
    get_live_stats("24h", at=NOW)
    time.sleep(1.1)

    with database_down(), pytest.raises(OperationalError):
        get_live_stats("24h", at=NOW)


def test_a_failing_cache_backend_is_bypassed_with_a_warning(settings, caplog):
    settings.CACHES = {"default": {**DEAD_REDIS}}
    build_worked_example()

    # at_level attaches caplog to the app's logger, which does not propagate to the root one.
    with caplog.at_level(logging.WARNING, logger="reception_stats"):
        first = get_live_stats("24h", at=NOW, source="metrics")
        second = get_live_stats("24h", at=NOW)

    assert (first.outcome, second.outcome) == ("computed", "computed")
    assert second.stats.tickets_open == 1
    warnings = [r.getMessage() for r in caplog.records if r.name == "reception_stats.cache"]
    # One warning per call: after the first failure the call leaves the cache alone.
    assert len(warnings) == 2
    assert warnings[0].startswith("metrics: cache 'default' unavailable (ConnectionError")


def test_breakdown_goes_through_the_cache_too():
    poste = make_poste(NOW - timedelta(hours=2))
    make_ticket(poste, lines=["4.5"])

    first = get_breakdown("24h", at=NOW)
    second = get_breakdown("24h", at=NOW)

    assert (first.outcome, second.outcome) == ("computed", "cached")
    assert second.stats == first.stats
    assert sum(hour.weight_in for hour in second.stats.hours) == Decimal("4.5")


def test_twenty_simultaneous_callers_cause_one_computation(transactional_db, monkeypatch):
    # Committed rows, so that the callers' own connections see them.
    build_worked_example()
    computations = []
    real_compute = stats_cache.compute_live_stats

    def counted_compute(*args, **kwargs):
        computations.append(threading.get_ident())
        time.sleep(0.2)  # long enough for every other caller to arrive and wait
        return real_compute(*args, **kwargs)

    monkeypatch.setattr(stats_cache, "compute_live_stats", counted_compute)
    start = threading.Barrier(20)
    results, errors = [], []

    def caller():
        try:
            start.wait()
            results.append(get_live_stats("24h", at=NOW))
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
    assert {result.stats.generated_at for result in results} == {results[0].stats.generated_at}
    assert results[0].stats.tickets_open == 1
    assert stats_cache._locks._locks == {}


# --- One computation across processes: the claim in the shared cache --------------------------


@pytest.fixture(params=["locmem", "redis"])
def shared_cache(request, settings):
    """The default cache, as gunicorn's workers share it: Redis (real server), or in-process.

    Another worker is played by the test itself, writing to the cache as that worker would.
    """
    if request.param == "redis":
        if not redis_listens():
            pytest.skip("no Redis server on 127.0.0.1:6379")
        settings.CACHES = {"default": environ.Env.cache_url_config(REDIS_URL)}
    cache = caches["default"]
    cache.clear()
    yield cache
    cache.clear()


def claim_of(key: str) -> str:
    return f"{key}:computing"


def later(seconds: float, action) -> threading.Thread:
    thread = threading.Thread(target=lambda: (time.sleep(seconds), action()))
    thread.start()
    return thread


def test_figures_another_process_computes_are_awaited_not_computed_again(shared_cache):
    build_worked_example()
    figures = compute_live_stats("24h", now=NOW)
    key = cache_key("live", "24h", None, NOW)
    assert shared_cache.add(claim_of(key), 4242, 30)  # another worker is computing

    def the_other_worker_finishes():
        shared_cache.set(key, figures, 10)
        shared_cache.delete(claim_of(key))

    finisher = later(0.3, the_other_worker_finishes)
    started = time.monotonic()
    with CaptureQueriesContext(connection) as captured:
        result = get_live_stats("24h", at=NOW)
    waited = time.monotonic() - started
    finisher.join()

    assert result.outcome == "cached"
    assert result.stats == figures
    assert recyclic_queries(captured) == []
    assert 0.3 <= waited < 1.5


def test_the_claim_is_taken_while_computing_and_given_back_after(shared_cache, monkeypatch):
    build_worked_example()
    key = cache_key("live", "24h", None, NOW)
    claims_seen = []
    real_compute = stats_cache.compute_live_stats

    def watched_compute(*args, **kwargs):
        claims_seen.append(shared_cache.get(claim_of(key)))
        return real_compute(*args, **kwargs)

    monkeypatch.setattr(stats_cache, "compute_live_stats", watched_compute)
    assert get_live_stats("24h", at=NOW).outcome == "computed"

    # This process's own token while it computed, given back afterwards.
    assert len(claims_seen) == 1
    assert re.fullmatch(r"[0-9a-f]{32}", claims_seen[0])
    assert shared_cache.get(claim_of(key)) is None


def test_the_figures_are_stored_before_the_claim_is_given_back(shared_cache, monkeypatch):
    # Otherwise a process waiting for them would find neither figures nor claim, and compute.
    build_worked_example()
    key = cache_key("live", "24h", None, NOW)
    stored_at_release = []
    real_release = stats_cache._release

    def watched_release(released_key, token):
        stored_at_release.append((released_key, shared_cache.get(released_key) is not None))
        real_release(released_key, token)

    monkeypatch.setattr(stats_cache, "_release", watched_release)
    assert get_live_stats("24h", at=NOW).outcome == "computed"
    assert stored_at_release == [(key, True)]


def test_another_process_claim_is_left_alone(shared_cache):
    # A process that ran past its claim's lifetime must not delete the claim another one took.
    key = cache_key("live", "24h", None, NOW)
    shared_cache.set(claim_of(key), "the-next-process-token", 30)
    stats_cache._release(key, "an-older-token")
    assert shared_cache.get(claim_of(key)) == "the-next-process-token"


@pytest.mark.parametrize("setting", ["cache off", "flag off"])
def test_no_claim_without_the_cache_or_with_the_flag_off(shared_cache, options, settings, setting):
    build_worked_example()
    if setting == "cache off":
        options(CACHE_TIMEOUT=0)
    else:
        settings.LIVE_RECEPTION_STATS_ENABLED = False
    key = cache_key("live", "24h", None, NOW)
    assert shared_cache.add(claim_of(key), "another-process", 30)

    started = time.monotonic()
    result = get_live_stats("24h", at=NOW)

    assert result.outcome == ("computed" if setting == "cache off" else "disabled")
    assert time.monotonic() - started < 0.5  # nobody waited for the other process's claim
    assert shared_cache.get(claim_of(key)) == "another-process"


def test_a_failed_computation_gives_the_claim_back(shared_cache):
    key = cache_key("live", "24h", None, NOW)
    with database_down(), pytest.raises(OperationalError):
        get_live_stats("24h", at=NOW)
    assert shared_cache.get(claim_of(key)) is None


def test_a_process_that_ended_without_figures_hands_the_claim_over(shared_cache):
    build_worked_example()
    key = cache_key("live", "24h", None, NOW)
    assert shared_cache.add(claim_of(key), 4242, 30)
    # That worker's database failed: it gives the claim back, with no figures.
    releaser = later(0.2, lambda: shared_cache.delete(claim_of(key)))
    started = time.monotonic()
    result = get_live_stats("24h", at=NOW)
    waited = time.monotonic() - started
    releaser.join()

    assert result.outcome == "computed"
    assert result.stats.tickets_open == 1
    assert 0.2 <= waited < 1.5
    assert shared_cache.get(claim_of(key)) is None


def test_a_claim_held_too_long_delays_by_its_lifetime_at_most(shared_cache, options, caplog):
    # A worker that died or hangs while computing: its claim outlives any statement.
    # Its lifetime, and the wait: 6 statements of 0.1 s, rounded up to Redis' whole second.
    options(STATEMENT_TIMEOUT_MS=100)
    assert stats_cache.claim_seconds() == 1
    build_worked_example()
    key = cache_key("live", "24h", None, NOW)
    assert shared_cache.add(claim_of(key), 4242, 60)

    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="reception_stats"):
        result = get_live_stats("24h", at=NOW, source="admin")
    waited = time.monotonic() - started

    assert result.outcome == "computed"
    assert 1.0 <= waited < 2.5
    assert f"admin: other processes have been computing {key} for 1 s" in caplog.text
    # The other worker's claim is left to expire: it is not this process's to give back.
    assert shared_cache.get(claim_of(key)) == 4242
