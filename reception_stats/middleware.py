"""Requests whose database waits are bounded, and a database outage answered 503, never 500.

- :func:`bounded_view` wraps the app's own views (the admin page, its fragment, the wall
  screen, ``/healthz``): every database wait inside, the session and user lookups included, is
  bounded (:func:`~reception_stats.db.bounded`), and a ``DatabaseError`` that escapes the view
  answers 503 with ``Retry-After`` (a ``DataError``, a value the database refuses, 400).
- :class:`BoundedDatabaseMiddleware` does the same for every view of the project; add it to
  ``MIDDLEWARE`` (the bundled project does) to extend both promises to Django's own pages, the
  admin's login included.
- :func:`server_error`, as the project's ``handler500``, turns a database error raised outside
  any view (a session saved after the response was built) into the same 503.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from typing import Any

from django.db import DatabaseError, DataError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.utils.translation import gettext as _
from django.views import defaults

from .conf import app_settings
from .db import bounded

logger = logging.getLogger(__name__)


def database_unavailable(request: HttpRequest, error: Exception | None = None) -> HttpResponse:
    """503 with ``Retry-After``: JSON for API clients, a short French page for people.

    The message says what failed, as far as it is known: Recyclic's accounts at a sign-in, the
    figures on the API, a database on a page (the figures' or Django's own, which holds the
    sessions: which one is not known here)."""
    from .backends import RecyclicUnavailable

    if isinstance(error, RecyclicUnavailable):
        message = _(
            "Recyclic accounts cannot be checked right now: Recyclic's database does not "
            "answer. Try again in a moment; this attempt was not counted as a failed sign-in."
        )
    elif request.path.startswith("/api/"):
        message = _("The statistics are temporarily unavailable. Try again in a moment.")
    else:
        message = _(
            "This page is temporarily unavailable: a database does not answer. "
            "Try again in a moment."
        )
    response = _answer(request, message, 503)
    response["Retry-After"] = str(int(app_settings.RETRY_AFTER))
    return response


def value_refused(request: HttpRequest, error: Exception) -> HttpResponse:
    """400 for a value the database refuses (too long, malformed): the request's fault, not an
    outage, so neither a 503 nor a 500 that would page someone."""
    logger.warning("%s: the database refused a value (%s); answering 400.", request.path, error)
    message = _("The request holds a value the database refuses (too long or malformed).")
    return _answer(request, message, 400, title=_("Request refused"))


def _answer(request: HttpRequest, message: str, status: int, title: str = "") -> HttpResponse:
    """``{"detail": message}`` for API clients, a short page for people."""
    if request.path.startswith("/api/") or "json" in request.headers.get("Accept", ""):
        return JsonResponse({"detail": message}, status=status)
    context = {"message": message, "title": title}
    body = render_to_string("reception_stats/unavailable.html", context, request=None)
    return HttpResponse(body, status=status)


def _database_failure(request: HttpRequest, error: DatabaseError) -> HttpResponse:
    if isinstance(error, DataError):
        return value_refused(request, error)
    logger.warning("%s: the database failed (%s); answering 503.", request.path, error)
    return database_unavailable(request, error)


def bounded_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A view whose database waits are bounded and whose database outage answers 503."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            with bounded():
                response = view(request, *args, **kwargs)
                # Templates render lazily: render here, where the waits are still bounded.
                if hasattr(response, "render") and not response.is_rendered:
                    response.render()
                return response
        except DatabaseError as error:
            return _database_failure(request, error)

    return wrapped


class BoundedDatabaseMiddleware:
    """Every view of the project as :func:`bounded_view` makes the app's own."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with bounded():
            return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> Any:
        if isinstance(exception, DatabaseError):
            return _database_failure(request, exception)
        return None


def server_error(request: HttpRequest, template_name: str = "500.html") -> HttpResponse:
    """``handler500``: Django's page, except for a database outage, which is a 503."""
    error = sys.exc_info()[1]
    if isinstance(error, DatabaseError):
        return _database_failure(request, error)
    return defaults.server_error(request, template_name)
