"""``/ecran/``: the wall screen by the reception desk, and its refresh.

Without a valid screen cookie the page asks for a pairing code (a staff member gets one by
creating the screen in the admin); with it, it shows today's figures of the screen's site in
very large type, refreshing itself like the admin page, honest when offline. A revoked screen
gets 403 at its next refresh, and the page then asks for a code again. The figures come from the
service through its cache, as every door's do (``source="screen"``).
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_safe

from . import dashboard, screens
from .conf import app_settings
from .kpis import WINDOW_TODAY
from .middleware import bounded_view

#: The figures a screen shows, large: what the desk asks "how is the day going?" about.
SCREEN_FIGURES = ("weight_in", "weight_out", "tickets_closed_24h", "sales_count")
SCREEN_SMALL_FIGURES = ("tickets_open", "turnover_eur")


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
@bounded_view
def screen(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        return _pair(request)
    access = screens.screen_of(request)
    if access is None:
        response = _pairing_page(request, revoked=screens.COOKIE in request.COOKIES)
        if screens.COOKIE in request.COOKIES:
            screens.forget_cookie(response)
        return response
    panel = _panel(access)
    return _with_retry_after(
        TemplateResponse(
            request,
            "reception_stats/screen.html",
            {"panel": panel, "screen": access, "refresh_seconds": app_settings.refresh_seconds},
            status=panel.status_code,
        ),
        panel,
    )


@never_cache
@require_safe
@bounded_view
def screen_fragment(request: HttpRequest) -> HttpResponse:
    access = screens.screen_of(request)
    if access is None:
        return HttpResponse(status=403)  # the page reloads and asks for a code
    panel = _panel(access)
    return _with_retry_after(
        TemplateResponse(
            request,
            "reception_stats/screen_figures.html",
            {"panel": panel},
            status=panel.status_code,
        ),
        panel,
    )


def _panel(access: screens.ScreenAccess) -> dashboard.Panel:
    query = {"window": WINDOW_TODAY, "site": str(access.site) if access.site else ""}
    panel = dashboard.build_panel(query, source="screen")
    large = {card.name: card for card in panel.cards}
    panel.cards = [
        large[name] for name in (*SCREEN_FIGURES, *SCREEN_SMALL_FIGURES) if name in large
    ]
    panel.hour_charts = panel.hour_charts[:1]  # kilos in and out per hour
    return panel


def _pair(request: HttpRequest) -> HttpResponse:
    address = request.META.get("REMOTE_ADDR", "")
    if screens.pairing_refused(address):
        refused = _pairing_page(
            request, error=_("Too many wrong codes: wait ten minutes, then try again."), status=429
        )
        refused["Retry-After"] = str(screens.PAIRING_WINDOW)
        return refused
    paired = screens.pair(request.POST.get("code", ""), address)
    if paired is None:
        return _pairing_page(
            request,
            error=_("This code is unknown or expired: ask for a new one in the admin."),
            status=400,
        )
    screen, secret = paired
    response = HttpResponseRedirect(screens.COOKIE_PATH)
    screens.set_cookie(response, screen, secret, secure=settings.SESSION_COOKIE_SECURE)
    return response


def _pairing_page(
    request: HttpRequest, *, error: str = "", revoked: bool = False, status: int = 200
) -> HttpResponse:
    return TemplateResponse(
        request,
        "reception_stats/screen_pair.html",
        {"error": error, "revoked": revoked, "code_length": screens.CODE_LENGTH},
        status=status,
    )


def _with_retry_after(response: HttpResponse, panel: dashboard.Panel) -> HttpResponse:
    if panel.status_code == 503:
        response["Retry-After"] = str(int(app_settings.RETRY_AFTER))
    return response
