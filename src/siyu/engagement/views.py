"""The customer's pages in WeChat (`/h5/<corp>/…`): Chinese, one column at 390 px, identified by
WeChat's sign-in (engagement.visitors), never cached."""

from __future__ import annotations

import json
import secrets
from urllib.parse import quote

import segno
from django.core import signing
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from siyu.acquisition.views import public_page
from siyu.corps.models import Corp
from siyu.kit.errors import DomainError
from siyu.messaging.library import LinkSource, link_read, media_path, media_read, tracked_path
from siyu.messaging.models import ContentItem, Media

from . import checkin, coupons, games, lottery, mall, members, points_tasks, reading, visitors
from .models import CheckinCampaign, Coupon, CouponTemplate, GroupGame, Lottery, MallItem, MallOrder, PointsAccount, PointsEntry, WechatVisitor

SHARE_SALT = "siyu-share"


def _corp(corp_id: str) -> Corp:
    corp = Corp.objects.filter(corp_id=corp_id).first()
    if corp is None:
        raise Http404
    return corp


def _corp_and(corp_id: str, rows, pk: int):
    """The corp and one of its rows in one read (the pages customers tap in bursts); (corp, None)
    when the row is not the corp's, and 404 when the corp is unknown."""
    row = rows.select_related("corp").filter(corp__corp_id=corp_id, pk=pk).first()
    return (row.corp, row) if row is not None else (_corp(corp_id), None)


def _message(request, corp: Corp | None, message: str, status: int, heading: str = "") -> HttpResponse:
    return render(request, "engagement/message.html", {"corp": corp, "message": message, "heading": heading}, status=status)


def _visitor(request, corp: Corp, scope: str = "snsapi_base") -> tuple[WechatVisitor | None, HttpResponse | None]:
    """The signed-in visitor, or the response that signs them in first."""
    value = request.get_signed_cookie(visitors.session_cookie(corp), default="", salt=visitors.SESSION_SALT, max_age=visitors.SESSION_AGE)
    visitor = visitors.visitor_for_session(corp, value) if value else None
    if visitor is not None:
        return visitor, None
    try:
        start = visitors.sign_in_start(
            corp, next_path=request.get_full_path(), redirect_uri=request.build_absolute_uri(reverse("h5_oauth", args=[corp.corp_id])), scope=scope
        )
    except DomainError as exc:
        return None, _message(request, corp, exc.message, 503, "暂时无法打开")
    response = redirect(start.url)
    # The value is signed already (sign_in_start).
    response.set_cookie(start.cookie, start.value, max_age=visitors.NEXT_AGE, httponly=True, samesite="Lax", secure=request.is_secure())
    return None, response


@public_page
def h5_oauth(request, corp_id: str):
    """WeChat's sign-in comes back here with a code and the state it was given."""
    corp = _corp(corp_id)
    waiting = request.COOKIES.get(visitors.next_cookie(corp), "")
    try:
        visitor, path = visitors.sign_in_finish(corp, code=request.GET.get("code", ""), state=request.GET.get("state", ""), waiting=waiting)
    except DomainError as exc:
        return _message(request, corp, exc.message, exc.status)
    response = redirect(path)
    response.delete_cookie(visitors.next_cookie(corp))
    response.set_signed_cookie(
        visitors.session_cookie(corp),
        visitors.session_value(visitor),
        salt=visitors.SESSION_SALT,
        max_age=visitors.SESSION_AGE,
        httponly=True,
        samesite="Lax",
        secure=request.is_secure(),
    )
    return response


@public_page
def h5_home(request, corp_id: str):
    corp = _corp(corp_id)
    visitor, sign_in = _visitor(request, corp)
    if sign_in:
        return sign_in
    return render(request, "engagement/home.html", {"corp": corp, "visitor": visitor})


@public_page
def h5_content(request, corp_id: str, token: str):
    """A library item opened from a tracked link (or a reader's shared copy of one)."""
    corp = _corp(corp_id)
    link = link_read(token)
    item = ContentItem.objects.filter(corp=corp, pk=link.item_id).first() if link else None
    if item is None:
        return _message(request, corp, "链接无效或内容已删除。", 404)
    visitor, sign_in = _visitor(request, corp)
    if sign_in:
        return sign_in
    sharer = _sharer(corp, request.GET.get("f", ""))
    view = reading.content_opened(corp=corp, item=item, visitor=visitor, link=link, shared_by=sharer)
    if item.kind == ContentItem.Kind.LINK:
        return redirect(item.url)
    share = request.build_absolute_uri(reverse("h5_content", args=[corp.corp_id, token])) + "?f=" + signing.Signer(salt=SHARE_SALT).sign(str(visitor.pk))
    context = {
        "corp": corp,
        "item": item,
        "view": view,
        "share_url": share,
        "cover_url": media_path(corp, item.cover_id) if item.cover_id else "",
        "media_url": media_path(corp, item.media_id) if item.media_id else "",
    }
    return render(request, "engagement/content.html", context)


def _sharer(corp: Corp, value: str) -> WechatVisitor | None:
    try:
        pk = int(signing.Signer(salt=SHARE_SALT).unsign(value)) if value else None
    except (signing.BadSignature, ValueError):
        return None  # an altered share mark: the view counts, unattributed
    return WechatVisitor.objects.filter(corp=corp, pk=pk).first() if pk else None


@csrf_exempt  # the view's secret key is the credential; sendBeacon cannot carry a CSRF token
@require_POST
@public_page
def h5_progress(request, corp_id: str, key: str):
    try:
        data = json.loads(request.body or b"{}")
        dwell, scroll = int(data.get("dwell", 0)), int(data.get("scroll", 0))
    except (ValueError, TypeError, AttributeError):
        return HttpResponse("dwell and scroll are whole numbers", status=400)
    if not reading.view_progress(corp_id=corp_id, key=key[:32], dwell=dwell, scroll=scroll):
        raise Http404
    return HttpResponse(status=204)


def h5_media(request, corp_id: str, token: str):
    """A library file by its signed address: pictures, posters, videos, files."""
    corp = _corp(corp_id)
    pk = media_read(token)
    media = Media.objects.filter(corp=corp, pk=pk).only("content", "content_type", "name", "kind").first() if pk else None
    if media is None:
        raise Http404
    response = HttpResponse(bytes(media.content), content_type=media.content_type or "application/octet-stream")
    response["Cache-Control"] = "public, max-age=86400, immutable"  # a Media row's bytes never change
    if request.GET.get("download") or media.kind == Media.Kind.FILE:
        response["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(media.name)}"
    return response


def _on_post(request, action):
    """A customer page's button: (what the service did, "") or (None, its refusal for the page)."""
    if request.method != "POST":
        return None, ""
    try:
        return action(), ""
    except DomainError as exc:
        return None, exc.message


def _member(request, corp: Corp) -> tuple[WechatVisitor | None, HttpResponse | None]:
    """The signed-in visitor who is the corp's customer, or the page that says what to do first."""
    visitor, page = _visitor(request, corp)
    if page is None and visitor.customer_id is None:
        page = _message(request, corp, "添加品牌顾问的企业微信后，就可以签到、领券和兑换积分了。", 403, "还差一步")
    return visitor, page


@public_page
def h5_points(request, corp_id: str):
    corp = _corp(corp_id)
    visitor, page = _member(request, corp)
    if page:
        return page
    account = PointsAccount.objects.filter(customer_id=visitor.customer_id).first()
    entries = PointsEntry.objects.filter(corp=corp, customer_id=visitor.customer_id).order_by("-at", "-pk")[:30]
    context = {"corp": corp, "account": account, "entries": entries, "standing": members.standing(corp.pk, visitor.customer_id, account)}
    return render(request, "engagement/points.html", context)


@public_page
def h5_checkin(request, corp_id: str, campaign_id: int):
    corp, campaign = _corp_and(corp_id, CheckinCampaign.objects, campaign_id)
    if campaign is None:
        return _message(request, corp, "这个签到活动不存在。", 404)
    visitor, page = _member(request, corp)
    if page:
        return page
    result, refusal = _on_post(request, lambda: checkin.check_in(corp=corp, campaign=campaign, customer_id=visitor.customer_id))
    context = checkin.checkin_page(corp, campaign, visitor.customer_id, done=result)
    item = context.get("day_item")
    context.update(
        corp=corp,
        campaign=campaign,
        result=result,
        refusal=refusal,
        day_link=tracked_path(corp, item, LinkSource(None, f"c{campaign.pk}")) if item else "",
    )
    return render(request, "engagement/checkin.html", context, status=409 if refusal else 200)


@public_page
def h5_coupons(request, corp_id: str):
    corp = _corp(corp_id)
    visitor, page = _member(request, corp)
    if page:
        return page
    rows = Coupon.objects.filter(corp=corp, customer_id=visitor.customer_id).select_related("template").order_by("status", "valid_until", "-pk")[:50]
    cards = [{"coupon": c, "worth": coupons.describe(c.template), "qr": coupon_qr(c) if c.status == Coupon.Status.ACTIVE else ""} for c in rows]
    return render(request, "engagement/coupons.html", {"corp": corp, "cards": cards})


@public_page
def h5_coupon_claim(request, corp_id: str, template_id: int):
    corp, template = _corp_and(corp_id, CouponTemplate.objects.filter(claimable=True), template_id)
    if template is None:
        return _message(request, corp, "这张券不存在或已下架。", 404)
    visitor, page = _member(request, corp)
    if page:
        return page
    coupon, refusal = _on_post(request, lambda: coupons.coupon_claim(corp=corp, template=template, customer_id=visitor.customer_id))
    left = None if template.stock is None else template.stock - template.issued
    context = {
        "corp": corp,
        "template": template,
        "worth": coupons.describe(template),
        "coupon": coupon,
        "refusal": refusal,
        "left": left,
        "few_left": left is not None and template.show_left_below is not None and left <= template.show_left_below,
    }
    return render(request, "engagement/coupon_claim.html", context, status=409 if refusal else 200)


def coupon_qr(coupon: Coupon) -> str:
    """What the guide's scanner reads: the code, marked as Siyu's."""
    return _qr(f"SIYU-COUPON:{coupon.code}")


def _qr(text: str) -> str:
    return segno.make(text, error="m").svg_data_uri(scale=5, border=2)


@public_page
def h5_mall(request, corp_id: str):
    """The points mall: items, the balance, and one exchange a tap (its key made when the page was
    shown, so a second tap or tab finds the first)."""
    corp = _corp(corp_id)
    visitor, page = _member(request, corp)
    if page:
        return page
    order, refusal = None, ""
    if request.method == "POST":
        item = MallItem.objects.filter(corp=corp, pk=request.POST.get("item", "0") if request.POST.get("item", "").isdigit() else 0).first()
        address = {k: request.POST.get(k, "") for k in ("name", "phone", "address")}
        order, refusal = (
            _on_post(request, lambda: mall.exchange(corp=corp, item=item, customer_id=visitor.customer_id, key=request.POST.get("key", ""), address=address))
            if item
            else (None, "这件商品不存在或已下架。")
        )
    account = PointsAccount.objects.filter(customer_id=visitor.customer_id).first()
    items = MallItem.objects.filter(corp=corp, active=True).select_related("coupon_template").order_by("points", "pk")
    context = {
        "corp": corp,
        "items": [{"item": i, "left": None if i.stock is None else i.stock - i.sold, "key": secrets.token_urlsafe(16)} for i in items],
        "available": account.available if account else 0,
        "order": order,
        "refusal": refusal,
    }
    return render(request, "engagement/mall.html", context, status=409 if refusal else 200)


@public_page
def h5_mall_orders(request, corp_id: str):
    corp = _corp(corp_id)
    visitor, page = _member(request, corp)
    if page:
        return page
    orders = MallOrder.objects.filter(corp=corp, customer_id=visitor.customer_id).select_related("item").order_by("-pk")[:50]
    rows = [
        {
            "order": o,
            "qr": _qr(f"{mall.PICKUP_PREFIX}{o.pickup_code}") if o.pickup_code and o.status == MallOrder.Status.PLACED else "",
            "cash_yuan": f"{o.cash_fen / 100:.2f}",
        }
        for o in orders
    ]
    return render(request, "engagement/mall_orders.html", {"corp": corp, "rows": rows})


@public_page
def h5_lottery(request, corp_id: str, lottery_id: int):
    """A wheel or a scratch card: the prizes with the chances run, what the customer has left today,
    the winners feed, and one draw a tap (keyed when the page was shown)."""
    corp, game = _corp_and(corp_id, Lottery.objects, lottery_id)
    if game is None:
        return _message(request, corp, "这个抽奖活动不存在。", 404)
    visitor, page = _member(request, corp)
    if page:
        return page
    result, refusal = _on_post(request, lambda: lottery.draw(corp=corp, lottery=game, customer_id=visitor.customer_id, key=request.POST.get("key", "")))
    return render(
        request,
        "engagement/lottery.html",
        {**lottery.page_context(corp, game, visitor.customer_id), "result": result, "refusal": refusal, "key": secrets.token_urlsafe(16)},
        status=409 if refusal else 200,
    )


@public_page
def h5_game(request, corp_id: str, game_id: int):
    """A group game shared in a group: dice to roll, or an envelope to open (one play a tap, keyed
    when the page was shown), with what the others did."""
    corp, game = _corp_and(corp_id, GroupGame.objects.select_related("winner", "prize_coupon"), game_id)
    if game is None:
        return _message(request, corp, "这个游戏不存在。", 404)
    visitor, page = _member(request, corp)
    if page:
        return page
    result, refusal = _on_post(request, lambda: games.play(corp=corp, game=game, customer_id=visitor.customer_id, key=request.POST.get("key", "")))
    if result is not None or refusal:
        game.refresh_from_db()
    return render(
        request,
        "engagement/game.html",
        {**games.page_context(corp, game, visitor.customer_id), "result": result, "refusal": refusal, "key": secrets.token_urlsafe(16)},
        status=409 if refusal else 200,
    )


@public_page
def h5_tasks(request, corp_id: str):
    """The points tasks open now: what each pays, whether the customer has done it, and where to
    do it (an item's link, tracked as the task's)."""
    corp = _corp(corp_id)
    visitor, page = _member(request, corp)
    if page:
        return page
    rows = points_tasks.tasks_for(corp, visitor.customer_id)
    for row in rows:
        task = row["task"]
        row["link"] = tracked_path(corp, task.item_id, LinkSource(None, f"k{task.pk}")) if task.item_id else ""
    return render(request, "engagement/tasks.html", {"corp": corp, "rows": rows})
