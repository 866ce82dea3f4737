"""``GET /api/v1/reception/stats/live``: figures, errors, cache, flag, throttling and schema.

Everything runs against the real test database; database failures are either simulated with
``connection.execute_wrapper`` (queries on Recyclic's tables refused) or real (a server that
refuses connections). The Redis tests use the server on 127.0.0.1:6379, database 15.
"""

import json
import logging
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import environ
import jsonschema
import pytest
from django.core.cache import caches
from django.core.management import call_command
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext
from drf_spectacular.generators import SchemaGenerator
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from reception_stats.api.serializers import LiveStatsSerializer
from reception_stats.models import RECYCLIC_MODELS
from tests.recipes import NOW, build_worked_example, make_poste, make_site, make_ticket
from tests.services import REDIS_URL, redis_listens

pytestmark = pytest.mark.django_db

URL = "/api/v1/reception/stats/live"
RECYCLIC_TABLES = tuple(f'"{model._meta.db_table}"' for model in RECYCLIC_MODELS)
DEAD_REDIS_URL = "redis://127.0.0.1:1/0"

WORKED_EXAMPLE_24H = {
    "tickets_open": 1,
    "tickets_closed_24h": 2,
    "items_received": 3,
    "weight_in": 19.5,
    "weight_out_exits": 5.0,
    "sales_count": 1,
    "turnover_eur": 75.0,
    "donations_eur": 6.0,
    "last_sale_amount": 75.0,
    "weight_out_sales": 10.0,
    "weight_out": 15.0,
    "window": "24h",
    "period_start": "2026-03-09T15:00:00+01:00",
    "period_end": "2026-03-10T15:00:00+01:00",
    "timezone": "Europe/Paris",
    "site": None,
    "enabled": True,
    "bad_values": {},
    "stale": False,
}
ZEROS = {name: 0 for name in list(WORKED_EXAMPLE_24H)[:11]}


def recyclic_queries(captured) -> list[str]:
    return [
        query["sql"]
        for query in captured.captured_queries
        if any(table in query["sql"] for table in RECYCLIC_TABLES)
    ]


@contextmanager
def database_down(*, all_tables: bool = False):
    """Queries on Recyclic's tables (or on every table) fail as when the server has gone."""

    def refuse(execute, sql, params, many, context):
        if all_tables or any(table in sql for table in RECYCLIC_TABLES):
            raise OperationalError("could not connect to server: password=hunter2")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(refuse):
        yield


# The figures


def test_worked_example_as_json_numbers(api):
    build_worked_example()

    response = api.get(URL, {"at": NOW.isoformat()})

    assert response.status_code == 200
    body = response.json()
    generated_at = body.pop("generated_at")
    assert body == WORKED_EXAMPLE_24H
    assert datetime.fromisoformat(generated_at) <= datetime.now(UTC)
    # Numbers, not strings: money and weights are JSON numbers.
    assert '"turnover_eur":75.0' in response.content.decode()
    assert all(type(body[name]) is float for name in ("weight_in", "donations_eur", "weight_out"))


def test_window_today(api):
    build_worked_example()

    body = api.get(URL, {"window": "today", "at": NOW.isoformat()}).json()

    assert (body["tickets_closed_24h"], body["items_received"], body["weight_in"]) == (1, 2, 17.5)
    assert body["window"] == "today"
    assert body["period_start"] == "2026-03-10T00:00:00+01:00"


def test_one_site(api):
    build_worked_example()
    site = make_site()

    body = api.get(URL, {"site": str(site.pk), "at": NOW.isoformat()}).json()

    assert body["site"] == str(site.pk)
    assert body["tickets_open"] == 0


def test_the_browsable_api_works_for_staff(api):
    response = api.get(URL, HTTP_ACCEPT="text/html")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert "tickets_open" in response.content.decode()


# Bad input, unknown site


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ({"window": "week"}, "window", "Unknown window week: use 24h or today."),
        ({"site": "centre-ville"}, "site", "A site is identified by its UUID (sites.id)."),
        ({"at": "hier"}, "at", "Enter a date and time in ISO 8601"),
        (
            {"at": "2999-01-01T00:00:00+01:00"},
            "at",
            "This moment is in the future; figures exist only up to now.",
        ),
    ],
)
def test_bad_input_answers_400_naming_the_field(api, query, field, message):
    response = api.get(URL, query)

    assert response.status_code == 400
    body = response.json()
    assert list(body) == [field]
    assert body[field][0].startswith(message)


def test_bad_input_is_explained_in_french_by_default(manager):
    client = APIClient()
    client.force_login(manager)

    body = client.get(URL, {"window": "semaine", "site": "x"}).json()

    assert set(body) == {"window", "site"}
    assert "semaine" in body["window"][0]
    assert "Unknown" not in body["window"][0]


def test_unknown_site_answers_404_naming_it(api):
    site = uuid4()

    response = api.get(URL, {"site": str(site)})

    assert response.status_code == 404
    assert response.json() == {"detail": f"Unknown site {site}."}


# Feature flag and cache


def test_flag_off_answers_zeros_without_touching_recyclic_tables(api, settings):
    build_worked_example()
    settings.LIVE_RECEPTION_STATS_ENABLED = False

    with CaptureQueriesContext(connection) as captured:
        response = api.get(URL, {"at": NOW.isoformat()})

    assert response.status_code == 200
    body = response.json()
    assert {name: body[name] for name in ZEROS} == ZEROS
    assert (body["enabled"], body["stale"]) == (False, False)
    assert recyclic_queries(captured) == []

    settings.LIVE_RECEPTION_STATS_ENABLED = True
    assert api.get(URL, {"at": NOW.isoformat()}).json()["tickets_open"] == 1


def test_second_call_within_the_timeout_runs_no_query(api):
    build_worked_example()
    first = api.get(URL, {"at": NOW.isoformat()}).json()

    with CaptureQueriesContext(connection) as captured:
        second = api.get(URL, {"at": NOW.isoformat()}).json()

    assert recyclic_queries(captured) == []
    assert second == first


# Database failures


def test_database_failure_serves_stale_figures_then_503_past_stale_max(api, options):
    build_worked_example()
    options(CACHE_TIMEOUT=0)
    good = api.get(URL, {"at": NOW.isoformat()}).json()

    with database_down():
        stale = api.get(URL, {"at": NOW.isoformat()})
        options(CACHE_TIMEOUT=0, STALE_MAX=0)
        gone = api.get(URL, {"at": NOW.isoformat()})

    assert stale.status_code == 200
    assert stale.json() == {**good, "stale": True}
    assert gone.status_code == 503
    assert gone["Retry-After"] == "30"
    assert gone.json() == {
        "detail": "The statistics are temporarily unavailable. Try again in a moment."
    }


def test_503_in_french_without_the_error_and_with_the_configured_retry_after(options, manager):
    options(RETRY_AFTER=5)
    client = APIClient()
    client.force_login(manager)

    with database_down():
        response = client.get(URL)

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json()["detail"].startswith(
        "Les statistiques sont temporairement indisponibles"
    )
    assert "hunter2" not in response.content.decode()
    assert "OperationalError" not in response.content.decode()


def test_a_database_down_for_authentication_too_answers_503(manager):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=manager).key}")

    with database_down(all_tables=True):
        response = client.get(URL)

    assert response.status_code == 503
    assert "Retry-After" in response


def test_unreachable_database_server_answers_503(api, unreachable_database):
    response = api.get(URL)

    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert set(response.json()) == {"detail"}


def test_unreachable_database_server_serves_the_last_good_figures(
    api, options, unreachable_database
):
    build_worked_example()
    options(CACHE_TIMEOUT=0, DATABASE="default")
    good = api.get(URL, {"at": NOW.isoformat()}).json()
    options(DATABASE=unreachable_database)

    response = api.get(URL, {"at": NOW.isoformat()})

    assert response.status_code == 200
    assert response.json() == {**good, "stale": True}


# Comparison with last week


def test_compare_week_adds_the_same_moment_last_week(api):
    build_worked_example()
    last_week = NOW - timedelta(days=7)
    poste = make_poste(last_week - timedelta(hours=1))
    make_ticket(poste, lines=["8.25"])

    body = api.get(URL, {"at": NOW.isoformat(), "compare": "week"}).json()

    assert body["weight_in"] == 19.5
    assert body["previous"] == {
        **dict.fromkeys(list(WORKED_EXAMPLE_24H)[:11], 0),
        "tickets_open": 1,
        "items_received": 1,
        "weight_in": 8.25,
        "period_start": "2026-03-02T15:00:00+01:00",
        "period_end": "2026-03-03T15:00:00+01:00",
    }
    assert "previous" not in api.get(URL, {"at": NOW.isoformat()}).json()


def test_an_unknown_comparison_is_refused(api):
    response = api.get(URL, {"compare": "year"})

    assert response.status_code == 400
    assert response.json() == {"compare": ["Unknown comparison year: use week."]}


# Throttling


def test_429_beyond_the_rate_per_user(api, options, permitted_user):
    options(THROTTLE_RATE="2/min")

    statuses = [api.get(URL).status_code for _ in range(3)]
    other = APIClient()
    other.force_login(permitted_user)

    assert statuses == [200, 200, 429]
    assert int(api.get(URL)["Retry-After"]) > 0
    assert other.get(URL).status_code == 200


def test_a_per_process_cache_shares_the_rate_among_the_workers(api, options):
    """Two workers counting in their own memory would allow twice the rate."""
    options(THROTTLE_RATE="4/min", WORKERS=2)

    assert [api.get(URL).status_code for _ in range(3)] == [200, 200, 429]


@pytest.mark.skipif(not redis_listens(), reason="no Redis server on 127.0.0.1:6379")
def test_a_shared_cache_counts_the_whole_rate(api, options, settings):
    settings.CACHES = {"default": environ.Env.cache_url_config(REDIS_URL)}
    caches["default"].clear()
    options(THROTTLE_RATE="4/min", WORKERS=2)
    try:
        statuses = [api.get(URL).status_code for _ in range(5)]
    finally:
        caches["default"].clear()

    assert statuses == [200, 200, 200, 200, 429]


def test_with_the_cache_down_the_rate_is_counted_in_the_process(api, options, settings):
    settings.CACHES = {"default": environ.Env.cache_url_config(DEAD_REDIS_URL)}
    options(THROTTLE_RATE="2/min", WORKERS=1)

    statuses = [api.get(URL).status_code for _ in range(3)]

    assert statuses == [200, 200, 429]


# OpenAPI


def test_schema_validates_without_warnings(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "s.yml"))

    assert "/api/v1/reception/stats/live" in (tmp_path / "s.yml").read_text()


def openapi_to_json_schema(node):
    """OpenAPI 3.0's ``nullable`` is not JSON Schema: turn it into a type that admits null."""
    if isinstance(node, dict):
        node = {key: openapi_to_json_schema(value) for key, value in node.items()}
        if node.pop("nullable", False) and "type" in node:
            node["type"] = [node["type"], "null"]
        return node
    if isinstance(node, list):
        return [openapi_to_json_schema(item) for item in node]
    return node


def test_a_real_response_matches_the_schema(api):
    build_worked_example()
    schema = json.loads(json.dumps(SchemaGenerator().get_schema(request=None, public=True)))
    operation = schema["paths"][URL]["get"]
    assert set(operation["responses"]) == {"200", "400", "401", "403", "404", "429", "503"}
    components = openapi_to_json_schema(schema["components"])
    live_stats = {**components["schemas"]["LiveStats"], "additionalProperties": False}

    for query in ({"at": NOW.isoformat()}, {"window": "today"}, {"site": str(make_site().pk)}):
        body = api.get(URL, query).json()
        jsonschema.validate(
            body,
            {**live_stats, "components": components},
            format_checker=jsonschema.FormatChecker(),
        )
        assert set(live_stats["required"]) == set(body)


def test_the_documented_fields_are_exactly_the_answered_ones(api):
    body = api.get(URL).json()
    compared = api.get(URL, {"compare": "week"}).json()

    assert set(LiveStatsSerializer().fields) == set(body) | {"previous"} == set(compared)
    assert set(LiveStatsSerializer().fields["previous"].fields) == set(compared["previous"])


def test_swagger_ui_is_served_with_local_assets(api):
    docs = api.get("/api/docs/")
    schema = api.get("/api/schema/")

    assert docs.status_code == 200
    assert "drf_spectacular_sidecar/swagger-ui-dist" in docs.content.decode()
    assert "cdn.jsdelivr.net" not in docs.content.decode()
    assert schema.status_code == 200


# Redis


@pytest.fixture
def app_log(caplog):
    # The app's logger does not propagate to the root one, where caplog listens by default.
    with caplog.at_level(logging.WARNING, logger="reception_stats"):
        yield caplog


@pytest.mark.skipif(not redis_listens(), reason="no Redis server on 127.0.0.1:6379")
def test_redis_cache_serves_the_second_call(api, settings):
    settings.CACHES = {"default": environ.Env.cache_url_config(REDIS_URL)}
    assert settings.CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    caches["default"].clear()
    build_worked_example()
    try:
        first = api.get(URL, {"at": NOW.isoformat()}).json()
        with CaptureQueriesContext(connection) as captured:
            second = api.get(URL, {"at": NOW.isoformat()}).json()
    finally:
        caches["default"].clear()

    assert recyclic_queries(captured) == []
    assert second == first
    assert first["tickets_open"] == 1


def test_redis_down_still_answers_200_and_logs_a_warning(api, settings, app_log):
    settings.CACHES = {"default": environ.Env.cache_url_config(DEAD_REDIS_URL)}
    build_worked_example()

    response = api.get(URL, {"at": NOW.isoformat()})

    assert response.status_code == 200
    assert response.json()["tickets_open"] == 1
    warnings = [record for record in app_log.records if record.levelno == logging.WARNING]
    # One warning, from the request's first use of the cache (its session): the cache is then
    # left alone, the rate counted in the process and the figures computed without it.
    assert [record.name for record in warnings] == ["reception_stats.cache"]
    assert warnings[0].getMessage().startswith("sessions: cache 'default' unavailable")
