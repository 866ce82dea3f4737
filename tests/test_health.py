"""``/healthz``: the status for everyone, the details for staff and for the metrics readers."""

import shutil
import subprocess
from pathlib import Path

import pytest
from django.db import connections
from django.db.backends.sqlite3.base import DatabaseWrapper as SQLiteWrapper
from django.test.utils import CaptureQueriesContext

import reception_stats
from reception_stats import health

pytestmark = pytest.mark.django_db

OUTSIDE = {"REMOTE_ADDR": "10.0.0.7"}
DETAILS = {"status", "database", "django_database", "schema", "enabled", "version", "revision"}


@pytest.fixture
def empty_database(options, tmp_path):
    """The KPI queries pointed at a database that answers but holds none of Recyclic's tables."""
    alias = "empty"
    settings_dict = {
        **connections["default"].settings_dict,
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(tmp_path / "empty.sqlite3"),
        "TEST": {},
        "OPTIONS": {},
    }
    connections[alias] = SQLiteWrapper(settings_dict, alias)
    options(DATABASE=alias)
    yield alias
    connections[alias].close()
    del connections[alias]


def test_anonymous_callers_get_the_status_only(client):
    response = client.get("/healthz", **OUTSIDE)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_metrics_readers_get_the_details(client):
    response = client.get("/healthz")  # from 127.0.0.1, on the default allow-list
    body = response.json()
    assert set(body) == DETAILS
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert body["schema"] == "ok"
    assert body["enabled"] is True
    assert body["version"] == reception_stats.__version__
    assert body["revision"]


def test_the_metrics_token_gets_the_details(client, options):
    options(METRICS_TOKEN="jeton-de-test-0123456789")
    response = client.get(
        "/healthz", **OUTSIDE, HTTP_AUTHORIZATION="Bearer jeton-de-test-0123456789"
    )
    assert set(response.json()) == DETAILS


def test_staff_get_the_details_but_not_other_users(client, staff_user, plain_user):
    client.force_login(plain_user)
    assert client.get("/healthz", **OUTSIDE).json() == {"status": "ok"}
    client.force_login(staff_user)
    assert set(client.get("/healthz", **OUTSIDE).json()) == DETAILS


def test_flag_off_is_healthy_and_says_so(client, settings):
    settings.LIVE_RECEPTION_STATS_ENABLED = False
    body = client.get("/healthz").json()
    assert body["status"] == "ok"
    assert body["enabled"] is False


def test_unreachable_database_answers_503_without_a_traceback(client, unreachable_database):
    response = client.get("/healthz", **OUTSIDE)
    assert response.status_code == 503
    assert response.json() == {"status": "error"}
    assert response["Retry-After"] == "30"

    details = client.get("/healthz").json()
    assert details["status"] == "error"
    assert details["database"] == "unreachable"
    assert details["schema"] == "unknown"
    assert "Traceback" not in client.get("/healthz").content.decode()


def test_a_database_without_recyclic_tables_is_degraded_with_the_problems(client, empty_database):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["database"] == "ok"
    assert isinstance(body["schema"], list)
    assert any(problem.startswith("reception_stats.W010: ") for problem in body["schema"])
    assert any("sites" in problem for problem in body["schema"])
    # Anonymous callers get the status from that check's result.
    assert client.get("/healthz", **OUTSIDE).json() == {"status": "degraded"}


def test_anonymous_callers_never_make_the_database_check_its_schema(client, empty_database):
    with CaptureQueriesContext(connections[empty_database]) as anonymous:
        body = client.get("/healthz", **OUTSIDE).json()

    # No check has run yet: the status says what is known, the database answers.
    assert body == {"status": "ok"}
    assert [query["sql"] for query in anonymous.captured_queries] == ["SELECT 1"]


def test_the_schema_is_checked_at_most_once_a_minute(client, empty_database):
    with CaptureQueriesContext(connections[empty_database]) as first:
        client.get("/healthz")
    with CaptureQueriesContext(connections[empty_database]) as second:
        client.get("/healthz")
    assert len(first) > 1
    assert [query["sql"] for query in second.captured_queries] == ["SELECT 1"]


def test_health_is_never_cached(client):
    assert "no-store" in client.get("/healthz")["Cache-Control"]


def test_revision_from_the_environment(monkeypatch):
    monkeypatch.setenv("GIT_REVISION", "0123abcd")
    assert health.revision() == "0123abcd"


def test_revision_from_the_checkout(monkeypatch):
    monkeypatch.delenv("GIT_REVISION", raising=False)
    root = Path(health.__file__).resolve().parent.parent
    if not shutil.which("git") or not (root / ".git").exists():
        pytest.skip("not a git checkout")
    expected = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert health.revision() == expected


def test_revision_outside_a_checkout_is_unknown(monkeypatch, tmp_path):
    monkeypatch.delenv("GIT_REVISION", raising=False)
    monkeypatch.setattr(health, "__file__", str(tmp_path / "reception_stats" / "health.py"))
    health._checkout_revision.cache_clear()
    try:
        assert health.revision() == "unknown"
    finally:
        health._checkout_revision.cache_clear()
