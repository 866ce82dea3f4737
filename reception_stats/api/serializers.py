"""The shapes the API answers, described field by field for the OpenAPI schema.

The figures themselves come from :meth:`LiveStats.as_json <reception_stats.kpis.LiveStats.as_json>`,
the one JSON form of the figures (the management command prints the same), plus ``stale`` and,
with ``compare=week``, ``previous``; these serializers document that shape, with the unit of
each number, and a test checks that they list exactly its keys. What each figure means:
docs/figures.md.
"""

from __future__ import annotations

from rest_framework import serializers

from reception_stats.kpis import WINDOWS

COUNT = "Integer."
KG = "Kilograms, a JSON number rounded to the gram (3 decimals)."
EUR = "Euros, a JSON number rounded half-up to the cent (2 decimals)."


class FiguresSerializer(serializers.Serializer):
    """Every figure of docs/figures.md."""

    tickets_open = serializers.IntegerField(
        help_text="Reception tickets still open at period_end whose poste opened at most D "
        "before it (DEFERRAL_THRESHOLD_HOURS, 24 h by default). " + COUNT
    )
    tickets_closed_24h = serializers.IntegerField(
        help_text="Reception tickets closed in the period (with window=today: closed today); "
        "a deferred ticket counts on its notebook's date. " + COUNT
    )
    items_received = serializers.IntegerField(
        help_text="Lines received (not exits) of the open and closed tickets. " + COUNT
    )
    weight_in = serializers.FloatField(help_text="Weight of those received lines. " + KG)
    weight_out_exits = serializers.FloatField(
        help_text="Weight of the exit lines (recycling, waste centre) of the same tickets. " + KG
    )
    sales_count = serializers.IntegerField(
        help_text="Sales whose date, COALESCE(sale_date, created_at), is in the period. " + COUNT
    )
    turnover_eur = serializers.FloatField(help_text="Sum of those sales' amounts. " + EUR)
    donations_eur = serializers.FloatField(help_text="Sum of those sales' donations. " + EUR)
    last_sale_amount = serializers.FloatField(
        help_text="Amount of the latest sale of the period, 0 when there is none. " + EUR
    )
    weight_out_sales = serializers.FloatField(help_text="Weight of the items sold. " + KG)
    weight_out = serializers.FloatField(help_text="weight_out_sales + weight_out_exits. " + KG)


class PreviousFiguresSerializer(FiguresSerializer):
    """The same figures at the same local time a week earlier (``compare=week``)."""

    period_start = serializers.DateTimeField(help_text="Start of last week's period, ISO 8601.")
    period_end = serializers.DateTimeField(
        help_text="End of last week's period: the same weekday and local time, 7 days earlier."
    )


class LiveStatsSerializer(FiguresSerializer):
    """The live figures of docs/figures.md, the period they cover and their freshness."""

    window = serializers.ChoiceField(
        choices=WINDOWS, help_text="The window asked for: 24h (default) or today."
    )
    period_start = serializers.DateTimeField(
        help_text="Start of the period, ISO 8601 with the offset of the configured time zone."
    )
    period_end = serializers.DateTimeField(
        help_text="End of the period: the moment asked for (at) or the time of the computation."
    )
    timezone = serializers.CharField(help_text="Time zone that cuts days, e.g. Europe/Paris.")
    site = serializers.UUIDField(
        allow_null=True, help_text="The site asked for (sites.id); null for all sites."
    )
    generated_at = serializers.DateTimeField(
        help_text="When the figures were computed; older than period_end when they come from "
        "the cache (a few seconds) or are stale."
    )
    enabled = serializers.BooleanField(
        help_text="False when LIVE_RECEPTION_STATS_ENABLED is off: every figure is then 0."
    )
    bad_values = serializers.DictField(
        child=serializers.IntegerField(),
        help_text="Values left out because they are NaN, infinite or of magnitude 1e9 or more, "
        'per Recyclic table and column, e.g. {"sales.total_amount": 2}; empty when there are '
        "none. They count as null (docs/figures.md): mend them in Recyclic.",
    )
    stale = serializers.BooleanField(
        help_text="True when the database does not answer and these are the last figures "
        "computed, at generated_at (at most STALE_MAX seconds old, 300 by default)."
    )
    previous = PreviousFiguresSerializer(
        required=False,
        help_text="Only with compare=week: the same figures at the same local time a week "
        "earlier. A change is (current - previous) / previous, shown only when previous is "
        "not 0.",
    )


class HourSerializer(serializers.Serializer):
    start = serializers.DateTimeField(
        help_text="Start of the hour, ISO 8601 in the configured time zone. Hours are real "
        "hours: the hour repeated when the clocks go back appears twice, with two offsets."
    )
    weight_in = serializers.FloatField(
        help_text="Kilos received in that hour (a line takes its ticket's business time; lines "
        "of open tickets fall in the current hour). " + KG
    )
    weight_out = serializers.FloatField(help_text="Kilos out: exits and items sold. " + KG)
    turnover_eur = serializers.FloatField(help_text="Turnover of the sales of that hour. " + EUR)


class ShareSerializer(serializers.Serializer):
    key = serializers.CharField(
        help_text="Category name, __other__ for the categories beyond the top, or destination "
        "code (MAGASIN, RECYCLAGE, DECHETERIE)."
    )
    label = serializers.CharField(help_text="Name to show, in the language of the request.")
    weight = serializers.FloatField(help_text="Kilograms, a JSON number.")


class PreviousBreakdownSerializer(serializers.Serializer):
    period_start = serializers.DateTimeField(help_text="Start of last week's period, ISO 8601.")
    period_end = serializers.DateTimeField(help_text="End of last week's period, ISO 8601.")
    hours = HourSerializer(many=True, help_text="Last week's hours, oldest first.")
    categories = ShareSerializer(many=True, help_text="Last week's kilos per category.")
    destinations = ShareSerializer(many=True, help_text="Last week's kilos per destination.")


class BreakdownSerializer(serializers.Serializer):
    """The pictures behind the figures; each adds up to its headline figure."""

    window = serializers.ChoiceField(choices=WINDOWS, help_text="24h (default) or today.")
    period_start = serializers.DateTimeField(help_text="Start of the period, ISO 8601.")
    period_end = serializers.DateTimeField(help_text="End of the period, ISO 8601.")
    timezone = serializers.CharField(help_text="Time zone that cuts days and hours.")
    site = serializers.UUIDField(allow_null=True, help_text="The site asked for, or null.")
    generated_at = serializers.DateTimeField(help_text="When the breakdown was computed.")
    enabled = serializers.BooleanField(help_text="False when the feature flag is off.")
    hours = HourSerializer(
        many=True,
        help_text="Every hour of the period, oldest first; "
        "their sums are weight_in, weight_out and turnover_eur.",
    )
    categories = ShareSerializer(
        many=True,
        help_text="Kilos received per category, largest "
        "first, the rest grouped; their sum is weight_in.",
    )
    destinations = ShareSerializer(
        many=True,
        help_text="Kilos of all lines per destination; their sum is weight_in + weight_out_exits.",
    )
    stale = serializers.BooleanField(help_text="True when these are the last good figures.")
    previous = PreviousBreakdownSerializer(
        required=False,
        help_text="Only with compare=week: the breakdown at the same local time a week earlier.",
    )


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="What went wrong, in the language of the request.")


class QueryErrorsSerializer(serializers.Serializer):
    """A 400: for each refused parameter, what was wrong with it."""

    window = serializers.ListField(child=serializers.CharField(), required=False)
    site = serializers.ListField(child=serializers.CharField(), required=False)
    at = serializers.ListField(child=serializers.CharField(), required=False)
    compare = serializers.ListField(child=serializers.CharField(), required=False)


class RecyclicLiveStatsSerializer(serializers.Serializer):
    """Recyclic's unified live statistics (``/v1/stats/live``), field for field, answered with
    this app's figures (docs/figures.md, "For clients of Recyclic's own live-stats API")."""

    tickets_count = serializers.IntegerField(help_text="sales_count: sales in the period.")
    last_ticket_amount = serializers.FloatField(help_text="last_sale_amount. " + EUR)
    ca = serializers.FloatField(help_text="turnover_eur: turnover of the period. " + EUR)
    donations = serializers.FloatField(help_text="donations_eur. " + EUR)
    weight_out_sales = serializers.FloatField(help_text="Weight of the items sold. " + KG)
    tickets_open = serializers.IntegerField(help_text="Reception tickets open now. " + COUNT)
    tickets_closed_24h = serializers.IntegerField(
        help_text="Reception tickets closed in the period (today with period_type=daily). " + COUNT
    )
    items_received = serializers.IntegerField(
        help_text="Lines received (not exits) of the open and closed tickets. " + COUNT
    )
    weight_in = serializers.FloatField(help_text="Weight received. " + KG)
    weight_out = serializers.FloatField(help_text="weight_out_sales + exits at reception. " + KG)
    period_start = serializers.DateTimeField(help_text="Start of the period, ISO 8601.")
    period_end = serializers.DateTimeField(help_text="End of the period: now, ISO 8601.")


class ValidationProblemSerializer(serializers.Serializer):
    type = serializers.CharField()
    loc = serializers.ListField(child=serializers.CharField())
    msg = serializers.CharField()
    input = serializers.CharField()


class ValidationErrorSerializer(serializers.Serializer):
    """A 422 in the form of Recyclic's API (FastAPI)."""

    detail = ValidationProblemSerializer(many=True)
