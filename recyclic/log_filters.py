"""Filters of the project's LOGGING."""

from __future__ import annotations

import logging


class NotADeliberate503(logging.Filter):
    """Drop Django's ERROR line for a 503: the app answers 503 on purpose, with Retry-After,
    when a database does not answer, and logs that itself once, at WARNING. Django's own line
    for each answer would flood the log with ERRORs during an outage (every health probe, every
    screen's refresh). A 500 is still logged by Django, traceback included."""

    def filter(self, record: logging.LogRecord) -> bool:
        return getattr(record, "status_code", None) != 503
