"""How each figure is named and written for a person (French by default).

The admin page and the command's table both show the figures through these; the JSON of the API
and of the command stays raw numbers.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import NamedTuple

from django.utils.formats import number_format
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


class Figure(NamedTuple):
    name: str
    label: str | Promise
    kind: str  # "count", "money" or "weight"
    headline: bool


FIGURES: tuple[Figure, ...] = (
    Figure("tickets_open", _("Open tickets"), "count", True),
    Figure("tickets_closed_24h", _("Closed tickets"), "count", True),
    Figure("turnover_eur", _("Turnover"), "money", True),
    Figure("donations_eur", _("Donations"), "money", True),
    Figure("weight_in", _("Kilos received"), "weight", True),
    Figure("weight_out", _("Kilos out"), "weight", True),
    Figure("items_received", _("Items received"), "count", False),
    Figure("sales_count", _("Sales"), "count", False),
    Figure("last_sale_amount", _("Last sale"), "money", False),
    Figure("weight_out_sales", _("Kilos sold"), "weight", False),
    Figure("weight_out_exits", _("Kilos out at reception"), "weight", False),
)


def format_number(value: int | Decimal, decimal_pos: int | None = None) -> str:
    """Grouped digits and the decimal separator of the active language (1 247,50 in French).

    Rounded half-up first, as the figures are: Django's number_format cuts extra digits off.
    """
    if decimal_pos is not None:
        value = Decimal(value).quantize(Decimal(1).scaleb(-decimal_pos), rounding=ROUND_HALF_UP)
    return number_format(value, decimal_pos=decimal_pos, use_l10n=True, force_grouping=True)


def format_figure(kind: str, value: int | Decimal, weight_decimals: int = 3) -> str:
    if kind == "money":
        return f"{format_number(value, 2)}\u00a0€"
    if kind == "weight":
        return f"{format_number(value, weight_decimals)}\u00a0kg"
    return format_number(value)
