"""Reading the content library in WeChat, through the real client against the sandbox: the
Official Account's sign-in names the reader (a forged, replayed or misdirected code, an altered
link or session is refused and writes nothing), links are tracked per sender and send, dwell and
scroll only grow, shares are attributed, interest rules tag readers, and the guide hears that
their customer is reading."""

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core import signing
from django.test import Client

from siyu.corps.services import corp_set_credentials
from siyu.customers.models import FollowTag
from siyu.engagement import visitors
from siyu.engagement.models import ContentView, InterestRule, WechatVisitor
from siyu.engagement.reading import MAX_DWELL
from siyu.kit.clock import now
from siyu.messaging import library
from siyu.messaging.content import content_clean
from siyu.messaging.library import LinkSource
from siyu.messaging.media import attachments_for_wecom
from siyu.sandbox.models import SbAppMessage, SbCustomer, SbWechatCode
from siyu.tags.models import Tag
from siyu.tags.services import tag_group_create
from siyu.wecom.client import WeComClient

from ..acquisition.conftest import hub  # noqa: F401 — the in-process WeCom
from ..conftest import run_queued
from ..messaging.test_mass_sends import _customer


@pytest.fixture
def brand(hub):
    """The hub's corp with its Official Account connected and its app for staff cards; guide0
    follows a0 and a1, guide1 b0."""
    corp_set_credentials(corp=hub.corp, oa_appid=hub.sb.oa_appid, oa_secret=hub.sb.oa_secret)
    hub.corp.agent_id = 1000002
    hub.corp.save()
    people = {"a0": _customer(hub, 0, "wmA0", name="王妈妈"), "a1": _customer(hub, 0, "wmA1"), "b0": _customer(hub, 1, "wmB0")}
    return people


def _article(hub, title="宝宝辅食第一口", tags=("辅食",), body="<p>从米粉开始</p>"):
    return library.item_save(actor=hub.actor, kind="article", title=title, summary="6个月起", body=body, tags=list(tags))


def _link(hub, item, staff=0, via="m1") -> str:
    return library.tracked_path(hub.corp, item.pk, LinkSource(hub.staff[staff].pk, via))


def _run_tasks() -> list:
    return run_queued("siyu.engagement.tasks")


def open_in_wechat(client: Client, hub, path: str, *, external_userid: str = "", stranger: bool = False):
    """Someone opens `path` in the sandbox's WeChat: WeChat's sign-in when the page asks for it,
    back to the page. Returns the page's response."""
    query = {"corpid": hub.sb.corpid, "url": path}
    if external_userid:
        query["external_userid"] = external_userid
    if stranger:
        query["stranger"] = "1"
    entered = client.get("/sandbox/wechat/open", query)
    assert entered.status_code == 302
    page = client.get(path)
    if page.status_code != 302 or "/sandbox/connect/oauth2/authorize" not in page["Location"]:
        return page
    authorize = urlsplit(page["Location"])
    query = {k: v[0] for k, v in parse_qs(authorize.query).items()}
    assert query["appid"] == hub.sb.oa_appid and query["scope"] == "snsapi_base" and len(query["state"]) <= 128
    back = client.get(authorize.path, query)
    assert back.status_code == 302 and "code=" in back["Location"]
    landed = client.get(back["Location"])
    assert landed.status_code == 302, landed.content.decode()
    return client.get(landed["Location"])


def test_a_customer_reading_a_tracked_link_is_recorded_for_the_sender_and_the_send(hub, brand, django_capture_on_commit_callbacks):
    item = _article(hub)
    phone = Client()
    with django_capture_on_commit_callbacks(execute=False):
        page = open_in_wechat(phone, hub, _link(hub, item, staff=0, via="m7"), external_userid="wmA0")
    text = page.content.decode()
    assert page.status_code == 200 and "宝宝辅食第一口" in text and "从米粉开始" in text
    view = ContentView.objects.get()
    assert (view.customer, view.staff, view.via, view.shared_by) == (brand["a0"], hub.staff[0], "m7", None)
    visitor = WechatVisitor.objects.get()
    assert visitor.customer == brand["a0"] and visitor.openid.startswith("o") and visitor.unionid
    # Opening again in the same WeChat: no second sign-in, a second view.
    again = phone.get(_link(hub, item, staff=0, via="m7"))
    assert again.status_code == 200 and ContentView.objects.count() == 2 and WechatVisitor.objects.count() == 1


def test_a_library_card_goes_to_wecom_with_a_link_per_sender_and_send(hub, brand):
    item = _article(hub)
    _text, attachments = content_clean(hub.corp, text="看看这篇", attachments=[{"msgtype": "link", "link": {"content": item.pk}}])
    card = attachments[0]["link"]
    assert card["content"] == item.pk and card["title"] == "宝宝辅食第一口" and card["desc"] == "6个月起"
    client = WeComClient(hub.corp)
    mine = attachments_for_wecom(hub.corp, attachments, client, link=LinkSource(hub.staff[0].pk, "m3"))[0]["link"]
    theirs = attachments_for_wecom(hub.corp, attachments, client, link=LinkSource(hub.staff[1].pk, "m3"))[0]["link"]
    assert "content" not in mine and mine["url"] != theirs["url"]
    opened = library.link_read(urlsplit(mine["url"]).path.rsplit("/", 1)[1])
    assert (opened.item_id, opened.staff_id, opened.via) == (item.pk, hub.staff[0].pk, "m3")
    # An archived item is no longer offered, and a foreign id is refused by name.
    library.item_archive(actor=hub.actor, item=item)
    with pytest.raises(Exception) as refused:
        content_clean(hub.corp, text="", attachments=[{"msgtype": "link", "link": {"content": item.pk}}])
    assert refused.value.code == "no_such_content" and refused.value.field == "attachments.0.link.content"


def test_forged_links_codes_states_and_sessions_are_refused_and_write_nothing(hub, brand):
    item = _article(hub)
    path = _link(hub, item)
    phone = Client()
    # An altered link: the item or staff changed, the signature no longer fits.
    token = path.rsplit("/", 1)[1]
    value, sig = token.split(":", 1)
    forged = path.replace(token, f"{int(value.split('.')[0]) + 1}.{value.split('.', 1)[1]}:{sig}")
    page = open_in_wechat(phone, hub, forged, external_userid="wmA0")
    assert page.status_code == 404 and "链接无效" in page.content.decode()
    # A made-up code, with the right state: WeChat refuses it, nothing is written.
    phone.get("/sandbox/wechat/open", {"corpid": hub.sb.corpid, "url": path, "external_userid": "wmA0"})
    to_wechat = phone.get(path)
    state = parse_qs(urlsplit(to_wechat["Location"]).query)["state"][0]
    oauth = f"/h5/{hub.corp.corp_id}/oauth"
    made_up = phone.get(oauth, {"code": "made-up", "state": state})
    assert made_up.status_code == 403 and "40029" in made_up.content.decode()
    # A real code replayed: the second exchange is refused by WeChat (40163).
    back = phone.get(urlsplit(to_wechat["Location"]).path, {k: v[0] for k, v in parse_qs(urlsplit(to_wechat["Location"]).query).items()})
    code = parse_qs(urlsplit(back["Location"]).query)["code"][0]
    assert phone.get(back["Location"]).status_code == 302
    WechatVisitor.objects.all().delete()
    phone.get(path)  # a fresh sign-in cookie
    fresh_state = parse_qs(urlsplit(phone.get(path)["Location"]).query)["state"][0]
    phone.cookies.pop(f"siyu_wx_{hub.corp.pk}", None)
    replayed = phone.get(oauth, {"code": code, "state": fresh_state})
    assert replayed.status_code == 403 and "40163" in replayed.content.decode() and not WechatVisitor.objects.exists()
    # A real code delivered to another browser (no sign-in started there): refused before WeChat is asked.
    SbWechatCode.objects.filter(code=code).update(used=False)
    elsewhere = Client().get(oauth, {"code": code, "state": state})
    assert elsewhere.status_code == 403 and not SbWechatCode.objects.get(code=code).used
    # An altered session cookie is not a session: the page signs in again.
    stolen = Client()
    stolen.cookies[f"siyu_wx_{hub.corp.pk}"] = signing.get_cookie_signer(salt=f"siyu_wx_{hub.corp.pk}siyu-visitor").sign("1.0") + "x"
    assert stolen.get(path).status_code == 302 and not ContentView.objects.exists()


def test_a_session_ends_when_its_epoch_moves(hub, brand):
    item = _article(hub)
    phone = Client()
    assert open_in_wechat(phone, hub, _link(hub, item), external_userid="wmA0").status_code == 200
    visitors.sessions_end(visitor=WechatVisitor.objects.get())
    assert phone.get(_link(hub, item)).status_code == 302


def test_a_shared_copy_is_attributed_and_its_stranger_becomes_a_customer_later(hub, brand):
    item = _article(hub)
    mom = Client()
    page = open_in_wechat(mom, hub, _link(hub, item), external_userid="wmA0")
    share = page.context["share_url"]
    friend = Client()
    opened = open_in_wechat(friend, hub, urlsplit(share).path + "?" + urlsplit(share).query, stranger=True)
    assert opened.status_code == 200
    view = ContentView.objects.latest("id")
    sharer = WechatVisitor.objects.get(customer=brand["a0"])
    assert view.shared_by == sharer and view.customer is None
    stranger = view.visitor
    assert stranger.customer is None and stranger.pending_id.startswith("p")
    # An altered share mark counts the view, unattributed.
    friend.get(urlsplit(share).path + "?f=123:forged")
    assert ContentView.objects.latest("id").shared_by is None
    # The friend adds guide1; their contact arrives with the unionid, and their next view is theirs.
    new = _customer(hub, 1, "wmNEW", name="新朋友")
    new.unionid = stranger.unionid
    new.save()
    SbCustomer.objects.filter(external_userid="wmNEW").update(unionid=stranger.unionid)
    friend.get(_link(hub, item))
    assert ContentView.objects.latest("id").customer == new


def test_dwell_and_scroll_only_grow_and_are_capped(hub, brand):
    item = _article(hub)
    phone = Client()
    page = open_in_wechat(phone, hub, _link(hub, item), external_userid="wmA0")
    progress = page.context["view"].key
    url = f"/h5/{hub.corp.corp_id}/v/{progress}"
    for dwell, scroll in ((5, 30), (3, 10), (40, 95), (10**9, 400)):
        assert phone.post(url, f'{{"dwell": {dwell}, "scroll": {scroll}}}', content_type="text/plain").status_code == 204
    view = ContentView.objects.get()
    assert (view.dwell_seconds, view.scroll_percent) == (MAX_DWELL, 100)
    assert phone.post(f"/h5/{hub.corp.corp_id}/v/not-a-key", "{}", content_type="text/plain").status_code == 404
    assert phone.post(url, '{"dwell": "a lot"}', content_type="text/plain").status_code == 400


def test_reading_three_items_of_a_topic_tags_the_reader(hub, brand):
    tag = Tag.objects.get(group=tag_group_create(actor=hub.actor, name="兴趣", tag_names=["关注辅食"]))
    InterestRule.objects.create(corp=hub.corp, content_tag="辅食", reads=3, tag=tag)
    items = [_article(hub, title=f"辅食{i}") for i in range(3)]
    other = _article(hub, title="睡眠", tags=("睡眠",))
    phone = Client()
    open_in_wechat(phone, hub, _link(hub, items[0]), external_userid="wmA0")
    for path in (_link(hub, items[0]), _link(hub, other), _link(hub, items[1]), _link(hub, items[1])):
        assert phone.get(path).status_code == 200
    assert not FollowTag.objects.filter(tag=tag).exists()  # two items of the topic, one read twice
    assert phone.get(_link(hub, items[2])).status_code == 200
    assert list(FollowTag.objects.filter(tag=tag).values_list("follow__customer", flat=True)) == [brand["a0"].pk]


def test_the_guide_hears_their_customer_is_reading_once_in_half_an_hour(hub, brand, django_capture_on_commit_callbacks):
    item = _article(hub)
    phone = Client()
    with django_capture_on_commit_callbacks(execute=True):
        open_in_wechat(phone, hub, _link(hub, item, staff=0), external_userid="wmA0")
        phone.get(_link(hub, item, staff=0))
    assert _run_tasks() == ["sent"]
    card = SbAppMessage.objects.get()
    assert card.touser == "guide0" and "王妈妈 正在浏览《宝宝辅食第一口》" in str(card.content)
    ContentView.objects.update(opened_at=now() - timedelta(minutes=31))
    with django_capture_on_commit_callbacks(execute=True):
        phone.get(_link(hub, item, staff=0))
    assert _run_tasks() == ["sent"] and SbAppMessage.objects.count() == 2
    # A reader who follows nobody of the corp (a stranger) alerts no one.
    with django_capture_on_commit_callbacks(execute=True):
        open_in_wechat(Client(), hub, _link(hub, item, staff=0), stranger=True)
    assert _run_tasks() == [] and SbAppMessage.objects.count() == 2


def test_an_article_keeps_text_and_pictures_and_loses_scripts(hub, brand):
    item = _article(hub, body='<p onclick="steal()">好文</p><script>steal()</script><img src="https://example.com/a.png"><a href="javascript:x">x</a>')
    assert "script" not in item.body and "onclick" not in item.body and "javascript" not in item.body
    assert '<img src="https://example.com/a.png">' in item.body and "好文" in item.body
    with pytest.raises(Exception) as refused:
        library.item_save(actor=hub.actor, kind="video", title="教程")
    assert refused.value.code == "incomplete_item" and refused.value.field == "media"


def test_without_an_official_account_the_page_says_so(hub, brand):
    hub.corp.oa_appid = ""
    hub.corp.save()
    item = _article(hub)
    page = Client().get(_link(hub, item))
    assert page.status_code == 503 and "公众号" in page.content.decode()
