import json

from django.core.management.base import BaseCommand, CommandError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from siyu.corps.models import Corp
from siyu.wecom.client import WeComError
from siyu.wecom.sync import SyncBusy, full_sync


class Command(BaseCommand):
    help = "Full sync of a corp from WeCom: staff, corp tags, customers with follows, groups. Resumes an interrupted run."

    def add_arguments(self, parser):
        parser.add_argument("--corp", required=True, help="the corp's WeCom corp id")
        parser.add_argument("--restart", action="store_true", help="start over instead of resuming an unfinished run")

    def handle(self, *args, corp, restart, **options):
        corp_obj = Corp.objects.filter(corp_id=corp).first()
        if corp_obj is None:
            raise CommandError(f"No corp with corp id {corp!r}.")
        if not corp_obj.secret_encrypted:
            raise CommandError(f"{corp_obj.name} has no secret: siyu corp credentials --corp-id {corp} --secret …")
        columns = (
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[contacts]} contacts"),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=None, transient=False, disable=not self.stdout.isatty()) as progress:
            bar = progress.add_task(f"{corp_obj.name}: staff", total=None, contacts=0)

            def on_progress(run):
                progress.update(
                    bar,
                    description=f"{corp_obj.name}: {run.phase}",
                    total=run.progress_total or None,
                    completed=run.progress_done,
                    contacts=run.counts.get("contacts_seen", 0),
                )

            try:
                run = full_sync(corp=corp_obj, restart=restart, on_progress=on_progress)
            except SyncBusy as exc:
                raise CommandError(str(exc)) from None
            except WeComError as exc:
                raise CommandError(f"WeCom refused ({exc.errcode}): {exc.errmsg}. Run again to resume from where it stopped.") from None
            except KeyboardInterrupt:
                raise CommandError("Interrupted. Run again to resume from where it stopped.") from None
            on_progress(run)
        self.stdout.write(self.style.SUCCESS(f"Sync of {corp_obj.name} done: {run.api_calls} API calls."))
        self.stdout.write(json.dumps(run.counts, ensure_ascii=False, sort_keys=True))
