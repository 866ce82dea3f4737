"""``GET /healthz``: does the database answer, does it hold Recyclic's tables as the models read.

Everyone gets the status and its HTTP code, which is all a load balancer or a container
healthcheck needs:

- ``ok`` (200): the database answers and the schema check found nothing;
- ``degraded`` (200): the database answers but the schema check found problems, or the advised
  indexes are missing under a large history, or Django's own database (when the figures are
  read from another one) does not answer: those already signed in still get the figures, a
  new sign-in does not; the process itself works, so restarting it would not help;
- ``error`` (503, with ``Retry-After``): the database does not answer.

Staff members and the callers :func:`~reception_stats.exporter.may_read_metrics` lets in also get
the details: ``database`` (the figures'), ``django_database`` (Django's own tables; ``unknown``
when the figures' database failed: not asked then, to keep within the bound), ``schema``
(``"ok"``, or the problems), ``enabled`` (the feature flag), ``version`` and ``revision`` (the
deployed git commit).

Every wait is bounded (:func:`~reception_stats.db.bounded`): the database probe is one
``SELECT 1``. The schema check reads PostgreSQL's catalog under the figures' time limits, at most
once a minute, and only for those detailed callers: an anonymous caller polling ``/healthz``
gets the status from the last check's result and never makes the database introspect itself.
"""

from __future__ import annotations

import os
import subprocess
import time
from functools import cache
from pathlib import Path
from typing import Any

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from . import __version__
from .cache import Store
from .checks import schema_problems
from .conf import app_settings, is_enabled
from .exporter import may_read_metrics
from .middleware import bounded_view

#: Seconds a schema check's result is reused (in the app's cache, shared by the workers).
SCHEMA_CHECK_INTERVAL = 60.0


@never_cache
@require_safe
@bounded_view
def healthz(request: HttpRequest) -> JsonResponse:
    alias = app_settings.DATABASE
    database = _database_state(alias)
    details = _may_see_details(request)
    schema: str | list[str] = "unknown"
    if database == "ok":
        problems = latest_schema_problems(alias, check=details)
        if problems is not None:
            schema = problems or "ok"
    # Django's own tables (accounts, sessions, tokens, screens) on a database of their own: the
    # figures still reach those already signed in when it fails, new sign-ins do not.
    # Not asked when the figures' database failed: the answer stays within its bound.
    if database != "ok":
        own = "unknown"
    elif alias != DEFAULT_DB_ALIAS:
        own = _database_state(DEFAULT_DB_ALIAS)
    else:
        own = "ok"  # the same database
    if database != "ok":
        status = "error"
    elif own != "ok" or schema not in ("ok", "unknown"):
        status = "degraded"
    else:
        status = "ok"
    body: dict[str, Any] = {"status": status}
    if details:
        body.update(
            database=database,
            django_database=own,
            schema=schema,
            enabled=is_enabled(),
            version=__version__,
            revision=revision(),
        )
    response = JsonResponse(body, status=503 if status == "error" else 200)
    if status == "error":
        response["Retry-After"] = str(int(app_settings.RETRY_AFTER))
    return response


def _database_state(alias: str) -> str:
    try:
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        # No traceback and no detail to the caller: ``manage.py check --database`` tells more.
        return "unreachable"
    return "ok"


def _schema_key(alias: str) -> str:
    return f"reception_stats:schema:{alias}"


def latest_schema_problems(alias: str, *, check: bool) -> list[str] | None:
    """The schema check's problems, from its last run if it is recent enough; run it again only
    when ``check`` is true. None when it never ran, or the database failed while it ran."""
    store = Store("health")
    cached = store.get(_schema_key(alias))
    if cached is not None and (not check or time.time() - cached[0] < SCHEMA_CHECK_INTERVAL):
        return cached[1]
    if not check:
        return None
    problems = schema_problems(alias)
    if problems is not None:
        store.set(_schema_key(alias), (time.time(), problems), int(SCHEMA_CHECK_INTERVAL) * 10)
    return problems


def _may_see_details(request: HttpRequest) -> bool:
    if may_read_metrics(request):
        return True
    try:
        user = getattr(request, "user", None)
        return bool(user is not None and user.is_active and user.is_staff)
    except DatabaseError:
        # The session and the user live in a database that just failed.
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
