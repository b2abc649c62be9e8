"""What a production deployment gets from its settings: HTTPS-only cookies and HSTS when it says
it is on HTTPS, a Content-Security-Policy on every page, the sandbox off unless asked for."""

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.core.management import get_commands
from django.test import Client

from siyu.acquisition import services as acquisition
from siyu.kit.tenancy import Role

from . import factories as f

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
TEMPLATES = sorted(Path(__file__).resolve().parents[1].joinpath("src", "siyu").rglob("templates/**/*.html"))
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")([^>]*)>", re.I)
HANDLER = re.compile(r"\son[a-z]+\s*=", re.I)


def _siyu(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SIYU_") and k != "DJANGO_SETTINGS_MODULE"}
    clean.update({"SIYU_DATA_DIR": os.environ.get("SIYU_DATA_DIR", "var"), "SIYU_SECRET_KEY": "k" * 60, **env})
    return subprocess.run([sys.executable, "-m", "siyu.cli", *args], env=clean, capture_output=True, text=True, timeout=120)


@pytest.mark.own_database
def test_https_deployments_pass_djangos_deployment_checks():
    insecure = {"security.W004", "security.W008", "security.W012", "security.W016"}  # HSTS, redirect, both cookies
    plain = _siyu("check", "--deploy")
    assert insecure <= set(re.findall(r"security\.W\d+", plain.stderr + plain.stdout))
    https = _siyu("check", "--deploy", SIYU_HTTPS="1", SIYU_PROXY_COUNT="1")
    assert https.returncode == 0, https.stderr
    assert not insecure & set(re.findall(r"security\.W\d+", https.stderr + https.stdout)), https.stderr


def test_behind_a_proxy_its_https_header_counts_and_plain_http_is_redirected(settings, db):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    client = Client()
    plain = client.get("/login/")
    assert plain.status_code == 301 and plain["Location"].startswith("https://")
    assert client.get("/login/", HTTP_X_FORWARDED_PROTO="https").status_code == 200
    # The load balancer's health check inside the network is answered, not redirected.
    assert client.get("/healthz").status_code == 200


@pytest.mark.own_database
def test_the_sandbox_is_off_unless_asked_for():
    probe = (
        "import django; django.setup()\n"
        "from django.urls import resolve, Resolver404\n"
        "try:\n    resolve('/sandbox/cgi-bin/gettoken')\n    print('on')\n"
        "except Resolver404:\n    print('off')\n"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SIYU_")}
    clean.update({"DJANGO_SETTINGS_MODULE": "siyu.settings", "SIYU_SECRET_KEY": "k" * 60})
    assert subprocess.run([sys.executable, "-c", probe], env=clean, capture_output=True, text=True).stdout.strip() == "off"
    on = subprocess.run([sys.executable, "-c", probe], env={**clean, "SIYU_SANDBOX": "1"}, capture_output=True, text=True)
    assert on.stdout.strip() == "on", on.stderr


@pytest.mark.parametrize("template", TEMPLATES, ids=[t.name for t in TEMPLATES])
def test_no_template_has_script_the_policy_would_block(template):
    text = template.read_text()
    for attrs in INLINE_SCRIPT.findall(text):
        assert 'nonce="{{ request.csp_nonce }}"' in attrs, f"{template.name}: an inline <script> without the page's nonce"
    assert not HANDLER.search(text), f"{template.name}: an inline event handler (use a listener in console/siyu.js)"
    assert "javascript:" not in text, template.name


def test_console_and_public_pages_carry_the_policy_and_their_scripts_its_nonce(db):
    corp = f.corp()
    owner = f.user(corp, Role.OWNER)
    client = Client()
    client.force_login(owner)
    page = client.get("/value/rfm/")
    policy = page["Content-Security-Policy"]
    nonce = re.search(r"'nonce-([^']+)'", policy).group(1)
    assert "script-src 'self' 'nonce-" in policy and "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
    scripts = re.findall(r"<script([^>]*)>", page.content.decode())
    # Scripts from files, data (never run), or inline with this response's nonce.
    assert scripts and all("src=" in s or 'type="application/json"' in s or f'nonce="{nonce}"' in s for s in scripts)
    assert client.get("/value/rfm/")["Content-Security-Policy"] != policy  # a fresh nonce per response
    actor = f.actor(corp, Role.ADMIN)
    staff = f.staff(corp)
    channel = acquisition.channel_create(actor=actor, name="官网", group="website")
    code = acquisition.live_code_save(actor=actor, channel=channel, name="官网活码", mode="exact", members=[{"staff_id": staff.id}])
    landing = Client().get(f"/l/{corp.corp_id}/{code.state}/")
    assert "script-src 'self'" in landing["Content-Security-Policy"]


def _siyu_commands(words: list[str]) -> list[str]:
    return [words[i + 1] for i, w in enumerate(words[:-1]) if w == "siyu" and not words[i + 1].startswith("-")]


def test_the_deploy_folder_starts_real_commands_with_real_settings():
    """deploy/ cannot run here (no container runtime): what it names must at least exist."""
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert {"postgres", "redis", "migrate", "web", "worker", "proxy"} <= services.keys()
    commands = {name: service.get("command") for name, service in services.items() if service.get("command")}
    assert commands["web"][:2] == ["siyu", "serve"] and commands["worker"] == ["siyu", "worker"] and commands["migrate"][:2] == ["siyu", "migrate"]
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    cmd = re.search(r"^CMD (\[.*\])$", dockerfile, re.M).group(1)
    named = _siyu_commands([w for c in commands.values() for w in c] + yaml.safe_load(cmd))
    assert set(named) <= set(get_commands()), set(named) - set(get_commands())
    assert services["web"]["deploy"]["replicas"] >= 2 and services["worker"]["deploy"]["replicas"] >= 2
    # Every web process and worker shares the one PostgreSQL and the one Redis.
    shared = services["web"]["environment"]
    assert shared["SIYU_DATABASE_URL"].startswith("postgres://") and shared["SIYU_CACHE_URL"].startswith("redis://")
    assert services["worker"]["environment"] == shared
    known = set(re.findall(r"\b(SIYU_[A-Z_]+)\b", (ROOT / "src" / "siyu" / "settings.py").read_text()))
    example = dict(line.split("=", 1) for line in (DEPLOY / "siyu.env.example").read_text().splitlines() if line and not line.startswith("#"))
    assert set(example) | set(shared) <= known, (set(example) | set(shared)) - known
    assert example["SIYU_PROXY_COUNT"] == "1" and example["SIYU_HTTPS"] == "1" and example["SIYU_SANDBOX"] == "0"
    # The one proxy SIYU_PROXY_COUNT=1 counts replaces the forwarded address rather than appending a forged one.
    nginx = (DEPLOY / "nginx.conf").read_text()
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in nginx and "proxy_set_header X-Forwarded-Proto $scheme;" in nginx


@pytest.mark.own_database
def test_the_deploy_example_settings_pass_djangos_deployment_checks():
    example = dict(line.split("=", 1) for line in (DEPLOY / "siyu.env.example").read_text().splitlines() if line and not line.startswith("#"))
    example["SIYU_SECRET_KEY"] = secrets.token_urlsafe(50)  # the example's placeholder is meant to be replaced
    checked = _siyu("check", "--deploy", **example)
    # HSTS for subdomains and preloading stay the operator's call (README); nothing else is left.
    assert checked.returncode == 0 and set(re.findall(r"security\.W\d+", checked.stderr + checked.stdout)) <= {"security.W005", "security.W021"}, checked.stderr
