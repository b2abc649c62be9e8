"""Console pages for auto-tag rules: list with preview counts, create, backfill, delete."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from siyu.autotag import selectors, services

from .access import console_view, saved_or_form_error
from .forms import TagRuleForm
from .labels import condition_names, describe_conditions


@console_view
def rule_list(request):
    return _rule_page(request, None)


@console_view
def rule_edit(request, rule_id: int):
    return _rule_page(request, selectors.rule_get(request.actor, rule_id))


def _rule_page(request, rule):
    """The rule list with the editor: a new rule, or `rule` being edited."""
    actor = request.actor
    initial = TagRuleForm.initial_for(rule) if rule else None
    form = TagRuleForm(request.POST or None, actor=actor, initial=initial)
    if request.method == "POST":
        d = form.cleaned_data if form.is_valid() else None
        saved = d and saved_or_form_error(
            form,
            lambda: services.rule_save(
                actor=actor,
                rule=rule,
                name=d["name"],
                match=d["match"],
                conditions=form.conditions(kept=rule.conditions if rule else ()),
                add_tag_ids=d["add_tags"],
                remove_tag_ids=d["remove_tags"],
                enabled=rule.enabled if rule else True,
            ),
            {"add_tag_ids": "add_tags", "remove_tag_ids": "remove_tags"},
        )
        if saved:
            preview = services.rule_preview(saved)
            messages.success(
                request,
                _("Rule “%(name)s” saved. It runs on new adds and group joins; %(n)d existing customers match (backfill to tag them).")
                % {"name": saved.name, "n": preview["matching"]},
            )
            return redirect("console:tag_rules")
    rules = list(selectors.rules(actor))
    names = condition_names(actor, rules)
    for each in rules:
        each.preview = services.rule_preview(each)
        each.described = describe_conditions(each.conditions, names)
    context = {"form": form, "rules": rules, "editing": rule, "nav": "tag_rules"}
    return render(request, "console/tag_rules.html", context, status=400 if form.errors else 200)


@require_POST
@console_view
def rule_backfill(request, rule_id: int):
    rule = services.rule_backfill_request(actor=request.actor, rule=selectors.rule_get(request.actor, rule_id))
    messages.success(request, _("Backfill of “%(name)s” queued; the worker tags the matching customers.") % {"name": rule.name})
    return redirect("console:tag_rules")


@require_POST
@console_view
def rule_delete(request, rule_id: int):
    services.rule_delete(actor=request.actor, rule=selectors.rule_get(request.actor, rule_id))
    messages.success(request, _("Rule deleted."))
    return redirect("console:tag_rules")
