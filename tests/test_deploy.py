"""The deployment files, read as Docker, Compose and Prometheus would (no engine runs here), and
what the Compose services run, executed on this machine.

Also: ``.env`` written with a byte-order mark is read by the real settings module, and the
gunicorn hooks do their bookkeeping.
"""

import fnmatch
import json
import os
import re
import runpy
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit
from uuid import uuid4

import psycopg
import pytest
import redis
import yaml
from django.db import connections

from reception_stats import exporter
from reception_stats.models import RECYCLIC_MODELS
from tests.processes import gunicorn, postgres_url
from tests.services import DEPLOY_REDIS_URL, redis_listens

ROOT = Path(__file__).resolve().parent.parent

#: The variables the README's configuration table documents for the app container.
DOCUMENTED_APP_VARIABLES = {
    "RECYCLIC_SECRET_KEY",
    "DATABASE_URL",
    "RECYCLIC_DATABASE_URL",
    "RECEPTION_STATS_DATABASE",
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

#: What each profile starts.
PROFILES = {
    "demo": {"demo-postgres", "demo-init", "demo-app", "stats-redis"},
    "attach": {"migrate", "app", "stats-redis"},
    "monitoring": {"prometheus"},
}
#: The services that run the image, per mode: the one-off before the app, and the app.
DEMO_SERVICES = ("demo-init", "demo-app")
ATTACH_SERVICES = ("migrate", "app")

#: What a site sets in .env for attach mode (.env.example). The tests that run the services
#: replace the database URL with one of this machine's.
ATTACH_VARIABLES = {
    "SECRET_KEY": "tests-only-attach-mode",
    "RECYCLIC_DATABASE_URL": "postgres://reception_stats_reader:secret@postgres:5432/recyclic",
    "RECYCLIC_NETWORK": "recyclic_recyclic-network",
}

# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}, and $$ for a "$".
VARIABLE = re.compile(r"\$(?:\$|\{(\w+)(?:(:?)([-?])([^}]*))?\})")


class MissingVariable(Exception):
    pass


def interpolate(text: str, variables: Mapping[str, str]) -> str:
    """Compose's interpolation of one value, with ``variables`` as the shell and .env."""

    def substitute(match: re.Match) -> str:
        name, colon, operator, argument = match.groups()
        if name is None:
            return "$"
        value = variables.get(name)
        # With the colon an empty value counts as unset, as in the shell.
        unset = value is None or (colon == ":" and value == "")
        if unset and operator == "?":
            raise MissingVariable(f"{name}: {argument}")
        if unset and operator == "-":
            return argument
        return value or ""

    return VARIABLE.sub(substitute, text)


def rendered(node: Any, variables: Mapping[str, str]) -> Any:
    """The whole file interpolated, as Compose does it whatever the profile."""
    if isinstance(node, str):
        return interpolate(node, variables)
    if isinstance(node, list):
        return [rendered(item, variables) for item in node]
    if isinstance(node, dict):
        return {key: rendered(value, variables) for key, value in node.items()}
    return node


def environment_of(compose: dict, service: str) -> dict[str, str]:
    return {name: str(value) for name, value in compose["services"][service]["environment"].items()}


@pytest.fixture(scope="module")
def compose_text() -> str:
    return (ROOT / "docker-compose.yml").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def compose(compose_text) -> dict:
    """The file as YAML (anchors merged), before interpolation."""
    return yaml.safe_load(compose_text)


@pytest.fixture(scope="module")
def no_env(compose) -> dict:
    """The file as Compose renders it on a fresh checkout, without .env: the demo's case."""
    return rendered(compose, {})


@pytest.fixture(scope="module")
def attach_env(compose) -> dict:
    """The file as Compose renders it with the .env of attach mode."""
    return rendered(compose, ATTACH_VARIABLES)


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


def test_each_profile_starts_its_own_services(compose):
    services = compose["services"]
    for profile, expected in PROFILES.items():
        assert {name for name, service in services.items() if profile in service["profiles"]} == (
            expected
        ), profile
    # Nothing starts without a profile: `docker compose up` alone would start half a stack.
    assert all(service.get("profiles") for service in services.values())


def test_the_interpolation_under_test_is_compose_s():
    assert interpolate("${A:-x}|${A-y}|${B}|$$", {"A": ""}) == "x|||$"
    assert interpolate("${A:-x}", {"A": "set"}) == "set"
    with pytest.raises(MissingVariable, match="B: say so"):
        interpolate("${B:?say so}", {"B": ""})
    assert interpolate("${B?say so}", {"B": ""}) == ""


def test_the_demo_needs_no_variable_at_all(compose, compose_text):
    """Compose interpolates the whole file before it looks at profiles: one ${VAR:?} anywhere
    and `docker compose --profile demo up` fails on a fresh checkout without .env."""
    rendered(compose, {})  # raises MissingVariable on a required one
    rendered(compose, env_example())  # nor with .env copied from the example, still blank
    # Every reference is one the interpolation above understands (not $NAME without braces).
    assert re.findall(r"\$(?![{$])", compose_text) == []


def test_demo_services_and_their_order(no_env):
    services = no_env["services"]
    postgres = services["demo-postgres"]
    assert postgres["image"] == "postgres:15"
    assert "ports" not in postgres
    assert postgres["volumes"] == ["demo-postgres-data:/var/lib/postgresql/data"]
    # Over TCP, not the socket of the image's first-start server (see the file).
    assert postgres["healthcheck"]["test"][:4] == ["CMD", "pg_isready", "-h", "127.0.0.1"]
    init, app = services["demo-init"], services["demo-app"]
    assert init["depends_on"] == {"demo-postgres": {"condition": "service_healthy"}}
    assert app["depends_on"] == {
        "demo-postgres": {"condition": "service_healthy"},
        "stats-redis": {"condition": "service_healthy"},
        "demo-init": {"condition": "service_completed_successfully"},
    }
    script = init["command"][-1]
    assert init["command"][:2] == ["sh", "-ec"]
    assert "manage.py reception_demo --database recyclic --if-empty" in script
    assert "manage.py reception_demo --staff-login" in script
    assert script.strip().endswith("manage.py reception_demo --recyclic-login --address "
                                   "http://localhost:8000/admin/")  # fmt: skip
    assert init["restart"] == "no" and init["healthcheck"] == {"disable": True}
    # Plain http and a known key: on the loopback only.
    assert app["ports"] == ["127.0.0.1:8000:8000"]
    assert "command" not in app  # the image's: gunicorn


def test_the_demo_reads_the_demo_postgres_it_starts(no_env):
    url = urlsplit(environment_of(no_env, "demo-app")["RECYCLIC_DATABASE_URL"])
    postgres = no_env["services"]["demo-postgres"]["environment"]
    assert (url.hostname, url.port, url.path) == ("demo-postgres", 5432, "/recyclic")
    assert (url.username, url.password, url.path[1:]) == (
        postgres["POSTGRES_USER"],
        postgres["POSTGRES_PASSWORD"],
        postgres["POSTGRES_DB"],
    )


def test_attach_services_and_their_order(attach_env):
    services = attach_env["services"]
    migrate, app = services["migrate"], services["app"]
    assert migrate["command"] == ["python", "manage.py", "migrate", "--noinput"]
    assert "depends_on" not in migrate  # its database is the SQLite file
    assert migrate["restart"] == "no" and migrate["healthcheck"] == {"disable": True}
    assert app["depends_on"] == {
        "stats-redis": {"condition": "service_healthy"},
        "migrate": {"condition": "service_completed_successfully"},
    }
    # Gunicorn never faces the network: the proxy in front reaches it on the host's loopback or
    # over Recyclic's network.
    assert app["ports"] == ["127.0.0.1:8000:8000"]
    assert "command" not in app


def test_attach_joins_recyclic_s_network_named_in_env(compose, attach_env):
    assert sorted(attach_env["services"]["app"]["networks"]) == ["default", "recyclic"]
    assert attach_env["networks"]["recyclic"] == {
        "external": True,
        "name": ATTACH_VARIABLES["RECYCLIC_NETWORK"],
    }
    # Unset, the name says what to do when `up` cannot find it.
    assert "RECYCLIC_NETWORK" in rendered(compose, {})["networks"]["recyclic"]["name"]
    # Only the app: migrate needs no database of Recyclic's, the demo none at all.
    on_it = {
        name for name, s in attach_env["services"].items() if "recyclic" in s.get("networks", [])
    }
    assert on_it == {"app"}


def test_redis_has_a_name_of_its_own_beside_recyclic_s(no_env):
    """The app is also on Recyclic's network, whose Redis is called redis."""
    redis_service = no_env["services"]["stats-redis"]
    assert redis_service["image"] == "redis:7"
    assert "ping" in redis_service["healthcheck"]["test"]
    for service in DEMO_SERVICES + ATTACH_SERVICES:
        assert environment_of(no_env, service)["CACHE_URL"] == "redis://stats-redis:6379/0"


def test_django_s_tables_live_in_each_mode_s_own_sqlite_volume(no_env):
    services = no_env["services"]
    for mode in (DEMO_SERVICES, ATTACH_SERVICES):
        (volume,) = {tuple(services[name]["volumes"]) for name in mode}
        (mount,) = volume
        name, target = mount.split(":")
        assert target == "/data" and name in no_env["volumes"]
        for service in mode:
            assert (
                environment_of(no_env, service)["DATABASE_URL"] == "sqlite:////data/django.sqlite3"
            )
            assert environment_of(no_env, service)["RECEPTION_STATS_DATABASE"] == "recyclic"
    # The demo's staff login never lands in attach mode's tables.
    assert services["demo-app"]["volumes"] != services["app"]["volumes"]


def test_the_demo_serves_plain_http_and_attach_mode_https(no_env, attach_env):
    for service in DEMO_SERVICES:
        environment = environment_of(no_env, service)
        assert environment["SECRET_KEY"].startswith("demo-only-")
        for name in ("SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE"):
            assert environment[name] == "false", name
    for service in ATTACH_SERVICES:
        environment = environment_of(attach_env, service)
        assert environment["SECRET_KEY"] == ATTACH_VARIABLES["SECRET_KEY"]
        assert environment["RECYCLIC_DATABASE_URL"] == ATTACH_VARIABLES["RECYCLIC_DATABASE_URL"]
        for name in ("SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE"):
            assert environment[name] == "true", name
        # Without .env nothing: the settings refuse (test_attach_migrate_needs_its_variables…).
        assert environment_of(no_env, service)["SECRET_KEY"] == ""
        assert environment_of(no_env, service)["RECYCLIC_DATABASE_URL"] == ""
    for environment in (environment_of(no_env, "demo-app"), environment_of(attach_env, "app")):
        assert environment["DEBUG"] == "false"
        assert {"app", "127.0.0.1"} <= set(environment["ALLOWED_HOSTS"].split(","))


def test_every_app_service_is_built_here(compose):
    for name in DEMO_SERVICES + ATTACH_SERVICES:
        service = compose["services"][name]
        assert service["build"]["context"] == "."
        assert set(service["build"]["args"]) == {"VERSION", "GIT_REVISION"}
        assert service["image"] == "recyclic-reception-stats:${VERSION:-0.1.0}"


def test_the_app_environment_is_the_documented_one(compose):
    given = set().union(
        *(
            compose["services"][service]["environment"]
            for service in DEMO_SERVICES + ATTACH_SERVICES
        )
    )
    assert given == DOCUMENTED_APP_VARIABLES


def test_every_variable_given_to_the_app_is_in_the_readme():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert {name for name in DOCUMENTED_APP_VARIABLES if f"`{name}`" not in readme} == set()


def test_every_variable_given_to_the_app_is_read_by_it():
    """A misspelt name would be silently ignored: each one appears in the settings or gunicorn."""
    code = (ROOT / "recyclic" / "settings.py").read_text() + (ROOT / "gunicorn.conf.py").read_text()
    for name in DOCUMENTED_APP_VARIABLES:
        assert f'"{name}"' in code, name


def env_example() -> dict[str, str]:
    example = (ROOT / ".env.example").read_bytes()
    assert not example.startswith(b"\xef\xbb\xbf")
    return dict(
        line.split("=", 1) for line in example.decode().splitlines() if line and line[0] != "#"
    )


def test_every_compose_variable_is_in_env_example(compose_text):
    used = set(re.findall(r"\$\{(\w+)", compose_text))
    assert used <= set(env_example()), used - set(env_example())


def test_prometheus_scrapes_the_app_of_either_mode(compose, no_env):
    prometheus = compose["services"]["prometheus"]
    assert prometheus["profiles"] == ["monitoring"]
    assert "metrics_token" in prometheus["secrets"]
    assert compose["secrets"]["metrics_token"] == {"environment": "METRICS_TOKEN"}
    mounts = {volume.split(":")[0]: volume.split(":")[1] for volume in prometheus["volumes"]}
    assert mounts["./deploy/prometheus.yml"] == "/etc/prometheus/prometheus.yml"
    assert all(port.startswith("127.0.0.1:") for port in prometheus["ports"])
    # Each app is waited for when its profile runs, and not required when it does not.
    assert prometheus["depends_on"] == {
        name: {"condition": "service_started", "required": False} for name in ("app", "demo-app")
    }

    config = yaml.safe_load((ROOT / "deploy" / "prometheus.yml").read_text())
    (job,) = config["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    assert job["static_configs"] == [{"targets": ["app:8000"]}]
    assert job["authorization"] == {
        "type": "Bearer",
        "credentials_file": "/run/secrets/metrics_token",
    }
    assert config["rule_files"] == [mounts["./deploy/alerts.yml"]]
    # app:8000 in both modes: attach's service is app, the demo's has that alias.
    assert no_env["services"]["demo-app"]["networks"] == {"default": {"aliases": ["app"]}}
    assert "app" in compose["services"]


def docker_compose_works() -> bool:
    try:
        return subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0
    except OSError:
        return False


@pytest.mark.skipif(not docker_compose_works(), reason="the docker compose CLI is not installed")
@pytest.mark.parametrize(
    ("profiles", "variables", "env_file"),
    [
        (["demo"], {}, os.devnull),
        (["demo", "monitoring"], {}, os.devnull),
        # A .env copied from the example, COMPOSE_PROFILES=attach included: the flag wins.
        (["demo"], {}, ".env.example"),
        (["attach"], ATTACH_VARIABLES, os.devnull),
        (["attach", "monitoring"], ATTACH_VARIABLES, os.devnull),
    ],
)
def test_docker_compose_accepts_each_profile(profiles, variables, env_file):
    """Docker Compose's own reading: the demo without .env nor any variable."""
    arguments = [arg for profile in profiles for arg in ("--profile", profile)]
    done = subprocess.run(
        ["docker", "compose", "--env-file", env_file, *arguments, "config", "--format", "json"],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"), **variables},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    expected = set().union(*(PROFILES[profile] for profile in profiles))
    assert set(json.loads(done.stdout)["services"]) == expected


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


def test_the_image_gives_the_sqlite_volume_to_the_app_user(dockerfile):
    """A named volume starts with the ownership of the image's directory it is mounted on."""
    useradd = dockerfile[index_of(dockerfile, r"RUN useradd")]
    assert "--uid 10001" in useradd
    created = re.search(r"install -d -o (\S+) -g \S+ ([^&]+)", useradd)
    assert created and created.group(1) == "recyclic"
    assert "/data" in created.group(2).split()


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


def _in_docker_context(relative: str) -> bool:
    """Whether Docker's build context keeps ``relative``, by .dockerignore's rules as Docker
    reads them: each pattern from the context's root, a directory's pattern covering what it
    holds, ``!`` taking a path back, the last matching line deciding."""
    kept = True
    parts = relative.split("/")
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        exception = line.startswith("!")
        pattern = line.removeprefix("!")
        prefixes = ["/".join(parts[: end + 1]) for end in range(len(parts))]
        if any(fnmatch.fnmatchcase(prefix, pattern) for prefix in prefixes):
            kept = exception
    return kept


def test_the_image_keeps_what_the_apps_links_point_to():
    """reception_stats/figures*.md link to docs/: the admin page's "?" opens them in the image."""
    links = [path for path in (ROOT / "reception_stats").iterdir() if path.is_symlink()]
    assert {link.name for link in links} >= {"figures.md", "figures.fr.md"}
    for link in links:
        target = link.resolve().relative_to(ROOT).as_posix()
        assert _in_docker_context(target), target
    assert not _in_docker_context("docs/performance.md")
    assert not _in_docker_context("tests/test_deploy.py")


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
    for name in (
        "GUNICORN_BIND",
        "GUNICORN_WORKERS",
        "GUNICORN_TIMEOUT",
        "GUNICORN_CLIENT_TIMEOUT",
        "GUNICORN_CONTROL_SOCKET",
    ):
        # Set, then removed: whatever the file sets in the environment is undone after the test.
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "prometheus"))
    # A copy beside a .env of this test's own (none unless the test writes one), never the
    # checkout's.
    conf = tmp_path / "gunicorn.conf.py"
    conf.write_text((ROOT / "gunicorn.conf.py").read_text())

    def load(**env: str) -> dict:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return runpy.run_path(str(conf))

    return load


def test_gunicorn_reads_its_settings_from_dotenv_too(gunicorn_conf, tmp_path, monkeypatch):
    """The README lists GUNICORN_* with the settings that come from the environment or .env:
    a .env line binding the loopback must not leave gunicorn on every interface."""
    (tmp_path / ".env").write_text(
        "SECRET_KEY=x\nGUNICORN_BIND=127.0.0.1:8382\nGUNICORN_WORKERS='3'\n# GUNICORN_TIMEOUT=9\n"
    )
    conf = gunicorn_conf(GUNICORN_TIMEOUT="40")  # the environment wins over .env

    assert conf["bind"] == ["127.0.0.1:8382"]
    assert (conf["workers"], conf["timeout"]) == (3, 40)
    assert os.environ["GUNICORN_WORKERS"] == "3"  # what the app's settings read in the workers
    assert os.environ["GUNICORN_CLIENT_TIMEOUT"] == "5"


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


# --- what the services run, executed on this machine ----------------------------------------
# No Docker engine here: each service's command runs as a process, with the service's
# environment (as Compose renders it) and the image's working directory, the compose network's
# names replaced by this machine's: the PostgreSQL of DATABASE_URL (a fresh database per test),
# Redis on 127.0.0.1 (database 13), a temporary directory for the /data volume.

needs_postgresql = pytest.mark.skipif(
    connections["default"].vendor != "postgresql",
    reason="the services run PostgreSQL: set DATABASE_URL=postgres://…",
)
needs_redis = pytest.mark.skipif(not redis_listens(), reason="no Redis server on 127.0.0.1:6379")


def image_environment(service_environment: Mapping[str, str], tmp_path: Path) -> dict[str, str]:
    """What a container of the image starts with: its ENV (the metrics directory), the service's
    environment, and this virtualenv's python first on PATH. Nothing of the suite's own."""
    metrics = tmp_path / "prometheus-multiproc"
    metrics.mkdir(exist_ok=True)
    return {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "PROMETHEUS_MULTIPROC_DIR": str(metrics),
        **service_environment,
    }


def on_this_machine(
    compose: dict, service: str, tmp_path: Path, recyclic_url: str | None = None
) -> dict[str, str]:
    """The service's environment with the compose network's names replaced by this machine's."""
    environment = environment_of(compose, service)
    assert environment["DATABASE_URL"].startswith("sqlite:////data/")
    environment["DATABASE_URL"] = environment["DATABASE_URL"].replace("/data/", f"{tmp_path}/")
    assert environment["CACHE_URL"].startswith("redis://stats-redis:6379/")
    environment["CACHE_URL"] = DEPLOY_REDIS_URL
    if recyclic_url:
        environment["RECYCLIC_DATABASE_URL"] = recyclic_url
    return image_environment(environment, tmp_path)


def run(command: list[str], environment: dict[str, str]) -> subprocess.CompletedProcess:
    """A service's command, from the image's working directory (the checkout here)."""
    return subprocess.run(
        command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=300
    )


def manage(*args: str, environment: dict[str, str]) -> subprocess.CompletedProcess:
    return run(["python", "manage.py", *args], environment)


@pytest.fixture
def postgres_admin() -> Iterator[psycopg.Connection]:
    """A connection to the server of DATABASE_URL, as its superuser, outside any database."""
    settings = connections["default"].settings_dict
    with psycopg.connect(
        host=settings["HOST"] or "127.0.0.1",
        port=settings["PORT"] or 5432,
        user=settings["USER"] or "postgres",
        password=settings["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,
    ) as connection:
        yield connection


@pytest.fixture
def fresh_database(postgres_admin) -> Iterator[str]:
    """The URL of a new, empty database (owner: the suite's user), dropped afterwards."""
    name = f"rs_deploy_{uuid4().hex[:12]}"
    postgres_admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield postgres_url({**connections["default"].settings_dict, "NAME": name})
    finally:
        postgres_admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def deploy_redis() -> Iterator[None]:
    client = redis.Redis.from_url(DEPLOY_REDIS_URL)
    client.flushdb()
    yield
    client.flushdb()


def relations(url: str) -> set[tuple[str, str, str]]:
    """Every schema, table, view, sequence and type of a database, outside PostgreSQL's own."""
    with psycopg.connect(url) as connection:
        rows = connection.execute(
            "SELECT n.nspname, c.relname, c.relkind::text FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')"
            " UNION SELECT n.nspname, t.typname, 'type' FROM pg_type t"
            " JOIN pg_namespace n ON n.oid = t.typnamespace"
            " WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')"
            " UNION SELECT nspname, '', 'schema' FROM pg_namespace"
        ).fetchall()
    return set(rows)


@needs_postgresql
@needs_redis
def test_demo_profile_runs_init_then_serves_figures(no_env, fresh_database, deploy_redis, tmp_path):
    """demo-init on an empty database standing in for demo-postgres (its owner: the suite's
    user), twice as two `up` would; then demo-app's gunicorn answers /healthz and the API."""
    init = on_this_machine(no_env, "demo-init", tmp_path, recyclic_url=fresh_database)
    first = run(no_env["services"]["demo-init"]["command"], init)
    assert first.returncode == 0, first.stderr
    assert "recyclic" in first.stdout and "2 sites" in first.stdout  # the history, written
    again = run(no_env["services"]["demo-init"]["command"], init)
    assert again.returncode == 0, again.stderr
    assert "2 sites" not in again.stdout  # the first history kept
    # The logins, in the service's log (the project speaks French by default), a staff one and
    # a Recyclic admin's, with a token signed like Recyclic's; new ones each time.
    passwords = [
        re.findall(r"(?:Password|Mot de passe) ?: (\S+)", done.stdout) for done in (first, again)
    ]
    assert all(len(found) == 2 for found in passwords) and passwords[0] != passwords[1]
    assert "Authorization: Bearer ey" in first.stdout

    app = on_this_machine(no_env, "demo-app", tmp_path, recyclic_url=fresh_database)
    # The API's credentials, as an operator makes them for a screen: the demo user holds the
    # permission view_live_stats (reset_demo_staff_user).
    token = manage("drf_create_token", "demo", environment=app)
    assert token.returncode == 0, token.stderr
    (key,) = re.findall(r"\b[0-9a-f]{40}\b", token.stdout)

    with gunicorn(app, tmp_path, workers=int(app["GUNICORN_WORKERS"])) as server:
        status, body = server.get("/healthz")
        assert status == 200, body
        assert json.loads(body) | {"version": None, "revision": None} == {
            "status": "ok",
            "database": "ok",
            "django_database": "ok",
            "schema": "ok",
            "enabled": True,
            "version": None,
            "revision": None,
        }
        status, body = server.get("/api/v1/reception/stats/live?window=today", token=key)
        assert status == 200, body
        figures = json.loads(body)
    # Today's postes and tills hold open and closed tickets and sales at any hour of the day.
    assert figures["enabled"] is True and figures["stale"] is False
    assert figures["tickets_open"] > 0
    assert figures["tickets_closed_24h"] > 0
    assert figures["sales_count"] > 0 and figures["turnover_eur"] > 0
    assert figures["weight_in"] > 0


def test_attach_migrate_needs_its_variables_and_never_recyclic_s_database(no_env, tmp_path):
    """Without .env Compose passes empty values, and the settings name what is missing. With
    them, migrate runs even while Recyclic's PostgreSQL is down: it never connects to it."""
    command = no_env["services"]["migrate"]["command"]
    migrate = on_this_machine(no_env, "migrate", tmp_path)
    done = run(command, migrate)
    assert done.returncode != 0
    assert "SECRET_KEY is not set" in done.stderr.strip().splitlines()[-1]
    assert "Traceback" not in done.stderr  # one line naming it, as the README says
    migrate["SECRET_KEY"] = ATTACH_VARIABLES["SECRET_KEY"]
    done = run(command, migrate)
    assert done.returncode != 0
    assert "RECYCLIC_DATABASE_URL is not set" in done.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "django.sqlite3").exists()
    # Port 1: nothing listens there.
    migrate["RECYCLIC_DATABASE_URL"] = "postgres://reception_stats_reader:x@127.0.0.1:1/recyclic"
    done = run(command, migrate)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "django.sqlite3").exists()


READ_ONLY_ROLE_SQL = ROOT / "deploy" / "recyclic-readonly-role.sql"
ROLE_LIMITS = {
    "default_transaction_read_only": "on",
    "statement_timeout": "5s",
    "lock_timeout": "1s",
    "idle_in_transaction_session_timeout": "30s",
}


@pytest.fixture
def reader_role(fresh_database, postgres_admin) -> Iterator[tuple[str, str]]:
    """A role name of this run's own (roles are the whole server's) and its password. Dropped
    afterwards, after the database it was granted on: a role with grants cannot be dropped."""
    role, password = f"rs_deploy_reader_{uuid4().hex[:8]}", uuid4().hex
    yield role, password
    name = urlsplit(fresh_database).path[1:]
    postgres_admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    postgres_admin.execute(f'DROP ROLE IF EXISTS "{role}"')


def create_read_only_role(database_url: str, role: str, password: str) -> None:
    variables = ["-v", f"role={role}", "-v", f"password={password}"]
    done = subprocess.run(
        ["psql", "-X", "-q", "-d", database_url, *variables, "-f", str(READ_ONLY_ROLE_SQL)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert f'Read-only role "{role}" ready' in done.stdout


def as_role(url: str, role: str, password: str) -> str:
    parts = urlsplit(url)
    return parts._replace(netloc=f"{role}:{password}@{parts.hostname}:{parts.port}").geturl()


@needs_postgresql
@needs_redis
@pytest.mark.skipif(not shutil.which("psql"), reason="psql runs deploy/recyclic-readonly-role.sql")
def test_attach_mode_reads_recyclic_as_the_read_only_role_and_writes_nothing_there(
    attach_env, fresh_database, reader_role, postgres_admin, deploy_redis, tmp_path
):
    """A Recyclic database with rows (the demo history, written by its owner), the role of
    deploy/recyclic-readonly-role.sql, then what attach mode runs: migrate, and as the app would,
    the figures and the schema check."""
    owner = image_environment(
        {
            "SECRET_KEY": "tests-only-recyclic-owner",
            "DATABASE_URL": f"sqlite:///{tmp_path}/owner.sqlite3",
            "RECYCLIC_DATABASE_URL": fresh_database,
        },
        tmp_path,
    )
    filled = manage("reception_demo", "--database", "recyclic", environment=owner)
    assert filled.returncode == 0, filled.stderr
    with psycopg.connect(fresh_database, autocommit=True) as connection:
        # One of Recyclic's tables the figures do not read: the role must not see it.
        connection.execute("CREATE TABLE user_sessions (id uuid PRIMARY KEY, token text)")

    role, password = reader_role
    create_read_only_role(fresh_database, role, password)
    create_read_only_role(fresh_database, role, password)  # re-run: same result, no error
    reader_url = as_role(fresh_database, role, password)
    before = relations(fresh_database)

    migrate = on_this_machine(attach_env, "migrate", tmp_path, recyclic_url=reader_url)
    done = run(attach_env["services"]["migrate"]["command"], migrate)
    assert done.returncode == 0, done.stderr
    assert relations(fresh_database) == before
    with sqlite3.connect(tmp_path / "django.sqlite3") as django_tables:
        names = {row[0] for row in django_tables.execute("SELECT name FROM sqlite_master")}
    assert {"auth_user", "authtoken_token", "django_session"} <= names

    app = on_this_machine(attach_env, "app", tmp_path, recyclic_url=reader_url)
    figures = manage("reception_stats", "--format", "json", environment=app)
    assert figures.returncode == 0, figures.stderr
    assert json.loads(figures.stdout)["tickets_open"] > 0
    check = manage("check", "--database", "recyclic", "--fail-level", "WARNING", environment=app)
    assert check.returncode == 0, check.stderr + check.stdout
    assert relations(fresh_database) == before

    tables = [model._meta.db_table for model in RECYCLIC_MODELS]
    with psycopg.connect(reader_url, autocommit=True) as reader:
        for setting, value in ROLE_LIMITS.items():
            assert reader.execute(f"SHOW {setting}").fetchone() == (value,)
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            reader.execute("INSERT INTO sites (id, name) VALUES (gen_random_uuid(), 'x')")
        # Past the role's default, the grants still refuse.
        reader.execute("SET default_transaction_read_only = off")
        for statement in (
            "INSERT INTO sites (id, name) VALUES (gen_random_uuid(), 'x')",
            "DELETE FROM sales",
            "SELECT * FROM user_sessions",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                reader.execute(statement)
    with psycopg.connect(fresh_database) as owner_connection:
        granted = owner_connection.execute(
            "SELECT p.privilege, c.relname FROM pg_class c, unnest(ARRAY['SELECT', 'INSERT',"
            " 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER']) p(privilege)"
            " WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm')"
            " AND has_table_privilege(%s, c.oid, p.privilege)",
            [role],
        ).fetchall()
    assert sorted(granted) == sorted(("SELECT", table) for table in tables)
