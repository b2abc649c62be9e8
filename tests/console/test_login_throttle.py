"""Login throttling through the real login forms (console and /admin/): an account is locked after
five wrong passwords from anywhere, a network after five for any accounts, the right password is
refused while locked, the wait doubles as guessing goes on, and it lifts after the wait."""

from datetime import timedelta
from types import SimpleNamespace

import pytest
from axes.models import AccessAttempt
from django.test import Client
from django.utils import timezone

from siyu.kit.auth import login_cooloff
from siyu.kit.tenancy import Role

from .. import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner(db):
    corp = f.corp("节流企业")
    return f.user(corp, role=Role.OWNER, username="dianzhang")


def _login(url, username, password, ip="10.1.1.1"):
    client = Client(REMOTE_ADDR=ip)
    response = client.post(url, {"username": username, "password": password}, HTTP_ACCEPT_LANGUAGE="zh-hans")
    return client, response


def _logged_in(client) -> bool:
    return "_auth_user_id" in client.session


@pytest.mark.parametrize("url", ["/login/", "/admin/login/"])
def test_five_wrong_passwords_lock_the_account_even_for_the_right_one(owner, url, settings):
    owner.is_staff = owner.is_superuser = True  # /admin/ takes staff only
    owner.save()
    for i in range(5):
        client, response = _login(url, "dianzhang", "wrong", ip=f"10.2.0.{i}")  # from five networks
        # Four are answered with the form again; the fifth locks the account.
        assert response.status_code == (200 if i < 4 else 429) and not _logged_in(client)
    client, response = _login(url, "dianzhang", f.PASSWORD, ip="10.9.9.9")
    assert response.status_code == 429 and not _logged_in(client)
    assert "尝试次数过多" in response.content.decode()
    # After the wait, the right password works, and the count starts again.
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(hours=2))
    client, response = _login(url, "dianzhang", f.PASSWORD, ip="10.9.9.9")
    assert response.status_code == 302 and _logged_in(client)
    assert not AccessAttempt.objects.filter(username="dianzhang").exists()


def test_a_network_guessing_many_accounts_is_locked_for_all_of_them(owner):
    for i in range(5):
        _login("/login/", f"guess{i}", "wrong", ip="10.3.3.3")
    client, response = _login("/login/", "dianzhang", f.PASSWORD, ip="10.3.3.3")
    assert response.status_code == 429 and not _logged_in(client)
    client, response = _login("/login/", "dianzhang", f.PASSWORD, ip="10.4.4.4")  # elsewhere: fine
    assert response.status_code == 302 and _logged_in(client)


def test_the_wait_doubles_as_failures_go_on(settings):
    base = timedelta(minutes=settings.SIYU_LOGIN_COOLOFF_MINUTES)
    limit = settings.AXES_FAILURE_LIMIT
    waits = [login_cooloff(SimpleNamespace(axes_failures_since_start=limit + n)) for n in range(4)]
    assert waits == [base, base * 2, base * 4, base * 8]
    assert login_cooloff(SimpleNamespace(axes_failures_since_start=limit + 40)) == timedelta(days=1)
