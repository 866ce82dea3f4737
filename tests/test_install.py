"""Add the app to a new Django project by following the README, from the built wheel.

The wheel is built from this checkout, installed in a fresh virtualenv with its extras (from
PyPI or pip's cache), a host project is made with ``django-admin startproject``, and the
README's steps are applied **as written**: the code blocks of its section "Add it to your own
Django project" are appended to the host's ``settings.py`` and ``urls.py``. Then ``check``,
``migrate``, the demo data, the command, an API request with a token, ``/healthz``,
``/metrics`` and the admin page must all work.

It builds and installs for about a minute, and does not depend on the suite's database: it runs
in the SQLite pass of CI only.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from django.db import connections

ROOT = Path(__file__).resolve().parent.parent
SECTION = "## Add it to your own Django project"

pytestmark = pytest.mark.skipif(
    connections["default"].vendor != "sqlite",
    reason="independent of the suite's database: it runs once, in the SQLite pass",
)


def readme_block(after: str) -> str:
    """The first fenced code block following the line ``after`` in the README's section."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index(SECTION) :]
    section = section[: section.index("\n## ", 1)]
    start = section.index(after)
    match = re.search(r"```\w*\n(.*?)```", section[start:], re.DOTALL)
    assert match, f"no code block after {after!r} in the README"
    return match.group(1)


def run(*command: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"{command}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", dist, ROOT, cwd=ROOT)
    (built,) = dist.glob("django_reception_stats-*.whl")
    return built


@pytest.fixture(scope="module")
def host(tmp_path_factory, wheel) -> tuple[Path, dict[str, str]]:
    """A new project, ``hostproj``, with the app installed and the README's steps applied."""
    where = tmp_path_factory.mktemp("host")
    venv = where / "venv"
    run(sys.executable, "-m", "venv", venv, cwd=where)
    python = venv / "bin" / "python"
    install = readme_block("```sh\npip install")  # the README's own line, extras included
    extras = re.search(r"\[([\w,-]+)\]", install).group(1)
    run(python, "-m", "pip", "install", "-q", f"{wheel}[{extras}]", cwd=where)
    project = where / "project"
    project.mkdir()
    run(venv / "bin" / "django-admin", "startproject", "hostproj", project, cwd=where)
    package = project / "hostproj"
    with (package / "settings.py").open("a", encoding="utf-8") as settings:
        settings.write("\n" + readme_block("Append to your `settings.py`:"))
    with (package / "urls.py").open("a", encoding="utf-8") as urls:
        urls.write("\n" + readme_block("Append to your `urls.py`"))
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "DATABASE_URL", "RECEPTION_", "RECYCLIC_", "PYTHON"))
    }
    environment["PATH"] = f"{venv / 'bin'}:{environment['PATH']}"
    return project, environment


def manage(host: tuple[Path, dict[str, str]], *args: str) -> str:
    project, environment = host
    python = project.parent / "venv" / "bin" / "python"
    return run(python, "manage.py", *args, cwd=project, env=environment)


def test_the_wheel_carries_the_app_and_nothing_of_the_example_project(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names}
    assert {entry for entry in top if not entry.endswith(".dist-info")} == {"reception_stats"}
    assert "reception_stats/sql/recyclic_schema.sql" in names
    assert "reception_stats/locale/fr/LC_MESSAGES/django.mo" in names
    assert any(name.startswith("reception_stats/templates/admin/") for name in names)
    assert any(name.startswith("reception_stats/static/reception_stats/") for name in names)
    assert not [name for name in names if name.startswith(("recyclic/", "tests/", "bench/"))]
    # What the admin page's "?" opens, in both languages.
    assert {"reception_stats/figures.md", "reception_stats/figures.fr.md"} <= set(names)


def test_a_new_project_following_the_readme_gets_every_door(host):
    assert "System check identified no issues" in manage(host, "check")
    manage(host, "migrate", "--noinput")
    assert "Demo history written" in manage(host, "reception_demo")
    figures = json.loads(manage(host, "reception_stats", "--format", "json"))
    assert figures["enabled"] is True
    assert figures["sales_count"] > 0

    script = """
import json
import django
django.setup()
from django.contrib.auth import get_user_model
from django.test import Client
from django.test.utils import setup_test_environment
from rest_framework.authtoken.models import Token

setup_test_environment()
admin = get_user_model().objects.create_superuser("gerante", "g@example.org", "un-mot-de-passe")
token = Token.objects.create(user=admin).key
client = Client()
answers = {
    "api": client.get("/api/v1/reception/stats/live", HTTP_AUTHORIZATION=f"Token {token}"),
    "anonymous api": client.get("/api/v1/reception/stats/live"),
    "healthz": client.get("/healthz"),
    "metrics": client.get("/metrics"),
}
client.force_login(admin)
answers["admin page"] = client.get("/admin/reception_stats/livestats/")
answers["admin index"] = client.get("/admin/")
print(json.dumps({
    name: {"status": response.status_code, "body": response.content.decode()[:20000]}
    for name, response in answers.items()
}))
"""
    project, environment = host
    answers = json.loads(
        run(
            project.parent / "venv" / "bin" / "python",
            "-c",
            script,
            cwd=project,
            env={**environment, "DJANGO_SETTINGS_MODULE": "hostproj.settings"},
        )
    )
    statuses = {name: answer["status"] for name, answer in answers.items()}
    assert statuses == {
        "api": 200,
        "anonymous api": 401,
        "healthz": 200,
        "metrics": 200,
        "admin page": 200,
        "admin index": 200,
    }
    assert json.loads(answers["api"]["body"])["sales_count"] == figures["sales_count"]
    assert json.loads(answers["healthz"]["body"])["status"] == "ok"
    assert "reception_live_stats_enabled" in answers["metrics"]["body"]
    assert 'data-figure="turnover_eur"' in answers["admin page"]["body"]
    assert "/admin/reception_stats/livestats/" in answers["admin index"]["body"]


def test_the_token_command_of_the_readme_exists_there(host):
    project, environment = host
    manage(host, "migrate", "--noinput")
    run(
        project.parent / "venv" / "bin" / "python",
        "manage.py",
        "createsuperuser",
        "--noinput",
        "--username",
        "ecran-accueil",
        "--email",
        "ecran@example.org",
        cwd=project,
        env={**environment, "DJANGO_SUPERUSER_PASSWORD": "un-mot-de-passe-solide"},
    )
    assert "Generated token" in manage(host, "drf_create_token", "ecran-accueil")
