"""The REST API: ``GET reception/stats/live`` (include ``reception_stats.api.urls``)."""
