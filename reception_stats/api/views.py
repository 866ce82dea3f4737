"""``GET reception/stats/live`` (and ``…/live/breakdown``): the live figures as JSON.

The view reads the query through :class:`~reception_stats.forms.LiveStatsQueryForm` and the
figures through :func:`~reception_stats.cache.get_snapshot`: it validates and computes nothing
itself. Each failure has its status: a bad parameter 400, an unknown site 404, a database that
does not answer 503 with ``Retry-After`` (or the last good figures, marked stale), never a 500.
Every database wait of the request, authentication included, is bounded
(:func:`~reception_stats.db.bounded`).
"""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

from django.db import DatabaseError
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from rest_framework.authentication import SessionAuthentication, get_authorization_header
from rest_framework.exceptions import APIException, NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from reception_stats.cache import Served, get_snapshot
from reception_stats.conf import app_settings
from reception_stats.db import bounded
from reception_stats.forms import LiveStatsQueryForm
from reception_stats.kpis import WINDOW_24H, WINDOW_TODAY, LiveStats, SiteNotFound
from reception_stats.permissions import CanViewLiveStats

from .authentication import CachedTokenAuthentication, RecyclicTokenAuthentication
from .schema import breakdown_schema, live_stats_schema, recyclic_live_stats_schema
from .throttling import LiveStatsRateThrottle

logger = logging.getLogger(__name__)


class StatsUnavailable(APIException):
    status_code = 503
    default_detail = _("The statistics are temporarily unavailable. Try again in a moment.")
    default_code = "unavailable"

    def __init__(self) -> None:
        super().__init__()
        # DRF's exception handler turns ``wait`` into the Retry-After header.
        self.wait = int(app_settings.RETRY_AFTER)


class LiveStatsView(APIView):
    """Live reception and till figures (docs/figures.md)."""

    # A token scheme first: its WWW-Authenticate header is what makes DRF answer 401, not 403,
    # to a request without credentials.
    authentication_classes = [
        CachedTokenAuthentication,
        RecyclicTokenAuthentication,
        SessionAuthentication,
    ]
    permission_classes = [CanViewLiveStats]
    throttle_classes = [LiveStatsRateThrottle]
    #: The ``source`` label of the metrics and logs.
    source = "api"

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        with bounded():
            return super().dispatch(request, *args, **kwargs)

    @live_stats_schema
    def get(self, request: Request) -> Response:
        served = self.serve(request)
        body = {**served.snapshot.stats.as_json(), "stale": served.stale}
        if served.snapshot.previous is not None:
            body["previous"] = previous_figures(served.snapshot.previous.stats.as_json())
        return Response(body)

    def serve(self, request: Request) -> Served:
        """The snapshot the query asks for, or the exception that answers it."""
        form = LiveStatsQueryForm(request.query_params)
        if not form.is_valid():
            raise ValidationError(
                {field: [str(error) for error in errors] for field, errors in form.errors.items()}
            )
        query = form.cleaned_data
        try:
            return get_snapshot(
                query["window"],
                query["site"],
                query["at"],
                compare=query["compare"],
                source=self.source,
            )
        except SiteNotFound as error:
            raise NotFound(gettext("Unknown site %(site)s.") % {"site": error.site}) from None

    def get_authenticate_header(self, request: Request) -> str | None:
        # A refused Recyclic token is answered in its own scheme (Bearer), as Recyclic would.
        if get_authorization_header(request).lower().startswith(b"bearer"):
            return RecyclicTokenAuthentication().authenticate_header(request)
        return super().get_authenticate_header(request)

    def handle_exception(self, exc: Exception) -> Any:
        # A database error, from the figures or from authentication on the same server, is an
        # outage to wait out, not a bug: 503 with Retry-After, and no detail of the error.
        if isinstance(exc, DatabaseError):
            logger.warning("api: the database failed (%s); answering 503.", type(exc).__name__)
            exc = StatsUnavailable()
        return super().handle_exception(exc)


class LiveBreakdownView(LiveStatsView):
    """Kilos and turnover per hour, kilos per category and destination, for the same query."""

    @breakdown_schema
    def get(self, request: Request) -> Response:
        served = self.serve(request)
        body = {**served.snapshot.breakdown.as_json(), "stale": served.stale}
        if served.snapshot.previous is not None:
            previous = served.snapshot.previous.breakdown.as_json()
            body["previous"] = {key: previous[key] for key in PREVIOUS_BREAKDOWN_KEYS}
        return Response(body)


#: What ``previous`` holds of last week's figures: every figure and its period.
PREVIOUS_FIGURE_KEYS = (*LiveStats.FIGURES, "period_start", "period_end")
PREVIOUS_BREAKDOWN_KEYS = ("period_start", "period_end", "hours", "categories", "destinations")


def previous_figures(figures: dict[str, Any]) -> dict[str, Any]:
    return {key: figures[key] for key in PREVIOUS_FIGURE_KEYS}


class RecyclicLiveStatsView(LiveStatsView):
    """``GET stats/live``: Recyclic's own unified live statistics, with these figures.

    Recyclic's frontend polls ``/api/v1/stats/live?period_type=daily|24h&site_id=…`` with the
    token it logs its users in with; a proxy sends that path here (deploy/nginx/), and the
    frontend shows this app's figures unchanged. Recyclic's field names and errors: a bad
    parameter is a 422 with ``{"detail": [...]}``, as FastAPI answers.
    """

    authentication_classes = [
        RecyclicTokenAuthentication,
        CachedTokenAuthentication,
        SessionAuthentication,
    ]
    source = "recyclic"

    @recyclic_live_stats_schema
    def get(self, request: Request) -> Response:
        period_type = request.query_params.get("period_type", "daily")
        site_id = request.query_params.get("site_id") or None
        problems = []
        if period_type not in PERIOD_TYPES:
            problems.append(
                {
                    "type": "literal_error",
                    "loc": ["query", "period_type"],
                    "msg": "Input should be '24h' or 'daily'",
                    "input": period_type,
                    "ctx": {"expected": "'24h' or 'daily'"},
                }
            )
        site = None
        if site_id is not None:
            try:
                site = UUID(site_id)
            except ValueError:
                problems.append(
                    {
                        "type": "uuid_parsing",
                        "loc": ["query", "site_id"],
                        "msg": "Input should be a valid UUID",
                        "input": site_id,
                    }
                )
        if problems:
            return Response({"detail": problems}, status=422)
        try:
            served = get_snapshot(PERIOD_TYPES[period_type], site, source=self.source)
        except SiteNotFound as error:
            raise NotFound(gettext("Unknown site %(site)s.") % {"site": error.site}) from None
        figures = served.snapshot.stats.as_json()
        response = Response({name: figures[ours] for name, ours in RECYCLIC_FIELDS.items()})
        # Recyclic's format has no field for them: what a client, a proxy or an operator with
        # curl -i may want to know goes in headers. Age: seconds since the figures were computed.
        age = (timezone.now() - served.snapshot.generated_at).total_seconds()
        response["Age"] = str(max(0, int(age)))
        response["X-Reception-Stats-Stale"] = "true" if served.stale else "false"
        # Flag off: every figure 0, which in Recyclic's format would pass for a quiet day.
        response["X-Reception-Stats-Enabled"] = "true" if served.snapshot.stats.enabled else "false"
        bad_values = served.snapshot.stats.bad_values
        if bad_values:
            response["X-Reception-Stats-Bad-Values"] = ", ".join(
                f"{column}={count}" for column, count in bad_values.items()
            )
        return response


#: Recyclic's ``period_type``: ``daily`` is this app's ``today``, in the configured time zone
#: (Recyclic cut its days at UTC midnight), ``24h`` the rolling window.
PERIOD_TYPES = {"daily": WINDOW_TODAY, "24h": WINDOW_24H}

#: Recyclic's field names in its unified response, and the figure each one answers.
RECYCLIC_FIELDS = {
    "tickets_count": "sales_count",
    "last_ticket_amount": "last_sale_amount",
    "ca": "turnover_eur",
    "donations": "donations_eur",
    "weight_out_sales": "weight_out_sales",
    "tickets_open": "tickets_open",
    "tickets_closed_24h": "tickets_closed_24h",
    "items_received": "items_received",
    "weight_in": "weight_in",
    "weight_out": "weight_out",
    "period_start": "period_start",
    "period_end": "period_end",
}
