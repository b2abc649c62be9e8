import pytest
from django.core.management import CommandError, call_command

from siyu.corps.models import ApiToken, Corp, Membership, User
from siyu.corps.services import api_token_revoke, corp_create
from siyu.kit.errors import Conflict, InvalidInput
from siyu.kit.tenancy import Role

from .. import factories as f
from ..conftest import ApiClient

AES_KEY = "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt"


def test_credentials_are_encrypted_and_shown_masked(db):
    corp = corp_create(corp_id="ww1436e0e65a779aee", name="测试", secret="plain-secret-value-xyz", token="hJqcu3uJ9Tn2gXPm", aes_key=AES_KEY)
    row = Corp.objects.filter(pk=corp.pk).values("secret_encrypted", "token_encrypted", "aes_key_encrypted").get()
    assert all(v and "plain" not in v and AES_KEY not in v for v in row.values())
    assert corp.secret_masked == "••••••••-xyz"


def test_corp_validation(db):
    with pytest.raises(InvalidInput) as exc:
        corp_create(corp_id="ww1", name="x", aes_key="too-short")
    assert exc.value.field == "aes_key"
    with pytest.raises(InvalidInput) as exc:
        corp_create(corp_id="ww1", name="x", timezone="Mars/Base")
    assert exc.value.field == "timezone"
    corp_create(corp_id="ww1", name="x")
    with pytest.raises(Conflict):
        corp_create(corp_id="ww1", name="y")


def test_guide_membership_needs_staff_of_the_same_corp(db):
    corp, other = f.corp(), f.corp()
    with pytest.raises(InvalidInput):
        f.user(corp, Role.GUIDE)
    with pytest.raises(InvalidInput):
        f.user(corp, Role.GUIDE, staff=f.staff(other))


def test_revoked_token_is_refused(db):
    corp = f.corp()
    user = f.user(corp)
    raw = f.token(user, corp)
    client = ApiClient(raw)
    assert client.get("/api/v1/me").status_code == 200
    assert client.get("/api/v1/me").json()["role"] == "admin"
    api_token_revoke(token=ApiToken.objects.get())
    assert client.get("/api/v1/me").status_code == 401
    assert ApiToken.objects.filter(key_hash__contains=raw).count() == 0  # only the hash is stored


def test_createuser_and_apitoken_commands(db, capsys):
    corp = f.corp(corp_id="wwcli")
    s = f.staff(corp, userid="zhangsan")
    call_command("createuser", "daogou", corp="wwcli", role="guide", staff="zhangsan", password="long-enough-1")
    m = Membership.objects.get(user__username="daogou")
    assert (m.role, m.staff_id, m.corp_id) == ("guide", s.id, corp.id)
    call_command("apitoken", user="daogou", corp="wwcli")
    raw = capsys.readouterr().out.strip().splitlines()[-1]
    assert ApiClient(raw).get("/api/v1/me").json()["staff_id"] == s.id


@pytest.mark.parametrize(
    "args,kwargs,message",
    [
        (["x"], {"corp": "nope", "password": "long-enough-1"}, "No corp"),
        (["x"], {"corp": "wwcli", "role": "guide", "staff": "ghost", "password": "long-enough-1"}, "No staff member"),
        (["x"], {"corp": "wwcli", "role": "guide", "password": "long-enough-1"}, "staff"),
        (["x"], {"corp": "wwcli", "password": "short"}, "password"),
    ],
)
def test_createuser_errors_are_clear_and_write_nothing(db, args, kwargs, message):
    f.corp(corp_id="wwcli")
    with pytest.raises(CommandError, match=message):
        call_command("createuser", *args, **kwargs)
    assert not User.objects.filter(username="x").exists()


def test_corp_add_command_prints_the_callback_url(db, capsys, settings):
    settings.SIYU_PUBLIC_URL = "https://scrm.example.com"
    call_command("corp", "add", name="品牌", corp_id="wwcmd", secret="s3cret-secret-xyz", token="tok", aes_key=AES_KEY, api_base="http://127.0.0.1:9/cgi-bin/")
    out = capsys.readouterr().out
    assert "https://scrm.example.com/wecom/callback/wwcmd/" in out
    corp = Corp.objects.get(corp_id="wwcmd")
    assert corp.api_base == "http://127.0.0.1:9/cgi-bin/" and corp.has_callback_credentials
    call_command("corp", "list")
    assert "••••••••-xyz" in capsys.readouterr().out


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"aes_key": "short"}, "--aes-key"),
        ({"timezone": "Nowhere/City"}, "--timezone"),
    ],
)
def test_corp_add_command_errors(db, kwargs, message):
    base = dict(name="品牌", corp_id="wwbad", secret="s", token="t", aes_key=AES_KEY)
    with pytest.raises(CommandError, match=message):
        call_command("corp", "add", **{**base, **kwargs})
    assert not Corp.objects.filter(corp_id="wwbad").exists()
