"""The OpenAPI description of the endpoint, for drf-spectacular (the ``api-docs`` extra).

Without drf-spectacular installed the API works the same; only the schema is missing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reception_stats.kpis import COMPARES, WINDOW_24H, WINDOWS

from .serializers import (
    BreakdownSerializer,
    ErrorSerializer,
    LiveStatsSerializer,
    QueryErrorsSerializer,
    RecyclicLiveStatsSerializer,
    ValidationErrorSerializer,
)

try:
    from drf_spectacular.extensions import OpenApiAuthenticationExtension
    from drf_spectacular.types import OpenApiTypes
    from drf_spectacular.utils import (
        OpenApiExample,
        OpenApiParameter,
        OpenApiResponse,
        extend_schema,
    )
except ImportError:  # pragma: no cover - the api-docs extra is not installed

    def live_stats_schema(view_method: Callable[..., Any]) -> Callable[..., Any]:
        return view_method

    breakdown_schema = recyclic_live_stats_schema = live_stats_schema

else:

    class RecyclicTokenScheme(OpenApiAuthenticationExtension):
        """Recyclic's tokens in the schema: HTTP bearer, JWT signed with Recyclic's key."""

        target_class = "reception_stats.api.authentication.RecyclicTokenAuthentication"
        name = "recyclicToken"

        def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
            return {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "JWT",
                "description": "A token Recyclic gives its users (HS256, signed with "
                "Recyclic's SECRET_KEY, set here as RECYCLIC_SECRET_KEY).",
            }

    _EXAMPLE = {
        "tickets_open": 1,
        "tickets_closed_24h": 2,
        "items_received": 3,
        "weight_in": 19.5,
        "weight_out_exits": 5.0,
        "sales_count": 1,
        "turnover_eur": 75.0,
        "donations_eur": 6.0,
        "last_sale_amount": 75.0,
        "weight_out_sales": 10.0,
        "weight_out": 15.0,
        "window": "24h",
        "period_start": "2026-03-09T15:00:00+01:00",
        "period_end": "2026-03-10T15:00:00+01:00",
        "timezone": "Europe/Paris",
        "site": None,
        "generated_at": "2026-03-10T15:00:00.120000+01:00",
        "enabled": True,
        "bad_values": {},
        "stale": False,
    }

    def _error(description: str, example: str) -> OpenApiResponse:
        return OpenApiResponse(
            ErrorSerializer,
            description=description,
            examples=[OpenApiExample("detail", value={"detail": example})],
        )

    def _figures_schema(operation_id, summary, description, serializer, example):
        return extend_schema(
            operation_id=operation_id,
            summary=summary,
            description=description
            + " What each figure means: docs/figures.md in the project's repository. Computed "
            "at most once every CACHE_TIMEOUT seconds (10 by default) and shared by every caller. "
            "Needs the permission reception_stats.view_live_stats (superusers hold it).",
            tags=["reception"],
            parameters=[
                OpenApiParameter(
                    "window",
                    str,
                    enum=list(WINDOWS),
                    default=WINDOW_24H,
                    description="24h: the last 24 hours. today: since local midnight (in the "
                    "configured time zone).",
                ),
                OpenApiParameter(
                    "site",
                    OpenApiTypes.UUID,
                    description="Only this site (sites.id); all sites when absent.",
                ),
                OpenApiParameter(
                    "at",
                    OpenApiTypes.DATETIME,
                    description="Compute for this moment instead of now: ISO 8601, not in the "
                    "future nor before 1970-01-01; without an offset it is read in the configured "
                    "time zone.",
                ),
                OpenApiParameter(
                    "compare",
                    str,
                    enum=list(COMPARES),
                    description="week: also answer previous, the same computation at the same "
                    "weekday and local time a week earlier.",
                ),
                OpenApiParameter(
                    "Retry-After",
                    int,
                    location=OpenApiParameter.HEADER,
                    response=[429, 503],
                    description="Seconds to wait before asking again.",
                ),
                OpenApiParameter(
                    "WWW-Authenticate",
                    str,
                    location=OpenApiParameter.HEADER,
                    response=[401],
                    description='How to authenticate: "Token".',
                ),
            ],
            responses={
                200: OpenApiResponse(
                    serializer,
                    description="The figures. With the feature flag off: every figure 0 and "
                    "enabled false. While the database fails: the last good figures, stale true.",
                    examples=[OpenApiExample("example", value=example)] if example else [],
                ),
                400: OpenApiResponse(
                    QueryErrorsSerializer,
                    description="A parameter is malformed: the messages, per parameter.",
                    examples=[
                        OpenApiExample(
                            "unknown window",
                            value={"window": ["Unknown window week: use 24h or today."]},
                        )
                    ],
                ),
                401: _error(
                    "No credentials, or wrong ones, or an inactive account.",
                    "Authentication credentials were not provided.",
                ),
                403: _error(
                    "Authenticated, but neither staff nor holding reception_stats.view_live_stats.",
                    "You do not have permission to perform this action.",
                ),
                404: _error(
                    "The site is a well-formed UUID that no site has.",
                    "Unknown site 0b9b8f5e-6a0e-4c1e-9d3f-2f4f3c1a7e10.",
                ),
                429: _error(
                    "Over THROTTLE_RATE (120 requests a minute per user by default).",
                    "Request was throttled. Expected available in 12 seconds.",
                ),
                503: _error(
                    "The database does not answer and there are no recent figures to fall back on.",
                    "The statistics are temporarily unavailable. Try again in a moment.",
                ),
            },
        )

    live_stats_schema = _figures_schema(
        "reception_stats_live",
        "Live reception and till figures",
        "Tickets, kilos in and out, sales, turnover and donations over one period.",
        LiveStatsSerializer,
        _EXAMPLE,
    )
    breakdown_schema = _figures_schema(
        "reception_stats_live_breakdown",
        "Live figures per hour, category and destination",
        "Kilos in and out and turnover per hour, kilos received per category and kilos per "
        "destination, counted under the same rules as the live figures, which they add up to.",
        BreakdownSerializer,
        None,
    )

    recyclic_live_stats_schema = extend_schema(
        operation_id="recyclic_stats_live",
        summary="Recyclic's unified live statistics, with these figures",
        description="Recyclic's own endpoint (/v1/stats/live), its parameters and field names, "
        "answered with this app's figures, so that Recyclic's frontend shows them unchanged "
        "behind a proxy (deploy/nginx/). ca is turnover_eur, donations donations_eur, "
        "tickets_count sales_count, last_ticket_amount last_sale_amount: docs/figures.md. "
        "Authorization: Bearer with a token of Recyclic's (RECYCLIC_SECRET_KEY), or this API's "
        "own credentials. Needs the permission reception_stats.view_live_stats, or a Recyclic "
        "account with one of RECYCLIC_ROLES (admin, super-admin).",
        tags=["recyclic"],
        parameters=[
            OpenApiParameter(
                "period_type",
                str,
                enum=["daily", "24h"],
                default="daily",
                description="daily: since local midnight (the configured time zone); 24h: the "
                "last 24 hours.",
            ),
            OpenApiParameter(
                "site_id", OpenApiTypes.UUID, description="Only this site; all sites when absent."
            ),
        ],
        responses={
            200: RecyclicLiveStatsSerializer,
            401: _error("No credentials, or a bad or expired token.", "Invalid or expired token."),
            403: _error(
                "Authenticated, but without the right (a Recyclic account of role user).",
                "You do not have permission to perform this action.",
            ),
            404: _error(
                "The site is a well-formed UUID that no site has.",
                "Unknown site 0b9b8f5e-6a0e-4c1e-9d3f-2f4f3c1a7e10.",
            ),
            422: OpenApiResponse(
                ValidationErrorSerializer,
                description="A parameter is malformed, in the form Recyclic's API answers it.",
            ),
            429: _error("Over THROTTLE_RATE.", "Request was throttled."),
            503: _error(
                "The database does not answer and there are no recent figures to fall back on.",
                "The statistics are temporarily unavailable. Try again in a moment.",
            ),
        },
    )
