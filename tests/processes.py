"""Real processes the tests start (gunicorn, ``manage.py``), with an environment of their own."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

ROOT = Path(__file__).resolve().parent.parent
STARTUP_SECONDS = 60


def environment_without(prefixes: tuple[str, ...], **values: str) -> dict[str, str]:
    """This process's environment less the variables whose names start with ``prefixes``
    (the suite's own settings must not leak into the child), plus ``values``."""
    environment = {
        name: value for name, value in os.environ.items() if not name.startswith(prefixes)
    }
    environment.update(values)
    return environment


def postgres_url(settings_dict: Mapping[str, Any], port: int | None = None, **query: str) -> str:
    """A ``postgres://`` URL for a connection's settings; ``port`` to go through a relay."""
    credentials = quote(settings_dict["USER"] or "postgres", safe="")
    if settings_dict["PASSWORD"]:
        credentials += ":" + quote(settings_dict["PASSWORD"], safe="")
    host = settings_dict["HOST"] or "127.0.0.1"
    port = port or settings_dict["PORT"] or 5432
    url = f"postgres://{credentials}@{host}:{port}/{settings_dict['NAME']}"
    if query:
        url += "?" + "&".join(f"{key}={value}" for key, value in query.items())
    return url


def manage_py(*args: str, environment: dict[str, str]) -> subprocess.CompletedProcess:
    """``python manage.py *args`` in a process of its own, its output captured."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


class Gunicorn:
    """A running gunicorn: its error log (the app's logs too), its access log, its address."""

    def __init__(self, process: subprocess.Popen, log: Path, access_log: Path) -> None:
        self.process = process
        self.log = log
        self.access_log = access_log
        self.url = ""

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, pattern: str, count: int = 1) -> list[str]:
        """The first group of ``pattern`` in the log once it appears ``count`` times."""
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            found = re.findall(pattern, self.log_text())
            if len(found) >= count:
                return found
            if self.process.poll() is not None:
                pytest.fail(f"gunicorn exited ({self.process.returncode}):\n{self.log_text()}")
            time.sleep(0.1)
        pytest.fail(f"gunicorn never logged {pattern!r} {count} times:\n{self.log_text()}")

    def get(
        self, path: str, token: str | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, str]:
        status, _headers, body = self.request(path, token, headers)
        return status, body

    def request(
        self, path: str, token: str | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], str]:
        """Status, headers and body of a GET; ``token`` is a DRF token."""
        request = urllib.request.Request(
            self.url + path, headers={"Accept-Language": "en", **(headers or {})}
        )
        if token:
            request.add_header("Authorization", f"Token {token}")
        try:
            with urllib.request.urlopen(request, timeout=20) as response:
                return response.status, dict(response.headers), response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read().decode()


@contextmanager
def gunicorn(environment: dict[str, str], directory: Path, workers: int) -> Iterator[Gunicorn]:
    """``gunicorn -c gunicorn.conf.py recyclic.wsgi`` as deployed, its logs in ``directory``,
    until the block ends; then it and its workers are stopped whatever happened."""
    log, access_log = directory / "gunicorn.log", directory / "access.log"
    with log.open("wb") as stderr, access_log.open("wb") as stdout:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "recyclic.wsgi"],
            cwd=ROOT,
            env={**environment, "GUNICORN_BIND": "127.0.0.1:0", "GUNICORN_WORKERS": str(workers)},
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,  # one process group: stopping it stops the workers
        )
    server = Gunicorn(process, log, access_log)
    try:
        (server.url,) = server.wait_for(r"Listening at: (http://127\.0\.0\.1:\d+)")
        server.wait_for(r"Booting worker with pid: (\d+)", count=workers)
        yield server
    finally:
        stop_process_group(process)


def stop_process_group(process: subprocess.Popen) -> None:
    """Stop a server started with ``start_new_session=True`` and all it forked: TERM, then KILL."""
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue
