"""A member's phone with the WeCom client, for the simulator: it opens an app card's link and the
app's chat-toolbar page as the client does (through WeCom's OAuth2, silently, as the member using
it), and makes JS-SDK calls from a page as the page's script would through the stand-in
(`views_pages`), so that what a guide does in a page is recorded as it would be on a real phone."""

from __future__ import annotations

import html
import re
from urllib.parse import urlencode, urlsplit

import httpx

ATTR = r'{name}="([^"]*)"'


class _Handset:
    """A phone's browser: its cookies, redirects followed, closed after use."""

    def __init__(self, client_url: str):
        """`client_url`: where the sandbox is served (the client talks to WeCom and WeChat there)."""
        self.base = client_url.rstrip("/")
        self.http = httpx.Client(timeout=15, follow_redirects=True)

    def close(self) -> None:
        self.http.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Phone(_Handset):
    def __init__(self, client_url: str, corpid: str, userid: str):
        super().__init__(client_url)
        self.corpid, self.userid = corpid, userid

    def _follow(self, response: httpx.Response) -> httpx.Response:
        """WeCom's authorize page outside a chat asks who is using the client: the member is."""
        if response.status_code == 200 and urlsplit(str(response.url)).path.endswith("/connect/oauth2/authorize") and "选择成员" in response.text:
            response = self.http.get(response.url.copy_merge_params({"userid": self.userid}))
        return response

    def open_link(self, url: str) -> httpx.Response:
        """Tap a link in the client (an app card): the page, after any sign-in."""
        return self._follow(self.http.get(url))

    def open_toolbar(self, toolbar_url: str, external_userid: str) -> httpx.Response:
        """Open the chat with a customer and tap the app in the chat toolbar."""
        query = urlencode({"userid": self.userid, "external_userid": external_userid, "url": toolbar_url, "entry": "single_chat_tools"})
        return self._follow(self.http.get(f"{self.base}/sandbox/chat/{self.corpid}/?{query}"))

    def js(self, api: str, args: dict, page_url: str) -> dict:
        """A JS-SDK call from the page at `page_url` (what wx.invoke / wx.agentConfig send)."""
        answer = self.http.post(f"{self.base}/sandbox/jssdk/call", json={"api": api, "args": args, "url": page_url})
        return answer.json() if answer.status_code == 200 else {"err_msg": f"{api}:fail http {answer.status_code}"}


def attrs(page: str, name: str) -> list[str]:
    """Every value of the attribute `name` in `page`, unescaped, in order."""
    return [html.unescape(v) for v in re.findall(ATTR.format(name=re.escape(name)), page)]


class WechatPhone(_Handset):
    """A WeChat user's phone, for the simulator: it opens a link as WeChat does, signing in through
    the Official Account's web OAuth as its user (a customer of the corp, or a stranger)."""

    def __init__(self, client_url: str, corpid: str, *, external_userid: str = "", stranger: bool = False):
        super().__init__(client_url)
        self.corpid, self.external_userid, self.stranger = corpid, external_userid, stranger

    def open_link(self, url: str) -> httpx.Response:
        """Tap a link in a chat: WeChat's browser opens it (and signs in where the page asks)."""
        query = {"corpid": self.corpid, "url": url}
        if self.external_userid:
            query["external_userid"] = self.external_userid
        elif self.stranger:
            query["stranger"] = "1"
        return self.http.get(f"{self.base}/sandbox/wechat/open?{urlencode(query)}")
