"""Orders as sources send them (JSON bodies, spreadsheet rows) into `OrderIn`, naming the bad field."""

from __future__ import annotations

from django.utils.translation import gettext as _

from siyu.corps.models import Corp
from siyu.kit.clock import parse_time
from siyu.kit.errors import InvalidInput
from siyu.kit.money import fen_from_yuan

from .services import LineIn, OrderIn, RefundIn


def order_in(corp: Corp, row: dict) -> OrderIn:
    tz = corp.tzinfo
    lines = row.get("lines")
    return OrderIn(
        order_no=str(row.get("order_no") or "").strip(),
        source=str(row.get("source") or "api").strip(),
        paid_at=parse_time(row.get("paid_at"), tz, field="paid_at"),
        amount_fen=fen_from_yuan(row.get("amount"), field="amount"),
        external_userid=str(row.get("external_userid") or "").strip(),
        unionid=str(row.get("unionid") or "").strip(),
        phone=str(row.get("phone") or "").strip(),
        store=str(row.get("store") or "").strip(),
        staff_userid=str(row.get("staff_userid") or "").strip(),
        coupon_code=str(row.get("coupon_code") or "").strip(),
        mall_code=str(row.get("mall_code") or "").strip(),
        lines=None if lines is None else [_line_in(line, f"lines.{i}") for i, line in enumerate(lines)],
        refunds=[refund_in(corp, r, f"refunds.{i}") for i, r in enumerate(row.get("refunds") or [])],
    )


def _line_in(line: dict, where: str) -> LineIn:
    try:
        quantity = int(str(line.get("quantity") or 1).strip())
    except ValueError:
        raise InvalidInput(_("%(value)r is not a whole number.") % {"value": line.get("quantity")}, code="bad_quantity", field=f"{where}.quantity") from None
    return LineIn(
        amount_fen=fen_from_yuan(line.get("amount"), field=f"{where}.amount"),
        sku=str(line.get("sku") or "").strip(),
        name=str(line.get("name") or "").strip(),
        quantity=quantity,
    )


def refund_in(corp: Corp, row: dict, where: str = "") -> RefundIn:
    prefix = f"{where}." if where else ""
    refunded_at = row.get("refunded_at")
    return RefundIn(
        refund_no=str(row.get("refund_no") or "").strip(),
        amount_fen=fen_from_yuan(row.get("amount"), field=f"{prefix}amount"),
        refunded_at=parse_time(refunded_at, corp.tzinfo, field=f"{prefix}refunded_at") if refunded_at else None,
    )
