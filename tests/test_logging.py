"""One structured log line per request for figures, as the project's LOGGING writes it."""

import json
import logging
import subprocess
from io import StringIO
from uuid import uuid4

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from pythonjsonlogger.json import JsonFormatter

from reception_stats.kpis import compute_live_stats
from reception_stats.metrics import observe
from tests.processes import environment_without, manage_py
from tests.recipes import make_site

pytestmark = pytest.mark.django_db

FIELDS = {"event", "source", "window", "site", "outcome", "duration_ms", "query_count"}


@pytest.fixture
def app_log(caplog):
    # The app's logger does not propagate to the root one, where caplog listens by default.
    with caplog.at_level(logging.DEBUG, logger="reception_stats"):
        yield caplog


def lines_of(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if getattr(r, "event", None) == "reception_live_stats"]


def test_one_line_per_computation_with_its_fields(app_log):
    site = make_site()
    call_command("reception_stats", "--window", "today", "--site", str(site.id), stdout=StringIO())

    (record,) = lines_of(app_log)
    assert record.levelno == logging.INFO
    assert record.name == "reception_stats.metrics"
    assert record.source == "command"
    assert record.window == "today"
    assert record.site == str(site.id)
    assert record.outcome == "computed"
    assert isinstance(record.duration_ms, float)
    assert record.query_count == 1  # one statement, the site's check included


def test_the_json_formatter_of_the_settings_writes_one_object_per_line(app_log):
    with observe("api", "24h") as observation:
        compute_live_stats("24h")
        observation.outcome = "computed"
    (record,) = lines_of(app_log)

    options = {k: v for k, v in django_settings.LOGGING["formatters"]["json"].items() if k != "()"}
    line = JsonFormatter(**options).format(record)
    assert "\n" not in line
    data = json.loads(line)
    assert set(data) >= FIELDS
    assert data["event"] == "reception_live_stats"
    assert data["site"] is None
    assert data["level"] == "INFO"
    assert data["logger"] == "reception_stats.metrics"
    assert "timestamp" in data
    assert data["query_count"] == 1


def test_cache_hits_log_at_debug_and_failures_at_warning(app_log):
    with observe("api", "24h") as observation:
        observation.outcome = "cached"
    with pytest.raises(RuntimeError), observe("admin", "24h"):
        raise RuntimeError("bug")
    cached, failed = lines_of(app_log)
    assert cached.levelno == logging.DEBUG
    assert failed.levelno == logging.WARNING
    assert (failed.outcome, failed.error_kind) == ("error", "other")


def test_a_site_that_is_not_a_uuid_is_not_echoed(app_log):
    with pytest.raises(ValueError), observe("api", "24h", "<script>jean.dupont@example.org"):
        compute_live_stats("24h", "<script>jean.dupont@example.org")
    (record,) = lines_of(app_log)
    assert record.site == "invalid"
    assert record.error_kind == "invalid_input"


# --- the project's LOGGING, in a real process -------------------------------------------------


def run_command(tmp_path, *args: str, **env: str) -> subprocess.CompletedProcess:
    """``manage.py reception_stats`` with the flag off, so that no table is needed."""
    environment = environment_without(
        ("LOG_FORMAT", "RECEPTION_STATS_LOG_LEVEL"),
        DJANGO_SETTINGS_MODULE="recyclic.settings",
        SECRET_KEY="tests-only",
        DATABASE_URL=f"sqlite:///{tmp_path / 'unused.sqlite3'}",
        LIVE_RECEPTION_STATS_ENABLED="false",
        **env,
    )
    return manage_py("reception_stats", *args, environment=environment)


def test_json_logs_go_to_stderr_and_leave_the_commands_json_alone(tmp_path):
    done = run_command(tmp_path, "--format", "json", "--site", str(uuid4()))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["enabled"] is False  # stdout is the command's JSON only
    (line,) = [json.loads(line) for line in done.stderr.splitlines()]
    assert set(line) >= FIELDS
    assert line["event"] == "reception_live_stats"
    assert (line["source"], line["outcome"], line["query_count"]) == ("command", "disabled", 0)


def test_plain_logs_on_request(tmp_path):
    done = run_command(tmp_path, LOG_FORMAT="plain")
    assert done.returncode == 0, done.stderr
    (line,) = done.stderr.splitlines()
    assert " INFO reception_stats.metrics reception_live_stats source=command window=24h" in line


def test_the_level_comes_from_the_environment(tmp_path):
    done = run_command(tmp_path, RECEPTION_STATS_LOG_LEVEL="WARNING")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


def test_an_unknown_log_format_is_refused(tmp_path):
    done = run_command(tmp_path, LOG_FORMAT="xml")
    assert done.returncode != 0
    assert "LOG_FORMAT must be json or plain" in done.stderr


def test_djangos_line_for_a_deliberate_503_is_dropped_a_500_kept():
    """During an outage every answer is a 503 with Retry-After, logged by the app at WARNING:
    Django's ERROR line for each would flood the log; a 500 still gets Django's line."""
    request_logger = logging.getLogger("django.request")

    def record(status: int) -> logging.LogRecord:
        made = request_logger.makeRecord(
            "django.request", logging.ERROR, __file__, 1, "Service Unavailable: %s", ("/",), None
        )
        made.status_code = status
        return made

    assert not request_logger.filter(record(503))
    assert request_logger.filter(record(500))


def test_a_clients_bad_request_is_a_warning_without_traceback():
    """A foreign Host header or a body too large: Django logs them at ERROR with a traceback;
    anyone can send them, so they are the client's 400 at WARNING, not an alert."""
    handler = next(h for h in logging.getLogger("django.security").handlers if h.filters)
    try:
        raise ValueError("Invalid HTTP_HOST header: 'evil.example'.")
    except ValueError as error:
        record = logging.getLogger("django.security.DisallowedHost").makeRecord(
            "django.security.DisallowedHost",
            logging.ERROR,
            __file__,
            1,
            str(error),
            (),
            (type(error), error, error.__traceback__),
        )

    assert handler.filter(record)
    assert (record.levelname, record.exc_info) == ("WARNING", None)
