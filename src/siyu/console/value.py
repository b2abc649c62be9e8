"""Console pages for customer value: RFM, super users, CLV, funnels and cohorts, segments."""

from __future__ import annotations

import math
import tempfile
from datetime import timedelta
from pathlib import Path

from django import forms
from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from siyu.acquisition.selectors import channels
from siyu.analytics import export, rfm, segments, selectors, services
from siyu.analytics.models import RfmSettings
from siyu.corps.selectors import staff_list
from siyu.customers import selectors as customer_selectors
from siyu.kit.clock import now
from siyu.kit.errors import InvalidInput
from siyu.kit.http import XLSX, attachment
from siyu.orders.importer import orders_queue_import
from siyu.orders.selectors import order_counts, order_imports, order_sources
from siyu.tags.selectors import live_tags

from .access import console_view, saved_or_form_error
from .fields import DayField, WholeField

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def _today(actor):
    return now().astimezone(actor.corp.tzinfo).date()


class RfmSettingsForm(forms.Form):
    method = forms.ChoiceField(label=gettext_lazy("Thresholds"), choices=RfmSettings.Method.choices)
    recency_days = WholeField(label=gettext_lazy("Recent: at most days since the last order"), min_value=0, max_value=36500)
    frequency = forms.FloatField(label=gettext_lazy("Frequent: more orders than"), min_value=0)
    monetary = forms.DecimalField(label=gettext_lazy("High spend: more than (yuan)"), min_value=0, decimal_places=2, max_digits=14)
    window_days = WholeField(label=gettext_lazy("Only orders of the last days (empty: all time)"), required=False, min_value=1, max_value=36500)


@console_view
def rfm_page(request):
    actor = request.actor
    settings = selectors.rfm_settings_for(actor)
    initial = {
        "method": settings.method,
        "recency_days": settings.recency_days,
        "frequency": settings.frequency,
        "monetary": settings.monetary_fen / 100,
        "window_days": settings.window_days,
    }
    form = RfmSettingsForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        strategies = {c.letter: request.POST.get(f"strategy_{c.letter}", "").strip() for c in rfm.CLASSES}
        strategies = {k: v for k, v in strategies.items() if v and v != rfm.DEFAULT_STRATEGIES[k]}
        saved = saved_or_form_error(
            form,
            lambda: services.rfm_settings_save(
                actor=actor,
                method=d["method"],
                recency_days=d["recency_days"],
                frequency=d["frequency"],
                monetary_fen=int(d["monetary"] * 100),
                window_days=d["window_days"],
                strategies=strategies,
            ),
        )
        if saved:
            messages.success(request, _("RFM settings saved."))
            return redirect("console:rfm")
    result = selectors.rfm_for(actor, quintiles=True)
    chart = {
        "letters": [f"{r.rfm.letter}\n{r.rfm.name}" for r in result.classes],
        "customers": [r.customers for r in result.classes],
        "gmv_share": [round(r.gmv_share * 100, 1) for r in result.classes],
        "grid": [[f - 1, r - 1, n] for (r, f), (n, _gmv) in (result.quintiles.grid.items() if result.quintiles else [])],
        "labels": {"customers": _("Customers"), "gmv_share": _("Share of GMV (%)"), "r": _("R score"), "f": _("F score")},
    }
    return render(
        request,
        "console/rfm.html",
        {
            "form": form,
            "result": result,
            "chart": chart,
            "nav": "rfm",
            "recent_since": result.thresholds.recent_since(result.as_of),
        },
        status=400 if form.errors else 200,
    )


@console_view
@require_POST
def rfm_segment(request, letter: str):
    segment, created = segments.segment_for_rfm_class(actor=request.actor, letter=letter)
    if created:
        messages.success(request, _("Segment “%(name)s” saved.") % {"name": segment.name})
    return redirect("console:segment", segment_id=segment.id)


@console_view
def super_users_page(request):
    actor = request.actor
    try:
        share = min(max(float(request.GET.get("share", "80")), 1.0), 100.0) / 100
    except ValueError:
        share = 0.8
    if not math.isfinite(share):  # "nan" parses, and passes min and max
        share = 0.8
    result = selectors.super_users_for(actor, share=share)
    if request.method == "POST":
        name = _("Super users %(share)s%%") % {"share": round(share * 100)}
        existing = segments.segment_list(actor)
        segment = next((s for s in existing if s.name == name), None)
        filters = segments.SegmentFilters(spent_min_fen=result.spent_min_fen)
        segment = segments.segment_save(actor=actor, name=name, filters=filters, segment=segment)
        messages.success(request, _("Segment “%(name)s” saved.") % {"name": segment.name})
        return redirect("console:segment", segment_id=segment.id)
    chart = {
        "lorenz": [[round(x * 100, 2), round(y * 100, 2)] for x, y in result.lorenz],
        "labels": {"curve": _("Share of GMV"), "equal": _("Equal spending"), "x": _("Share of buyers, smallest first (%)"), "y": _("Share of GMV (%)")},
    }
    return render(request, "console/super_users.html", {"result": result, "share_pct": round(share * 100), "chart": chart, "nav": "super_users"})


@console_view
def clv_page(request):
    actor = request.actor
    if request.method == "POST":
        try:
            horizon = int(request.POST.get("horizon_days", "365"))
        except ValueError:
            horizon = 0
        if not 1 <= horizon <= 3650:
            raise InvalidInput(_("The horizon is 1 to 3650 days."), field="horizon_days")
        services.clv_refresh_queue(actor=actor, horizon_days=horizon)
        messages.success(request, _("The CLV refit is queued; the worker runs it in a moment."))
        return redirect("console:clv")
    fit, deciles, total = selectors.clv_overview(actor)
    top = selectors.clv_top(actor, 20)
    chart = {
        "deciles": [f"{d['decile']}" for d in deciles],
        "clv": [round(d["clv_fen"] / 100) for d in deciles],
        "share": [round(d["share"] * 100, 1) for d in deciles],
        "labels": {"clv": _("CLV (yuan)"), "share": _("Share of CLV (%)"), "x": _("Tenth of buyers, highest CLV first")},
    }
    return render(request, "console/clv.html", {"fit": fit, "deciles": deciles, "total": total, "top": top, "chart": chart, "nav": "clv"})


class PeriodForm(forms.Form):
    start = DayField(label=gettext_lazy("From"), widget=DATE)
    end = DayField(label=gettext_lazy("To"), widget=DATE)
    by = forms.ChoiceField(
        label=gettext_lazy("Group by"),
        required=False,
        initial="week",
        choices=[("week", gettext_lazy("Week added")), ("channel", gettext_lazy("Channel")), ("staff", gettext_lazy("Staff"))],
    )


@console_view
def funnel_page(request):
    actor = request.actor
    today = _today(actor)
    form = PeriodForm(request.GET or None, initial={"start": today - timedelta(days=89), "end": today, "by": "week"})
    start, end, by = today - timedelta(days=89), today, "week"
    if form.is_bound and form.is_valid():
        start, end, by = form.cleaned_data["start"], form.cleaned_data["end"], form.cleaned_data["by"] or "week"
    result = selectors.funnel_for(actor, start=start, end=end, by=by)
    months_start = (end.replace(day=1) - timedelta(days=330)).replace(day=1)
    gmv = selectors.gmv_for(actor, start=months_start, end=end)
    cohort_rows = selectors.cohorts_for(actor, start=months_start, end=end, months=6)
    t = result.total
    chart = {
        "funnel": [
            {"name": _("Added (new)"), "value": t.new_customers},
            {"name": _("First order"), "value": t.first_orders},
            {"name": _("Second order"), "value": t.second_orders},
        ],
        "months": [p.start.strftime("%Y-%m") if p.to_date is None else _("%(month)s (to date)") % {"month": p.start.strftime("%Y-%m")} for p in gmv],
        "gmv": [round(p.gmv_fen / 100) for p in gmv],
        "reach": [None if p.from_reach_fen is None else round(p.from_reach_fen / 100) for p in gmv],
        "conversion": [None if p.from_conversion_fen is None else round(p.from_conversion_fen / 100) for p in gmv],
        "spend": [None if p.from_spend_fen is None else round(p.from_spend_fen / 100) for p in gmv],
        "cohorts": [c.month.strftime("%Y-%m") for c in cohort_rows],
        "heat": [[k, i, round(rate * 100, 1)] for i, c in enumerate(cohort_rows) for k, rate in enumerate(c.rates)],
        "labels": {
            "gmv": _("GMV (yuan)"),
            "reach": _("From reach"),
            "conversion": _("From conversion"),
            "spend": _("From spend per buyer"),
            "month_after": _("Months after the first order"),
        },
    }
    return render(request, "console/funnel.html", {"form": form, "result": result, "gmv": gmv, "cohorts": cohort_rows, "chart": chart, "nav": "funnel"})


class SegmentForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Segment name"), max_length=64)
    rfm = forms.MultipleChoiceField(
        label=gettext_lazy("RFM classes"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        choices=lambda: [(c.letter, f"{c.letter} {c.name}") for c in rfm.CLASSES],  # at render time, in the reader's language
    )
    buyers = forms.ChoiceField(
        label=gettext_lazy("Purchases"),
        required=False,
        choices=[("", gettext_lazy("Anyone")), ("yes", gettext_lazy("Has bought")), ("no", gettext_lazy("Never bought"))],
    )
    orders_min = WholeField(label=gettext_lazy("At least orders"), required=False, min_value=0)
    spent_min = forms.DecimalField(label=gettext_lazy("Spent at least (yuan)"), required=False, min_value=0, decimal_places=2, max_digits=14)
    last_order_from = DayField(label=gettext_lazy("Last order on or after"), required=False, widget=DATE)
    last_order_to = DayField(label=gettext_lazy("Last order on or before"), required=False, widget=DATE)
    clv_min = forms.DecimalField(label=gettext_lazy("CLV at least (yuan)"), required=False, min_value=0, decimal_places=2, max_digits=14)
    p_alive_min = forms.FloatField(label=gettext_lazy("Probability alive at least (0–1)"), required=False, min_value=0, max_value=1)
    tags_all = forms.TypedMultipleChoiceField(label=gettext_lazy("Has every tag"), required=False, coerce=int, widget=forms.SelectMultiple(attrs={"size": 6}))
    channel_ids = forms.TypedMultipleChoiceField(
        label=gettext_lazy("Came through channel"), required=False, coerce=int, widget=forms.SelectMultiple(attrs={"size": 4})
    )
    staff_ids = forms.TypedMultipleChoiceField(label=gettext_lazy("Followed by"), required=False, coerce=int, widget=forms.SelectMultiple(attrs={"size": 6}))

    CONDITIONS = 3  # rows of custom-field conditions the form offers
    OPS = (
        ("eq", gettext_lazy("is")),
        ("in", gettext_lazy("is one of (comma-separated)")),
        ("gte", gettext_lazy("at least")),
        ("lte", gettext_lazy("at most")),
        ("set", gettext_lazy("is filled in")),
        ("unset", gettext_lazy("is empty")),
        ("age_days_gte", gettext_lazy("at least N days ago")),
        ("age_days_lte", gettext_lazy("at most N days ago")),
    )

    def __init__(self, *args, actor, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["tags_all"].choices = [(t.id, f"{t.group.name} / {t.name}") for t in live_tags(actor).select_related("group")]
        self.fields["channel_ids"].choices = [(c.id, c.name) for c in channels(actor)]
        self.fields["staff_ids"].choices = [(s.id, s.name) for s in staff_list(actor)]
        self.fields["stages"] = forms.TypedMultipleChoiceField(
            label=gettext_lazy("Lifecycle stages"),
            required=False,
            coerce=int,
            widget=forms.CheckboxSelectMultiple,
            choices=[(st.id, st.name) for st in customer_selectors.lifecycle_stages(actor)],
        )
        keys = [("", "—")] + [(f.key, f.name) for f in customer_selectors.custom_fields(actor)]
        for i in range(self.CONDITIONS):
            self.fields[f"cond{i}_key"] = forms.ChoiceField(label=gettext_lazy("Customer field"), required=False, choices=keys)
            self.fields[f"cond{i}_op"] = forms.ChoiceField(label=gettext_lazy("Condition"), required=False, choices=self.OPS)
            self.fields[f"cond{i}_value"] = forms.CharField(label=gettext_lazy("Value"), required=False, max_length=200)

    def conditions(self) -> list[dict]:
        """The filled rows as segments hold them; refusals come back on the row's value."""
        out = []
        for i in range(self.CONDITIONS):
            key, op, raw = (self.cleaned_data.get(f"cond{i}_{part}") or "" for part in ("key", "op", "value"))
            if not key:
                continue
            value: object = raw.strip()
            if op == "in":
                value = [v.strip() for v in raw.replace("，", ",").split(",") if v.strip()]
            elif op.startswith("age_days"):
                value = int(raw) if raw.strip().isdigit() else raw
            out.append({"key": key, "op": op or "eq", "value": value})
        return out

    def condition_fields(self) -> dict[str, str]:
        """Where a refusal of condition N shows: the Nth filled row's value."""
        filled = [i for i in range(self.CONDITIONS) if self.cleaned_data.get(f"cond{i}_key")]
        return {f"fields.{n}": f"cond{i}_value" for n, i in enumerate(filled)}

    def filters(self) -> segments.SegmentFilters:
        d = self.cleaned_data
        return segments.SegmentFilters(
            rfm=d["rfm"],
            buyers={"yes": True, "no": False}.get(d["buyers"]),
            orders_min=d["orders_min"],
            spent_min_fen=None if d["spent_min"] is None else int(d["spent_min"] * 100),
            last_order_from=d["last_order_from"],
            last_order_to=d["last_order_to"],
            clv_min_fen=None if d["clv_min"] is None else int(d["clv_min"] * 100),
            p_alive_min=d["p_alive_min"],
            tags_all=d["tags_all"],
            channel_ids=d["channel_ids"],
            staff_ids=d["staff_ids"],
            fields=self.conditions(),
            stages=self.cleaned_data.get("stages") or [],
        )

    @staticmethod
    def initial_from(segment) -> dict:
        f = segment.filters
        return {
            "name": segment.name,
            "rfm": f.get("rfm", []),
            "buyers": {True: "yes", False: "no"}.get(f.get("buyers"), ""),
            "orders_min": f.get("orders_min"),
            "spent_min": None if f.get("spent_min_fen") is None else f["spent_min_fen"] / 100,
            "last_order_from": f.get("last_order_from"),
            "last_order_to": f.get("last_order_to"),
            "clv_min": None if f.get("clv_min_fen") is None else f["clv_min_fen"] / 100,
            "p_alive_min": f.get("p_alive_min"),
            "tags_all": f.get("tags_all", []),
            "channel_ids": f.get("channel_ids", []),
            "staff_ids": f.get("staff_ids", []),
            "stages": f.get("stages", []),
        } | {
            f"cond{i}_{part}": (", ".join(map(str, c["value"])) if isinstance(c["value"], list) else c["value"]) if part == "value" else c[part]
            for i, c in enumerate(f.get("fields", [])[: SegmentForm.CONDITIONS])
            for part in ("key", "op", "value")
        }


@console_view
def segment_list_page(request):
    actor = request.actor
    form = SegmentForm(request.POST or None, actor=actor)
    if request.method == "POST" and form.is_valid():
        segment = saved_or_form_error(
            form, lambda: segments.segment_save(actor=actor, name=form.cleaned_data["name"], filters=form.filters()), form.condition_fields()
        )
        if segment:
            messages.success(request, _("Segment “%(name)s” saved.") % {"name": segment.name})
            return redirect("console:segment", segment_id=segment.id)
    rows = [(s, segments.segment_count(actor, segments.SegmentFilters.from_json(s.filters))) for s in segments.segment_list(actor)]
    return render(request, "console/segments.html", {"form": form, "rows": rows, "nav": "segments"}, status=400 if form.errors else 200)


@console_view
def segment_page(request, segment_id: int):
    actor = request.actor
    segment = segments.segment_get(actor, segment_id)
    form = SegmentForm(request.POST or None, actor=actor, initial=SegmentForm.initial_from(segment))
    if request.method == "POST" and form.is_valid():
        saved = saved_or_form_error(
            form,
            lambda: segments.segment_save(actor=actor, name=form.cleaned_data["name"], filters=form.filters(), segment=segment),
            form.condition_fields(),
        )
        if saved:
            messages.success(request, _("Segment “%(name)s” saved.") % {"name": saved.name})
            return redirect("console:segment", segment_id=segment.id)
    filters = segments.SegmentFilters.from_json(segment.filters)
    customers = segments.segment_customers(actor, filters)
    preview = list(customers.order_by("-id")[:50])
    values = selectors.value_rows(actor, [c.id for c in preview])
    return render(
        request,
        "console/segment.html",
        {
            "segment": segment,
            "form": form,
            "count": segments.segment_count(actor, filters),
            "preview": [(c, values.get(c.id)) for c in preview],
            "nav": "segments",
        },
        status=400 if form.errors else 200,
    )


@console_view
def segment_xlsx(request, segment_id: int):
    actor = request.actor
    segment = segments.segment_get(actor, segment_id)
    customers = segments.segment_customers(actor, segments.SegmentFilters.from_json(segment.filters))
    return attachment(export.segment_workbook(actor.corp, customers, name=segment.name), XLSX, f"{segment.name}.xlsx")


@console_view
@require_POST
def segment_delete(request, segment_id: int):
    actor = request.actor
    segment = segments.segment_get(actor, segment_id)
    segments.segment_delete(actor=actor, segment=segment)
    messages.success(request, _("Segment “%(name)s” deleted.") % {"name": segment.name})
    return redirect("console:segments")


class OrderImportForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("Order file (CSV or Excel)"),
        help_text=gettext_lazy(
            "Headers such as 订单号, 支付时间, 实付金额, 外部联系人ID or 手机号, 门店, 导购, 退款金额; one row per order or per order line."
        ),
    )
    source = forms.CharField(
        label=gettext_lazy("Source system"),
        max_length=32,
        initial="import",
        help_text=gettext_lazy("Part of each order's identity: the same file again changes nothing."),
        widget=forms.TextInput(attrs={"list": "order-sources"}),
    )


CONSOLE_IMPORT_MAX_BYTES = 20 * 1024 * 1024


@console_view
def order_import_page(request):
    """Upload an order history: its heading checked at once, its rows by the worker (the page of
    the import shows the progress, then the report: imported only if every row is good). The CLI,
    `siyu orders import`, takes files of any size."""

    actor = request.actor
    sources = order_sources(actor)
    form = OrderImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        if upload.size > CONSOLE_IMPORT_MAX_BYTES:
            form.add_error("file", _("Files over 20 MB go through the command line: siyu orders import FILE --corp %(corp)s") % {"corp": actor.corp.corp_id})
        else:
            with tempfile.TemporaryDirectory() as folder:
                path = Path(folder) / Path(upload.name).name
                with path.open("wb") as out:
                    for chunk in upload.chunks():
                        out.write(chunk)
                run = saved_or_form_error(form, lambda: orders_queue_import(actor=actor, path=path, source=form.cleaned_data["source"].strip()))
            if run is not None:
                return redirect("console:order_import_report", run.pk)
    stats = order_counts(actor)
    return render(
        request,
        "console/order_import.html",
        {"form": form, "stats": stats, "sources": sources, "history": order_imports(actor)[:20], "nav": "order_import"},
        status=400 if form.errors else 200,
    )
