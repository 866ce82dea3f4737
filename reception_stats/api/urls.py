"""Include under a prefix of the project's, e.g. ``path("api/v1/", include(...))``."""

from django.urls import path

from .views import LiveBreakdownView, LiveStatsView, RecyclicLiveStatsView

app_name = "reception_stats_api"

urlpatterns = [
    path("reception/stats/live", LiveStatsView.as_view(), name="live-stats"),
    path("reception/stats/live/breakdown", LiveBreakdownView.as_view(), name="live-breakdown"),
    # Recyclic's own path and format, for its frontend (see RecyclicLiveStatsView).
    path("stats/live", RecyclicLiveStatsView.as_view(), name="recyclic-live-stats"),
]
