"""The query every door accepts (``window``, ``site``, ``at``, ``compare``), validated in one place.

The management command, the API and the admin page all read their input through
:class:`LiveStatsQueryForm`, so the same value is accepted or refused, with the same message,
wherever it is typed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _

from .conf import app_settings
from .kpis import COMPARE_WEEK, WINDOW_24H, WINDOW_TODAY

#: No figure exists before this; earlier moments are refused rather than computed.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)


class InstantField(forms.Field):
    """An ISO 8601 instant; without an offset it is read in the configured time zone."""

    default_error_messages = {
        "invalid": _("Enter a date and time in ISO 8601, for example 2026-03-10T15:00:00+01:00."),
        "future": _("This moment is in the future; figures exist only up to now."),
        "past": _("This moment is too far in the past; give one after 1970-01-01."),
    }

    def to_python(self, value: Any) -> datetime | None:
        if value in self.empty_values:
            return None
        if isinstance(value, datetime):
            moment = value
        else:
            try:
                moment = parse_datetime(str(value).strip())
            except ValueError:
                moment = None
            if moment is None:
                raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        if timezone.is_naive(moment):
            moment = timezone.make_aware(moment, app_settings.time_zone)
        return moment

    def validate(self, value: datetime | None) -> None:
        super().validate(value)
        if value is not None and value > timezone.now():
            raise forms.ValidationError(self.error_messages["future"], code="future")
        # Found by fuzzing: year 1 has no "24 hours before" and overflowed into a 500.
        if value is not None and value < EARLIEST:
            raise forms.ValidationError(self.error_messages["past"], code="past")


class LiveStatsQueryForm(forms.Form):
    window = forms.ChoiceField(
        label=_("Window"),
        choices=[(WINDOW_24H, _("last 24 hours")), (WINDOW_TODAY, _("today"))],
        required=False,
        error_messages={"invalid_choice": _("Unknown window %(value)s: use 24h or today.")},
    )
    site = forms.UUIDField(
        label=_("Site"),
        required=False,
        error_messages={"invalid": _("A site is identified by its UUID (sites.id).")},
    )
    at = InstantField(label=_("At"), required=False)
    compare = forms.ChoiceField(
        label=_("Compare with"),
        choices=[(COMPARE_WEEK, _("the same moment last week"))],
        required=False,
        error_messages={"invalid_choice": _("Unknown comparison %(value)s: use week.")},
    )

    def clean_compare(self) -> str | None:
        return self.cleaned_data.get("compare") or None

    def clean_window(self) -> str:
        return self.cleaned_data.get("window") or WINDOW_24H

    def error_summary(self) -> str:
        """All errors on one line, ``field: message``, for the command line and logs."""
        return "; ".join(
            f"{field}: {' '.join(str(message) for message in messages)}"
            for field, messages in self.errors.items()
        )
