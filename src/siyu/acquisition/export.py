"""Channel statistics as an Excel workbook (openpyxl), in the operator's language."""

from __future__ import annotations

import dataclasses
import io

from django.utils.translation import gettext as _
from openpyxl import Workbook
from openpyxl.styles import Font

from siyu.kit.sheets import cells, sheet_title

from .selectors import AcquisitionStats, StatsRow

YUAN = "#,##0.00"
PERCENT = "0.0%"


def _columns():
    return [
        (_("Adds"), lambda r: r.adds, None),
        (_("Landing scans"), lambda r: r.scans, None),
        (_("Lost within 1 day"), lambda r: r.lost_1d, None),
        (_("Lost within 7 days"), lambda r: r.lost_7d, None),
        (_("Lost so far"), lambda r: r.lost, None),
        (_("Net adds"), lambda r: r.net, None),
        (_("1-day churn"), lambda r: r.churn_1d, PERCENT),
        (_("7-day churn"), lambda r: r.churn_7d, PERCENT),
        (_("Cost (yuan)"), lambda r: None if r.cost_fen is None else r.cost_fen / 100, YUAN),
        (_("Cost per add (yuan)"), lambda r: None if r.cost_per_add_fen is None else r.cost_per_add_fen / 100, YUAN),
    ]


def _sheet(book: Workbook, title: str, lead: list[str], rows: list[tuple[list, StatsRow]]) -> None:
    sheet = book.create_sheet(sheet_title(title, "Sheet"))
    columns = _columns()
    sheet.append(cells(sheet, [*lead, *(c[0] for c in columns)], font=Font(bold=True)))
    for lead_values, row in rows:
        sheet.append(cells(sheet, [*lead_values, *(get(row) for _, get, _fmt in columns)]))
    for i, (_name, _get, fmt) in enumerate(columns, start=len(lead) + 1):
        if fmt:
            for (cell,) in sheet.iter_rows(min_row=2, min_col=i, max_col=i):
                cell.number_format = fmt
    for i, width in enumerate([14] * len(lead) + [12] * len(columns), start=1):
        sheet.column_dimensions[sheet.cell(row=1, column=i).column_letter].width = width
    sheet.freeze_panes = sheet.cell(row=2, column=len(lead) + 1)


def stats_workbook(stats: AcquisitionStats) -> bytes:
    by_label = {"channel": _("Channel"), "live_code": _("Live code"), "staff": _("Staff")}[stats.by]
    book = Workbook()
    book.remove(book.active)
    total = dataclasses.replace(stats.totals, name=_("Total"))
    _sheet(book, _("Summary"), [by_label], [([r.name], r) for r in stats.rows] + [([total.name], total)])
    _sheet(book, _("By day"), [_("Day")], [([r.name], r) for r in stats.days])
    _sheet(book, _("Detail"), [_("Day"), by_label], [([day.isoformat(), r.name], r) for (day, _key), r in stats.cells.items()])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
