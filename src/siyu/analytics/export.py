"""Segments as Excel workbooks (openpyxl in write-only mode: rows stream out, memory stays flat)."""

from __future__ import annotations

import io

from django.utils.translation import gettext as _
from openpyxl import Workbook
from openpyxl.styles import Font

from siyu.customers.models import CustomerPhone, Follow
from siyu.kit.errors import InvalidInput
from siyu.kit.sheets import cells, sheet_title
from siyu.orders.models import CustomerValue

from . import rfm

MAX_ROWS = 200_000
CHUNK = 2000


def segment_workbook(corp, customers, *, name: str) -> bytes:
    total = customers.count()
    if total > MAX_ROWS:
        raise InvalidInput(
            _("%(total)s customers is more than one export takes (%(max_rows)s); narrow the segment.") % {"total": total, "max_rows": MAX_ROWS},
            code="export_too_large",
        )
    result = rfm.current_result(corp)
    book = Workbook(write_only=True)
    sheet = book.create_sheet(sheet_title(name, "Segment"))
    heading = [
        _("Customer ID"),
        _("Name"),
        "external_userid",
        _("Phones"),
        _("Staff"),
        _("Orders"),
        _("Spent (yuan)"),
        _("First order"),
        _("Last order"),
        _("RFM class"),
    ]
    bold = Font(bold=True)
    sheet.append(cells(sheet, heading, font=bold))
    ids = list(customers.order_by("id").values_list("id", flat=True))
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        rows = {c: (n, e) for c, n, e in customers.model.objects.filter(id__in=chunk).values_list("id", "name", "external_userid")}
        phones: dict[int, list[str]] = {}
        for c, p in CustomerPhone.objects.filter(customer_id__in=chunk).values_list("customer_id", "phone"):
            phones.setdefault(c, []).append(p)
        staff: dict[int, list[str]] = {}
        for c, s in Follow.objects.filter(customer_id__in=chunk, deleted_by_staff_at__isnull=True, deleted_by_customer_at__isnull=True).values_list(
            "customer_id", "staff__name"
        ):
            staff.setdefault(c, []).append(s)
        values = {v.customer_id: v for v in CustomerValue.objects.filter(customer_id__in=chunk)}
        classes = rfm.customer_classes(corp, result, chunk)
        for c in chunk:
            v = values.get(c)
            cls = classes.get(c)
            sheet.append(
                cells(
                    sheet,
                    [
                        c,
                        rows[c][0],
                        rows[c][1],
                        ", ".join(sorted(phones.get(c, []))),
                        ", ".join(sorted(staff.get(c, []))),
                        v.order_count if v else 0,
                        (v.net_fen / 100) if v else 0,
                        v.first_paid_on if v else None,
                        v.last_paid_on if v else None,
                        f"{cls.letter} {cls.name}" if cls else "",
                    ],
                )
            )
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
