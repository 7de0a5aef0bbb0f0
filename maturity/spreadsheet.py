"""Cells of CSV files that are safe to open in a spreadsheet: one rule for the CLI and the API.

OWASP's CSV-injection guidance: a spreadsheet runs a cell as a formula when it starts with
``=``, ``+``, ``-`` or ``@`` (also after a tab or carriage return, and some applications skip
leading whitespace first, or read the full-width forms ``＝＋－＠`` as their ASCII twins). Such a
cell is prefixed with a single quote, which the spreadsheet shows as text; the csv module quotes
separators and doubles quotes.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

#: characters that make a spreadsheet read a cell as a formula, ASCII and full-width
FORMULA_START = frozenset("=+-@\t\r\n" + "\uff1d\uff0b\uff0d\uff20")


def starts_formula(text: str) -> bool:
    """Whether a spreadsheet could read ``text`` as a formula (leading spaces skipped)."""
    if text[:1] in FORMULA_START:
        return True
    stripped = text.lstrip(" \u3000\u00a0\t\r\n\v\f")
    return stripped != text and stripped[:1] in FORMULA_START


def safe_text(text: str) -> str:
    """``text`` as a cell: quoted with a leading ``'`` when it could start a formula."""
    return "'" + text if starts_formula(text) else text


def csv_cell(value: Any) -> Any:
    """A value as a CSV cell: times in ISO 8601, booleans as true/false, formulas neutralised."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return safe_text(value)
    return value
