"""Exact decimals from the rings' scaled integers: 452835 at 1 decimal is 45283.5, never a float."""

from __future__ import annotations

from decimal import Decimal


def to_decimal(value: int, decimals: int) -> Decimal:
    """The exact Decimal of a scaled integer (built from its digits, so no context rounding)."""
    digits = tuple(int(c) for c in str(abs(value)))
    return Decimal((1 if value < 0 else 0, digits, -decimals))


def format_scaled(value: int, decimals: int) -> str:
    """Fixed-point text with exactly `decimals` decimals: format_scaled(452835, 1) == "45283.5"."""
    digits = str(abs(value))
    sign = "-" if value < 0 else ""
    if decimals == 0:
        return sign + digits
    digits = digits.rjust(decimals + 1, "0")
    return f"{sign}{digits[:-decimals]}.{digits[-decimals:]}"
