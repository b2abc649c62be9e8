"""Operator pages. Thin like the API: parse, call a selector or service, render."""

from django.contrib import messages
from django.db import connection, transaction
from django.http import HttpResponseRedirect, JsonResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from siyu.acquisition.selectors import channel_names
from siyu.analytics import export, segments
from siyu.analytics.selectors import customer_value, value_rows
from siyu.corps import services as corp_services
from siyu.corps.selectors import corp_settings_for, memberships_of, staff_resolve
from siyu.corps.services import corp_credentials_save, corp_register_check
from siyu.customers import selectors as customer_selectors
from siyu.customers import services as customer_services
from siyu.customers.fields import customer_fields_set, refusal_shown, typed_again, values_from_form
from siyu.customers.models import ADD_WAY_LABELS
from siyu.engagement.selectors import customer_engagement
from siyu.kit.errors import Conflict, InvalidInput
from siyu.kit.http import XLSX, attachment
from siyu.kit.schema import whole_in_range
from siyu.messaging.selectors import customer_budget
from siyu.tags import selectors as tag_selectors
from siyu.tags import services as tag_services
from siyu.wecom import selectors as inbox_selectors
from siyu.wecom import selectors as wecom_selectors
from siyu.wecom import sync as wecom_sync
from siyu.wecom.models import CallbackEvent, event_label
from siyu.wecom.services import callback_retry as retry
from siyu.wecom.sync import COUNT_LABELS, phase_labels, run_is_busy

from .access import SESSION_CORP_KEY, console_view, form_error_text, saved_or_form_error
from .forms import BulkTagForm, CorpCredentialsForm, CorpRegisterForm, CustomerFilterForm, TagForm, TagGroupForm, TagGroupRenameForm

PAGE_SIZE = 50


@require_GET
def healthz(request):
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok", "database": connection.vendor})


@console_view
def dashboard(request):
    actor = request.actor
    daily = customer_selectors.daily_new_customers(actor, days=14)
    peak = max((n for _, n in daily), default=0) or 1
    return render(
        request,
        "console/dashboard.html",
        {
            "counts": customer_selectors.dashboard_counts(actor),
            "daily": [(day, n, round(100 * n / peak)) for day, n in daily],
            "nav": "dashboard",
        },
    )


def _customer_value(actor, customer):
    value, cls, clv = customer_value(actor, customer.id)
    return {"value": value, "rfm": cls, "clv": clv} if value.order_count or value.paid_fen else None


@require_POST
@console_view
def switch_corp(request):
    corp_id = whole_in_range(request.POST.get("corp") or "")
    if corp_id is not None and memberships_of(request.user).filter(corp_id=corp_id).exists():
        request.session[SESSION_CORP_KEY] = corp_id
    return redirect("console:dashboard")


@console_view
def customer_list(request):
    return _customer_list_page(request, None)


def _customer_list_page(request, bulk_form, status=200):
    """The list a team works from: filters, an order, a page of rows with their value, and the
    bulk-tagging bar (`bulk_form`: a refused one, shown with its errors in place)."""
    actor = request.actor
    form = CustomerFilterForm(request.GET or None, actor=actor)
    rows, next_cursor, total = [], None, 0
    if not form.is_bound:
        form = CustomerFilterForm({"tag_mode": "all"}, actor=actor)
    if form.is_valid():
        customers = segments.customers_matching(actor, form.to_filters())
        total = customers.count()
        rows, next_cursor = segments.customers_sorted_page(actor, customers, sort=form.cleaned_data["sort"], cursor=request.GET.get("cursor"), limit=PAGE_SIZE)
    row_info = customer_selectors.customer_rows(actor, rows)
    names = channel_names(actor, (info.first_state for info in row_info.values()))
    values = value_rows(actor, [c.id for c in rows])
    for info in row_info.values():
        info.channel_name = names.get(info.first_state, info.first_state)
    query = _query_with(request, cursor=None)
    context = {
        "form": form,
        "rows": [(c, row_info[c.id], values.get(c.id)) for c in rows],
        "total": total,
        "next_query": _query_with(request, cursor=next_cursor) if next_cursor else None,
        "first_query": query if request.GET.get("cursor") else None,
        "query": query,
        "bulk_form": bulk_form or BulkTagForm(actor=actor, initial={"query": query}),
        "nav": "customers",
        "tag_groups": tag_selectors.tag_library(actor),
    }
    template = "console/_customer_results.html" if request.htmx else "console/customers.html"
    return render(request, template, context, status=status)


@require_POST
@console_view
def customer_bulk_tags(request):
    """Tag or untag the ticked customers, or all the list's filters take, then back to the list."""
    actor = request.actor
    form = BulkTagForm(request.POST, actor=actor)
    query = QueryDict(request.POST.get("query", ""))
    filter_form = CustomerFilterForm(query or {"tag_mode": "all"}, actor=actor)
    request.GET = query  # the list renders again as it was, should the action be refused
    if not form.is_valid() or not filter_form.is_valid():
        if not filter_form.is_valid():
            form.add_error("scope", _("The list's filters are not valid any more; filter again."))
        return _customer_list_page(request, form, status=400)
    data = form.cleaned_data
    if data["scope"] == "all":
        customers = segments.customers_matching(actor, filter_form.to_filters())
    else:
        customers = customer_selectors.visible_customers(actor).filter(id__in=data["customers"])
    add = tag_selectors.resolve_tags(actor, data["add"], "add")
    remove = tag_selectors.resolve_tags(actor, data["remove"], "remove")
    result = saved_or_form_error(
        form, lambda: customer_services.customers_tags_change(actor=actor, customers=customers, add=add, remove=remove), {"customers": "customers"}
    )
    if result is None:
        return _customer_list_page(request, form, status=400)
    messages.success(
        request,
        _("Tags changed on %(changed)d of %(total)d customers: %(added)d added, %(removed)d removed. WeCom is being updated.")
        % {"changed": result["customers_changed"], "total": result["customers"], "added": result["added"], "removed": result["removed"]},
    )
    return HttpResponseRedirect(reverse("console:customers") + (f"?{data['query']}" if data["query"] else ""))


@console_view
def customer_list_xlsx(request):
    """What the list shows, in its order, as a workbook (a manager's)."""
    actor = request.actor
    form = CustomerFilterForm(request.GET or {"tag_mode": "all"}, actor=actor)
    if not form.is_valid():
        raise InvalidInput(form_error_text(form), code="bad_filter")
    customers = segments.customers_export(actor, form.to_filters(), sort=form.cleaned_data["sort"])
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    return attachment(export.segment_workbook(actor.corp, customers, name=_("Customers")), XLSX, f"customers-{stamp}.xlsx")


def _query_with(request, **changes) -> str:
    query = request.GET.copy()
    for key, value in changes.items():
        query.pop(key, None)
        if value is not None:
            query[key] = value
    return query.urlencode()


@console_view
def customer_profile(request, customer_id: int):
    actor = request.actor
    return _profile_page(request, customer_selectors.customer_get(actor, customer_id))


def _profile_page(request, customer, *, field_error=None, fields=None):
    actor = request.actor
    follows = customer_selectors.customer_follows(actor, customer)
    timeline = list(customer_selectors.customer_timeline(actor, customer))
    names = channel_names(actor, [f.state for f in follows] + [e.data.get("state", "") for e in timeline])
    for f in follows:
        f.add_way_label = ADD_WAY_LABELS.get(f.add_way, f.add_way)
        f.channel_name = names.get(f.state, f.state)
    for e in timeline:
        e.channel_name = names.get(e.data.get("state", ""), e.data.get("state", ""))
    current = {ft.tag_id for f in follows if f.is_active for ft in f.live_follow_tags}
    return render(
        request,
        "console/customer.html",
        {
            "customer": customer,
            "phones": customer.phones.order_by("phone"),
            "follows": follows,
            "tags": customer_selectors.customer_tag_summary(follows),
            "current_tag_ids": current,
            "fields": fields if fields is not None else customer_selectors.customer_fields(actor, customer),
            "stage": customer_selectors.customer_stage(customer),
            "field_error": field_error,
            "timeline": timeline,
            "tag_groups": tag_selectors.tag_library(actor),
            "engagement": customer_engagement(actor, customer.id),
            "staff_choices": [f.staff for f in follows if f.is_active],
            "value": _customer_value(actor, customer),
            "budget": customer_budget(actor, customer),
            "nav": "customers",
        },
        status=400 if field_error else 200,
    )


@require_POST
@console_view
def customer_fields(request, customer_id: int):
    """The profile's field editor: what was typed becomes the customer's values, all or none."""
    actor = request.actor
    customer = customer_selectors.customer_get(actor, customer_id)
    shown = customer_selectors.customer_fields(actor, customer)
    try:
        with transaction.atomic():
            changed = customer_fields_set(actor=actor, customer=customer, values=values_from_form(shown, request.POST))
    except InvalidInput as exc:
        typed_again(shown, request.POST)
        return _profile_page(request, customer, field_error=refusal_shown(exc), fields=shown)
    messages.success(request, _("Fields saved: %(n)d changed.") % {"n": len(changed)})
    return HttpResponseRedirect(reverse("console:customer", args=[customer.id]))


@require_POST
@console_view
def customer_tags(request, customer_id: int):
    """The profile's tag editor: the checked set becomes the customer's tags on the chosen follow(s)."""
    actor = request.actor
    customer = customer_selectors.customer_get(actor, customer_id)
    checked = {whole_in_range(v) for v in request.POST.getlist("tags")}
    staff_id = whole_in_range(request.POST["staff"]) if request.POST.get("staff") else 0
    if None in checked or staff_id is None:
        raise InvalidInput(_("Tag and staff ids must be numbers."), field="tags" if None in checked else "staff")
    staff = staff_resolve(actor, staff_id, "staff") if staff_id else None
    result = customer_services.customer_tags_set(actor=actor, customer=customer, tag_ids=checked, staff=staff)
    messages.success(request, _("Tags saved: %(added)d added, %(removed)d removed.") % {"added": len(result["added"]), "removed": len(result["removed"])})
    return HttpResponseRedirect(reverse("console:customer", args=[customer.id]))


@console_view
def tag_library(request):
    return _tags_page(request, TagGroupForm())


def _tags_page(request, group_form, tag=None, rename=None):
    """The tag library. `tag` is the (group id, form) of a refused new tag, shown in its group;
    `rename` the (kind, id, form) of a refused rename, shown open on its tag or group."""
    actor = request.actor
    groups = _with_counts(actor, tag_selectors.tag_library(actor))
    for group in groups:
        group.tag_form = tag[1] if tag and tag[0] == group.id else TagForm(auto_id=f"g{group.id}_%s")
        group.rename_form = _rename_form(rename, "group", group, TagGroupRenameForm)
        for t in group.live_tags:
            t.rename_form = _rename_form(rename, "tag", t, TagForm)
    failed = group_form.errors or (tag and tag[1].errors) or (rename and rename[2].errors)
    return render(request, "console/tags.html", {"groups": groups, "group_form": group_form, "nav": "tags"}, status=400 if failed else 200)


def _rename_form(rename, kind, obj, form_class):
    if rename and rename[0] == kind and rename[1] == obj.id:
        return rename[2]
    return form_class(initial={"name": obj.name}, auto_id=f"{kind}{obj.id}_rename_%s")


def _with_counts(actor, groups):
    counts = customer_selectors.tag_customer_counts(actor)
    groups = list(groups)
    for group in groups:
        for tag in group.live_tags:
            tag.customer_count = counts.get(tag.id, 0)
    return groups


@require_POST
@console_view
def tag_group_create(request):
    actor = request.actor
    tag_selectors.tag_library_for_editing(actor)  # a guide is refused before the form is read
    form = TagGroupForm(request.POST)
    group = form.is_valid() and saved_or_form_error(
        form, lambda: tag_services.tag_group_create(actor=actor, name=form.cleaned_data["name"], tag_names=form.tag_names())
    )
    if not group:
        return _tags_page(request, form)
    messages.success(request, _("Tag group “%(name)s” created.") % {"name": group.name})
    return redirect("console:tags")


@require_POST
@console_view
def tag_create(request, group_id: int):
    actor = request.actor
    group = tag_selectors.tag_group_for_editing(actor, group_id)
    form = TagForm(request.POST, auto_id=f"g{group.id}_%s")
    tag = form.is_valid() and saved_or_form_error(
        form, lambda: tag_services.tag_create(actor=actor, group=group, name=form.cleaned_data["name"], order=len(group.tags.all()))
    )
    if not tag:
        return _tags_page(request, TagGroupForm(), tag=(group.id, form))
    messages.success(request, _("Tag “%(name)s” added.") % {"name": tag.name})
    return redirect("console:tags")


@require_POST
@console_view
def tag_group_rename(request, group_id: int):
    actor = request.actor
    group = tag_selectors.tag_group_for_editing(actor, group_id)
    form = TagGroupRenameForm(request.POST, auto_id=f"group{group.id}_rename_%s")
    if form.is_valid() and saved_or_form_error(form, lambda: tag_services.tag_group_update(actor=actor, group=group, name=form.cleaned_data["name"])):
        messages.success(request, _("Tag group renamed to “%(name)s”.") % {"name": form.cleaned_data["name"]})
        return redirect("console:tags")
    return _tags_page(request, TagGroupForm(), rename=("group", group.id, form))


@require_POST
@console_view
def tag_rename(request, tag_id: int):
    actor = request.actor
    tag = tag_selectors.tag_for_editing(actor, tag_id)
    form = TagForm(request.POST, auto_id=f"tag{tag.id}_rename_%s")
    if form.is_valid() and saved_or_form_error(form, lambda: tag_services.tag_update(actor=actor, tag=tag, name=form.cleaned_data["name"])):
        messages.success(request, _("Tag renamed to “%(name)s”.") % {"name": form.cleaned_data["name"]})
        return redirect("console:tags")
    return _tags_page(request, TagGroupForm(), rename=("tag", tag.id, form))


@require_POST
@console_view
def tag_group_delete(request, group_id: int):
    actor = request.actor
    group = tag_selectors.tag_group_for_editing(actor, group_id)
    if request.POST.get("confirm") != "yes":
        return _confirm_delete(request, kind="group", obj=group, tags=list(tag_selectors.live_tags(actor).filter(group=group)))
    tag_services.tag_group_delete(actor=actor, group=group)
    messages.success(request, _("Tag group deleted."))
    return redirect("console:tags")


@require_POST
@console_view
def tag_delete(request, tag_id: int):
    actor = request.actor
    tag = tag_selectors.tag_for_editing(actor, tag_id)
    if request.POST.get("confirm") != "yes":
        last = not tag_selectors.live_tags(actor).filter(group_id=tag.group_id).exclude(pk=tag.pk).exists()
        return _confirm_delete(request, kind="tag", obj=tag, tags=[tag], last=last)
    tag_services.tag_delete(actor=actor, tag=tag)
    messages.success(request, _("Tag deleted."))
    return redirect("console:tags")


def _confirm_delete(request, *, kind, obj, tags, last=False):
    """Deleting a tag reaches WeCom and takes it off every customer: the operator sees how many first."""
    customers = customer_selectors.customers_with_any_tag(request.actor, [t.id for t in tags])
    context = {"kind": kind, "obj": obj, "tags": tags, "last": last, "customers": customers, "nav": "tags"}
    return render(request, "console/confirm_delete.html", context)


@console_view
def corp_settings(request):
    actor = request.actor
    corp = corp_settings_for(actor)
    form = CorpCredentialsForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        corp_credentials_save(actor=actor, **form.cleaned_data)
        messages.success(request, _("Credentials saved."))
        return redirect("console:corp_settings")
    return render(request, "console/corp_settings.html", {"corp": corp, "form": form, "nav": "corp"}, status=400 if form.errors else 200)


@console_view
def corp_register(request):
    corp_register_check(request.user)
    form = CorpRegisterForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        corp = corp_services.corp_register(user=request.user, **{**data, "api_base": data["api_base"] or None})
        request.session[SESSION_CORP_KEY] = corp.id
        messages.success(request, _("Corp “%(name)s” registered. Paste the callback URL into WeCom.") % {"name": corp.name})
        return redirect("console:corp_settings")
    return render(request, "console/corp_register.html", {"form": form, "nav": "corp"}, status=400 if form.errors else 200)


@console_view
def callback_inbox(request):
    actor = request.actor
    status = request.GET.get("status", "")
    if status not in CallbackEvent.Status.values:
        status = ""
    counts = inbox_selectors.inbox_counts(actor)
    events = list(inbox_selectors.inbox(actor, status))
    for e in events:
        e.label, e.status_label = event_label(e.event, e.change_type), CallbackEvent.Status(e.status).label
    return render(
        request,
        "console/inbox.html",
        {
            "events": events,
            "status": status,
            "nav": "inbox",
            "statuses": [(s.value, s.label, counts.get(s.value, 0)) for s in CallbackEvent.Status],
        },
    )


@console_view
def sync_page(request):
    actor = request.actor
    runs = list(wecom_selectors.sync_runs(actor))
    for run in runs:
        run.count_items = [(COUNT_LABELS.get(k, k), n) for k, n in run.counts.items() if n]
        run.phase_label = phase_labels().get(run.phase, run.phase)
    context = {"runs": runs, "busy": bool(runs) and run_is_busy(runs[0]), "nav": "sync", "corp": actor.corp}
    template = "console/_sync_runs.html" if request.htmx else "console/sync.html"
    return render(request, template, context)


@require_POST
@console_view
def sync_start(request):
    actor = request.actor
    try:
        wecom_sync.sync_start(actor=actor)
        messages.success(request, _("Sync queued. Progress shows below."))
    except (Conflict, InvalidInput) as exc:  # busy, or no secret yet: said on the page; a refusal is a 403
        messages.error(request, exc.message)
    return redirect("console:sync")


@require_POST
@console_view
def callback_retry(request, event_id: int):
    actor = request.actor
    retry(event=inbox_selectors.inbox_event(actor, event_id))
    messages.success(request, _("Queued for another try."))
    return redirect(reverse("console:inbox") + "?status=failed")
