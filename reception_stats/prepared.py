"""The figures' statements, compiled by the ORM once per process; each computation binds its own
values.

Building and compiling the figures' queryset (a dozen filtered aggregates, three subqueries)
costs Django several times what PostgreSQL takes to answer it (docs/performance.md), and gives
the same SQL every time: only the moment, the window's bounds and the site change, and they are
parameters. So each statement is compiled once, from a period and a site that are *stand-ins*:
two instants half a year apart and a UUID no site has. Every parameter of the compiled statement
is then one of

- an instant within :data:`MAX_OFFSET` of a stand-in bound: the real bound plus that offset
  (``period.start - D`` compiles to the stand-in start minus D, and binds to the real start
  minus D);
- the stand-in site: the real one;
- anything else, a constant of the statement (a status, a limit, the deferral threshold).

A statement whose parameters cannot be read that way (an instant far from both bounds) is not
kept: it is compiled on every call, as the ORM does. Kept statements are dropped when the app's
settings change (Django's ``setting_changed``, as in tests), since a setting may be a constant
of the SQL. The rows are converted by the compiler that wrote the SQL, as Django would convert
them.

SQLite (the demo) compiles every time: its instants are parameters already turned into text,
and a computation there is not the one to make faster.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from django.core.exceptions import EmptyResultSet
from django.core.signals import setting_changed
from django.db import connections
from django.db.models import QuerySet

#: The stand-in bounds: far from each other, far from any real period.
STAND_IN_START = datetime(2000, 1, 1, tzinfo=UTC)
STAND_IN_END = datetime(2000, 7, 1, tzinfo=UTC)
STAND_IN_SITE = UUID("5e1f0000-0000-4000-8000-5e1f5e1f5e1f")
#: How far from a bound an instant derived from it may be: the deferral threshold is days.
MAX_OFFSET = timedelta(days=60)

Build = Callable[[Any, UUID | None], QuerySet]


class _Unbindable(Exception):
    """A parameter of the compiled statement is none of the three kinds the module binds."""


@dataclass(frozen=True)
class _Statement:
    sql: str
    #: Per parameter: ("start"|"end", offset), ("site",) or ("constant", value).
    slots: tuple[tuple[Any, ...], ...]
    compiler: Any
    names: tuple[str, ...]

    def params(self, period: Any, site: UUID | None) -> tuple[Any, ...]:
        values = []
        for slot in self.slots:
            if slot[0] == "start":
                values.append(period.start + slot[1])
            elif slot[0] == "end":
                values.append(period.end + slot[1])
            elif slot[0] == "site":
                values.append(site)
            else:
                values.append(slot[1])
        return tuple(values)

    def rows(self, using: str, period: Any, site: UUID | None) -> list[dict[str, Any]]:
        with connections[using].cursor() as cursor:
            cursor.execute(self.sql, self.params(period, site))
            fetched = [row[: self.compiler.col_count] for row in cursor.fetchall()]
        return [
            dict(zip(self.names, row, strict=True))
            for row in self.compiler.results_iter(results=[fetched])
        ]


_statements: dict[Hashable, _Statement | None] = {}
_lock = threading.Lock()


def rows(
    key: Hashable, build: Build, period: Any, site: UUID | None, using: str
) -> list[dict[str, Any]]:
    """The rows of ``build(period, site)``, a ``values()`` queryset on ``using``, as dicts.

    ``key`` names the statement (with ``period.window`` and whether there is a site, it tells
    the kept statements apart). The result is what evaluating the queryset gives.
    """
    connection = connections[using]
    if connection.vendor != "postgresql":
        return list(build(period, site))
    full_key = (key, using, period.window, site is None)
    with _lock:
        known = full_key in _statements
        statement = _statements.get(full_key)
    if not known:
        statement = _compile(build, period, site is not None, using)
        with _lock:
            _statements[full_key] = statement
    if statement is None:
        return list(build(period, site))
    return statement.rows(using, period, site)


def _compile(build: Build, period: Any, with_site: bool, using: str) -> _Statement | None:
    stand_in = replace(period, start=STAND_IN_START, end=STAND_IN_END)
    queryset = build(stand_in, STAND_IN_SITE if with_site else None)
    query = queryset.query
    compiler = query.get_compiler(using=using)
    try:
        sql, params = compiler.as_sql()
        slots = tuple(_slot(param) for param in params)
    except (_Unbindable, EmptyResultSet):
        return None  # compiled on every call instead, as the ORM does
    names = tuple(
        query.selected or (*query.extra_select, *query.values_select, *query.annotation_select)
    )
    return _Statement(sql, slots, compiler, names)


def _slot(param: Any) -> tuple[Any, ...]:
    if isinstance(param, datetime):
        for bound, stand_in in (("start", STAND_IN_START), ("end", STAND_IN_END)):
            if abs(param - stand_in) <= MAX_OFFSET:
                return (bound, param - stand_in)
        raise _Unbindable(param)
    if param == STAND_IN_SITE:
        return ("site",)
    return ("constant", param)


def forget(**kwargs: Any) -> None:
    """Drop every kept statement (on ``setting_changed``: a setting may be one of its constants)."""
    with _lock:
        _statements.clear()


setting_changed.connect(forget)
