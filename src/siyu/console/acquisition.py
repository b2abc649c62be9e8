"""Console pages for acquisition: channels and costs, the live code editor, QR downloads and
posters, and channel statistics with charts and an Excel export."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.forms.forms import NON_FIELD_ERRORS
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from siyu.acquisition import export, qr, selectors, services
from siyu.acquisition.models import LiveCode
from siyu.corps.selectors import staff_list
from siyu.kit.clock import now
from siyu.kit.errors import InvalidInput
from siyu.kit.http import XLSX, attachment
from siyu.messaging.selectors import welcome_for_live_code

from .access import console_view, form_error_text, saved_or_form_error
from .attachments import AttachmentRows, attachment_formset
from .forms import ChannelCostForm, ChannelForm, LiveCodeForm, MemberFormSet, StatsFilterForm, member_choices, member_initial


def _today(actor):
    return now().astimezone(actor.corp.tzinfo).date()


@console_view
def channel_list(request):
    actor = request.actor
    form = ChannelForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        channel = saved_or_form_error(form, lambda: services.channel_create(actor=actor, name=form.cleaned_data["name"], group=form.cleaned_data["group"]))
        if channel:
            messages.success(request, _("Channel “%(name)s” created.") % {"name": channel.name})
            return redirect("console:channels")
    return _channel_page(request, form)


def _channel_page(request, form, cost=None, edit=None):
    """The channel list. `cost` and `edit` are the (channel id, form) of a day's cost or an edit
    that was refused, shown on the channel's row."""
    actor = request.actor
    today = _today(actor)
    stats = selectors.acquisition_stats(actor, start=today - timedelta(days=6), end=today, by="channel")
    week = {r.key: r for r in stats.rows}
    rows = []
    for c in selectors.channels_for_managing(actor):
        c.edit_form = edit[1] if edit and edit[0] == c.id else ChannelForm(initial={"name": c.name, "group": c.group}, auto_id=f"ch{c.id}_%s")
        rows.append((c, week.get(c.id), cost[1] if cost and cost[0] == c.id else ChannelCostForm(initial={"day": today}, auto_id=f"cost{c.id}_%s")))
    failed = form.errors or (cost and cost[1].errors) or (edit and edit[1].errors)
    return render(request, "console/channels.html", {"form": form, "rows": rows, "nav": "channels"}, status=400 if failed else 200)


@require_POST
@console_view
def channel_edit(request, channel_id: int):
    actor = request.actor
    channel = selectors.channel_for_managing(actor, channel_id)
    form = ChannelForm(request.POST, auto_id=f"ch{channel.id}_%s")
    if form.is_valid() and saved_or_form_error(
        form, lambda: services.channel_update(actor=actor, channel=channel, name=form.cleaned_data["name"], group=form.cleaned_data["group"])
    ):
        messages.success(request, _("Channel “%(name)s” saved.") % {"name": form.cleaned_data["name"]})
        return redirect("console:channels")
    return _channel_page(request, ChannelForm(), edit=(channel.id, form))


@require_POST
@console_view
def channel_cost(request, channel_id: int):
    actor = request.actor
    channel = selectors.channel_for_managing(actor, channel_id)
    form = ChannelCostForm(request.POST, auto_id=f"cost{channel.id}_%s")
    if form.is_valid() and saved_or_form_error(
        form,
        lambda: services.channel_cost_set(actor=actor, channel=channel, day=form.cleaned_data["day"], amount_fen=form.amount_fen()),
        {"amount_fen": "amount"},
    ):
        messages.success(request, _("Cost saved for %(channel)s on %(day)s.") % {"channel": channel.name, "day": form.cleaned_data["day"]})
        return redirect("console:channels")
    return _channel_page(request, ChannelForm(), cost=(channel.id, form))


@console_view
def live_code_list(request):
    actor = request.actor
    codes = list(selectors.live_codes(actor))
    today = _today(actor)
    adds = {r.key: r.adds for r in selectors.acquisition_stats(actor, start=today, end=today, by="live_code").rows}
    for code in codes:
        code.adds_today = adds.get(code.id, 0)
    return render(request, "console/live_codes.html", {"codes": codes, "nav": "live_codes"})


@console_view
def live_code_edit(request, live_code_id: int | None = None):
    actor = request.actor
    code = selectors.live_code_for_editing(actor, live_code_id)
    if not selectors.channels(actor).exists():
        messages.error(request, _("Create a channel first: every live code belongs to one."))
        return redirect("console:channels")
    choices = member_choices(actor)
    welcome = welcome_for_live_code(actor, code) if code else None
    attachments = attachment_formset(request, welcome.attachments if welcome else [])
    if request.method == "POST":
        form = LiveCodeForm(request.POST, actor=actor)
        members = MemberFormSet(request.POST, prefix="m", form_kwargs={"who_choices": choices})
        rows = AttachmentRows(actor, attachments, welcome.attachments if welcome else [])
        if form.is_valid() and members.is_valid() and rows.is_valid():
            data = form.cleaned_data
            member_forms = [f for f in members.forms if f.member()]
            # The service's own checks (an empty pool, a backup-only pool, a locked mode) show on the form.
            saved = saved_or_form_error(
                form,
                lambda: services.live_code_save(
                    actor=actor,
                    live_code=code,
                    channel=selectors.channel_get(actor, data["channel"]),
                    name=data["name"],
                    members=_keep_member_schedules(code, [f.member() for f in member_forms]),
                    mode=data["mode"],
                    routing_mode=data["routing"],
                    total_cap=data["total_cap"],
                    schedule=form.schedule(kept=code.schedule if code else None),
                    expires_at=data["expires_at"],
                    skip_verify=data["skip_verify"],
                    tag_ids=data["tags"],
                    welcome={"text": data["welcome_text"], "attachments": rows.attachments()},
                ),
            )
            if not saved and form.refusal and not rows.show(form.refusal, form):
                _show_on_member(member_forms, members, form.refusal, form)
            if saved:
                messages.success(request, _("Live code “%(name)s” saved.") % {"name": saved.name})
                return redirect("console:live_code", saved.id)
    else:
        form = LiveCodeForm(initial=LiveCodeForm.initial_for(code) if code else {"skip_verify": True}, actor=actor)
        members = MemberFormSet(initial=member_initial(code) if code else [], prefix="m", form_kwargs={"who_choices": choices})
    return render(
        request,
        "console/live_code_edit.html",
        {
            "form": form,
            "members": members,
            "attachments": attachments,
            "code": code,
            "nav": "live_codes",
            "flattened": bool(code) and LiveCodeForm.is_flattened(code),
        },
        status=400 if request.method == "POST" else 200,
    )


def _keep_member_schedules(code: LiveCode | None, members: list[dict]) -> list[dict]:
    # Per-member schedules are set through the API; editing the pool here keeps them.
    if code is None:
        return members
    kept = {(m.staff_id, m.department_id): m.schedule for m in code.members.all()}
    return [{**m, "schedule": kept.get((m["staff_id"], m["department_id"]), {})} for m in members]


@console_view
def live_code_detail(request, live_code_id: int):
    actor = request.actor
    code = selectors.live_code_get(actor, live_code_id)
    seats = selectors.live_code_today(code, now())
    # Operators know their staff by name; WeCom's userids are shown only for someone Siyu has not synced.
    userids = {s["userid"] for s in seats} | set(code.pushed_users or [])
    names = dict(staff_list(actor).filter(userid__in=userids).values_list("userid", "name"))
    for seat in seats:
        seat["name"] = names.get(seat["userid"]) or seat["userid"]
    pushed = [names.get(u) or u for u in code.pushed_users or []]
    today = _today(actor)
    week = selectors.acquisition_stats(actor, start=today - timedelta(days=6), end=today, by="live_code", live_code_id=code.id)
    return render(
        request,
        "console/live_code.html",
        {
            "code": code,
            "seats": seats,
            "pushed_names": pushed,
            "week": week,
            "nav": "live_codes",
            "landing_url": services.landing_url(code) if code.mode == LiveCode.Mode.EXACT else "",
            "qr_ready": code.mode == LiveCode.Mode.EXACT or bool(code.qr_content),
        },
    )


@require_POST
@console_view
def live_code_status(request, live_code_id: int):
    actor = request.actor
    code = selectors.live_code_get(actor, live_code_id)
    status = request.POST.get("status", "")
    if status not in LiveCode.Status.values:
        raise InvalidInput(_("Unknown status."), field="status")
    services.live_code_set_status(actor=actor, live_code=code, status=status)
    messages.success(request, _("Live code “%(name)s”: %(status)s.") % {"name": code.name, "status": LiveCode.Status(status).label})
    return redirect("console:live_codes" if status == LiveCode.Status.DELETED else reverse("console:live_code", args=[code.id]))


@console_view
def live_code_qr(request, live_code_id: int, fmt: str):
    code = selectors.live_code_get(request.actor, live_code_id)
    content = services.qr_content_for(code)
    if fmt == "svg":
        return attachment(qr.qr_svg(content), "image/svg+xml", f"{code.state}.svg")
    try:
        scale = max(2, min(int(request.GET.get("scale", 10)), 40))
    except ValueError:
        raise InvalidInput(_("scale must be a whole number."), field="scale") from None
    response = attachment(qr.qr_png(content, scale=scale), "image/png", f"{code.state}.png")
    if request.GET.get("inline"):
        response["Content-Disposition"] = "inline"
    return response


@console_view
def live_code_poster(request, live_code_id: int):
    code = selectors.live_code_get(request.actor, live_code_id)
    body = services.poster_for(code, title=request.GET.get("title", ""), subtitle=request.GET.get("subtitle", ""), footer=request.GET.get("footer", ""))
    return attachment(body, "image/png", f"{code.state}-poster.png")


MEMBER_FIELDS = {"weight": "weight", "daily_cap": "daily_cap", "staff_id": "who", "department_id": "who"}


def _show_on_member(member_forms, formset, exc, page_form) -> None:
    """A refusal about `members.N…` goes on that row of the editor (N counts the filled rows)."""
    parts = (exc.field or "").split(".")
    if parts[0] != "members":
        return
    if len(parts) > 1 and parts[1].isdigit() and int(parts[1]) < len(member_forms):
        member_forms[int(parts[1])].add_error(MEMBER_FIELDS.get(parts[-1], "who"), exc.message)
    else:
        formset._non_form_errors = formset.error_class([exc.message])
    page_form.errors.pop(NON_FIELD_ERRORS, None)


def _stats_query(request):
    """The filter form and its statistics; None when the form or the selector refused the period."""
    actor = request.actor
    today = _today(actor)
    # Links carry only what they change (?by=live_code&channel=3): the rest has defaults.
    defaults = {"start": (today - timedelta(days=13)).isoformat(), "end": today.isoformat(), "by": "channel"}
    form = StatsFilterForm({**defaults, **{k: v for k, v in request.GET.items() if v}}, actor=actor)
    if not form.is_valid():
        return form, None
    data = form.cleaned_data
    stats = saved_or_form_error(
        form,
        lambda: selectors.acquisition_stats(actor, start=data["start"], end=data["end"], by=data.get("by") or "channel", channel_id=data.get("channel")),
        {"channel_id": "channel"},
    )
    return form, stats


@console_view
def acquisition_stats(request):
    form, stats = _stats_query(request)
    if stats is None:
        return render(request, "console/acquisition_stats.html", {"form": form, "nav": "stats"}, status=400)
    chart = {
        "days": [d.name for d in stats.days],
        "adds": [d.adds for d in stats.days],
        "net": [d.net for d in stats.days],
        "lost_7d": [d.lost_7d for d in stats.days],
        "keys": [r.name for r in stats.rows[:20]],
        "key_adds": [r.adds for r in stats.rows[:20]],
        "key_net": [r.net for r in stats.rows[:20]],
        "labels": {"adds": _("Adds"), "net": _("Net adds"), "lost_7d": _("Lost within 7 days")},
    }
    return render(
        request,
        "console/acquisition_stats.html",
        {"form": form, "stats": stats, "chart": chart, "export_query": request.GET.urlencode(), "nav": "stats"},
    )


@console_view
def acquisition_stats_xlsx(request):
    form, stats = _stats_query(request)
    if stats is None:
        raise InvalidInput(form_error_text(form), code="bad_range", field=next(iter(form.errors), None))
    return attachment(export.stats_workbook(stats), XLSX, f"acquisition-{stats.by}-{stats.start}-{stats.end}.xlsx")
