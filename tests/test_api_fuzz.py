"""Hostile input: Schemathesis fuzzes the API from its own OpenAPI schema, as a staff user.

The schema is read from ``/api/schema/`` and every request goes in-process through the project's
WSGI application, with Django's whole request cycle (middleware, connection handling), as
gunicorn would run it. Schemathesis generates valid and invalid values for each parameter
(windows, UUIDs, dates, strings of every kind); whatever it sends, the API must never answer a
5xx. Bounded: ``MAX_EXAMPLES`` per operation, no deadline.
"""

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error

from tests.recipes import build_worked_example, make_site

MAX_EXAMPLES = 100

# Committed rows and Django's own request cycle (which closes connections between requests):
# a transactional test, as the app runs outside the tests.
pytestmark = pytest.mark.django_db(transaction=True)


# Read when the module is collected: the schema view needs no database. (Schemathesis' lazy
# ``from_fixture`` loader does not work with pytest 9.)
schema = schemathesis.openapi.from_wsgi("/api/schema/", WSGIHandler())


@pytest.fixture
def recyclic_rows(settings):
    # Throttling would answer 429 after 120 cases: it is tested elsewhere.
    settings.RECEPTION_STATS = {**settings.RECEPTION_STATS, "THROTTLE_RATE": None}
    build_worked_example()
    make_site()


@pytest.fixture
def staff_token(staff_user):
    return Token.objects.create(user=staff_user).key


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_no_input_makes_the_api_fail(case, recyclic_rows, staff_token):
    response = case.call(headers={"Authorization": f"Token {staff_token}"})

    case.validate_response(response, checks=[not_a_server_error])
    # The documented answers, and 405 for the other methods Schemathesis also tries.
    assert response.status_code in (200, 400, 404, 405), response.text


@pytest.mark.parametrize("at", ["0001-01-01T00:04:00Z", "1969-12-31T23:59:59Z"])
def test_a_moment_before_1970_is_refused_not_a_500(client, staff_user, at):
    """The first case Schemathesis found: year 1 has no "24 hours before"."""
    client.force_login(staff_user)

    response = client.get("/api/v1/reception/stats/live", {"at": at}, HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 400
    assert response.json() == {
        "at": ["This moment is too far in the past; give one after 1970-01-01."]
    }
