"""``GET /healthz``: does the database answer, does it hold Recyclic's tables as the models read.

Everyone gets the status and its HTTP code, which is all a load balancer or a container
healthcheck needs:

- ``ok`` (200): the database answers and the schema check finds nothing;
- ``degraded`` (200): the database answers but the schema check reports problems; the process
  itself works, so restarting it would not help, but the figures are wrong or fail;
- ``error`` (503): the database does not answer.

Staff members and the callers :func:`~reception_stats.exporter.may_read_metrics` lets in also get
the details: ``database``, ``schema`` (``"ok"``, or the problems), ``enabled`` (the feature flag),
``version`` and ``revision`` (the deployed git commit).
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from functools import cache
from pathlib import Path
from typing import Any

from django.db import DatabaseError, connections
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache

from . import __version__
from .checks import check_recyclic_schema
from .conf import app_settings, is_enabled
from .exporter import may_read_metrics

#: The schema check introspects every table (a score of queries): an anonymous caller polling
#: /healthz must not be able to make the database do that more than once a minute per process.
SCHEMA_CHECK_INTERVAL = 60.0

_schema_memo: dict[str, tuple[float, list[str]]] = {}
_schema_lock = threading.Lock()


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    alias = app_settings.DATABASE
    database = _database_state(alias)
    schema: str | list[str] = "unknown"
    if database == "ok":
        problems = _schema_problems(alias)
        if problems is None:
            # The database went away between the two checks.
            database = "unreachable"
        else:
            schema = problems or "ok"
    if database != "ok":
        status = "error"
    elif schema != "ok":
        status = "degraded"
    else:
        status = "ok"
    body: dict[str, Any] = {"status": status}
    if _may_see_details(request):
        body.update(
            database=database,
            schema=schema,
            enabled=is_enabled(),
            version=__version__,
            revision=revision(),
        )
    return JsonResponse(body, status=503 if status == "error" else 200)


def _database_state(alias: str) -> str:
    try:
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        # No traceback and no detail to the caller: ``manage.py check --database`` tells more.
        return "unreachable"
    return "ok"


def _schema_problems(alias: str) -> list[str] | None:
    """The schema check's messages as ``"id: message"``, or None if the database failed."""
    with _schema_lock:
        checked_at, problems = _schema_memo.get(alias, (None, []))
        if checked_at is not None and time.monotonic() - checked_at < SCHEMA_CHECK_INTERVAL:
            return problems
        messages = check_recyclic_schema(None, databases=[alias])
        if any(message.id == "reception_stats.E000" for message in messages):
            _schema_memo.pop(alias, None)
            return None
        problems = [f"{message.id}: {message.msg}" for message in messages]
        _schema_memo[alias] = (time.monotonic(), problems)
        return problems


def _may_see_details(request: HttpRequest) -> bool:
    if may_read_metrics(request):
        return True
    try:
        user = getattr(request, "user", None)
        return bool(user is not None and user.is_active and user.is_staff)
    except DatabaseError:
        # The session and the user live in the database that just failed.
        return False


def revision() -> str:
    """The deployed commit: ``GIT_REVISION`` (set when the image is built), else the checkout's."""
    return os.environ.get("GIT_REVISION", "").strip() or _checkout_revision()


@cache
def _checkout_revision() -> str:
    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return "unknown"
    try:
        # A fixed command, no input from a request; git from PATH.
        result = subprocess.run(  # noqa: S603
            ["git", "-C", str(root), "rev-parse", "HEAD"],  # noqa: S607
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return result.stdout.strip() or "unknown"
