"""The SQL pieces the figures are built from: exact sums, bad values, one-row subqueries.

**One float-to-decimal rule.** Recyclic stores money and some weights as ``double precision``.
docs/figures.md asks each value to be converted to a decimal and the decimals summed, never the
binary floats. The rule, the same on every backend and in Python: a value becomes a whole number
of millionths, ``round(value * 10**6)`` computed in double precision with ties to even (what
PostgreSQL's ``round(double precision)`` and Python's ``round()`` both do), and those integers
are summed exactly. Money is then rounded half-up to the cent and weights to the gram, so the
millionths never show; values typed by people (two or three decimals) are exact. On PostgreSQL
it is ``SUM(ROUND(x * 1000000)::bigint)``, five times cheaper than ``SUM(x::numeric)``, which
formats every float as text and parses it back (docs/performance.md); ``numeric`` columns are
exact already and only scaled. SQLite has no decimal type: the app registers ``RS_EXACT_SUM``,
an aggregate in Python applying :func:`to_micro`, on each SQLite connection. Either way the
database answers whole millionths, which :class:`ExactSum` hands back as a ``Decimal``.

**Bad values.** A value that is NaN, ±Infinity or of magnitude 10⁹ or more counts as null
(docs/figures.md): ``abs(x) < 10⁹`` is false for all of them on PostgreSQL, which sorts NaN
above every number, and SQLite stores NaN as NULL. :func:`valid` keeps the good ones and
:func:`bad` tells the others apart, so that each can be counted and reported.

**One-row subqueries.** :class:`Totals` puts several aggregates of one table in one column (an
array on PostgreSQL, a JSON array elsewhere), and :class:`ScalarSubquery` lets ``aggregate()``
take it beside its own aggregates: the figures are then one statement.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

from django.db.models import (
    Aggregate,
    Case,
    DecimalField,
    Expression,
    F,
    Field,
    FloatField,
    Func,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Abs
from django.db.models.lookups import LessThan

#: Millionths per unit: the precision every float is converted at.
MICRO = 1_000_000
#: Magnitude from which a double precision value is bad data, not a sale, an item or a line.
BAD_MAGNITUDE = 1e9


def to_micro(value: float | int | Decimal | None) -> int | None:
    """The rule in Python: whole millionths, or None for null and bad values."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        if not value.is_finite() or abs(value) >= BAD_MAGNITUDE:
            return None
        return int((value * MICRO).to_integral_value())
    number = float(value)
    if not math.isfinite(number) or abs(number) >= BAD_MAGNITUDE:
        return None
    return round(number * MICRO)


def to_decimal(value: float | int | Decimal | None) -> Decimal | None:
    """One value as the decimal the sums add, e.g. a sale's ``total_amount``; None if bad."""
    micro = to_micro(value)
    return None if micro is None else Decimal(micro).scaleb(-6)


def is_good(field: str) -> LessThan:
    """``abs(field) < 10⁹``: false for NaN, ±Infinity and absurd magnitudes, null for null."""
    return LessThan(Abs(F(field)), Value(BAD_MAGNITUDE))


def valid(field: str) -> Case:
    """The column's value when it is good, else NULL."""
    return Case(When(is_good(field), then=F(field)), default=None)


def bad(field: str) -> Q:
    """The rows whose ``field`` holds a bad value (not null, not good)."""
    return Q(**{f"{field}__isnull": False}) & ~Q(is_good(field))


class _DecimalSum:
    """SQLite's ``RS_EXACT_SUM``: whole millionths of each value (:func:`to_micro`), summed."""

    def __init__(self) -> None:
        self.total: int | None = None

    def step(self, value: Any) -> None:
        micro = to_micro(value)
        if micro is not None:
            self.total = micro if self.total is None else self.total + micro

    def finalize(self) -> str | None:
        return None if self.total is None else str(self.total)


def register_sqlite_functions(sender: Any, connection: Any, **kwargs: Any) -> None:
    if connection.vendor == "sqlite":
        connection.connection.create_aggregate("RS_EXACT_SUM", 1, _DecimalSum)


def from_micro(value: Any) -> Decimal | None:
    """Whole millionths, as the database sums them, back to a ``Decimal`` of units."""
    return None if value is None else Decimal(str(value)).scaleb(-6)


def _from_micro(value: Any, expression: Any, connection: Any) -> Decimal | None:
    return from_micro(value)


class ExactDecimalField(DecimalField):
    """A decimal result that no backend converter may turn into a float on the way out."""

    def get_internal_type(self) -> str:
        # Django's SQLite backend converts every "DecimalField" result through a float.
        return "ExactDecimalField"


class ExactSum(Aggregate):
    """Sum of a column under the rule above, in whole millionths in SQL and as a ``Decimal`` of
    units once read (inside :class:`Totals`, read it with :func:`from_micro`). Nulls add
    nothing; an empty set gives None."""

    function = "SUM"
    name = "ExactSum"
    output_field = ExactDecimalField()
    allow_distinct = False

    def _sums_floats(self) -> bool:
        (source,) = self.get_source_expressions()[:1]
        return isinstance(source.output_field, FloatField)

    def as_postgresql(self, compiler, connection, **extra_context):
        # Set on a copy: Aggregate.as_sql() passes its own ``template`` when there is a FILTER.
        clone = self.copy()
        if self._sums_floats():
            clone.template = f"SUM(ROUND((%(expressions)s) * {MICRO})::bigint)"
        else:
            clone.template = f"SUM((%(expressions)s) * {MICRO})"
        return clone.as_sql(compiler, connection, **extra_context)

    def as_sqlite(self, compiler, connection, **extra_context):
        return self.as_sql(compiler, connection, function="RS_EXACT_SUM", **extra_context)

    def get_db_converters(self, connection):
        return [_from_micro]


class _TotalsField(Field):
    """What :class:`Totals` answers: a list of numbers, decoded the same way on every backend."""

    def get_internal_type(self) -> str:
        return "TotalsField"

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> list[Decimal | None]:
        if value is None:
            return []
        if isinstance(value, str):  # SQLite's JSON array; RS_EXACT_SUM's totals are text in it
            value = json.loads(value, parse_float=Decimal)
        return [None if item is None else Decimal(str(item)) for item in value]


class Totals(Func):
    """Several aggregates of one query in one column, in the order given.

    ``Sale.objects.filter(...)`` with ``Totals(Count("id"), ExactSum("total_amount"))`` gives
    ``[count, turnover]``: one scan of the table for all its figures, where a subquery per
    figure would scan it once each.
    """

    arg_joiner = ", "
    output_field = _TotalsField()

    def as_postgresql(self, compiler, connection, **extra_context):
        # One element type for the array: numeric holds counts and exact sums alike.
        parts, params = [], []
        for expression in self.get_source_expressions():
            sql, sql_params = compiler.compile(expression)
            parts.append(f"({sql})::numeric")
            params.extend(sql_params)
        return f"ARRAY[{', '.join(parts)}]", params

    def as_sql(self, compiler, connection, **extra_context):
        return super().as_sql(compiler, connection, function="JSON_ARRAY", **extra_context)


def one_row(queryset: QuerySet, **aggregates: Expression) -> QuerySet:
    """``queryset``'s aggregates as a one-row ``values()`` queryset (``SELECT agg, … FROM …
    WHERE …``), what ``aggregate()`` would send, but a queryset: a :class:`ScalarSubquery` can
    hold it (one aggregate), and :mod:`reception_stats.prepared` can keep it compiled. A
    constant stands in for the grouping, which Django leaves out of the GROUP BY: no grouping
    at all, hence one row, also when no row matches."""
    return (
        queryset.order_by()
        .annotate(_all=Value(1))
        .values("_all")
        .annotate(**aggregates)
        .values(*aggregates)
    )


class ScalarSubquery(Subquery):
    """A subquery of one row and one column, evaluated once, that ``aggregate()`` accepts beside
    its own aggregates (it yields one value for the whole query, as they do)."""

    contains_aggregate = True
