"""``ExactSum``: a SUM that adds decimals, never binary floats.

Recyclic stores money as ``double precision``. kpi-semantics.md asks each value to be converted
to a decimal and the decimals summed, so that 0.1 + 0.2 is 0.3, not 0.30000000000000004.
PostgreSQL does it with ``SUM(x::numeric)``; SQLite has no decimal type, so the app registers a
small aggregate, ``RS_DECIMAL_SUM``, on each SQLite connection that sums Python ``Decimal`` values
and hands the total back as text.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db.models import Aggregate, DecimalField


class _DecimalSum:
    """SQLite aggregate: each value becomes ``Decimal(repr(value))``, exact at its shortest form."""

    def __init__(self) -> None:
        self.total: Decimal | None = None

    def step(self, value: Any) -> None:
        if value is None:
            return
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value))
        self.total = number if self.total is None else self.total + number

    def finalize(self) -> str | None:
        return None if self.total is None else str(self.total)


def register_sqlite_functions(sender: Any, connection: Any, **kwargs: Any) -> None:
    if connection.vendor == "sqlite":
        connection.connection.create_aggregate("RS_DECIMAL_SUM", 1, _DecimalSum)


def _to_decimal(value: Any, expression: Any, connection: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


class ExactDecimalField(DecimalField):
    """A decimal result that no backend converter may turn into a float on the way out."""

    def get_internal_type(self) -> str:
        # Django's SQLite backend converts every "DecimalField" result through a float.
        return "ExactDecimalField"


class ExactSum(Aggregate):
    """Sum of a column as a decimal; NULL values count nothing and an empty set gives None."""

    function = "SUM"
    name = "ExactSum"
    output_field = ExactDecimalField()
    allow_distinct = False

    def as_postgresql(self, compiler, connection, **extra_context):
        # Set on a copy: Aggregate.as_sql() passes its own ``template`` when there is a FILTER.
        clone = self.copy()
        clone.template = "SUM((%(expressions)s)::numeric)"
        return clone.as_sql(compiler, connection, **extra_context)

    def as_sqlite(self, compiler, connection, **extra_context):
        return self.as_sql(compiler, connection, function="RS_DECIMAL_SUM", **extra_context)

    def get_db_converters(self, connection):
        return [_to_decimal]
