import csv
import json
import sys

from django.core.management.base import BaseCommand, CommandError

from siyu.analytics.clv import fit_bgnbd, fit_gamma_gamma


class Command(BaseCommand):
    help = "Customer lifetime value models. `siyu clv fit --summary FILE.csv` fits BG/NBD (and Gamma-Gamma when the file has monetary_value) and prints the parameters and log-likelihoods as JSON."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        fit = sub.add_parser("fit", help="fit the models to a per-customer summary")
        fit.add_argument("--summary", required=True, help="CSV with columns frequency,recency,T and optionally monetary_value, one row per customer")

    def handle(self, *args, action, summary, **options):
        try:
            with open(summary, newline="", encoding="utf-8-sig") as fh:
                rows = list(csv.DictReader(fh))
        except OSError as exc:
            raise CommandError(f"cannot read {summary}: {exc.strerror}") from None
        if not rows:
            raise CommandError(f"{summary} has no rows")
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
