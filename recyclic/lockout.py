"""django-axes' answer to a locked-out sign-in (``AXES_LOCKOUT_CALLABLE``): its page in the
admin's look, 429, and ``Retry-After`` with the seconds of the cool-off, so that a client (or a
monitor) knows when to try again, as the app's other 429 and 503 answers say."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def locked_out(
    request: HttpRequest, original_response: Any = None, credentials: Any = None
) -> HttpResponse:
    response = render(request, "admin/lockout.html", status=429)
    cool_off = getattr(settings, "AXES_COOLOFF_TIME", None)
    if cool_off:
        response["Retry-After"] = str(int(cool_off.total_seconds()))
    return response
