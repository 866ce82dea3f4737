"""The feature's metrics, ``observe()`` around each request for figures, and ``/metrics``.

Counters are read before and after each action (the registry is the process's own, shared by
the whole suite); the page is parsed with prometheus_client's own parser.
"""

import importlib
import json
import os
import subprocess
import sys
from datetime import timedelta
from io import StringIO
from pathlib import Path
from uuid import uuid4

import psycopg
import pytest
from django.core.management import call_command
from django.db import DatabaseError, OperationalError, connections, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from prometheus_client import Counter, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from reception_stats import exporter, metrics
from reception_stats.cache import get_snapshot
from reception_stats.kpis import QUERIES_PER_COMPUTATION, SiteNotFound, compute_live_stats
from reception_stats.metrics import observe
from reception_stats.models import RECYCLIC_MODELS
from tests.processes import environment_without, manage_py
from tests.recipes import make_poste, make_sale, make_ticket

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent


def value(metric, sample: str, **labels: str) -> float:
    """The current value of one sample of a metric of reception_stats.metrics (0 if absent)."""
    for family in metric.collect():
        for s in family.samples:
            if s.name == sample and s.labels == labels:
                return s.value
    return 0.0


def requests(source: str, outcome: str) -> float:
    return value(
        metrics.REQUESTS, "reception_live_stats_requests_total", source=source, outcome=outcome
    )


def errors(source: str, kind: str) -> float:
    return value(metrics.ERRORS, "reception_live_stats_errors_total", source=source, kind=kind)


def bad_values(table: str, column: str) -> float:
    return value(
        metrics.BAD_VALUES, "reception_live_stats_bad_values_total", table=table, column=column
    )


def recyclic_queries(captured) -> list[str]:
    tables = tuple(f'"{model._meta.db_table}"' for model in RECYCLIC_MODELS)
    return [q["sql"] for q in captured.captured_queries if any(t in q["sql"] for t in tables)]


def durations(source: str, outcome: str) -> float:
    return value(
        metrics.DURATION,
        "reception_live_stats_duration_seconds_count",
        source=source,
        outcome=outcome,
    )


def scrape(client, **headers) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


@pytest.fixture
def live_data():
    """One open ticket (10 kg in, 5 kg out by an exit line) and one sale, all within the hour."""
    now = timezone.now()
    poste = make_poste(opened_at=now - timedelta(minutes=50))
    make_ticket(poste, lines=["10", ("5", True)])
    make_sale(
        created_at=now - timedelta(minutes=40),
        total_amount=75.0,
        donation=6.0,
        item_weights=[9.0, 1.0],
    )


# --- definition -----------------------------------------------------------------------------


def test_the_metrics_are_defined_once_whatever_the_imports():
    assert importlib.import_module("reception_stats.metrics") is metrics
    assert importlib.import_module("reception_stats.exporter") is exporter
    # The names are taken in the process's registry: a second definition cannot happen silently.
    for name, labels in [
        ("reception_live_stats_requests", ["source", "outcome"]),
        ("reception_live_stats_errors", ["source", "kind"]),
    ]:
        with pytest.raises(ValueError, match="Duplicated timeseries"):
            Counter(name, "again", labels)


def test_a_page_declares_each_metric_once(client):
    page = client.get("/metrics").content.decode()
    for name, kind in [
        ("reception_live_stats_requests_total", "counter"),
        ("reception_live_stats_duration_seconds", "histogram"),
        ("reception_live_stats_errors_total", "counter"),
        ("reception_live_stats_tickets_open", "gauge"),
        ("reception_live_stats_enabled", "gauge"),
    ]:
        assert page.count(f"# TYPE {name} {kind}\n") == 1, name


def test_the_histogram_has_millisecond_buckets():
    with observe("api", "24h") as observation:  # a labelled series shows its buckets
        observation.outcome = "cached"
    page = generate_latest(metrics.DURATION).decode()
    for bound in ("0.001", "0.0025", "0.005", "0.01", "0.025", "0.1", "1.0", "2.5", "+Inf"):
        assert f'le="{bound}"' in page


# --- observe() ------------------------------------------------------------------------------


def test_observe_counts_times_and_counts_the_queries_of_a_computation(live_data):
    before = requests("api", "computed"), durations("api", "computed")
    with observe("api", "24h") as observation:
        compute_live_stats("24h")

    assert observation.outcome == "computed"
    assert observation.query_count == QUERIES_PER_COMPUTATION
    assert observation.duration > 0
    assert requests("api", "computed") == before[0] + 1
    assert durations("api", "computed") == before[1] + 1


def test_the_caller_sets_the_outcome():
    before = requests("admin", "cached")
    with observe("admin", "today") as observation:
        observation.outcome = "cached"
    assert observation.query_count == 0
    assert requests("admin", "cached") == before + 1


def test_stale_figures_count_the_database_error_behind_them():
    before = requests("api", "stale"), errors("api", "database")
    with observe("api", "24h") as observation:
        observation.outcome = "stale"
        observation.error_kind = "database"
    assert (requests("api", "stale"), errors("api", "database")) == (before[0] + 1, before[1] + 1)


def test_an_unknown_site_is_an_error_of_its_kind_and_goes_through():
    site = uuid4()
    before = requests("api", "error"), errors("api", "site_not_found")
    with pytest.raises(SiteNotFound), observe("api", "24h", site) as observation:
        compute_live_stats("24h", site)
    assert observation.outcome == "error"
    assert observation.error_kind == "site_not_found"
    assert observation.query_count == 1
    assert requests("api", "error") == before[0] + 1
    assert errors("api", "site_not_found") == before[1] + 1


def test_an_unreachable_database_is_a_database_error(unreachable_database):
    before = errors("command", "database")
    with pytest.raises(DatabaseError), observe("command", "24h"):
        compute_live_stats("24h")
    assert errors("command", "database") == before + 1


def _wrapped(error: Exception) -> OperationalError:
    """The driver's error as Django raises it: its own, the driver's as the cause."""
    wrapped = OperationalError(str(error))
    wrapped.__cause__ = error
    return wrapped


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (SiteNotFound(uuid4()), "site_not_found"),
        (OperationalError("server closed the connection unexpectedly"), "database"),
        (TimeoutError(), "timeout"),
        (_wrapped(psycopg.errors.ConnectionTimeout("connection timeout expired")), "timeout"),
        (ValueError("Unknown window"), "invalid_input"),
        (RuntimeError("bug"), "other"),
    ],
)
def test_error_kinds(error, kind):
    assert metrics.error_kind(error) == kind


def test_a_postgresql_statement_timeout_is_a_timeout(on_postgresql):
    if not on_postgresql:
        pytest.skip("statement_timeout is PostgreSQL's")
    connection = connections["default"]
    with (
        pytest.raises(OperationalError) as caught,
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("SET LOCAL statement_timeout = 10")
        cursor.execute("SELECT pg_sleep(1)")
    assert metrics.error_kind(caught.value) == "timeout"


def test_a_postgresql_lock_timeout_is_a_timeout(on_postgresql):
    if not on_postgresql:
        pytest.skip("lock_timeout is PostgreSQL's")
    connection = connections["default"]
    holder = connection.copy()  # a second connection: the lock is another transaction's
    try:
        with holder.cursor() as other:
            other.execute("BEGIN")
            other.execute("LOCK TABLE sites IN ACCESS EXCLUSIVE MODE")
            with (
                pytest.raises(OperationalError) as caught,
                transaction.atomic(),
                connection.cursor() as cursor,
            ):
                cursor.execute("SET LOCAL lock_timeout = 10")
                cursor.execute("SELECT count(*) FROM sites")
            other.execute("ROLLBACK")
    finally:
        holder.close()
    assert metrics.error_kind(caught.value) == "timeout"


def test_labels_outside_the_documented_sets_are_refused():
    with pytest.raises(ValueError, match="source"), observe("cron", "24h"):
        pass
    with pytest.raises(ValueError, match="outcome"), observe("api", "24h") as observation:
        observation.outcome = "fresh"


# --- the management command ----------------------------------------------------------------


def test_the_command_is_observed(live_data):
    before = requests("command", "computed")
    call_command("reception_stats", stdout=StringIO())
    assert requests("command", "computed") == before + 1


def test_the_command_with_the_flag_off_is_disabled(settings):
    settings.LIVE_RECEPTION_STATS_ENABLED = False
    before = requests("command", "disabled")
    call_command("reception_stats", stdout=StringIO())
    assert requests("command", "disabled") == before + 1


# --- /metrics: who may read it ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "status"),
    [
        ("127.0.0.1", 200),
        ("::1", 200),
        ("::ffff:127.0.0.1", 200),  # an IPv4 client of a dual-stack socket
        ("10.0.0.7", 403),
        ("2001:db8::1", 403),
        ("", 403),
    ],
)
def test_metrics_from_the_default_allow_list_only(client, address, status):
    assert client.get("/metrics", REMOTE_ADDR=address).status_code == status


def test_the_allow_list_takes_networks(client, options):
    options(METRICS_ALLOWED_IPS=["10.0.0.0/8"])
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403


def test_a_forwarded_for_header_lets_nobody_in(client):
    response = client.get("/metrics", REMOTE_ADDR="10.0.0.7", HTTP_X_FORWARDED_FOR="127.0.0.1")
    assert response.status_code == 403


def test_the_bearer_token_lets_in_from_anywhere(client, options):
    options(METRICS_TOKEN="jeton-de-test-0123456789")
    remote = {"REMOTE_ADDR": "10.0.0.7"}
    good = {"HTTP_AUTHORIZATION": "Bearer jeton-de-test-0123456789"}
    assert client.get("/metrics", **remote, **good).status_code == 200
    assert client.get("/metrics", **remote, HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    assert client.get("/metrics", **remote, HTTP_AUTHORIZATION="Basic x").status_code == 403
    assert client.get("/metrics", **remote).status_code == 403


def test_no_token_configured_means_no_token_access(client, options):
    options(METRICS_TOKEN="")
    response = client.get("/metrics", REMOTE_ADDR="10.0.0.7", HTTP_AUTHORIZATION="Bearer ")
    assert response.status_code == 403


def test_the_page_is_never_cached(client):
    assert "no-store" in client.get("/metrics")["Cache-Control"]


# --- /metrics: the figures as gauges --------------------------------------------------------


def test_the_figures_are_gauges_per_window_as_the_doors_last_computed_them(
    client, manager, live_data
):
    client.force_login(manager)
    assert client.get("/api/v1/reception/stats/live").status_code == 200
    before = {outcome: requests("metrics", outcome) for outcome in ("computed", "cached")}

    with CaptureQueriesContext(connections["default"]) as captured:
        samples = scrape(client)

    def gauge(name, window="24h"):
        return samples[(f"reception_live_stats_{name}", (("window", window),))]

    assert samples[("reception_live_stats_enabled", ())] == 1
    assert gauge("tickets_open") == 1
    assert gauge("tickets_closed") == 0
    assert gauge("items_received") == 1
    assert gauge("weight_in_grams") == 10_000
    assert gauge("weight_out_exits_grams") == 5_000
    assert gauge("weight_out_sales_grams") == 10_000
    assert gauge("weight_out_grams") == 15_000
    assert gauge("sales") == 1
    assert gauge("turnover_euros") == 75
    assert gauge("donations_euros") == 6
    assert gauge("last_sale_amount_euros") == 75
    assert gauge("generated_timestamp_seconds") == pytest.approx(timezone.now().timestamp(), abs=60)
    # Nobody asked for today's figures: they are left out rather than computed by the scrape.
    assert ("reception_live_stats_tickets_open", (("window", "today"),)) not in samples
    assert recyclic_queries(captured) == []
    assert {outcome: requests("metrics", outcome) for outcome in before} == before


def test_flag_off_reports_zeros_without_touching_recyclic_tables(client, live_data, settings):
    settings.LIVE_RECEPTION_STATS_ENABLED = False
    with CaptureQueriesContext(connections["default"]) as captured:
        samples = scrape(client)
    assert samples[("reception_live_stats_enabled", ())] == 0
    names = {exporter.PREFIX + name for name, *_rest in exporter.FIGURE_GAUGES}
    figures = {key: sample for key, sample in samples.items() if key[0] in names}
    assert len(figures) == 2 * len(exporter.FIGURE_GAUGES)
    assert set(figures.values()) == {0}
    assert recyclic_queries(captured) == []


def test_a_dead_database_changes_nothing_for_a_scrape(client, unreachable_database):
    samples = scrape(client)
    assert samples[("reception_live_stats_enabled", ())] == 1
    assert not [key for key in samples if key[0] == "reception_live_stats_tickets_open"]


def test_bad_values_are_counted_per_table_and_column(client, manager, live_data):
    make_sale(created_at=timezone.now() - timedelta(minutes=5), total_amount=float("inf"))
    before = bad_values("sales", "total_amount")
    client.force_login(manager)

    assert client.get("/api/v1/reception/stats/live").status_code == 200
    assert client.get("/api/v1/reception/stats/live").status_code == 200  # cached: not again

    assert bad_values("sales", "total_amount") == before + 1
    samples = scrape(client)
    assert (
        samples[
            (
                "reception_live_stats_bad_values_total",
                (("column", "total_amount"), ("table", "sales")),
            )
        ]
        >= 1
    )


def test_django_prometheus_metrics_are_served_too(client):
    samples = scrape(client)
    names = {name for name, _labels in samples}
    assert "django_http_requests_before_middlewares_total" in names
    assert any(name.startswith("django_db_") for name in names)


def test_the_multiprocess_registry_adds_up_the_workers_files_and_the_figures(
    monkeypatch, tmp_path, live_data
):
    get_snapshot("24h", source="api")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    registry = exporter.metrics_registry()
    assert registry is not exporter.REGISTRY
    page = generate_latest(registry).decode()
    assert 'reception_live_stats_tickets_open{window="24h"}' in page
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR")
    assert exporter.metrics_registry() is exporter.REGISTRY


# --- without prometheus_client ----------------------------------------------------------------


def test_without_prometheus_client_observe_still_logs_and_metrics_is_404(tmp_path):
    """In a fresh interpreter where prometheus_client cannot be imported."""
    script = """
import json, sys
sys.modules["prometheus_client"] = None  # makes `import prometheus_client` fail
import django
django.setup()
from django.test import RequestFactory
from reception_stats.exporter import metrics_view
from reception_stats.metrics import observe

with observe("command", "24h") as observation:
    observation.outcome = "disabled"
response = metrics_view(RequestFactory().get("/metrics", REMOTE_ADDR="127.0.0.1"))
print(json.dumps({"status": response.status_code, "body": response.content.decode()}))
"""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "METRICS_ENABLED": "false",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'unused.sqlite3'}",
        "LOG_FORMAT": "json",
    }
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result == {"status": 404, "body": "prometheus_client is not installed.\n"}
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    assert [line["outcome"] for line in lines if line.get("event") == metrics.EVENT] == ["disabled"]


def test_every_door_is_counted_with_its_source_and_outcome(client, admin_user, live_data):
    client.force_login(admin_user)
    before = {
        (source, outcome): requests(source, outcome)
        for source in ("api", "admin", "command", "metrics")
        for outcome in ("computed", "cached")
    }
    timed_before = durations("api", "computed")

    assert client.get("/api/v1/reception/stats/live").status_code == 200
    assert client.get("/api/v1/reception/stats/live").status_code == 200
    assert client.get("/admin/reception_stats/livestats/").status_code == 200
    call_command("reception_stats", stdout=StringIO())
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200

    def grown(source, outcome):
        return requests(source, outcome) - before[(source, outcome)]

    assert grown("api", "computed") == 1
    assert grown("api", "cached") == 1
    # The admin page compares with last week: a question of its own.
    assert grown("admin", "computed") == 1
    assert grown("command", "computed") == 1
    # A scrape reads the cache; it is not a request for figures.
    assert grown("metrics", "computed") + grown("metrics", "cached") == 0
    assert durations("api", "computed") == timed_before + 1


def test_a_command_creates_the_multiprocess_directory_it_is_given(tmp_path):
    """Operators run manage.py with the server's environment, PROMETHEUS_MULTIPROC_DIR
    included, before gunicorn has ever created that directory: no traceback, the counts kept."""
    directory = tmp_path / "not-yet" / "metrics"
    environment = environment_without(
        ("DJANGO_", "DATABASE_URL", "RECYCLIC_", "RECEPTION_STATS_", "PROMETHEUS_"),
        DATABASE_URL=f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        SECRET_KEY="test-only-key",
        PROMETHEUS_MULTIPROC_DIR=str(directory),
        LOG_FORMAT="json",
    )
    demo = manage_py("reception_demo", "--if-empty", environment=environment)
    figures = manage_py("reception_stats", "--format", "json", environment=environment)
    refused = manage_py(
        "check", environment={**environment, "PROMETHEUS_MULTIPROC_DIR": "/proc/no/such/place"}
    )

    assert demo.returncode == 0, demo.stderr
    assert figures.returncode == 0, figures.stderr
    assert json.loads(figures.stdout)["tickets_open"] >= 0
    assert any(path.name.startswith("counter_") for path in directory.iterdir())
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines() == [
        "ImproperlyConfigured: PROMETHEUS_MULTIPROC_DIR=/proc/no/such/place cannot be created "
        "(No such file or directory)."
    ]
