"""Writing Excel cells safely: one helper for every export.

openpyxl writes a string that starts with "=" as a formula, so a WeChat nickname such as
`=HYPERLINK(...)` would become a live formula in an operator's spreadsheet. Every text cell here
is stored as text; one that starts like a formula (= + - @ tab CR) is also marked quote-prefixed,
as Excel marks what a user typed after an apostrophe, so no program re-reading it evaluates it.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
TITLE_FORBIDDEN = re.compile(r"[\\/?*\[\]:]")
TITLE_MAX = 31


def cells(sheet, values, *, font=None) -> list:
    """A row for `sheet.append` (normal or write-only sheets): text as text, other values as they are."""
    out = []
    for value in values:
        cell = WriteOnlyCell(sheet, value=value)
        if isinstance(value, str):
            cell.data_type = "s"
            if value.startswith(FORMULA_STARTS):
                cell.quotePrefix = True
        if font is not None:
            cell.font = font
        out.append(cell)
    return out


def sheet_title(name: str, default: str) -> str:
    """A sheet title Excel accepts (no \\ / ? * [ ] :, at most 31 characters, not blank)."""
    title = re.sub(r"\s+", " ", TITLE_FORBIDDEN.sub(" ", name or "")).strip().strip("'")[:TITLE_MAX].strip()
    return title or default


def workbook(sheets: Iterable[tuple[str, str, list, Iterable[list]]]) -> bytes:
    """An .xlsx of plain tables: (title, fallback title, heading, rows) a sheet, every cell safe."""
    book = Workbook(write_only=True)
    for title, default, heading, rows in sheets:
        sheet = book.create_sheet(sheet_title(title, default))
        sheet.append(cells(sheet, heading))
        for row in rows:
            sheet.append(cells(sheet, row))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
