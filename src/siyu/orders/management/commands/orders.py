import csv
import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from siyu.corps.models import Corp
from siyu.kit.errors import InvalidInput
from siyu.orders.importer import COLUMNS, MAX_REPORTED, orders_import
from siyu.orders.services import customer_values_rebuild


class Command(BaseCommand):
    help = "Orders: `siyu orders import FILE --corp ID` loads order history from CSV or Excel; `siyu orders rebuild --corp ID` recomputes customer value."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        imp = sub.add_parser("import", help="import orders from a CSV or Excel file (all rows checked first; one bad row and nothing is written)")
        imp.add_argument("file")
        imp.add_argument("--corp", required=True, help="the corp's WeCom corp id")
        imp.add_argument("--source", default="import", help="the system the orders come from, part of each order's identity (default: import)")
        imp.add_argument(
            "--map", action="append", default=[], metavar="FIELD=COLUMN", help=f"read FIELD from the column headed COLUMN; fields: {', '.join(COLUMNS)}"
        )
        imp.add_argument("--batch-size", type=int, default=1000, help="orders per transaction (default 1000)")
        imp.add_argument("--check", action="store_true", help="only check the file and print the report")
        imp.add_argument("--report", help="also write the bad rows to this CSV file")
        rebuild = sub.add_parser("rebuild", help="recompute every customer's value from the orders")
        rebuild.add_argument("--corp", required=True, help="the corp's WeCom corp id")

    def handle(self, *args, action, corp, **options):
        corp_obj = Corp.objects.filter(corp_id=corp).first()
        if corp_obj is None:
            raise CommandError(f"No corp with corp id {corp!r}.")
        if action == "rebuild":
            rows = customer_values_rebuild(corp=corp_obj)
            self.stdout.write(self.style.SUCCESS(f"{corp_obj.name}: value of {rows} customers rebuilt from their orders."))
            return
        self._import(corp_obj, **options)

    def _import(self, corp, *, file, source, map, batch_size, check, report, **options):
        mapping = {}
        for item in map:
            field, sep, column = item.partition("=")
            if not sep or not field.strip() or not column.strip():
                raise CommandError(f"--map {item!r}: write it as FIELD=COLUMN, for example --map order_no=订单号.")
            mapping[field.strip()] = column.strip()
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        console = Console(file=self.stdout, highlight=False)
        columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console, transient=False, disable=not self.stdout.isatty()) as progress:
            bars: dict = {}

            def on_progress(phase: str, done: int, total: int) -> None:
                if phase not in bars:
                    bars[phase] = progress.add_task("checking rows" if phase == "check" else "writing orders", total=total or None)
                progress.update(bars[phase], completed=done, total=total or None)

            try:
                result = orders_import(
                    corp=corp, path=Path(file), source=source, mapping=mapping, batch_size=batch_size, check_only=check, on_progress=on_progress
                )
            except InvalidInput as exc:
                raise CommandError(exc.message) from None
        if report and result.errors:
            with open(report, "w", newline="", encoding="utf-8-sig") as fh:
                writer = csv.DictWriter(fh, fieldnames=["row", "column", "header", "code", "message"])
                writer.writeheader()
                writer.writerows(result.errors)
        if result.error_count:
            table = Table("row", "column", "problem", title=f"{result.error_count} bad rows in {file}; nothing was imported")
            for e in result.errors[:50]:
                table.add_row(str(e["row"]), e["header"] or e["column"], e["message"])
            console.print(table)
            more = result.error_count - min(50, len(result.errors))
            if more:
                console.print(f"… and {more} more" + (f" (the first {MAX_REPORTED} are in {report})" if report else "; pass --report FILE.csv for all"))
            raise CommandError(f"{result.error_count} bad rows; fix them and import again.")
        summary = {
            "rows": result.rows,
            "orders": result.orders,
            "created": result.created,
            "updated": result.updated,
            "unchanged": result.unchanged,
            "matched": result.matched,
        }
        if check:
            self.stdout.write(self.style.SUCCESS(f"{file}: {result.rows} rows, {result.orders} orders, all good (nothing written: --check)."))
        else:
            self.stdout.write(self.style.SUCCESS(f"{file}: {result.orders} orders imported into {corp.name}."))
        self.stdout.write(json.dumps(summary))
