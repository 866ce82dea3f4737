"""The metrics of the live figures, and the one log line each request for them writes.

Every door's request for figures runs in :func:`observe` (``cache.get_snapshot`` does it)::

    with observe("api", window, site) as observation:
        served = _through_cache(question, "api")
        observation.outcome = served.outcome

which times the block, counts the SQL queries it runs on the KPI database, increments the
counters below and writes one structured log line (``event="reception_live_stats"``). An
exception leaving the block is recorded as ``outcome="error"`` with its kind, then goes on.

The metrics are defined here, once, when the module is first imported: prometheus_client refuses a
second metric of the same name in a registry, and this module is the only place that defines
them. Without prometheus_client they are no-ops; the log line is still written.
What /metrics serves, the figures themselves included, is in :mod:`reception_stats.exporter`.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from typing import Any
from uuid import UUID

from django.core.exceptions import ValidationError
from django.db import DatabaseError, connections
from django.utils.connection import ConnectionDoesNotExist

from .conf import app_settings
from .db import DatabaseUnresponsive, is_connect_timeout, is_transaction_control, timeout_kind
from .kpis import SiteNotFound

try:
    from prometheus_client import Counter, Histogram
except ImportError:  # pragma: no cover - exercised in a subprocess by the tests
    Counter = Histogram = None

logger = logging.getLogger(__name__)

EVENT = "reception_live_stats"

SOURCES = ("api", "admin", "command", "metrics", "screen", "recyclic")
COMPUTED, CACHED, STALE, DISABLED, ERROR = "computed", "cached", "stale", "disabled", "error"
OUTCOMES = (COMPUTED, CACHED, STALE, DISABLED, ERROR)
ERROR_KINDS = ("database", "timeout", "site_not_found", "invalid_input", "cache", "other")

#: One computation runs four or five indexed queries: a few milliseconds, up to a second or two
#: when the database is loaded. Django-prometheus's buckets start at 10 ms and would lump them.
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class _NoMetric:
    """Stands in for a metric when prometheus_client is not installed."""

    def labels(self, **labels: str) -> _NoMetric:
        return self

    def inc(self, amount: float = 1) -> None:
        pass

    def observe(self, amount: float) -> None:
        pass


if Counter is not None:
    REQUESTS: Any = Counter(
        "reception_live_stats_requests",
        "Requests for the live figures, by door and by how they were answered.",
        ["source", "outcome"],
    )
    DURATION: Any = Histogram(
        "reception_live_stats_duration_seconds",
        "Time to answer a request for the live figures, cache included.",
        ["source", "outcome"],
        buckets=DURATION_BUCKETS,
    )
    ERRORS: Any = Counter(
        "reception_live_stats_errors",
        "Failures while answering a request for the live figures, by kind.",
        ["source", "kind"],
    )
    BAD_VALUES: Any = Counter(
        "reception_live_stats_bad_values",
        "Bad values (NaN, infinite, of magnitude 1e9 or more) left out of a computation of the "
        "figures, by Recyclic table and column; each computation counts those it meets.",
        ["table", "column"],
    )
else:  # pragma: no cover - exercised in a subprocess by the tests
    REQUESTS = DURATION = ERRORS = BAD_VALUES = _NoMetric()


class Observation:
    """One request for figures, as :func:`observe` hands it to the code it wraps.

    Set ``outcome`` (``computed`` by default; ``cached``, ``stale``, ``disabled``) before the
    block ends. ``error_kind`` records a failure the block absorbed, such as the database error
    behind a ``stale`` answer; an exception leaving the block sets both by itself.
    """

    __slots__ = (
        "_error_kind",
        "_outcome",
        "bad_values",
        "duration",
        "query_count",
        "site",
        "source",
        "window",
    )

    def __init__(self, source: str, window: str, site: UUID | str | None) -> None:
        self.source = source
        self.window = window
        self.site = site
        self._outcome = COMPUTED
        self._error_kind: str | None = None
        self.query_count = 0
        self.duration = 0.0
        #: Bad values the computation met, ``{"table.column": count}``: counted in the metric.
        self.bad_values: dict[str, int] = {}

    @property
    def outcome(self) -> str:
        return self._outcome

    @outcome.setter
    def outcome(self, value: str) -> None:
        # A label value is a time series: an unexpected one is a bug, not data.
        if value not in OUTCOMES:
            raise ValueError(f"Unknown outcome {value!r}; expected one of {', '.join(OUTCOMES)}.")
        self._outcome = value

    @property
    def error_kind(self) -> str | None:
        return self._error_kind

    @error_kind.setter
    def error_kind(self, value: str | None) -> None:
        if value is not None and value not in ERROR_KINDS:
            raise ValueError(f"Unknown error kind {value!r}; expected one of {ERROR_KINDS}.")
        self._error_kind = value

    def _count_query(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        # The read-only transaction's own statements (its SET, a savepoint) are not queries.
        if not is_transaction_control(sql):
            self.query_count += 1
        return execute(sql, params, many, context)


@contextlib.contextmanager
def observe(source: str, window: str, site: UUID | str | None = None) -> Iterator[Observation]:
    """Time, count and log one request for figures from ``source`` (api, admin, command, metrics).

    ``window`` and ``site`` go to the log line only, never to a metric label: sites would make
    one time series each.
    """
    if source not in SOURCES:
        raise ValueError(f"Unknown source {source!r}; expected one of {', '.join(SOURCES)}.")
    observation = Observation(source, window, site)
    started = time.perf_counter()
    try:
        with _counting_queries(observation):
            yield observation
    except BaseException as error:
        observation.outcome = ERROR
        if observation.error_kind is None:
            observation.error_kind = error_kind(error)
        raise
    finally:
        observation.duration = time.perf_counter() - started
        _record(observation)


def error_kind(error: BaseException) -> str:
    """The ``kind`` label of ``reception_live_stats_errors_total`` for an exception."""
    if isinstance(error, SiteNotFound):
        return "site_not_found"
    # A statement cancelled past statement_timeout, a lock not granted within lock_timeout, a
    # connection the client cut because the server left it unanswered, or a connection attempt
    # that got no answer within connect_timeout.
    if (
        isinstance(error, TimeoutError | DatabaseUnresponsive)
        or timeout_kind(error)
        or is_connect_timeout(error)
    ):
        return "timeout"
    if isinstance(error, DatabaseError):
        return "database"
    if isinstance(error, ValueError | ValidationError):
        return "invalid_input"
    return "other"


def _counting_queries(observation: Observation) -> contextlib.AbstractContextManager[Any]:
    try:
        connection = connections[app_settings.DATABASE]
    except ConnectionDoesNotExist:
        # The figures will fail with a clear message of their own (or not run: flag off).
        return contextlib.nullcontext()
    return connection.execute_wrapper(observation._count_query)


def _record(observation: Observation) -> None:
    labels = {"source": observation.source, "outcome": observation.outcome}
    try:
        REQUESTS.labels(**labels).inc()
        DURATION.labels(**labels).observe(observation.duration)
        if observation.error_kind is not None:
            ERRORS.labels(source=observation.source, kind=observation.error_kind).inc()
        for column, count in observation.bad_values.items():
            table, _, name = column.partition(".")
            BAD_VALUES.labels(table=table, column=name).inc(count)
    except Exception:
        # Metrics must never break a door (a full disk under multiprocess mode, say).
        logger.warning("Could not update the reception_live_stats metrics.", exc_info=True)

    duration_ms = round(observation.duration * 1000, 3)
    site = _site_label(observation.site)
    fields = {
        "event": EVENT,
        "source": observation.source,
        "window": observation.window,
        "site": site,
        "outcome": observation.outcome,
        "duration_ms": duration_ms,
        "query_count": observation.query_count,
    }
    if observation.error_kind is not None:
        fields["error_kind"] = observation.error_kind
    # Cache hits are the bulk of the traffic (every wall screen polls): DEBUG keeps INFO to one
    # line per real computation.
    level = {CACHED: logging.DEBUG, STALE: logging.WARNING, ERROR: logging.WARNING}.get(
        observation.outcome, logging.INFO
    )
    logger.log(
        level,
        "%s source=%s window=%s site=%s outcome=%s duration_ms=%s query_count=%s",
        EVENT,
        observation.source,
        observation.window,
        site or "-",
        observation.outcome,
        duration_ms,
        observation.query_count,
        extra=fields,
    )


def _site_label(site: UUID | str | None) -> str | None:
    """A site's UUID as text; anything else a caller passed is not echoed into the logs."""
    if site is None:
        return None
    try:
        return str(UUID(str(site)))
    except ValueError:
        return "invalid"
