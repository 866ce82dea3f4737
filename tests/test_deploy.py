"""The deployment files, read as Docker, Compose and Prometheus would (no engine runs here).

Also: ``.env`` written with a byte-order mark is read by the real settings module, and the
gunicorn hooks do their bookkeeping.
"""

import json
import os
import re
import runpy
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from reception_stats import exporter

ROOT = Path(__file__).resolve().parent.parent

#: The variables the README's configuration table documents for the app container.
DOCUMENTED_APP_VARIABLES = {
    "DATABASE_URL",
    "CACHE_URL",
    "SECRET_KEY",
    "DEBUG",
    "ALLOWED_HOSTS",
    "METRICS_TOKEN",
    "METRICS_ALLOWED_IPS",
    "LIVE_RECEPTION_STATS_ENABLED",
    "GUNICORN_WORKERS",
    "LOG_FORMAT",
    "RECEPTION_STATS_LOG_LEVEL",
    "SECURE_SSL_REDIRECT",
    "SECURE_PROXY_SSL_HEADER",
    "CSRF_TRUSTED_ORIGINS",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def dockerfile() -> list[str]:
    """The instructions, continuation lines joined, comments dropped."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    text = re.sub(r"\\\n", " ", text)
    return [line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"]


def index_of(instructions: list[str], pattern: str) -> int:
    matches = [i for i, line in enumerate(instructions) if re.match(pattern, line)]
    assert matches, pattern
    return matches[0]


# --- docker-compose.yml ---------------------------------------------------------------------


def test_compose_services(compose):
    services = compose["services"]
    assert {"postgres", "redis", "app", "prometheus"} <= set(services)
    assert services["postgres"]["image"] == "postgres:15"
    assert services["redis"]["image"] == "redis:7"
    assert any(
        volume.endswith(":/var/lib/postgresql/data") for volume in services["postgres"]["volumes"]
    )
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert "ping" in services["redis"]["healthcheck"]["test"]


def test_the_app_is_built_here_and_published_on_8000(compose):
    app = compose["services"]["app"]
    assert app["build"]["context"] == "."
    assert set(app["build"]["args"]) == {"VERSION", "GIT_REVISION"}
    assert app["ports"] == ["8000:8000"]
    assert app["depends_on"]["postgres"] == {"condition": "service_healthy"}
    assert app["depends_on"]["redis"] == {"condition": "service_healthy"}
    assert app["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    assert compose["services"]["migrate"]["command"][-2:] == ["migrate", "--noinput"]


def test_the_app_environment_is_the_documented_one(compose):
    environment = compose["services"]["app"]["environment"]
    assert set(environment) == DOCUMENTED_APP_VARIABLES
    assert environment["CACHE_URL"] == "redis://redis:6379/0"
    assert environment["DEBUG"] == "false"
    assert "@postgres:5432/" in environment["DATABASE_URL"]
    assert environment["SECRET_KEY"].startswith("${SECRET_KEY:?")
    assert "app" in environment["ALLOWED_HOSTS"] and "127.0.0.1" in environment["ALLOWED_HOSTS"]


def test_every_variable_given_to_the_app_is_in_the_readme():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert {name for name in DOCUMENTED_APP_VARIABLES if f"`{name}`" not in readme} == set()


def test_every_variable_given_to_the_app_is_read_by_it(compose):
    """A misspelt name would be silently ignored: each one appears in the settings or gunicorn."""
    code = (ROOT / "recyclic" / "settings.py").read_text() + (ROOT / "gunicorn.conf.py").read_text()
    for name in compose["services"]["app"]["environment"]:
        assert f'"{name}"' in code, name


def test_every_compose_variable_is_in_env_example():
    used = set(re.findall(r"\$\{(\w+)", (ROOT / "docker-compose.yml").read_text()))
    example = (ROOT / ".env.example").read_bytes()
    assert not example.startswith(b"\xef\xbb\xbf")
    defined = {
        line.split("=", 1)[0]
        for line in example.decode().splitlines()
        if line and not line.startswith("#")
    }
    assert used <= defined, used - defined


def test_prometheus_is_optional_and_reads_the_token_from_a_secret(compose):
    prometheus = compose["services"]["prometheus"]
    assert prometheus["profiles"] == ["monitoring"]
    assert "metrics_token" in prometheus["secrets"]
    assert compose["secrets"]["metrics_token"] == {"environment": "METRICS_TOKEN"}
    mounts = {volume.split(":")[0]: volume.split(":")[1] for volume in prometheus["volumes"]}
    assert mounts["./deploy/prometheus.yml"] == "/etc/prometheus/prometheus.yml"
    assert (ROOT / "deploy" / "prometheus.yml").is_file()
    assert all(port.startswith("127.0.0.1:") for port in prometheus["ports"])

    config = yaml.safe_load((ROOT / "deploy" / "prometheus.yml").read_text())
    (job,) = config["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    assert job["static_configs"] == [{"targets": ["app:8000"]}]
    assert job["authorization"] == {
        "type": "Bearer",
        "credentials_file": "/run/secrets/metrics_token",
    }
    assert config["rule_files"] == [mounts["./deploy/alerts.yml"]]


# --- Dockerfile -------------------------------------------------------------------------------


def test_requirements_are_installed_before_the_code_is_copied(dockerfile):
    assert dockerfile[index_of(dockerfile, "FROM ")] == "FROM python:3.12-slim"
    copy_requirements = index_of(dockerfile, r"COPY requirements\.txt ")
    install = index_of(dockerfile, r"RUN pip install -r requirements\.txt")
    copy_code = index_of(dockerfile, r"COPY \. \.")
    assert copy_requirements < install < copy_code
    # A build argument invalidates every RUN after it: they come after the heavy layers.
    assert index_of(dockerfile, "ARG ") > index_of(dockerfile, r"RUN .*collectstatic")


def test_it_runs_gunicorn_as_a_non_root_user(dockerfile):
    user = dockerfile[index_of(dockerfile, "USER ")].split()[1]
    assert user not in {"root", "0"}
    created = dockerfile[index_of(dockerfile, r"RUN useradd")].split("&&")[0].split()[-1]
    assert created == user
    cmd = dockerfile[index_of(dockerfile, "CMD ")]
    assert json.loads(cmd[4:]) == ["gunicorn", "-c", "gunicorn.conf.py", "recyclic.wsgi"]
    assert index_of(dockerfile, "USER ") < index_of(dockerfile, "CMD ")


def test_version_and_revision_are_stamped(dockerfile):
    text = "\n".join(dockerfile)
    assert re.search(r"^ARG VERSION", text, re.M)
    assert re.search(r"^ARG GIT_REVISION", text, re.M)
    assert 'org.opencontainers.image.version="${VERSION}"' in text
    assert re.search(r"^ENV .*GIT_REVISION=\$\{GIT_REVISION\}", text, re.M)
    assert re.search(r"SECRET_KEY=\S+ python manage\.py collectstatic --noinput", text)


def test_dockerignore_keeps_secrets_and_local_state_out():
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".git", ".venv", ".env*", "db.sqlite3", "__pycache__", "tests", "artifacts"} <= ignored


# --- alerts -----------------------------------------------------------------------------------


def test_alert_rules():
    rules = yaml.safe_load((ROOT / "deploy" / "alerts.yml").read_text())["groups"][0]["rules"]
    runbook = (ROOT / "docs" / "runbook.md").read_text()
    anchors = {
        re.sub(r"[^\w\- ]", "", heading).strip().lower().replace(" ", "-")
        for heading in re.findall(r"^#+ (.+)$", runbook, re.M)
    }
    exported = {"reception_live_stats_requests_total", "reception_live_stats_errors_total"}
    exported |= {f"reception_live_stats_duration_seconds_{s}" for s in ("bucket", "count", "sum")}
    exported |= {exporter.PREFIX + name for name, *_rest in exporter.FIGURE_GAUGES}
    exported |= {"reception_live_stats_enabled", "reception_live_stats_generated_timestamp_seconds"}
    for rule in rules:
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}
        assert rule["annotations"]["summary"]
        assert rule["annotations"]["runbook"].split("#")[1] in anchors, rule["alert"]
        for name in re.findall(r"reception_live_stats_\w+", rule["expr"]):
            assert name in exported, name
    expressions = "\n".join(rule["expr"] for rule in rules)
    assert 'up{job="reception-stats"} == 0' in expressions
    assert "histogram_quantile(0.95" in expressions
    assert 'outcome="stale"' in expressions
    assert "reception_live_stats_errors_total" in expressions


@pytest.mark.skipif(not shutil.which("promtool"), reason="promtool is not installed")
def test_promtool_accepts_the_rules():
    subprocess.run(["promtool", "check", "rules", str(ROOT / "deploy" / "alerts.yml")], check=True)


# --- .env with a byte-order mark --------------------------------------------------------------


SHOWN = "[s.BASE_DIR.as_posix(), s.SECRET_KEY, s.LIVE_RECEPTION_STATS_ENABLED]"


def load_settings(
    tmp_path: Path, env_bytes: bytes, encoding: str | None = None, shown: str = SHOWN
):
    """Import a copy of recyclic/settings.py whose BASE_DIR is ``tmp_path``, beside that .env;
    print ``shown`` (an expression of the settings module ``s``) as JSON."""
    package = tmp_path / "recyclic"
    package.mkdir()
    (package / "__init__.py").write_text("")
    settings = (ROOT / "recyclic" / "settings.py").read_text()
    if encoding:
        settings = settings.replace('encoding="utf-8-sig"', f'encoding="{encoding}"')
    (package / "settings.py").write_text(settings)
    (tmp_path / ".env").write_bytes(env_bytes)
    environment = {
        name: value
        for name, value in os.environ.items()
        if name
        not in {"SECRET_KEY", "DEBUG", "LIVE_RECEPTION_STATS_ENABLED", "LOG_FORMAT", "CONN_MAX_AGE"}
        and not name.startswith("DJANGO_")
    }
    environment["PYTHONPATH"] = str(tmp_path)
    script = f"import json, recyclic.settings as s; print(json.dumps({shown}))"
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


BOM_ENV = "\ufeffSECRET_KEY=from-a-file-with-a-bom\nLIVE_RECEPTION_STATS_ENABLED=false\n"


def test_a_dotenv_with_a_byte_order_mark_is_read_whole(tmp_path):
    done = load_settings(tmp_path, BOM_ENV.encode("utf-8"))
    assert done.returncode == 0, done.stderr
    base_dir, secret_key, enabled = json.loads(done.stdout)
    assert base_dir == tmp_path.as_posix()
    assert secret_key == "from-a-file-with-a-bom"
    assert enabled is False


def test_without_utf_8_sig_the_first_variable_would_be_lost(tmp_path):
    """The control: read as plain UTF-8 the mark sticks to SECRET_KEY's name, which goes unset."""
    done = load_settings(tmp_path, BOM_ENV.encode("utf-8"), encoding="utf-8")
    assert done.returncode != 0
    assert "SECRET_KEY is not set" in done.stderr


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ("SECRET_KEY=k\n", 60),
        ("SECRET_KEY=k\nDEBUG=true\n", 0),
        ("SECRET_KEY=k\nCONN_MAX_AGE=5\n", 5),
    ],
)
def test_connections_persist_in_production_not_under_runserver(tmp_path, env, expected):
    shown = '[s.DATABASES["default"]["CONN_MAX_AGE"], s.DATABASES["default"]["CONN_HEALTH_CHECKS"]]'
    done = load_settings(tmp_path, env.encode(), shown=shown)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [expected, True]


# --- gunicorn.conf.py -------------------------------------------------------------------------


@pytest.fixture
def gunicorn_conf(monkeypatch, tmp_path):
    """The settings file as gunicorn reads it, with this test's own metrics directory."""
    for name in ("GUNICORN_BIND", "GUNICORN_WORKERS", "GUNICORN_CONTROL_SOCKET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "prometheus"))

    def load(**env: str) -> dict:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return runpy.run_path(str(ROOT / "gunicorn.conf.py"))

    return load


def test_gunicorn_defaults_and_environment(gunicorn_conf):
    conf = gunicorn_conf()
    assert conf["workers"] == 2
    assert conf["bind"] == ["0.0.0.0:8000"]
    assert conf["accesslog"] == "-"
    assert conf["access_log_format"].endswith('"%(a)s" %(D)s')  # combined, then microseconds
    assert conf["control_socket_disable"] is True
    conf = gunicorn_conf(GUNICORN_WORKERS="5", GUNICORN_BIND="127.0.0.1:9000")
    assert (conf["workers"], conf["bind"]) == (5, ["127.0.0.1:9000"])


def test_gunicorn_hooks_empty_the_directory_then_drop_a_dead_workers_live_gauges(gunicorn_conf):
    conf = gunicorn_conf()
    directory = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    directory.mkdir()
    (directory / "counter_111.db").write_bytes(b"from an earlier run")
    logged = []
    conf["on_starting"](SimpleNamespace(log=SimpleNamespace(info=lambda *a: logged.append(a))))
    assert list(directory.iterdir()) == []
    assert logged

    (directory / "gauge_livesum_4242.db").write_bytes(b"")
    (directory / "counter_4242.db").write_bytes(b"")
    conf["child_exit"](None, SimpleNamespace(pid=4242))
    assert sorted(path.name for path in directory.iterdir()) == ["counter_4242.db"]
