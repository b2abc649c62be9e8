"""Coupons (优惠券): templates, issuing and claiming within stock and per-person limits, redemption
with an order or in a store, and expiry.

- **Never oversold.** Issuing takes one from the template's stock by a conditional UPDATE (issued
  below stock). That row stays locked until commit, so claims of one template are serialised, and
  the per-person count that follows sees every earlier claim. The database's CHECK is the last
  line.
- **Once.** A coupon is issued once per (source, source_id): a journey's step, a check-in stage, a
  mall exchange or a draw delivered twice issues one. A customer's two taps on "claim" get one
  coupon and a clear refusal.
- **Redeemed once.** With an order (the order API and order import carry `coupon_code`): the
  customer's usable coupon, valid on the order's day, its threshold met. A full refund gives it
  back. In a store: a guide scans the customer's coupon QR in the sidebar. Every refusal names
  its reason (used, expired, not yet valid, not this brand's) in the customer's language.
"""

from __future__ import annotations

import logging
import secrets
from datetime import date, datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import F, Q, Sum
from django.utils.translation import gettext as _

from siyu.analytics.models import Segment
from siyu.analytics.segments import SegmentFilters, customers_matching
from siyu.corps.models import Corp
from siyu.kit.clock import now
from siyu.kit.errors import Conflict, InvalidInput, NotFound
from siyu.kit.queue import enqueue_after_commit
from siyu.kit.tenancy import Actor, Role

from .models import Coupon, CouponTemplate

log = logging.getLogger(__name__)

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I: read aloud at a till
CODE_LENGTH = 10
MAX_FEN = 100_000_000  # ¥1,000,000


def _today(corp: Corp, at: datetime | None = None) -> date:
    return (at or now()).astimezone(corp.tzinfo).date()


def new_code() -> str:
    """A code a customer shows or types: coupons', pick-ups', prizes' and exchanges' pay codes."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


# -- templates ---------------------------------------------------------------------------------------
def template_save(
    *,
    actor: Actor,
    template: CouponTemplate | None = None,
    name: str,
    kind: str,
    threshold_fen: int = 0,
    amount_fen: int = 0,
    pay_percent: int = 100,
    gift: str = "",
    valid_from: date | None = None,
    valid_until: date | None = None,
    valid_days: int | None = None,
    stock: int | None = None,
    per_person: int = 1,
    claimable: bool = False,
    claim_starts_at: datetime | None = None,
    claim_ends_at: datetime | None = None,
    show_left_below: int | None = None,
    active: bool = True,
) -> CouponTemplate:
    actor.require_manager()
    name = (name or "").strip()
    if not name or len(name) > 32:
        raise InvalidInput(_("The coupon needs a name of at most 32 characters."), code="bad_name", field="name")
    if kind not in CouponTemplate.Kind.values:
        raise InvalidInput(_("The kind is one of %(kinds)s.") % {"kinds": ", ".join(CouponTemplate.Kind.values)}, code="bad_kind", field="kind")
    for field, value in (("threshold_fen", threshold_fen), ("amount_fen", amount_fen)):
        if not 0 <= value <= MAX_FEN:
            raise InvalidInput(_("The amount is from ¥0 to ¥1,000,000."), code="bad_amount", field=field)
    if kind in ("amount_off", "no_threshold") and amount_fen <= 0:
        raise InvalidInput(_("How much is taken off?"), code="bad_amount", field="amount_fen")
    if kind == "amount_off" and threshold_fen <= amount_fen:
        raise InvalidInput(_("The threshold must be above the amount taken off (满 ¥100 减 ¥20)."), code="bad_threshold", field="threshold_fen")
    if kind == "discount" and not 1 <= pay_percent <= 99:
        raise InvalidInput(_("A discount pays 1–99% of the price (85 = 8.5折)."), code="bad_discount", field="pay_percent")
    if kind == "gift" and not gift.strip():
        raise InvalidInput(_("Name the gift."), code="bad_gift", field="gift")
    if valid_days is None and not (valid_from and valid_until):
        raise InvalidInput(_("Give fixed dates, or the days it is valid after claiming."), code="bad_validity", field="valid_until")
    if valid_days is not None and not 1 <= valid_days <= 3650:
        raise InvalidInput(_("Valid days are from 1 to 3650."), code="bad_validity", field="valid_days")
    if valid_from and valid_until and valid_until < valid_from:
        raise InvalidInput(_("The end is before the start."), code="bad_validity", field="valid_until")
    if claim_starts_at and claim_ends_at and claim_ends_at <= claim_starts_at:
        raise InvalidInput(_("The claiming window ends before it starts."), code="bad_window", field="claim_ends_at")
    if not 1 <= per_person <= 100:
        raise InvalidInput(_("Per person is from 1 to 100."), code="bad_limit", field="per_person")
    if stock is not None and not 0 <= stock <= 100_000_000:
        raise InvalidInput(_("The stock is from 0 to 100,000,000."), code="bad_stock", field="stock")
    values = {
        "name": name,
        "kind": kind,
        "threshold_fen": threshold_fen if kind == "amount_off" else 0,
        "amount_fen": amount_fen if kind in ("amount_off", "no_threshold") else 0,
        "pay_percent": pay_percent if kind == "discount" else 100,
        "gift": gift.strip()[:64] if kind == "gift" else "",
        "valid_from": valid_from if valid_days is None else None,
        "valid_until": valid_until if valid_days is None else None,
        "valid_days": valid_days,
        "stock": stock,
        "per_person": per_person,
        "claimable": claimable,
        "claim_starts_at": claim_starts_at,
        "claim_ends_at": claim_ends_at,
        "show_left_below": show_left_below,
        "active": active,
    }
    if template is None:
        return CouponTemplate.objects.create(corp=actor.corp, **values)
    with transaction.atomic():
        template = CouponTemplate.objects.select_for_update().get(pk=template.pk)
        if stock is not None and stock < template.issued:
            raise InvalidInput(
                _("%(issued)s are already issued: the stock cannot be below that.") % {"issued": template.issued}, code="bad_stock", field="stock"
            )
        for key, value in values.items():
            setattr(template, key, value)
        template.save()
    return template


def describe(template: CouponTemplate) -> str:
    """What the coupon is worth, as its reader says it (满100减20 on a customer's page)."""

    def yuan(fen: int) -> str:
        return f"{fen / 100:g}"

    if template.kind == "amount_off":
        return _("¥%(off)s off over ¥%(threshold)s") % {"off": yuan(template.amount_fen), "threshold": yuan(template.threshold_fen)}
    if template.kind == "no_threshold":
        return _("¥%(off)s off") % {"off": yuan(template.amount_fen)}
    if template.kind == "discount":
        return _("%(tenths)s/10 of the price") % {"tenths": f"{template.pay_percent / 10:g}"}
    return _("Gift: %(gift)s") % {"gift": template.gift}


# -- issuing ------------------------------------------------------------------------------------------
def _validity(template: CouponTemplate, today: date) -> tuple[date, date]:
    if template.valid_days:
        return today, today + timedelta(days=template.valid_days - 1)
    return template.valid_from, template.valid_until


@transaction.atomic
def coupon_issue(*, corp: Corp, template: CouponTemplate, customer_id: int, source: str, source_id: str, at: datetime | None = None) -> Coupon:
    """One coupon of `template` for the customer, once per (source, source_id); refused when the
    template is off, sold out, past its end, or the customer holds their share."""
    earlier = Coupon.objects.filter(corp=corp, source=source, source_id=source_id).first()
    if earlier is not None:
        return earlier
    at = at or now()
    today = _today(corp, at)
    if template.corp_id != corp.pk or not template.active:
        raise Conflict(_("This coupon is no longer offered."), code="coupon_off")
    valid_from, valid_until = _validity(template, today)
    if valid_until < today:
        raise Conflict(_("This coupon's offer has ended."), code="coupon_ended")
    try:
        with transaction.atomic():
            taken = CouponTemplate.objects.filter(Q(stock__isnull=True) | Q(issued__lt=F("stock")), pk=template.pk, active=True).update(issued=F("issued") + 1)
            if not taken:
                raise Conflict(_("All of these coupons have been given out."), code="sold_out")
            held = Coupon.objects.filter(template=template, customer_id=customer_id).exclude(status=Coupon.Status.VOID).count()
            if held >= template.per_person:
                raise Conflict(_("You already have this coupon (at most %(n)s each).") % {"n": template.per_person}, code="coupon_limit")
            for _attempt in range(5):
                try:
                    with transaction.atomic():
                        return Coupon.objects.create(
                            corp=corp,
                            template=template,
                            customer_id=customer_id,
                            code=new_code(),
                            source=source,
                            source_id=source_id,
                            issued_at=at,
                            valid_from=valid_from,
                            valid_until=valid_until,
                        )
                except IntegrityError:
                    if Coupon.objects.filter(corp=corp, source=source, source_id=source_id).exists():
                        raise
            raise RuntimeError("no free coupon code after 5 tries")
    except IntegrityError:
        # A twin with the same key committed meanwhile: it stands, nothing of this one is kept.
        return Coupon.objects.get(corp=corp, source=source, source_id=source_id)


def coupon_claim(*, corp: Corp, template: CouponTemplate, customer_id: int, at: datetime | None = None) -> Coupon:
    """A customer claims a coupon on a page: only a claimable template, inside its window."""
    at = at or now()
    if not template.claimable or not template.active:
        raise Conflict(_("This coupon cannot be claimed here."), code="not_claimable")
    if template.claim_starts_at and at < template.claim_starts_at:
        raise Conflict(_("Claiming starts at %(at)s.") % {"at": template.claim_starts_at.astimezone(corp.tzinfo).strftime("%m-%d %H:%M")}, code="not_yet")
    if template.claim_ends_at and at >= template.claim_ends_at:
        raise Conflict(_("Claiming has ended."), code="claim_ended")
    held = Coupon.objects.filter(template=template, customer_id=customer_id).count()
    return coupon_issue(corp=corp, template=template, customer_id=customer_id, source="claim", source_id=f"{template.pk}:{customer_id}:{held + 1}", at=at)


# -- redeeming ----------------------------------------------------------------------------------------
def _refusal(coupon: Coupon | None, corp: Corp, today: date) -> Conflict | None:
    if coupon is None:
        return Conflict(_("This is not one of the brand's coupons; check the code."), code="no_such_coupon", field="code")
    if coupon.status == Coupon.Status.REDEEMED:
        when = coupon.redeemed_at.astimezone(corp.tzinfo).strftime("%Y-%m-%d %H:%M") if coupon.redeemed_at else ""
        return Conflict(_("This coupon was already used (%(when)s).") % {"when": when}, code="coupon_used", field="code")
    if coupon.status == Coupon.Status.VOID:
        return Conflict(_("This coupon was cancelled."), code="coupon_void", field="code")
    if coupon.status == Coupon.Status.EXPIRED or coupon.valid_until < today:
        return Conflict(_("This coupon expired on %(day)s.") % {"day": coupon.valid_until.isoformat()}, code="coupon_expired", field="code")
    if coupon.valid_from > today:
        return Conflict(_("This coupon can be used from %(day)s.") % {"day": coupon.valid_from.isoformat()}, code="coupon_not_yet", field="code")
    return None


def coupon_redeem_with_order(corp: Corp, order) -> str:
    """Redeem the coupon an order names (in the order's transaction). An order is a fact from the
    till: one naming an unusable coupon is stored all the same, and the coupon is left as it was."""
    code = order.coupon_code.strip().upper()
    coupon = Coupon.objects.select_for_update().select_related("template").filter(corp=corp, code=code).first()
    refusal = _refusal(coupon, corp, order.paid_on)
    reason = refusal.code if refusal is not None else ""
    if not reason and coupon.customer_id != order.customer_id:
        reason = "coupon_not_theirs"
    if not reason and coupon.template.kind == "amount_off" and order.amount_fen + coupon.template.amount_fen < coupon.template.threshold_fen:
        reason = "coupon_threshold"  # the order paid is after the discount: what was bought before it fell short
    if reason:
        log.info("order %s names coupon %s, not redeemed: %s", order.pk, code, reason)
        return reason
    Coupon.objects.filter(pk=coupon.pk).update(
        status=Coupon.Status.REDEEMED, redeemed_at=order.paid_at, order=order, store=order.store[:64], staff_id=order.staff_id
    )
    return "redeemed"


def coupon_release_for_refund(corp: Corp, order) -> bool:
    """A fully refunded order gives its coupon back (usable again while it is valid)."""
    if order.refunded_fen < order.amount_fen:
        return False
    coupon = Coupon.objects.select_for_update().filter(corp=corp, order=order, status=Coupon.Status.REDEEMED).first()
    if coupon is None:
        return False
    status = Coupon.Status.ACTIVE if coupon.valid_until >= _today(corp) else Coupon.Status.EXPIRED
    Coupon.objects.filter(pk=coupon.pk).update(status=status, redeemed_at=None, order=None, store="", staff=None)
    return True


@transaction.atomic
def coupon_verify(*, actor: Actor, code: str, store: str = "") -> Coupon:
    """A guide verifies a customer's coupon in a store (scanned from the customer's page)."""
    if not actor.staff_id:
        raise InvalidInput(_("Only a staff member verifies coupons in store."), code="not_staff", field="code")
    code = (code or "").strip().upper()
    if code.startswith("SIYU-COUPON:"):
        code = code.removeprefix("SIYU-COUPON:")
    if not code or len(code) > 16:
        raise InvalidInput(_("Scan or type the coupon's code."), code="bad_code", field="code")
    coupon = Coupon.objects.select_for_update().select_related("template").filter(corp=actor.corp, code=code).first()
    refusal = _refusal(coupon, actor.corp, _today(actor.corp))
    if refusal is not None:
        raise refusal
    coupon.status, coupon.redeemed_at, coupon.staff_id, coupon.store = Coupon.Status.REDEEMED, now(), actor.staff_id, store.strip()[:64]
    coupon.save(update_fields=["status", "redeemed_at", "staff", "store"])
    return coupon


def coupons_expire_due(*, corp: Corp) -> int:
    return Coupon.objects.filter(corp=corp, status=Coupon.Status.ACTIVE, valid_until__lt=_today(corp)).update(status=Coupon.Status.EXPIRED)


def coupons_issue_to_segment(*, actor: Actor, template: CouponTemplate, segment) -> None:
    """Give every customer of a segment one coupon, by a worker task (a segment may hold millions).
    Issuing again gives nobody a second one (its key is template, segment, customer)."""
    actor.require_manager()
    if template.corp_id != actor.corp.pk or segment.corp_id != actor.corp.pk:
        raise NotFound(_("No such coupon."), code="no_such_coupon")
    if not template.active:
        raise Conflict(_("This coupon is no longer offered."), code="coupon_off", field="template")
    enqueue_after_commit("siyu.engagement.tasks.issue_to_segment", template.pk, segment.pk)


def coupons_issue_to_segment_run(template_id: int, segment_id: int) -> int:
    template = CouponTemplate.objects.select_related("corp").get(pk=template_id)
    segment = Segment.objects.get(pk=segment_id, corp=template.corp)
    actor = Actor(user=None, corp=template.corp, role=Role.ADMIN)
    issued = 0
    ids = list(customers_matching(actor, SegmentFilters.from_json(segment.filters)).order_by("pk").values_list("pk", flat=True))
    for customer_id in ids:
        try:
            coupon_issue(
                corp=template.corp, template=template, customer_id=customer_id, source="segment", source_id=f"{template.pk}:{segment.pk}:{customer_id}"
            )
            issued += 1
        except Conflict as exc:
            if exc.code in ("sold_out", "coupon_off", "coupon_ended"):
                break
    return issued


def coupon_stats(template: CouponTemplate) -> dict:
    rows = Coupon.objects.filter(template=template)
    redeemed = rows.filter(status=Coupon.Status.REDEEMED)
    gmv = redeemed.filter(order__isnull=False).aggregate(fen=Sum(F("order__amount_fen") - F("order__refunded_fen")))["fen"] or 0
    return {
        "issued": template.issued,
        "claimed": rows.filter(source="claim").count(),
        "redeemed": redeemed.count(),
        "redeemed_online": redeemed.filter(order__isnull=False).count(),
        "redeemed_in_store": redeemed.filter(staff__isnull=False, order__isnull=True).count(),
        "expired": rows.filter(status=Coupon.Status.EXPIRED).count(),
        "gmv_fen": gmv,
    }


def template_active_set(*, actor: Actor, template: CouponTemplate, active: bool) -> CouponTemplate:
    """Stopped: no more issued or claimed; those held stay usable."""
    actor.require_manager()
    template.active = active
    template.save(update_fields=["active"])
    return template
