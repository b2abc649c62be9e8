from django.core.management.base import BaseCommand, CommandError

from siyu.corps.models import Membership
from siyu.corps.services import api_token_create
from siyu.kit.errors import DomainError


class Command(BaseCommand):
    help = "Create an API token acting as a user in a corp; the token is printed once."

    def add_arguments(self, parser):
        parser.add_argument("--user", required=True)
        parser.add_argument("--corp", required=True, help="the corp's WeCom corp id")
        parser.add_argument("--name", default="cli")

    def handle(self, *args, user, corp, name, **options):
        membership = Membership.objects.filter(user__username=user, corp__corp_id=corp).first()
        if membership is None:
            raise CommandError(f"{user!r} is not a member of corp {corp!r}.")
        try:
            _, raw = api_token_create(membership=membership, name=name)
        except DomainError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(raw)
