"""The live dashboard inside the Django admin.

``LiveStats`` has no table: registering it gives the page its place on the admin index
("Réception — statistiques en direct") and the admin's own login and permission machinery.
Its change list *is* the dashboard; ``fragment/`` serves the figures alone for the page's
refresh script. Neither computes anything: both ask the one service.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.translation import gettext_lazy as _

from . import dashboard
from .conf import app_settings, is_enabled
from .db import read_only
from .models import LiveStats, Site
from .permissions import VIEW_PERMISSION


@admin.register(LiveStats)
class LiveStatsAdmin(admin.ModelAdmin):
    """Staff (the admin's own rule) holding ``view_live_stats``; superusers hold it always."""

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_active and request.user.has_perm(VIEW_PERMISSION)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "fragment/",
                self.admin_site.admin_view(self.fragment_view),
                name="{}_{}_fragment".format(*info),
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request: HttpRequest, extra_context=None) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        panel = dashboard.build_panel(request.GET, source="admin")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Reception — live statistics"),
            "panel": panel,
            "sites": _sites(),
            "refresh_seconds": app_settings.refresh_seconds,
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/reception_stats/livestats/dashboard.html", context)

    def fragment_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            return HttpResponse(status=403)
        panel = dashboard.build_panel(request.GET, source="admin")
        response = TemplateResponse(
            request, "admin/reception_stats/livestats/figures.html", {"panel": panel}
        )
        response.status_code = panel.status_code
        return response


def _sites() -> list[Site]:
    """The site selector's choices; an unreachable database leaves it empty, not broken."""
    if not is_enabled():
        return []  # the flag off reads no Recyclic table, not even the sites
    try:
        with read_only(app_settings.DATABASE):
            sites = Site.objects.using(app_settings.DATABASE).only("id", "name").order_by("name")
            return list(sites)
    except DatabaseError:
        return []
