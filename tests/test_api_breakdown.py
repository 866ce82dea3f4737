"""``GET /api/v1/reception/stats/live/breakdown``: the same doors and rules as the figures."""

import json

import jsonschema
import pytest
from drf_spectacular.generators import SchemaGenerator

from reception_stats.api.serializers import BreakdownSerializer
from tests.recipes import NOW, build_worked_example
from tests.test_api import openapi_to_json_schema

pytestmark = pytest.mark.django_db

URL = "/api/v1/reception/stats/live/breakdown"
LIVE = "/api/v1/reception/stats/live"


@pytest.mark.parametrize("window", ["24h", "today"])
def test_breakdown_adds_up_to_the_live_figures(api, window):
    build_worked_example()
    query = {"window": window, "at": NOW.isoformat()}
    figures = api.get(LIVE, query).json()
    breakdown = api.get(URL, query).json()

    def total(items, key):
        return round(sum(item[key] for item in items), 3)

    assert total(breakdown["hours"], "weight_in") == figures["weight_in"]
    assert total(breakdown["hours"], "weight_out") == figures["weight_out"]
    assert total(breakdown["hours"], "turnover_eur") == figures["turnover_eur"]
    assert total(breakdown["categories"], "weight") == figures["weight_in"]
    assert total(breakdown["destinations"], "weight") == round(
        figures["weight_in"] + figures["weight_out_exits"], 3
    )
    assert breakdown["stale"] is False


def test_the_same_doors_guard_it(client, plain_user, permitted_user):
    assert client.get(URL).status_code == 401
    client.force_login(plain_user)
    assert client.get(URL).status_code == 403
    client.force_login(permitted_user)
    assert client.get(URL).status_code == 200


def test_bad_input_and_unknown_site(api):
    assert api.get(URL, {"window": "week"}).status_code == 400
    assert api.get(URL, {"site": "6f1c1f4e-5d55-4a57-9f3e-3c1e2c0d9a10"}).status_code == 404


def test_flag_off(api, settings):
    settings.LIVE_RECEPTION_STATS_ENABLED = False
    body = api.get(URL).json()
    assert body["enabled"] is False
    assert body["categories"] == []


def test_a_real_response_matches_the_schema(api):
    build_worked_example()
    schema = json.loads(json.dumps(SchemaGenerator().get_schema(request=None, public=True)))
    components = openapi_to_json_schema(schema["components"])
    breakdown = {**components["schemas"]["Breakdown"], "additionalProperties": False}
    body = api.get(URL, {"at": NOW.isoformat()}).json()
    compared = api.get(URL, {"at": NOW.isoformat(), "compare": "week"}).json()

    for answer in (body, compared):
        jsonschema.validate(
            answer,
            {**breakdown, "components": components},
            format_checker=jsonschema.FormatChecker(),
        )
    assert set(BreakdownSerializer().fields) == set(body) | {"previous"} == set(compared)
