"""Custom customer fields in the console: HQ defines them (客户字段), anyone who may see a customer
fills them in on the profile. The services decide who may do what."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from siyu.customers import fields as field_services
from siyu.customers import selectors as customer_selectors
from siyu.customers import stages as stage_services
from siyu.customers.models import CustomField

from .access import console_view, saved_or_form_error
from .fields import WholeField


class CustomFieldForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Field name"), max_length=40)
    key = forms.CharField(
        label=gettext_lazy("Key"),
        max_length=40,
        help_text=gettext_lazy("What the API, imports and journeys call it: lower-case letters, digits and _, e.g. baby_birth_date. Fixed once made."),
    )
    kind = forms.ChoiceField(label=gettext_lazy("Kind"), choices=CustomField.Kind.choices)
    choices = forms.CharField(
        label=gettext_lazy("Choices"), required=False, widget=forms.Textarea(attrs={"rows": 3}), help_text=gettext_lazy("For a choice field: one a line.")
    )
    position = WholeField(label=gettext_lazy("Position in the list"), min_value=0, max_value=999, initial=0, required=False)

    def __init__(self, *args, field: CustomField | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        if field is not None:  # key and kind are fixed
            for name in ("key", "kind"):
                self.fields[name].disabled = True
                self.fields[name].required = False


class FieldImportForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("File (CSV or Excel)"),
        help_text=gettext_lazy("A column external_userid or 手机号, then a column per field headed by its name or key; empty cells change nothing."),
    )


class StageForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Stage name"), max_length=40)
    field_key = forms.ChoiceField(label=gettext_lazy("Date field"))
    from_days = forms.IntegerField(
        label=gettext_lazy("From day"), min_value=-36500, max_value=36500, help_text=gettext_lazy("Days since the date; negative before it (a due date).")
    )
    to_days = forms.IntegerField(label=gettext_lazy("Until day (not included)"), min_value=-36500, max_value=36500)
    position = WholeField(label=gettext_lazy("Position in the list"), min_value=0, max_value=999, initial=0, required=False)

    def __init__(self, *args, date_fields=(), **kwargs):
        super().__init__(*args, prefix="stage", **kwargs)
        self.fields["field_key"].choices = list(date_fields)


def _save(actor, form, field=None):
    d = form.cleaned_data
    return saved_or_form_error(
        form,
        lambda: field_services.custom_field_save(
            actor=actor,
            field=field,
            name=d["name"],
            key=d.get("key") or "",
            kind=field.kind if field else d["kind"],
            choices=(d["choices"] or "").splitlines(),
            position=d["position"] or 0,
        ),
    )


@console_view
def custom_field_list(request):
    actor = request.actor
    rows = list(customer_selectors.custom_fields(actor, archived=True, to_edit=True))
    importing = request.method == "POST" and "file" in request.FILES
    staging = request.method == "POST" and "stage-name" in request.POST
    form = CustomFieldForm(None if importing or staging else request.POST or None)
    upload = FieldImportForm(request.POST, request.FILES) if importing else FieldImportForm()
    date_fields = [(f.key, f.name) for f in rows if f.kind == CustomField.Kind.DATE and f.archived_at is None]
    stage_form = StageForm(request.POST if staging else None, date_fields=date_fields)
    if staging and stage_form.is_valid():
        d = stage_form.cleaned_data
        stage = saved_or_form_error(
            stage_form,
            lambda: stage_services.stage_save(
                actor=actor, name=d["name"], field_key=d["field_key"], from_days=d["from_days"], to_days=d["to_days"], position=d["position"] or 0
            ),
        )
        if stage:
            messages.success(request, _("Stage “%(name)s” added: customers are placed in it within the hour.") % {"name": stage.name})
            return redirect("console:custom_fields")
    if importing and upload.is_valid():
        file = upload.cleaned_data["file"]
        done = saved_or_form_error(upload, lambda: field_services.customer_fields_import(actor=actor, file_name=file.name, content=file.read()))
        if done:
            messages.success(
                request,
                _("Imported %(rows)d rows: %(values)d values changed for %(customers)d customers.")
                % {"rows": done.rows, "values": done.values_changed, "customers": done.customers_changed},
            )
            return redirect("console:custom_fields")
    if request.method == "POST" and not importing and not staging and form.is_valid():
        saved = _save(actor, form)
        if saved:
            messages.success(request, _("Field “%(name)s” added: profiles and the sidebar ask for it now.") % {"name": saved.name})
            return redirect("console:custom_fields")
    context = {
        "rows": rows,
        "form": form,
        "upload": upload,
        "stages": list(customer_selectors.lifecycle_stages(actor)),
        "stage_form": stage_form,
        "nav": "custom_fields",
    }
    return render(request, "console/custom_fields.html", context, status=400 if form.errors or upload.errors or stage_form.errors else 200)


@require_POST
@console_view
def stage_delete(request, stage_id: int):
    actor = request.actor
    stage = customer_selectors.lifecycle_stage_get(actor, stage_id, to_edit=True)
    stage_services.stage_delete(actor=actor, stage=stage)
    messages.success(request, _("Stage “%(name)s” deleted.") % {"name": stage.name})
    return redirect("console:custom_fields")


@console_view
def custom_field_edit(request, field_id: int):
    actor = request.actor
    field = customer_selectors.custom_field_get(actor, field_id, to_edit=True)
    initial = {"name": field.name, "key": field.key, "kind": field.kind, "choices": "\n".join(field.choices), "position": field.position}
    form = CustomFieldForm(request.POST or None, initial=initial, field=field)
    if request.method == "POST" and form.is_valid():
        saved = _save(actor, form, field)
        if saved:
            messages.success(request, _("Field “%(name)s” saved.") % {"name": saved.name})
            return redirect("console:custom_fields")
    return render(request, "console/custom_field_edit.html", {"form": form, "field": field, "nav": "custom_fields"}, status=400 if form.errors else 200)


@require_POST
@console_view
def custom_field_archive(request, field_id: int):
    actor = request.actor
    field = customer_selectors.custom_field_get(actor, field_id, to_edit=True)
    field_services.custom_field_archive(actor=actor, field=field)
    messages.success(request, _("Field “%(name)s” archived: its values are kept.") % {"name": field.name})
    return redirect("console:custom_fields")
