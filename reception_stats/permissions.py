"""Who may read the live figures: one rule, for every door.

Active users holding ``reception_stats.view_live_stats`` may (grant it to a group such as
"Réception", to a manager, or to the account of a wall screen); superusers hold every
permission. Staff status alone is not enough, and an inactive account may not, whatever else
it holds. The admin page also needs staff status, as every page of Django's admin does.
Recyclic's own accounts (signed in, or through a Recyclic token) may when Recyclic gives them
one of ``RECYCLIC_ROLES``, checked again every ``ACCOUNT_CHECK_SECONDS``.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework.permissions import BasePermission

VIEW_PERMISSION = "reception_stats.view_live_stats"
#: What a ressourcerie's manager holds: the figures, and the wall screens by the desk (pair,
#: rename, revoke). Given to the demo's staff login and to Recyclic's admins when they sign in.
MANAGER_CODENAMES = (
    "view_live_stats",
    "view_screen",
    "add_screen",
    "change_screen",
    "delete_screen",
)


def manager_permissions() -> list[Any]:
    """The :data:`MANAGER_CODENAMES` permissions (``migrate`` creates them)."""
    from django.contrib.auth.models import Permission

    permissions = list(
        Permission.objects.filter(
            content_type__app_label="reception_stats", codename__in=MANAGER_CODENAMES
        )
    )
    if len(permissions) != len(MANAGER_CODENAMES):
        raise Permission.DoesNotExist("The app's permissions are missing: run migrate first.")
    return permissions


def can_view_live_stats(user: Any) -> bool:
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if not user.has_perm(VIEW_PERMISSION):
        return False
    # A Django account linked to a Recyclic one follows Recyclic's verdict, whatever door (a
    # DRF token, say) it comes through.
    from .recyclic_users import still_allowed

    return still_allowed(user)


class CanViewLiveStats(BasePermission):
    """DRF's side of :func:`can_view_live_stats`: anonymous gets 401, the others 403."""

    message = _(
        "Reading the live statistics needs the permission "
        "“Can view the live reception statistics” (reception_stats.view_live_stats)."
    )

    def has_permission(self, request: Any, view: Any) -> bool:
        return can_view_live_stats(request.user)
