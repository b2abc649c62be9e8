import csv
import json
import sys
from datetime import date

from django.core.management.base import BaseCommand, CommandError

from siyu.analytics.clv import UNIT_DAYS, fit_bgnbd, fit_gamma_gamma, summary_from_transactions


class Command(BaseCommand):
    help = (
        "Customer lifetime value models. `siyu clv fit --summary FILE.csv` fits BG/NBD (and Gamma-Gamma when the file has "
        "monetary_value) and prints the parameters and log-likelihoods as JSON."
    )

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        fit = sub.add_parser("fit", help="fit the models to a per-customer summary")
        source = fit.add_mutually_exclusive_group(required=True)
        source.add_argument("--summary", help="CSV with columns frequency,recency,T and optionally monetary_value, one row per customer")
        source.add_argument("--transactions", help="CSV with columns customer_id,date and optionally amount, one row per purchase")
        fit.add_argument("--calibration-end", help="with --transactions: the last day of the calibration period (YYYY-MM-DD)")
        fit.add_argument("--unit", choices=sorted(UNIT_DAYS), default="week", help="with --transactions: the time unit of recency and T")

    def handle(self, *args, action, summary, transactions, calibration_end, unit, **options):
        if transactions:
            rows = self._summarise(transactions, calibration_end, unit)
            summary = transactions
        else:
            rows = self._read(summary)
        if not rows:
            raise CommandError(f"{summary} has no rows")
        return self._fit(summary, rows)

    @staticmethod
    def _read(path: str) -> list[dict]:
        try:
            with open(path, newline="", encoding="utf-8-sig") as fh:
                return list(csv.DictReader(fh))
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc.strerror}") from None

    def _summarise(self, path: str, calibration_end: str | None, unit: str) -> list[dict]:
        if not calibration_end:
            raise CommandError("--transactions needs --calibration-end YYYY-MM-DD")
        try:
            end = date.fromisoformat(calibration_end)
        except ValueError:
            raise CommandError(f"--calibration-end {calibration_end!r} is not a date like 1997-09-30") from None
        rows = self._read(path)
        if rows and not {"customer_id", "date"} <= set(rows[0]):
            raise CommandError(f"{path} needs columns customer_id,date (and optionally amount)")
        parsed = []
        for n, row in enumerate(rows, start=2):
            raw = row["date"].strip()
            try:
                day = date.fromisoformat(raw) if "-" in raw else date(int(raw[:4]), int(raw[4:6]), int(raw[6:8]))
                amount = float(row.get("amount") or 0)
            except ValueError:
                raise CommandError(f"{path}, row {n}: {row} has a bad date or amount") from None
            parsed.append((row["customer_id"], day, amount))
        summary = summary_from_transactions(parsed, calibration_end=end, unit=unit)
        return [{"frequency": x, "recency": t_x, "T": T, "monetary_value": m} for x, t_x, T, m in summary.values()]

    def _fit(self, summary: str, rows: list[dict]) -> None:
        missing = {"frequency", "recency", "T"} - set(rows[0])
        if missing:
            raise CommandError(f"{summary} lacks column(s) {', '.join(sorted(missing))}; it needs frequency,recency,T")
        columns = {name: [] for name in ("frequency", "recency", "T", "monetary_value")}
        for n, row in enumerate(rows, start=2):
            try:
                for name in ("frequency", "recency", "T"):
                    columns[name].append(float(row[name]))
                if "monetary_value" in row:
                    columns["monetary_value"].append(float(row["monetary_value"] or 0))
            except ValueError:
                raise CommandError(f"{summary}, row {n}: {row} has a value that is not a number") from None
        try:
            bg = fit_bgnbd(columns["frequency"], columns["recency"], columns["T"])
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        out = {"customers": len(rows), "bgnbd": {"r": bg.r, "alpha": bg.alpha, "a": bg.a, "b": bg.b, "log_likelihood": bg.log_likelihood}}
        if columns["monetary_value"]:
            gg = fit_gamma_gamma(columns["frequency"], columns["monetary_value"])
            out["gamma_gamma"] = {"p": gg.p, "q": gg.q, "gamma": gg.gamma, "log_likelihood": gg.log_likelihood}
        json.dump(out, sys.stdout, indent=2)
        sys.stdout.write("\n")
