"""The live dashboard inside the Django admin.

``LiveStats`` has no table: registering it gives the page its place on the admin index
("Réception — statistiques en direct") and the admin's own login and permission machinery.
Its change list *is* the dashboard; ``fragment/`` serves the figures alone for the page's
refresh script. Neither computes anything: both ask the one service. There is nothing to add,
change or delete: those URLs do not exist (404).
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any
from uuid import UUID

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone, translation
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from . import dashboard
from .conf import app_settings
from .middleware import bounded_view
from .models import LiveStats, RecyclicAccount, Screen
from .permissions import can_view_live_stats
from .screens import PAIRING_MINUTES, new_code

logger = logging.getLogger(__name__)


@admin.register(LiveStats)
class LiveStatsAdmin(admin.ModelAdmin):
    """Staff (the admin's own rule) holding ``view_live_stats``; superusers hold it always."""

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return can_view_live_stats(request.user)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self):
        # Only the dashboard and its fragment: no add, change, history or delete pages, whose
        # views would look for rows of a table that does not exist.
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "",
                bounded_view(self.admin_site.admin_view(self.changelist_view)),
                name="{}_{}_changelist".format(*info),
            ),
            path(
                "fragment/",
                bounded_view(self.admin_site.admin_view(self.fragment_view)),
                name="{}_{}_fragment".format(*info),
            ),
            path(
                "figures/",
                self.admin_site.admin_view(self.figures_view),
                name="{}_{}_figures".format(*info),
            ),
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
            "sites": dashboard.site_choices(),
            "schema_problems": dashboard.schema_problems(),
            "refresh_seconds": app_settings.refresh_seconds,
            **(extra_context or {}),
        }
        return _answer(
            TemplateResponse(request, "admin/reception_stats/livestats/dashboard.html", context),
            panel,
        )

    def fragment_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            return HttpResponse(status=403)
        panel = dashboard.build_panel(request.GET, source="admin")
        return _answer(
            TemplateResponse(
                request, "admin/reception_stats/livestats/figures.html", {"panel": panel}
            ),
            panel,
        )

    def figures_view(self, request: HttpRequest) -> HttpResponse:
        """docs/figures.md, what every figure means, behind the dashboard's "?" link."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("What the figures mean"),
            "document": figures_document(translation.get_language() or ""),
        }
        return TemplateResponse(
            request, "admin/reception_stats/livestats/figures_doc.html", context
        )


@functools.cache
def figures_document(language: str = "", folder: Path | None = None) -> str:
    """docs/figures.md as HTML, or its French version (docs/figures.fr.md) for a French page: a
    file of the package, trusted, rendered once per process and language. An installation that
    lost the file (a checkout copied without docs/, which the package's files link to) gets a
    line saying so, never a 500."""
    import markdown

    folder = folder or Path(__file__).resolve().parent
    french = folder / "figures.fr.md"
    path = french if language.split("-")[0] == "fr" and french.exists() else folder / "figures.md"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        logger.warning("What the figures mean cannot be shown: %s.", error)
        return format_html(
            "<p>{}</p>",
            _("This installation lacks docs/figures.md: reinstall the app from its package."),
        )
    return mark_safe(markdown.markdown(text, extensions=["tables", "toc"]))  # noqa: S308


def _answer(response: TemplateResponse, panel: dashboard.Panel) -> TemplateResponse:
    """The page with the panel's status; figures unavailable say when to ask again."""
    if panel.status_code != 200:
        response.status_code = panel.status_code
    if panel.status_code == 503:
        response["Retry-After"] = str(int(app_settings.RETRY_AFTER))
    return response


@admin.register(RecyclicAccount)
class RecyclicAccountAdmin(admin.ModelAdmin):
    """The Django accounts Recyclic's people signed in as: who, since when. They are made and
    kept up to date by signing in (RecyclicBackend), never by hand; deleting one only makes
    the next sign-in create it again."""

    list_display = ("recyclic_username", "user", "linked_at")
    search_fields = ("recyclic_username", "user__username")
    readonly_fields = ("user", "recyclic_user_id", "recyclic_username", "linked_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ScreenForm(forms.ModelForm):
    """The site comes from Recyclic's sites, by name."""

    site = forms.TypedChoiceField(
        label=capfirst(_("site")),
        required=False,
        coerce=UUID,
        empty_value=None,
        help_text=_("The site whose figures it shows; all sites when empty."),
    )

    class Meta:
        model = Screen
        fields = ("name", "site")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Recyclic's sites unreadable: a 503 that says so, rather than a list of "all sites" only
        # and a site refused as "not one of the choices".
        sites = dashboard.site_choices(strict=True)
        self.fields["site"].choices = [("", _("All sites")), *sites]


@admin.register(Screen)
class ScreenAdmin(admin.ModelAdmin):
    """Wall screens: create one to get its pairing code; revoke one to cut it off at once."""

    form = ScreenForm
    list_display = ("name", "site_name", "state", "last_seen_at", "paired_at")
    readonly_fields = ("paired_at", "last_seen_at", "revoked_at", "created_at")
    actions = ("revoke", "pair_again")

    @admin.display(description=_("site"))
    def site_name(self, screen: Screen) -> str:
        names = dict(dashboard.site_choices())
        return names.get(str(screen.site), str(screen.site)) if screen.site else _("All sites")

    @admin.display(description=_("state"))
    def state(self, screen: Screen) -> str:
        if screen.revoked_at:
            return _("revoked")
        if screen.token_hash:
            return _("paired")
        return _("waiting for its code")

    def save_model(self, request: HttpRequest, obj: Screen, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if not change:
            self._show_code(request, obj)

    @admin.action(description=_("Revoke the selected screens (at their next refresh)"))
    def revoke(self, request: HttpRequest, queryset: Any) -> None:
        for screen in queryset:  # one by one: each save drops the screen's cached lookup
            screen.revoked_at, screen.token_hash = timezone.now(), ""
            screen.code_hash, screen.code_expires_at = "", None
            screen.save()
        self.message_user(request, _("Revoked: %(count)d.") % {"count": queryset.count()})

    @admin.action(description=_("Give the selected screen a new pairing code"))
    def pair_again(self, request: HttpRequest, queryset: Any) -> None:
        for screen in queryset:
            self._show_code(request, screen)

    def _show_code(self, request: HttpRequest, screen: Screen) -> None:
        code = new_code(screen)
        self.message_user(
            request,
            _(
                "Pairing code of %(name)s: %(code)s, valid %(minutes)d minutes and shown only "
                "now. On the screen, open %(address)s and type it."
            )
            % {
                "name": screen.name,
                "code": code,
                "minutes": PAIRING_MINUTES,
                "address": request.build_absolute_uri(reverse("reception_stats:screen")),
            },
            level=messages.WARNING,
        )
