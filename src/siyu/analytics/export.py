"""Segments as Excel workbooks (openpyxl in write-only mode: rows stream out, memory stays flat)."""

from __future__ import annotations

import io

from django.utils.translation import gettext as _
from openpyxl import Workbook
from openpyxl.styles import Font

from siyu.acquisition.models import LiveCode
from siyu.customers.models import CustomerPhone, Follow, FollowTag
from siyu.kit.errors import InvalidInput
from siyu.kit.sheets import cells, sheet_title
from siyu.orders.models import CustomerValue

from . import rfm
from .models import CustomerClv

MAX_ROWS = 200_000
CHUNK = 2000


def segment_workbook(corp, customers, *, name: str) -> bytes:
    """These customers as a workbook, one row each, in the queryset's order (by id when it has none)."""
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
        _("Tags"),
        _("Channel"),
        _("Added"),
        _("Orders"),
        _("Spent (yuan)"),
        _("First order"),
        _("Last order"),
        _("RFM class"),
        _("CLV (yuan)"),
    ]
    bold = Font(bold=True)
    sheet.append(cells(sheet, heading, font=bold))
    if not customers.query.order_by:
        customers = customers.order_by("id")
    ids = list(customers.values_list("id", flat=True))
    tz = corp.tzinfo
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        rows = {c: (n, e) for c, n, e in customers.model.objects.filter(id__in=chunk).values_list("id", "name", "external_userid")}
        phones: dict[int, list[str]] = {}
        for c, p in CustomerPhone.objects.filter(customer_id__in=chunk).values_list("customer_id", "phone"):
            phones.setdefault(c, []).append(p)
        staff: dict[int, list[str]] = {}
        first: dict[int, tuple] = {}
        active = Follow.objects.filter(customer_id__in=chunk, deleted_by_staff_at__isnull=True, deleted_by_customer_at__isnull=True)
        for c, s, added_at, state in active.order_by("added_at", "id").values_list("customer_id", "staff__name", "added_at", "state"):
            staff.setdefault(c, []).append(s)
            first.setdefault(c, (added_at, state))
        tags: dict[int, set[str]] = {}
        for c, t in FollowTag.objects.filter(follow__in=active, tag__deleted_at__isnull=True).values_list("follow__customer_id", "tag__name"):
            tags.setdefault(c, set()).add(t)
        channels = dict(LiveCode.objects.filter(corp=corp, state__in={state for _a, state in first.values() if state}).values_list("state", "channel__name"))
        values = {v.customer_id: v for v in CustomerValue.objects.filter(customer_id__in=chunk)}
        clv = dict(CustomerClv.objects.filter(customer_id__in=chunk).values_list("customer_id", "clv_fen"))
        classes = rfm.customer_classes(corp, result, chunk)
        for c in chunk:
            v = values.get(c)
            cls = classes.get(c)
            added_at, state = first.get(c, (None, ""))
            sheet.append(
                cells(
                    sheet,
                    [
                        c,
                        rows[c][0],
                        rows[c][1],
                        ", ".join(sorted(phones.get(c, []))),
                        ", ".join(sorted(staff.get(c, []))),
                        ", ".join(sorted(tags.get(c, []))),
                        channels.get(state) or state,
                        added_at.astimezone(tz).replace(tzinfo=None) if added_at else None,
                        v.order_count if v else 0,
                        (v.net_fen / 100) if v else 0,
                        v.first_paid_on if v else None,
                        v.last_paid_on if v else None,
                        f"{cls.letter} {cls.name}" if cls else "",
                        clv[c] / 100 if c in clv else None,
                    ],
                )
            )
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
