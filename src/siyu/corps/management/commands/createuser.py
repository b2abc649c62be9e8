import getpass
import os

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from siyu.corps.models import Corp, Staff
from siyu.corps.services import membership_grant, user_create
from siyu.kit.errors import DomainError
from siyu.kit.tenancy import Role


class Command(BaseCommand):
    help = "Create a console user and give it a role in a corp."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--corp", required=True, help="the corp's WeCom corp id")
        parser.add_argument("--role", choices=Role.values, default=Role.ADMIN)
        parser.add_argument("--staff", help="WeCom userid of the staff member (required for guides)")
        parser.add_argument("--password", help="default: $SIYU_PASSWORD, else asked for")
        parser.add_argument("--superuser", action="store_true", help="may also use /admin/")

    def handle(self, *args, username, corp, role, staff, password, superuser, **options):
        corp_obj = Corp.objects.filter(corp_id=corp).first()
        if corp_obj is None:
            raise CommandError(f"No corp with corp id {corp!r}.")
        staff_obj = None
        if staff:
            staff_obj = Staff.objects.filter(corp=corp_obj, userid=staff).first()
            if staff_obj is None:
                raise CommandError(f"No staff member {staff!r} in {corp_obj.name}.")
        password = password or os.environ.get("SIYU_PASSWORD") or getpass.getpass("Password: ")
        try:
            with transaction.atomic():
                user = user_create(username=username, password=password, is_superuser=superuser)
                membership_grant(user=user, corp=corp_obj, role=role, staff=staff_obj)
        except DomainError as exc:
            raise CommandError(f"{exc.field}: {exc.message}" if exc.field else exc.message) from None
        self.stdout.write(self.style.SUCCESS(f"Created {username} as {role} of {corp_obj.name}."))
