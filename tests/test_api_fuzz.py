"""Hostile input: Schemathesis fuzzes the API from its own OpenAPI schema, as a manager.

The schema is the one ``/api/schema/`` serves, generated in-process (the URL itself needs a
login, and the database is not open while tests are collected); every request goes in-process
through the project's WSGI application, with Django's whole request cycle (middleware,
connection handling), as gunicorn would run it. Schemathesis generates valid and invalid
values for each parameter (windows, UUIDs, dates, strings of every kind); whatever it sends,
the API must never answer a 5xx. Bounded: ``MAX_EXAMPLES`` per operation, no deadline.
"""

import json

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error

from tests.recipes import build_worked_example, make_site

MAX_EXAMPLES = 100

# Committed rows and Django's own request cycle (which closes connections between requests):
# a transactional test, as the app runs outside the tests.
pytestmark = pytest.mark.django_db(transaction=True)


def _served_schema():
    """What /api/schema/ serves, rendered as it renders it, and the app to send requests to."""
    raw = SchemaGenerator().get_schema(request=None, public=True)
    loaded = schemathesis.openapi.from_dict(json.loads(OpenApiJsonRenderer().render(raw)))
    loaded.app = WSGIHandler()
    loaded.location = "/api/schema/"
    return loaded


# Built when the module is collected. (Schemathesis' lazy ``from_fixture`` loader does not work
# with pytest 9.)
schema = _served_schema()


@pytest.fixture
def recyclic_rows(settings):
    # Throttling would answer 429 after 120 cases: it is tested elsewhere.
    settings.RECEPTION_STATS = {**settings.RECEPTION_STATS, "THROTTLE_RATE": None}
    build_worked_example()
    make_site()


@pytest.fixture
def manager_token(manager):
    return Token.objects.create(user=manager).key


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_no_input_makes_the_api_fail(case, recyclic_rows, manager_token):
    response = case.call(headers={"Authorization": f"Token {manager_token}"})

    case.validate_response(response, checks=[not_a_server_error])
    # The documented answers (422 is Recyclic's own endpoint's, in Recyclic's form), and 405
    # for the other methods Schemathesis also tries.
    assert response.status_code in (200, 400, 404, 405, 422), response.text


@pytest.mark.parametrize("at", ["0001-01-01T00:04:00Z", "1969-12-31T23:59:59Z"])
def test_a_moment_before_1970_is_refused_not_a_500(client, manager, at):
    """The first case Schemathesis found: year 1 has no "24 hours before"."""
    client.force_login(manager)

    response = client.get("/api/v1/reception/stats/live", {"at": at}, HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 400
    assert response.json() == {
        "at": ["This moment is too far in the past; give one after 1970-01-01."]
    }
