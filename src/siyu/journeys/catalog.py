"""The playbook catalog: the seeds' plays as journeys to install. Installing makes a draft whose
content is marked 【待填写】 where the brand's own words go; a draft with a mark left cannot go live.

The references a play needs (a date field for a baby's birth or a birthday) are found when it is
installed; where one cannot be found (no date field yet) the draft names the problem like any other.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from siyu.analytics.rfm import BY_LETTER, DEFAULT_STRATEGIES
from siyu.customers.models import CustomField
from siyu.kit.errors import InvalidInput
from siyu.kit.tenancy import Actor

from .definition import PLACEHOLDER
from .models import GroupSop, Journey
from .services import journey_create
from .sops import group_sop_save


@dataclass(frozen=True)
class Playbook:
    key: str
    name: object  # lazy text
    summary: object
    seed: str


def _fill(what: str) -> str:
    return f"{PLACEHOLDER}{what}"


def _date_field(actor: Actor, *words: str) -> str:
    """The corp's date field whose name says what the play needs (宝宝生日, 生日), or ""."""
    fields = list(CustomField.objects.for_corp(actor.corp).filter(kind=CustomField.Kind.DATE, archived_at__isnull=True).order_by("position", "pk"))
    for word in words:
        for field in fields:
            if word in field.name:
                return field.key
    return ""


def _milk_powder(actor: Actor) -> dict:
    # Seed 004: ad → lead form → city group → 7-day flash group → nearest store's guide → 1:1 tagging → lifecycle content.
    return {
        "trigger": {"kind": "event", "event": "contact_added"},
        "goal": {"within_days": 30},
        "exits": [{"kind": "lost"}],
        "steps": [
            {"key": "city_group", "kind": "send", "at": "10:00", "text": _fill("邀请加入同城宝妈群（附群活码）"), "next": "joined"},
            {"key": "joined", "kind": "wait_event", "event": "group_joined", "timeout_days": 3, "next": "flash", "timeout_next": "nudge"},
            {"key": "nudge", "kind": "task", "name": "一对一邀请进群", "at": "10:00", "hours": 24, "text": _fill("导购私聊邀请进群的话术"), "next": "flash"},
            {"key": "flash", "kind": "send", "at": "10:00", "text": _fill("7 天闪购群开群通知与试用装领取"), "next": "week"},
            {"key": "week", "kind": "wait", "days": 7, "next": "bought"},
            {"key": "bought", "kind": "branch", "if": {"buyers": True}, "yes": "store_guide", "no": "store_guide_new"},
            {"key": "store_guide", "kind": "task", "name": "门店导购一对一打标签", "at": "10:00", "hours": 48, "text": "", "next": "stage_content"},
            {"key": "store_guide_new", "kind": "task", "name": "门店导购一对一邀约到店", "at": "10:00", "hours": 48, "text": "", "next": "stage_content"},
            {"key": "stage_content", "kind": "send", "at": "20:00", "text": _fill("按宝宝月龄的育儿内容")},
        ],
    }


def _repurchase(actor: Actor) -> dict:
    # Wake-up at 30, 45 and 60 days without a second order; an order ends it.
    return {
        "trigger": {"kind": "data", "rule": "no_repurchase", "days": 30, "time": "10:00"},
        "goal": {"within_days": 45, "exit": True},
        "exits": [{"kind": "order_paid"}, {"kind": "lost"}],
        "holdout_percent": 10,
        "steps": [
            {"key": "day30", "kind": "send", "at": "10:30", "text": _fill("30 天复购提醒：上次买的快用完了吗"), "next": "wait45"},
            {"key": "wait45", "kind": "wait_event", "event": "order_paid", "timeout_days": 15, "timeout_next": "day45"},
            {"key": "day45", "kind": "send", "at": "10:30", "text": _fill("45 天：老客专享复购券"), "next": "wait60"},
            {"key": "wait60", "kind": "wait_event", "event": "order_paid", "timeout_days": 15, "timeout_next": "day60"},
            {"key": "day60", "kind": "task", "name": "60 天未复购，导购一对一回访", "at": "10:00", "hours": 48, "text": ""},
        ],
    }


def _golden(actor: Actor) -> dict:
    # The first 14 days after an add are when a new customer is most likely to buy.
    return {
        "trigger": {"kind": "event", "event": "contact_added"},
        "goal": {"within_days": 14},
        "exits": [{"kind": "lost"}],
        "holdout_percent": 10,
        "steps": [
            {"key": "day1", "kind": "wait", "days": 1, "next": "hello"},
            {"key": "hello", "kind": "task", "name": "黄金期第 1 天：一对一问候并打标签", "at": "10:00", "hours": 24, "text": "", "next": "day3"},
            {"key": "day3", "kind": "wait", "days": 2, "next": "story"},
            {"key": "story", "kind": "send", "at": "20:00", "text": _fill("第 3 天：品牌故事与产品介绍"), "next": "day7"},
            {"key": "day7", "kind": "wait", "days": 4, "next": "offer"},
            {"key": "offer", "kind": "send", "at": "10:00", "text": _fill("第 7 天：新客首单优惠"), "next": "day14"},
            {"key": "day14", "kind": "wait", "days": 7, "next": "bought"},
            {"key": "bought", "kind": "branch", "if": {"buyers": True}, "yes": "thanks", "no": "last_call"},
            {"key": "thanks", "kind": "send", "at": "10:00", "text": _fill("感谢首单，使用指导")},
            {"key": "last_call", "kind": "task", "name": "黄金期最后一天：一对一跟进", "at": "10:00", "hours": 24, "text": ""},
        ],
    }


def _month_age(actor: Actor) -> dict:
    born = _date_field(actor, "宝宝", "出生", "birth")
    half_year = [{"key": born, "op": "age_days_gte", "value": 175}, {"key": born, "op": "age_days_lte", "value": 190}]
    return {
        "trigger": {"kind": "date_field", "field": born, "repeat": "months", "months": list(range(1, 13)), "time": "09:00"},
        "reentry": {"rule": "every"},
        "steps": [
            {"key": "half_year", "kind": "branch", "if": {"fields": half_year}, "yes": "birthday", "no": "care"},
            {
                "key": "birthday",
                "kind": "task",
                "name": "宝宝半岁生日：导购送祝福",
                "at": "10:00",
                "hours": 48,
                "text": _fill("半岁生日祝福与礼品"),
                "next": "care",
            },
            {"key": "care", "kind": "send", "at": "20:00", "text": _fill("本月龄的喂养与护理要点")},
        ],
    }


def _birthday(actor: Actor) -> dict:
    return {
        "trigger": {"kind": "date_field", "field": _date_field(actor, "生日", "birthday"), "repeat": "yearly", "offset_days": -3, "time": "09:00"},
        "reentry": {"rule": "every"},
        "steps": [
            {"key": "before", "kind": "task", "name": "客户生日前 3 天：导购准备祝福", "at": "10:00", "hours": 72, "text": _fill("生日祝福与专属礼遇")},
        ],
    }


def _rfm(letter: str):
    def build(actor: Actor) -> dict:
        return {
            # On entering the class (from any other, or as a first buyer), again at most monthly.
            "trigger": {"kind": "data", "rule": "rfm_changed", "to": [letter], "time": "09:30"},
            "reentry": {"rule": "after_days", "days": 30},
            "goal": {"within_days": 30},
            "holdout_percent": 10,
            "steps": [
                {"key": "strategy", "kind": "send", "at": "10:00", "text": _fill(str(DEFAULT_STRATEGIES[letter])), "next": "follow"},
                {"key": "follow", "kind": "wait", "days": 7, "next": "check"},
                {"key": "check", "kind": "branch", "if": {"rfm": [letter]}, "yes": "guide"},  # moved on to another class: done
                {"key": "guide", "kind": "task", "name": f"RFM {letter} 类客户一对一跟进", "at": "10:00", "hours": 72, "text": ""},
            ],
        }

    return build


BUILDERS = {
    "milk_powder": (
        _milk_powder,
        gettext_lazy("Milk powder: ad to store guide in seven steps"),
        gettext_lazy("Seed 004's funnel: city group, 7-day flash group, the nearest store's guide, 1:1 tagging, lifecycle content."),
        "004",
    ),
    "repurchase": (
        _repurchase,
        gettext_lazy("Repurchase wake-up at 30/45/60 days"),
        gettext_lazy("Customers with one order and none since: reminders at 30 and 45 days, a guide's call at 60; an order ends it."),
        "004",
    ),
    "golden_14": (
        _golden,
        gettext_lazy("The 14-day golden period"),
        gettext_lazy("A new customer's first two weeks: greeting, story, first-order offer, and a last call for those who have not bought."),
        "003",
    ),
    "month_age": (
        _month_age,
        gettext_lazy("Baby month-age care and the half-year birthday"),
        gettext_lazy("Care content at each month age from the baby's birth date field; the guide greets at six months."),
        "004",
    ),
    "birthday": (_birthday, gettext_lazy("Birthday care"), gettext_lazy("Three days before a customer's birthday the guide prepares a greeting."), "002"),
    # The class letter goes into the name when it is read, in the reader's language.
    **{f"rfm_{c.lower()}": (_rfm(c), (gettext_lazy("RFM class %(letter)s strategy"), {"letter": c}), DEFAULT_STRATEGIES[c], "000") for c in BY_LETTER},
}


def _text(value) -> str:
    if isinstance(value, tuple):
        text, params = value
        return str(text) % params
    return str(value)


def playbooks() -> list[Playbook]:
    return [Playbook(key, _text(name), _text(summary), seed) for key, (_build, name, summary, seed) in BUILDERS.items()]


def playbook_install(*, actor: Actor, key: str) -> Journey:
    """One click: the play as a draft journey, its content left to fill in."""
    actor.require_manager()
    if key not in BUILDERS:
        raise InvalidInput(_("No playbook %(key)r.") % {"key": key}, code="unknown_playbook", field="key")
    build, name, _summary, _seed = BUILDERS[key]
    return journey_create(actor=actor, name=_text(name)[:64], definition=build(actor), template=key)


# The seeds' weekly group calendar (seed 004's mothers' groups: Mon fun, Tue content, Thu welfare,
# Fri activity; morning care and evening interaction), as a group SOP to install.
GROUP_WEEK = [
    {"key": "mon_fun", "weekday": 1, "at": "10:00", "title": "周一趣味", "text": _fill("趣味互动：猜月龄、晒娃")},
    {"key": "tue_content", "weekday": 2, "at": "20:00", "title": "周二干货", "text": _fill("育儿干货")},
    {"key": "thu_welfare", "weekday": 4, "at": "10:00", "title": "周四福利", "text": _fill("会员福利")},
    {"key": "fri_activity", "weekday": 5, "at": "19:30", "title": "周五活动", "text": _fill("周末活动报名")},
    *({"key": f"care_{d}", "weekday": d, "at": "08:30", "title": "早安关怀", "text": _fill("早安问候")} for d in range(1, 6)),
]


def group_week_install(*, actor: Actor, name_contains: str = "") -> GroupSop:
    """The weekly group calendar as a paused calendar, its content to fill before it runs."""
    actor.require_manager()
    return group_sop_save(
        actor=actor, name=_("Weekly group calendar"), layer={"name_contains": name_contains}, slots=[dict(s) for s in GROUP_WEEK], template="group_week"
    )
