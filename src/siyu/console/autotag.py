"""Console pages for auto-tag rules: list with preview counts, create, backfill, delete."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from siyu.autotag import selectors, services

from .access import console_view, saved_or_form_error
from .forms import TagRuleForm


@console_view
def rule_list(request):
    actor = request.actor
    form = TagRuleForm(request.POST or None, actor=actor)
    if request.method == "POST":
        d = form.cleaned_data if form.is_valid() else None
        rule = d and saved_or_form_error(
            form,
            lambda: services.rule_save(
                actor=actor,
                name=d["name"],
                match=d["match"],
                conditions=form.conditions(),
                add_tag_ids=d["add_tags"],
                remove_tag_ids=d["remove_tags"],
            ),
        )
        if rule:
            preview = services.rule_preview(rule)
            messages.success(
                request,
                _("Rule “%(name)s” saved. It runs on new adds and group joins; %(n)d existing customers match (backfill to tag them).")
                % {"name": rule.name, "n": preview["matching"]},
            )
            return redirect("console:tag_rules")
    rules = list(selectors.rules(actor))
    for rule in rules:
        rule.preview = services.rule_preview(rule)
    return render(request, "console/tag_rules.html", {"form": form, "rules": rules, "nav": "tag_rules"}, status=400 if form.errors else 200)


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
