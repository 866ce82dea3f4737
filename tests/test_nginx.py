"""nginx in front of Recyclic's site: the shipped ``deploy/nginx`` configuration, run for real.

Debian's nginx runs ``deploy/nginx/recyclic-reception-stats.conf`` on a free loopback port, the
file's text changed in four places only (``render`` below: its listen port and its three upstream
addresses). Recyclic's API and frontend are small HTTP servers in threads that answer
what they received (path and headers). reception_stats is either such a server too (the routing
test, on any database) or a real gunicorn of this project (the end-to-end tests, on the suite's
PostgreSQL test database or on a SQLite file prepared for it).

Skipped when nginx is not installed or cannot run (``make test`` installs Debian's
``nginx`` as root). Every process and thread started here is stopped at the end.
"""

from __future__ import annotations

import grp
import http.client
import json
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import jwt
import pytest
from django.db import connections

from tests.processes import (
    ROOT,
    STARTUP_SECONDS,
    Gunicorn,
    environment_without,
    gunicorn,
    postgres_url,
    stop_process_group,
)
from tests.recipes import NOW

SHIPPED = ROOT / "deploy" / "nginx" / "recyclic-reception-stats.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
#: The shipped server_name: the Host every request here sends, and the app's ALLOWED_HOSTS.
SITE = "recyclic.example.org"
LIVE = "/api/v1/reception/stats/live"
RECYCLIC_LIVE = "/api/v1/stats/live"
SITE_ID = "6f1c1f4e-5d55-4a57-9f3e-3c1e2c0d9a10"
TIMEOUT = 20


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- Recyclic's services, faked: they answer what they received ---------------------------------


class EchoUpstream:
    """An HTTP server in a thread that answers every GET with 200 and, as JSON, the upstream's
    name, the path it received and its headers; ``received`` keeps them in order."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.received: list[dict] = []
        upstream = self

        class Echo(BaseHTTPRequestHandler):
            timeout = TIMEOUT  # seconds to wait for a request on an open connection

            def do_GET(self) -> None:
                seen = {
                    "upstream": upstream.name,
                    "path": self.path,
                    "headers": {name.lower(): value for name, value in self.headers.items()},
                }
                upstream.received.append(seen)
                body = json.dumps(seen).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args) -> None:
                pass  # `received` is the log

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )

    def paths(self) -> list[str]:
        return [seen["path"] for seen in self.received]

    def __enter__(self) -> EchoUpstream:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def recyclic_api() -> Iterator[EchoUpstream]:
    with EchoUpstream("recyclic_api") as upstream:
        yield upstream


@pytest.fixture
def recyclic_frontend() -> Iterator[EchoUpstream]:
    with EchoUpstream("recyclic_frontend") as upstream:
        yield upstream


# --- nginx with the shipped file ----------------------------------------------------------------


@pytest.fixture(scope="module")
def nginx_runs() -> None:
    """Skip unless Debian's nginx is installed and runs here."""
    if not Path(NGINX).exists():
        pytest.skip("nginx is not installed (make test installs Debian's nginx when run as root)")
    try:
        done = subprocess.run([NGINX, "-v"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError) as error:
        pytest.skip(f"nginx cannot run here: {error}")
    if done.returncode != 0:
        pytest.skip(f"nginx cannot run here: {done.stderr.strip()}")


def render(listen: int, app: int, api: int, frontend: int) -> str:
    """The shipped file's text with its listen port and upstream addresses on loopback: the only
    changes, each of a line that must be in the file exactly once."""
    local_addresses = {
        "listen 80;": f"listen 127.0.0.1:{listen};",
        "server app:8000;": f"server 127.0.0.1:{app};",
        "server api:8000;": f"server 127.0.0.1:{api};",
        "server frontend:80;": f"server 127.0.0.1:{frontend};",
    }
    text = SHIPPED.read_text()
    for shipped, local in local_addresses.items():
        assert text.count(shipped) == 1, f"{shipped!r} is not exactly once in {SHIPPED.name}"
        text = text.replace(shipped, local)
    return text


def main_config(directory: Path, site_config: Path) -> str:
    """What /etc/nginx/nginx.conf gives the file (the http block that includes it), with every
    path nginx writes in ``directory``."""
    # Run by root, nginx's workers would be `nobody`, who cannot enter pytest's private
    # temporary directories: they run as the test's own user instead.
    user = ""
    if os.geteuid() == 0:
        user = f"user {pwd.getpwuid(os.geteuid()).pw_name} {grp.getgrgid(os.getegid()).gr_name};"
    return f"""{user}
worker_processes 1;
events {{ worker_connections 64; }}
http {{
    access_log {directory}/access.log;
    client_body_temp_path {directory}/client_body;
    proxy_temp_path {directory}/proxy;
    fastcgi_temp_path {directory}/fastcgi;
    uwsgi_temp_path {directory}/uwsgi;
    scgi_temp_path {directory}/scgi;
    include {site_config};
}}
"""


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Nginx:
    port: int
    directory: Path

    def get(self, path: str, headers: dict[str, str] | None = None) -> Answer:
        """GET ``path`` from nginx as a browser on the site would (Host: the site's name)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=TIMEOUT)
        try:
            connection.request("GET", path, headers={"Host": SITE, **(headers or {})})
            response = connection.getresponse()
            return Answer(response.status, response.headers, response.read())
        finally:
            connection.close()

    def error_log(self) -> str:
        path = self.directory / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""


@contextmanager
def nginx_in_front(directory: Path, app: int, api: int, frontend: int) -> Iterator[Nginx]:
    """nginx in the foreground with the rendered file until the block ends, then stopped."""
    directory.mkdir()
    port = free_port()
    site_config = directory / SHIPPED.name
    site_config.write_text(render(port, app, api, frontend))
    config = directory / "nginx.conf"
    config.write_text(main_config(directory, site_config))
    command = [
        NGINX,
        "-p",
        f"{directory}/",
        "-c",
        str(config),
        "-e",
        str(directory / "error.log"),
        "-g",
        f"daemon off; pid {directory / 'nginx.pid'};",
    ]
    checked = subprocess.run([*command, "-t"], capture_output=True, text=True, timeout=TIMEOUT)
    assert checked.returncode == 0, f"nginx -t refused the file:\n{checked.stderr}"
    server = Nginx(port, directory)
    with (directory / "nginx.out").open("wb") as output:
        process = subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if process.poll() is not None:
                pytest.fail(f"nginx exited ({process.returncode}):\n{server.error_log()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, f"nginx never listened:\n{server.error_log()}"
                time.sleep(0.05)
        yield server
    finally:
        stop_process_group(process)


# --- Routing, with reception_stats faked too: any database ---------------------------------------


def test_each_path_reaches_its_upstream_with_the_proxy_headers(
    nginx_runs, tmp_path, recyclic_api, recyclic_frontend
):
    credentials = {"Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.recyclic.jwt"}
    with (
        EchoUpstream("reception_stats") as app,
        nginx_in_front(
            tmp_path / "nginx", app.port, recyclic_api.port, recyclic_frontend.port
        ) as proxy,
    ):
        answers = {
            path: proxy.get(path, credentials)
            for path in (
                f"{LIVE}?window=today",
                f"{RECYCLIC_LIVE}?period_type=daily&site_id={SITE_ID}",
                "/api/v1/sales?limit=5",
                f"{LIVE}/breakdown",
                "/",
                "/reception",
            )
        }
        # A client's own X-Forwarded-* headers: the proxy appends to one and overwrites the other.
        spoofed = proxy.get(
            "/api/v1/sales", {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}
        )

    assert {path: answer.status for path, answer in answers.items()} == dict.fromkeys(answers, 200)
    # The two live-stats paths go to reception_stats, path and query string unchanged.
    assert app.paths() == [
        f"{LIVE}?window=today",
        f"{RECYCLIC_LIVE}?period_type=daily&site_id={SITE_ID}",
    ]
    # Every other API path to Recyclic's API without the /api prefix, as Traefik strips it. The
    # exact matches take nothing else: even reception_stats' own breakdown path goes to Recyclic.
    assert recyclic_api.paths() == [
        "/v1/sales?limit=5",
        "/v1/reception/stats/live/breakdown",
        "/v1/sales",
    ]
    assert recyclic_frontend.paths() == ["/", "/reception"]

    for seen in app.received + recyclic_api.received[:2] + recyclic_frontend.received:
        headers = seen["headers"]
        assert headers["host"] == SITE, seen
        assert headers["authorization"] == credentials["Authorization"], seen
        assert headers["x-forwarded-for"] == "127.0.0.1", seen
        assert headers["x-forwarded-proto"] == "http", seen
    assert spoofed.status == 200
    spoofed_headers = recyclic_api.received[-1]["headers"]
    assert spoofed_headers["x-forwarded-for"] == "203.0.113.7, 127.0.0.1"
    assert spoofed_headers["x-forwarded-proto"] == "http"


# --- reception_stats itself behind nginx: a real gunicorn ---------------------------------------

# Run by `python -c` with the server's environment: the data the figures are checked against
# (docs/figures.md's worked example, and a little activity of the last minutes for Recyclic's
# own endpoint, which has no `at`), a manager's DRF token and a Recyclic admin's id, printed.
# With the argument "new", the database is a new SQLite file: Django's and Recyclic's tables
# first.
SEED = """
import sys
from datetime import timedelta

import django

django.setup()
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.utils import timezone
from rest_framework.authtoken.models import Token

from reception_stats.db import allow_recyclic_writes
from reception_stats.schema import create_recyclic_tables
from tests.recipes import (
    build_worked_example, make_poste, make_recyclic_user, make_sale, make_ticket,
)

if sys.argv[1:] == ["new"]:
    call_command("migrate", verbosity=0)
    create_recyclic_tables()
with allow_recyclic_writes():
    build_worked_example()
    now = timezone.now()
    make_ticket(make_poste(now - timedelta(minutes=10)), lines=["6.5"])
    make_sale(created_at=now - timedelta(minutes=5), total_amount=12.0)
    admin = make_recyclic_user(username="camille.martin", role="admin")
manager = get_user_model().objects.create_user("gerante-nginx", is_staff=True)
manager.user_permissions.add(Permission.objects.get(codename="view_live_stats"))
print(Token.objects.create(user=manager).key, admin.pk)
"""
#: Stands for Recyclic's own SECRET_KEY, which signs the tokens its frontend sends.
RECYCLIC_KEY = "tests-only-recyclic-key-behind-nginx-32b"


def server_environment(database_url: str, tmp_path: Path) -> dict[str, str]:
    return environment_without(
        ("DJANGO_", "PROMETHEUS_", "GUNICORN_", "METRICS_", "RECEPTION_", "LIVE_"),
        DJANGO_SETTINGS_MODULE="recyclic.settings",
        SECRET_KEY="tests-only-nginx",
        DEBUG="false",
        SECURE_SSL_REDIRECT="false",  # plain http on loopback
        # As the README and the shipped file ask behind the proxy.
        ALLOWED_HOSTS=SITE,
        SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO,https",
        DATABASE_URL=database_url,
        CACHE_URL="locmemcache://",
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "prometheus"),
        LOG_FORMAT="plain",
        RECYCLIC_SECRET_KEY=RECYCLIC_KEY,
    )


@pytest.fixture
def app_and_token(django_db_setup, tmp_path) -> Iterator[tuple[Gunicorn, str]]:
    """gunicorn (one worker) on the suite's PostgreSQL test database, or on a SQLite file made
    here, holding the worked example; and a manager's token."""
    default = connections["default"]
    if default.vendor == "postgresql":
        url, new = postgres_url(default.settings_dict), []
    else:
        url, new = f"sqlite:///{tmp_path / 'nginx.sqlite3'}", ["new"]
    environment = server_environment(url, tmp_path)
    seeding = {**environment, "METRICS_ENABLED": "false"}
    del seeding["PROMETHEUS_MULTIPROC_DIR"]  # gunicorn's to create
    seeded = subprocess.run(
        [sys.executable, "-c", SEED, *new],
        cwd=ROOT,
        env=seeding,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert seeded.returncode == 0, seeded.stderr
    token, recyclic_admin = seeded.stdout.split()[-2:]
    with gunicorn(environment, tmp_path, workers=1) as server:
        yield server, token, recyclic_admin


def app_port(server: Gunicorn) -> int:
    return int(server.url.rpartition(":")[2])


def wait_for_access_line(server: Gunicorn, pattern: str) -> str:
    """gunicorn writes the access line once the answer is sent: it may come just after."""
    deadline = time.monotonic() + TIMEOUT
    while not (found := re.search(pattern, server.access_log.read_text(), re.MULTILINE)):
        assert time.monotonic() < deadline, (
            f"gunicorn never logged {pattern!r}:\n{server.access_log.read_text()}"
        )
        time.sleep(0.05)
    return found.group(0)


@pytest.mark.gunicorn
@pytest.mark.django_db(transaction=True)
def test_the_figures_come_from_reception_stats_through_nginx(
    nginx_runs, tmp_path, app_and_token, recyclic_api, recyclic_frontend
):
    server, token, _recyclic_admin = app_and_token
    query = f"?window=today&at={quote(NOW.isoformat())}"
    with nginx_in_front(
        tmp_path / "nginx", app_port(server), recyclic_api.port, recyclic_frontend.port
    ) as proxy:
        figures = proxy.get(LIVE + query, {"Authorization": f"Token {token}"})
        anonymous = proxy.get(LIVE + query)

    assert figures.status == 200, (figures.body, server.log_text())
    assert figures.headers["Content-Type"] == "application/json"
    body = figures.json()
    # docs/figures.md's worked example, window today.
    assert (body["window"], body["tickets_open"], body["weight_in"]) == ("today", 1, 17.5)
    assert (body["turnover_eur"], body["stale"]) == (75.0, False)
    # Without credentials, the app's own 401 (so Authorization is what made the difference).
    assert anonymous.status == 401
    assert anonymous.headers["WWW-Authenticate"] == "Token"
    # No HSTS: the proxy told the app the request was plain http (it was).
    assert "Strict-Transport-Security" not in figures.headers
    assert recyclic_api.received == recyclic_frontend.received == []


@pytest.mark.gunicorn
@pytest.mark.django_db(transaction=True)
def test_recyclics_frontend_gets_these_figures_with_its_own_token(
    nginx_runs, tmp_path, app_and_token, recyclic_api, recyclic_frontend
):
    """Recyclic's frontend, unchanged: its path, its parameters, its Bearer token signed with
    Recyclic's key; the answer in Recyclic's field names, with this app's figures."""
    server, _token, recyclic_admin = app_and_token
    token = jwt.encode(
        {"sub": recyclic_admin, "exp": datetime.now(UTC) + timedelta(hours=1)},
        RECYCLIC_KEY,
        algorithm="HS256",
    )
    path = f"{RECYCLIC_LIVE}?period_type=24h"
    with nginx_in_front(
        tmp_path / "nginx", app_port(server), recyclic_api.port, recyclic_frontend.port
    ) as proxy:
        answer = proxy.get(path, {"Authorization": f"Bearer {token}"})
        refused = proxy.get(path, {"Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.forged.jwt"})

    assert answer.status == 200, (answer.body, server.log_text())
    body = answer.json()
    # The activity of the last minutes: an open ticket of 6.5 kg, a sale of 12 euros.
    assert (body["tickets_open"], body["weight_in"], body["ca"]) == (1, 6.5, 12.0)
    assert body["tickets_count"] == 1
    assert (refused.status, refused.headers["WWW-Authenticate"]) == (401, "Bearer")
    # gunicorn logged both, with their query string: the app answered, not Recyclic.
    wait_for_access_line(server, rf'"GET {re.escape(path)} HTTP/1\.[01]" 200 ')
    assert recyclic_api.received == recyclic_frontend.received == []
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
