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


class ClientErrorAsWarning(logging.Filter):
    """Django's ``django.security.*`` lines (a foreign Host header, a body or a form too large)
    at WARNING, without a traceback: each is a client's bad request, answered 400, not a bug.
    Anyone can send them, and at ERROR with a traceback they would trip the alerts that watch
    for ERROR lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.exc_info, record.exc_text = None, None
        return True
