from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from siyu.corps.models import Corp
from siyu.corps.services import corp_create, corp_set_credentials
from siyu.kit.errors import DomainError


class Command(BaseCommand):
    help = "Register a corp (WeCom enterprise) or change its credentials; prints the callback URL."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        add = sub.add_parser("add", help="register a corp")
        add.add_argument("--name", required=True)
        add.add_argument("--corp-id", required=True, help="WeCom corpid")
        add.add_argument("--secret", required=True, help="the customer-contact (客户联系) secret")
        add.add_argument("--token", required=True, help="callback Token")
        add.add_argument("--aes-key", required=True, help="callback EncodingAESKey (43 characters)")
        add.add_argument("--api-base", help="default https://qyapi.weixin.qq.com/cgi-bin/; a sandbox URL for testing")
        add.add_argument("--timezone", default="Asia/Shanghai")
        creds = sub.add_parser("credentials", help="replace a corp's secret, token or AES key")
        creds.add_argument("--corp-id", required=True)
        creds.add_argument("--secret", default="")
        creds.add_argument("--token", default="")
        creds.add_argument("--aes-key", default="")
        sub.add_parser("list", help="list corps")

    def handle(self, *args, action, **opts):
        try:
            with transaction.atomic():
                getattr(self, f"_{action}")(**opts)
        except DomainError as exc:
            raise CommandError(f"--{exc.field.replace('_', '-')}: {exc.message}" if exc.field else exc.message) from None

    def _add(self, *, name, corp_id, secret, token, aes_key, api_base, timezone, **_):
        corp = corp_create(corp_id=corp_id, name=name, timezone=timezone, secret=secret, token=token, aes_key=aes_key, api_base=api_base)
        self.stdout.write(self.style.SUCCESS(f"Registered {corp.name} ({corp.corp_id})."))
        self.stdout.write(f"Callback URL for WeCom's admin console: {corp.callback_url}")

    def _credentials(self, *, corp_id, secret, token, aes_key, **_):
        corp = Corp.objects.filter(corp_id=corp_id).first()
        if corp is None:
            raise CommandError(f"No corp with corp id {corp_id!r}.")
        if not (secret or token or aes_key):
            raise CommandError("Give at least one of --secret, --token, --aes-key.")
        corp_set_credentials(corp=corp, secret=secret, token=token, aes_key=aes_key)
        self.stdout.write(self.style.SUCCESS(f"Credentials of {corp.name} updated (secret {corp.secret_masked})."))

    def _list(self, **_):
        for corp in Corp.objects.order_by("name"):
            self.stdout.write(f"{corp.corp_id}\t{corp.name}\t{corp.api_base}\tsecret {corp.secret_masked or '-'}\t{corp.callback_url}")
