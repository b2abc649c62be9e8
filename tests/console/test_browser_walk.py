"""Every console page in a real browser, as each role, in both languages: no error page from a
normal visit, no text left in the other language, and a guide's pages fit a phone (390 px).

Pages come from the console's URL configuration (as in test_url_walk), so a page added later is
walked too. Text checks: in Chinese, no run of two or more English words outside ALLOWED; in
English, no Chinese that is not data (every Chinese run must occur in a stored row).
"""

import json
import re

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.test import Client

from siyu.journeys import dates
from siyu.kit.tenancy import Role

from .. import factories as f
from .test_browser import browser_page  # noqa: F401 — the fixture
from .test_url_walk import GUIDE_PAGES, PATTERNS, _alpha, _url

pytestmark = [pytest.mark.browser, pytest.mark.any_database, pytest.mark.django_db(transaction=True)]

# What stays in the other language: in the Chinese console, product and protocol names; in the
# English one, the logo, the language switcher's own name for Chinese, the Chinese file headings
# the importers accept, which the English help quotes, and WeCom's own menu names a staff member
# looks for in the (Chinese) WeCom app.
ALLOWED_ENGLISH = {"Siyu", "WeCom", "Bearer", "Authorization"}
ALLOWED_CHINESE = {"私", "简体中文", "手机号", "姓名", "标签", "导购", "订单号", "支付时间", "实付金额", "外部联系人", "门店", "退款金额"}
ALLOWED_CHINESE |= {"群发助手", "设置群发规则", "工作台", "客户联系", "客户朋友圈"}
# Proper names: China's holidays and solar terms, and the playbooks' mark for content to fill in.
ALLOWED_CHINESE |= {*dates.PUBLIC, *dates.SOLAR_TERMS, "待填写"}
ENGLISH_RUN = re.compile(r"(?<![\w-])[A-Za-z][a-z]+(?:[ '’]+[A-Za-z][a-z]+)+(?![\w-])")
CHINESE_RUN = re.compile(r"[\u4e00-\u9fff]+")
SKIP = {"logout", "switch_corp"}
PHONE = {"width": 390, "height": 844}
PASSWORD = f.PASSWORD


def _pages(objects, user) -> list[tuple[str, str]]:
    """The (name, url) of every page this user's GET renders as HTML: not POST-only views, not downloads."""
    client = Client()
    client.force_login(user)
    pages = []
    for pattern in PATTERNS:
        if pattern.name in SKIP:
            continue
        url, _ = _url(pattern, objects)
        response = client.get(url)
        if response.status_code == 405 or not response.get("Content-Type", "").startswith("text/html"):
            continue
        pages.append((pattern.name, url))
    return pages


def _stored_text() -> str:
    """Every stored row as text: Chinese on a page in English mode must come from here."""
    dump = []
    for model in apps.get_app_config("corps").get_models():
        dump.append(json.dumps(list(model.objects.values()), ensure_ascii=False, default=str))
    for label in ("customers", "tags", "acquisition", "autotag", "groups", "orders", "analytics", "messaging", "engagement", "guides", "journeys", "wecom"):
        for model in apps.get_app_config(label).get_models():
            dump.append(json.dumps(list(model.objects.values()), ensure_ascii=False, default=str))
    return "\n".join(dump)


def _visible_text(page) -> str:
    # Text a reader meets: the page, and what inputs say before anything is typed.
    hints = page.locator("[placeholder], [title], [aria-label]")
    extra = [hints.nth(i).get_attribute(a) or "" for i in range(hints.count()) for a in ("placeholder", "title", "aria-label")]
    return page.inner_text("body") + "\n" + "\n".join(extra)


def _problems(text: str, language: str, stored: str) -> list[str]:
    # Data is shown as stored (names, WeCom's own error texts): only text no row holds is the console's.
    if language == "zh-hans":
        return sorted({m for m in ENGLISH_RUN.findall(text) if m not in ALLOWED_ENGLISH and m not in stored})
    return sorted({m for m in CHINESE_RUN.findall(text) if m not in ALLOWED_CHINESE and m not in stored})


def _log_in(page, base, username, language):
    page.context.clear_cookies()
    page.context.add_cookies([{"name": "django_language", "value": language, "url": base}])
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector(".sidebar")


@pytest.fixture
def people(db):
    # The url walk's rows, written for this test alone: the live server's threads take the test's
    # database connection, which the url walk's module-wide transaction must not share.
    alpha = _alpha()
    corp = alpha["corp"]
    for role in (Role.OWNER, Role.OPERATOR):
        f.user(corp, role=role, username=f"walk-{role}")
    alpha["guide"].username = "walk-guide"
    alpha["guide"].save(update_fields=["username"])
    return alpha


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_every_page_as_every_role_reads_in_one_language_and_fits(live_server, people, browser_page, language):
    page, base = browser_page, live_server.url
    stored = _stored_text()
    found = []
    for role in (Role.OWNER, Role.OPERATOR, Role.GUIDE):
        username = f"walk-{role}"
        user = people["guide"] if role == Role.GUIDE else get_user_model().objects.get(username=username)
        page.set_viewport_size(PHONE if role == Role.GUIDE else {"width": 1400, "height": 900})
        _log_in(page, base, username, language)
        # What the menu offers this role must open; other pages may refuse it (a guide every manager page).
        menu = {a.get_attribute("href") for a in page.locator(".sidebar nav a").all()}
        # A guide opens their own customer and task; another guide's are a 404 (test_url_walk).
        own = {"customer_id": people["mine"].id, "guide_task_id": people["own_guide_task"].id}
        objects = {**people["objects"], **own} if role == Role.GUIDE else people["objects"]
        for name, url in _pages(objects, user):
            if role == Role.GUIDE and name not in GUIDE_PAGES:
                # Refused (test_url_walk holds it); the menu must not offer it. Not drawn again here.
                assert base + url not in menu and url not in menu, f"the menu offers a guide {url}, a manager's page"
                continue
            response = page.goto(base + url)
            refused = response.status == 403
            assert response.status in (200, 403), f"{role} reaches an error page ({response.status}) at {url}"
            assert not (refused and url in menu), f"the menu offers {role} {url}, which refuses them"
            for problem in _problems(_visible_text(page), language, stored):
                found.append(f"{role} {url}: {problem}")
            if role == Role.GUIDE and not refused:
                width = page.evaluate("document.documentElement.scrollWidth")
                if width > PHONE["width"]:
                    found.append(f"{url} is {width} px wide on a 390 px phone")
    assert not found, "\n".join(found)
