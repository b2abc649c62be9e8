"""The quick-reply library (话术库): HQ writes shelves of ready answers, refused when a chat could not
take them; every role searches them; in the sidebar a guide's tap gets the sendChatMessage calls
(files as media ids the sandbox's WeCom issued), and the send is recorded once as the guide's
contact with the customer, as are notes and task sends."""

import pytest
from django.test import Client

from siyu.guides import quick_replies, selectors
from siyu.guides.models import GuideContact, QuickReply
from siyu.kit.errors import Conflict, Forbidden, InvalidInput
from siyu.kit.tenancy import Role
from siyu.messaging.media import media_create
from siyu.sandbox.models import SbMedia

from .. import factories as f
from ..acquisition.conftest import hub  # noqa: F401 — the in-process WeCom
from ..conftest import ApiClient
from ..messaging.test_messaging import png
from .test_guide_tasks import shop  # noqa: F401 — the fixture
from .test_sidebar import _sign_in, send_task  # noqa: F401 — the fixture

MINIPROGRAM = {"title": "商城", "appid": "wx1", "page": "p", "pic_media_id": "m"}


@pytest.fixture
def library(hub):
    feeding = quick_replies.quick_reply_group_save(actor=hub.actor, name="喂养知识", position=1)
    welcome = quick_replies.quick_reply_group_save(actor=hub.actor, name="新客欢迎", position=0)
    image = media_create(actor=hub.actor, kind="image", name="辅食表.png", content=png(3))
    rice = quick_replies.quick_reply_save(
        actor=hub.actor,
        group_id=feeding.id,
        title="米粉怎么冲",
        text="米粉用70度温水冲调，先稀后稠。",
        attachments=[
            {"msgtype": "image", "image": {"media": image.id}},
            {"msgtype": "link", "link": {"title": "辅食指南", "url": "https://example.com/fushi"}},
        ],
    )
    hello = quick_replies.quick_reply_save(actor=hub.actor, group_id=welcome.id, title="欢迎语", text="您好，我是您的专属育儿顾问")
    return {"feeding": feeding, "welcome": welcome, "rice": rice, "hello": hello, "image": image}


def test_every_role_finds_replies_by_shelf_and_words_but_only_managers_edit(hub, library):
    guide = f.actor(hub.corp, role=Role.GUIDE, staff=hub.staff[0])
    assert [r.title for r in selectors.quick_replies(guide)] == ["欢迎语", "米粉怎么冲"]  # the shelves' order, then the replies'
    assert [r.title for r in selectors.quick_replies(guide, q="温水")] == ["米粉怎么冲"]  # a word of the text
    assert [r.title for r in selectors.quick_replies(guide, q="新客")] == ["欢迎语"]  # of the shelf
    assert [r.title for r in selectors.quick_replies(guide, q="米粉 稠")] == ["米粉怎么冲"]  # every word
    assert list(selectors.quick_replies(guide, q="奶瓶")) == []
    with pytest.raises(Forbidden):
        quick_replies.quick_reply_save(actor=guide, group_id=library["welcome"].id, title="x", text="y")
    with pytest.raises(Forbidden):
        quick_replies.quick_reply_delete(actor=guide, reply=library["hello"])
    with pytest.raises(Conflict) as busy:
        quick_replies.quick_reply_group_delete(actor=hub.actor, group=library["welcome"])
    assert busy.value.code == "group_not_empty"
    with pytest.raises(Conflict) as taken:
        quick_replies.quick_reply_group_save(actor=hub.actor, name="喂养知识")
    assert taken.value.code == "name_taken"


@pytest.mark.parametrize(
    ("fields", "code", "field"),
    [
        ({"title": " "}, "bad_title", "title"),
        ({"text": "", "attachments": []}, "empty_message", "text"),
        (
            {"attachments": [{"msgtype": "miniprogram", "miniprogram": {"title": "商城", "appid": "wx1", "page": "p", "pic_media_id": "m"}}]},
            "not_for_chat",
            "attachments.0.msgtype",
        ),
        ({"attachments": [{"msgtype": "image", "image": {"pic_url": "https://example.com/a.png"}}]}, "not_for_chat", "attachments.0.image.pic_url"),
        ({"attachments": [{"msgtype": "link", "link": {"title": "t", "url": "ftp://x"}}]}, "bad_url", "attachments.0.link.url"),
        ({"group_id": 999999}, "no_such_group", "group_id"),
    ],
)
def test_bad_replies_are_refused_naming_the_field(hub, library, fields, code, field):
    values = {"group_id": library["welcome"].id, "title": "新话术", "text": "内容"}
    with pytest.raises(InvalidInput) as refused:
        quick_replies.quick_reply_save(actor=hub.actor, **{**values, **fields})
    assert (refused.value.code, refused.value.field) == (code, field)
    assert QuickReply.objects.count() == 2


def test_another_corps_shelf_is_not_a_shelf_here(hub, library):
    other = f.corp()
    admin = f.actor(other)
    theirs = quick_replies.quick_reply_group_save(actor=admin, name="别家")
    with pytest.raises(InvalidInput) as refused:
        quick_replies.quick_reply_save(actor=hub.actor, group_id=theirs.id, title="x", text="y")
    assert refused.value.code == "no_such_group"
    assert list(selectors.quick_replies(admin)) == []


def test_a_guide_sends_a_reply_from_the_sidebar_with_its_files_as_wecom_media(hub, shop, library):
    client = Client()
    _sign_in(client, hub)
    page = client.get(f"/sidebar/{hub.corp.corp_id}/customer", {"external_userid": "wmA0"}).content.decode()
    assert "米粉怎么冲" in page and "欢迎语" in page
    found = client.get(f"/sidebar/{hub.corp.corp_id}/replies", {"q": "温水"}).content.decode()
    assert "米粉怎么冲" in found and "欢迎语" not in found
    chat = client.get(f"/sidebar/{hub.corp.corp_id}/chat", {"reply_id": library["rice"].id}).json()["messages"]
    assert [m["msgtype"] for m in chat] == ["text", "image", "news"]
    assert chat[0]["text"]["content"] == "米粉用70度温水冲调，先稀后稠。"
    assert chat[2]["news"] == {"link": "https://example.com/fushi", "title": "辅食指南", "desc": "", "imgUrl": ""}
    # The image went to WeCom as the app's temporary media, once for as long as its id lasts.
    (media,) = SbMedia.objects.filter(corp=hub.sb, type="image")
    assert chat[1]["image"]["mediaid"] == media.media_id
    client.get(f"/sidebar/{hub.corp.corp_id}/chat", {"reply_id": library["rice"].id})
    assert SbMedia.objects.filter(corp=hub.sb).count() == 1

    assert client.post(f"/sidebar/{hub.corp.corp_id}/reply-sent", {"reply_id": library["rice"].id, "external_userid": "wmA0"}).json() == {"recorded": True}
    contact = GuideContact.objects.get()
    assert (contact.staff, contact.customer, contact.how, contact.reply_id) == (hub.staff[0], shop["a0"], "reply", library["rice"].id)
    assert QuickReply.objects.get(pk=library["rice"].id).sent_count == 1
    assert shop["a0"].timeline.get(kind="message_sent").data["via"] == "quick_reply"
    # Not this guide's customer: refused, nothing recorded.
    theirs = client.post(f"/sidebar/{hub.corp.corp_id}/reply-sent", {"reply_id": library["rice"].id, "external_userid": "wmB0"})
    assert theirs.status_code == 404 and GuideContact.objects.count() == 1


def test_another_corps_reply_is_not_found_in_the_sidebar(hub, shop, library):
    other = f.corp()
    admin = f.actor(other)
    group = quick_replies.quick_reply_group_save(actor=admin, name="别家")
    theirs = quick_replies.quick_reply_save(actor=admin, group_id=group.id, title="别家话术", text="秘密")
    client = Client()
    _sign_in(client, hub)
    assert client.get(f"/sidebar/{hub.corp.corp_id}/chat", {"reply_id": theirs.id}).status_code == 404
    refused = client.post(f"/sidebar/{hub.corp.corp_id}/reply-sent", {"reply_id": theirs.id, "external_userid": "wmA0"})
    assert refused.status_code == 404 and not GuideContact.objects.exists()
    assert "别家话术" not in client.get(f"/sidebar/{hub.corp.corp_id}/replies", {"q": "别家"}).content.decode()


def test_task_sends_and_notes_are_contacts_too(hub, shop, send_task):
    client = Client()
    _sign_in(client, hub)
    chat = client.get(f"/sidebar/{hub.corp.corp_id}/chat", {"task_id": send_task.id}).json()["messages"]
    assert chat == [{"msgtype": "text", "enterChat": True, "text": {"content": "宝宝6个月辅食指南：从米粉开始"}}]
    client.post(f"/sidebar/{hub.corp.corp_id}/sent", {"task_id": send_task.id, "external_userid": "wmA0"})
    client.post(f"/sidebar/{hub.corp.corp_id}/note", {"external_userid": "wmA1", "text": "聊了奶粉段位"})
    assert sorted(GuideContact.objects.values_list("customer__external_userid", "how", "task_id")) == [("wmA0", "task", send_task.id), ("wmA1", "note", None)]


def test_the_api_keeps_the_library(hub, library):
    api = ApiClient(f.token(f.user(hub.corp, Role.OPERATOR), hub.corp))
    made = api.post("/api/v1/quick-replies", {"group_id": library["welcome"].id, "title": "生日祝福", "text": "宝宝生日快乐！"})
    assert made.status_code == 201 and made.json()["group_name"] == "新客欢迎"
    assert [r["title"] for r in api.get("/api/v1/quick-replies", q="生日").json()] == ["生日祝福"]
    refused = api.post("/api/v1/quick-replies", {"group_id": library["welcome"].id, "title": "x", "text": ""})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "empty_message"
    changed = api.put(f"/api/v1/quick-replies/{made.json()['id']}", {"group_id": library["feeding"].id, "title": "生日祝福", "text": "生日快乐"})
    assert changed.status_code == 200 and changed.json()["group_name"] == "喂养知识"
    assert api.delete(f"/api/v1/quick-replies/{made.json()['id']}").status_code == 204
    guide = ApiClient(f.token(f.user(hub.corp, Role.GUIDE, staff=hub.staff[0]), hub.corp))
    assert len(guide.get("/api/v1/quick-replies").json()) == 2
    assert guide.post("/api/v1/quick-reply-groups", {"name": "导购自建"}).status_code == 403
