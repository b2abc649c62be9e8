"""Console pages for the customer's side: the points policy and ledger (with managers'
corrections), check-in campaigns and their figures, coupon templates with what they led to."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from siyu.analytics.models import Segment
from siyu.corps.models import Staff
from siyu.customers.selectors import customer_get
from siyu.engagement import checkin, coupons, earning, games, lottery, mall, members, points_tasks, selectors
from siyu.engagement import points as ledger
from siyu.engagement.models import CheckinCampaign, CouponTemplate, GroupGame, Lottery, MallItem, MemberLevel, PointsPolicy, PointsTask
from siyu.groups.models import CustomerGroup
from siyu.kit.money import fen_from_yuan

from .access import console_view, form_error_text, saved_or_form_error
from .fields import DayField, WholeField


# -- points ---------------------------------------------------------------------------------------------
class PolicyForm(forms.Form):
    active = forms.BooleanField(label=gettext_lazy("Points are on"), required=False)
    per_yuan = WholeField(label=gettext_lazy("Points per yuan paid"), min_value=0, max_value=1000)
    refund_days = WholeField(
        label=gettext_lazy("Refund window (days)"), min_value=0, max_value=90, help_text=gettext_lazy("An order's points are pending until then.")
    )
    contact_added = WholeField(label=gettext_lazy("Adding an advisor"), min_value=0, max_value=100_000)
    group_joined = WholeField(label=gettext_lazy("Joining a group"), min_value=0, max_value=100_000)
    content_read = WholeField(label=gettext_lazy("Reading an item"), min_value=0, max_value=100_000)
    content_read_daily = WholeField(label=gettext_lazy("Readings that earn, a day"), min_value=0, max_value=100)
    expiry = forms.ChoiceField(label=gettext_lazy("Points expire"), choices=PointsPolicy.Expiry.choices)
    expiry_months = WholeField(label=gettext_lazy("Months (when they expire after months)"), min_value=1, max_value=120)


class AdjustForm(forms.Form):
    customer_id = WholeField(label=gettext_lazy("Customer ID"), min_value=1)
    points = WholeField(label=gettext_lazy("Points (negative to take away)"))
    note = forms.CharField(label=gettext_lazy("Reason"), max_length=200)


class LevelForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Level"), max_length=20)
    rank = WholeField(label=gettext_lazy("Rank (1 is the first level)"), min_value=1, max_value=20)
    min_spend_yuan = forms.DecimalField(label=gettext_lazy("Spend at least (yuan)"), required=False, min_value=0, max_digits=12, decimal_places=2)
    min_orders = WholeField(label=gettext_lazy("Orders at least"), required=False, min_value=0, max_value=1_000_000)
    min_points = WholeField(label=gettext_lazy("Points earned at least"), required=False, min_value=0, max_value=10**12)
    needs = forms.ChoiceField(label=gettext_lazy("Reached with"), choices=MemberLevel.Needs.choices)
    benefits = forms.CharField(label=gettext_lazy("Benefits (shown to the customer)"), required=False, max_length=200)

    def values(self) -> dict:
        d = dict(self.cleaned_data)
        spend = d.pop("min_spend_yuan")
        return {**d, "min_spend_fen": fen_from_yuan(spend) if spend is not None else None}

    @classmethod
    def initial_for(cls, level: MemberLevel) -> dict:
        spend = level.min_spend_fen
        return {
            **{f: getattr(level, f) for f in ("name", "rank", "min_orders", "min_points", "needs", "benefits")},
            "min_spend_yuan": spend / 100 if spend is not None else None,
        }


def _level_saved(request, form: LevelForm, level: MemberLevel | None):
    saved = saved_or_form_error(form, lambda: members.level_save(actor=request.actor, level=level, **form.values()), {"min_spend_fen": "min_spend_yuan"})
    if saved:
        messages.success(request, _("Level “%(name)s” saved; each customer's level follows in a moment.") % {"name": saved.name})
    return saved


class TaskForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Task"), max_length=32)
    kind = forms.ChoiceField(label=gettext_lazy("Done when the customer"), choices=PointsTask.Kind.choices)
    item_id = WholeField(label=gettext_lazy("Library item ID (reading and sharing; empty: any)"), required=False, min_value=1)
    points = WholeField(label=gettext_lazy("Points"), min_value=0, max_value=1_000_000, initial=10)
    coupon_template_id = forms.TypedChoiceField(label=gettext_lazy("Coupon"), coerce=int, required=False, empty_value=None)
    ends_at = forms.DateTimeField(label=gettext_lazy("Ends (empty: open)"), required=False)

    def __init__(self, *args, actor=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["coupon_template_id"].choices = [(None, "—"), *CouponTemplate.objects.for_corp(actor.corp).filter(active=True).values_list("pk", "name")]


@require_POST
@console_view
def task_toggle(request, points_task_id: int):
    task = selectors.points_task_get(request.actor, points_task_id)
    points_tasks.task_set_active(actor=request.actor, task=task, active=not task.active)
    return redirect("console:points")


@console_view
def points_page(request):
    actor = request.actor
    policy = selectors.points_policy(actor)
    fields = list(PolicyForm.base_fields)
    form = PolicyForm(request.POST if request.POST.get("form") == "policy" else None, initial={f: getattr(policy, f) for f in fields})
    adjust = AdjustForm(request.POST if request.POST.get("form") == "adjust" else None)
    level_form = LevelForm(request.POST if request.POST.get("form") == "level" else None, initial={"needs": "any"})
    if level_form.is_bound and level_form.is_valid() and _level_saved(request, level_form, None):
        return redirect("console:points")
    task_form = TaskForm(request.POST if request.POST.get("form") == "task" else None, actor=actor)
    if task_form.is_bound and task_form.is_valid():
        if saved_or_form_error(task_form, lambda: points_tasks.task_save(actor=actor, **task_form.cleaned_data)):
            messages.success(request, _("Task added: customers see it on their tasks page."))
            return redirect("console:points")
    if form.is_bound and form.is_valid():
        if saved_or_form_error(form, lambda: earning.policy_save(actor=actor, **form.cleaned_data)):
            messages.success(request, _("Points settings saved."))
            return redirect("console:points")
    if adjust.is_bound and adjust.is_valid():
        d = adjust.cleaned_data

        def correct():
            customer = customer_get(actor, d["customer_id"])
            return ledger.points_adjust(actor=actor, customer=customer, points=d["points"], note=d["note"])

        if saved_or_form_error(adjust, correct, {"customer": "customer_id"}):
            messages.success(request, _("Points corrected; the entry records who and why."))
            return redirect("console:points")
    counts = selectors.level_counts(actor)
    levels = [(level, counts.get(level.pk, 0)) for level in selectors.member_levels(actor)]
    context = {
        "form": form,
        "adjust": adjust,
        "level_form": level_form,
        "levels": levels,
        "task_form": task_form,
        "tasks_link": request.build_absolute_uri(reverse("h5_tasks", args=[actor.corp.corp_id])),
        "tasks": selectors.points_tasks(actor),
        "entries": selectors.points_entries(actor)[:50],
        "totals": selectors.points_totals(actor),
        "nav": "points",
    }
    failed = form.errors or adjust.errors or level_form.errors or task_form.errors
    return render(request, "console/points.html", context, status=400 if failed else 200)


@console_view
def level_page(request, level_id: int):
    level = selectors.member_level_get(request.actor, level_id)
    if request.method == "POST" and request.POST.get("delete"):
        members.level_delete(actor=request.actor, level=level)
        messages.success(request, _("Level “%(name)s” deleted.") % {"name": level.name})
        return redirect("console:points")
    form = LevelForm(request.POST or None, initial=LevelForm.initial_for(level))
    if form.is_bound and form.is_valid() and _level_saved(request, form, level):
        return redirect("console:points")
    context = {"form": form, "level": level, "nav": "points"}
    return render(request, "console/member_level.html", context, status=400 if form.errors else 200)


# -- check-in -------------------------------------------------------------------------------------------
class CampaignForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=32)
    starts_on = DayField(label=gettext_lazy("Starts"))
    ends_on = DayField(label=gettext_lazy("Ends"), required=False)
    daily_points = WholeField(label=gettext_lazy("Points a day"), min_value=0, max_value=1_000_000, initial=5)
    counting = forms.ChoiceField(label=gettext_lazy("Stages count"), choices=CheckinCampaign.Counting.choices)
    stages = forms.CharField(
        label=gettext_lazy("Reward stages"),
        required=False,
        max_length=500,
        help_text=gettext_lazy("One a line: days, points[, coupon ID]. E.g. 7, 50 or 21, 200, 3."),
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    day_items = forms.CharField(
        label=gettext_lazy("A day's content (library item IDs)"),
        required=False,
        max_length=3000,
        help_text=gettext_lazy("Separated by commas: the item of day 1, day 2, …"),
    )

    def clean_stages(self) -> list[dict]:
        out = []
        for n, line in enumerate(self.cleaned_data["stages"].replace("，", ",").splitlines(), 1):
            if not line.strip():
                continue
            parts = [p.strip() for p in line.split(",")]
            if len(parts) not in (2, 3) or not all(p.lstrip("-").isdigit() for p in parts):
                raise forms.ValidationError(_("Line %(n)s: days, points and optionally a coupon ID, as whole numbers.") % {"n": n})
            out.append({"days": int(parts[0]), "points": int(parts[1]), "coupon_template_id": int(parts[2]) if len(parts) == 3 else None})
        return out

    def clean_day_items(self) -> list[int]:
        parts = [p.strip() for p in self.cleaned_data["day_items"].replace("，", ",").split(",") if p.strip()]
        if not all(p.isdigit() for p in parts):
            raise forms.ValidationError(_("Item IDs are whole numbers."))
        return [int(p) for p in parts]


def _campaign_initial(c: CheckinCampaign) -> dict:
    lines = [f"{s['days']}, {s['points']}" + (f", {s['coupon_template_id']}" if s.get("coupon_template_id") else "") for s in c.stages]
    return {
        "name": c.name,
        "starts_on": c.starts_on,
        "ends_on": c.ends_on,
        "daily_points": c.daily_points,
        "counting": c.counting,
        "stages": "\n".join(lines),
        "day_items": ", ".join(str(i) for i in c.day_items),
    }


@console_view
def checkin_list(request):
    actor = request.actor
    form = CampaignForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        campaign = saved_or_form_error(form, lambda: checkin.campaign_save(actor=actor, **form.cleaned_data))
        if campaign:
            messages.success(request, _("Check-in campaign created."))
            return redirect("console:checkin", campaign.id)
    context = {"campaigns": selectors.checkin_campaigns(actor), "form": form, "nav": "checkins"}
    return render(request, "console/checkins.html", context, status=400 if form.errors else 200)


@console_view
def checkin_page(request, campaign_id: int):
    actor = request.actor
    campaign = selectors.checkin_campaign_get(actor, campaign_id)
    form = CampaignForm(request.POST or None, initial=_campaign_initial(campaign))
    if request.method == "POST" and form.is_valid():
        if saved_or_form_error(form, lambda: checkin.campaign_save(actor=actor, campaign=campaign, **form.cleaned_data)):
            messages.success(request, _("Saved."))
            return redirect("console:checkin", campaign.id)
    link = request.build_absolute_uri(reverse("h5_checkin", args=[actor.corp.corp_id, campaign.pk]))
    context = {"campaign": campaign, "form": form, "stats": selectors.checkin_stats(actor, campaign), "link": link, "nav": "checkins"}
    return render(request, "console/checkin.html", context, status=400 if form.errors else 200)


# -- coupons --------------------------------------------------------------------------------------------
class TemplateForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=32)
    kind = forms.ChoiceField(label=gettext_lazy("Kind"), choices=CouponTemplate.Kind.choices)
    threshold = forms.DecimalField(label=gettext_lazy("Threshold (¥)"), required=False, min_value=0, max_digits=9, decimal_places=2)
    amount = forms.DecimalField(label=gettext_lazy("Amount off (¥)"), required=False, min_value=0, max_digits=9, decimal_places=2)
    pay_percent = WholeField(label=gettext_lazy("Share paid (%), for a discount"), required=False, min_value=1, max_value=99)
    gift = forms.CharField(label=gettext_lazy("Gift"), required=False, max_length=64)
    valid_from = DayField(label=gettext_lazy("Valid from"), required=False)
    valid_until = DayField(label=gettext_lazy("Valid until"), required=False)
    valid_days = WholeField(label=gettext_lazy("Or valid days after claiming"), required=False, min_value=1, max_value=3650)
    stock = WholeField(label=gettext_lazy("Stock"), required=False, min_value=0, help_text=gettext_lazy("Empty: no limit."))
    per_person = WholeField(label=gettext_lazy("Per person"), min_value=1, max_value=100, initial=1)
    claimable = forms.BooleanField(label=gettext_lazy("Customers may claim it on a page"), required=False)
    claim_starts_at = forms.DateTimeField(label=gettext_lazy("Claiming starts"), required=False)
    claim_ends_at = forms.DateTimeField(label=gettext_lazy("Claiming ends"), required=False, help_text=gettext_lazy("The last hours of an offer end here."))
    show_left_below = WholeField(label=gettext_lazy("Show “only N left” below"), required=False, min_value=1)

    def values(self) -> dict:
        d = dict(self.cleaned_data)
        d["threshold_fen"] = fen_from_yuan(d.pop("threshold") or 0, field="threshold")
        d["amount_fen"] = fen_from_yuan(d.pop("amount") or 0, field="amount")
        d["pay_percent"] = d["pay_percent"] or 100
        return d


FIELDS = {"threshold_fen": "threshold", "amount_fen": "amount"}


@console_view
def coupon_list(request):
    actor = request.actor
    form = TemplateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        template = saved_or_form_error(form, lambda: coupons.template_save(actor=actor, **form.values()), FIELDS)
        if template:
            messages.success(request, _("Coupon created."))
            return redirect("console:coupon", template.id)
    rows = [{"template": t, "worth": coupons.describe(t), **coupons.coupon_stats(t)} for t in selectors.coupon_templates(actor)[:100]]
    return render(request, "console/coupons.html", {"rows": rows, "form": form, "nav": "coupons"}, status=400 if form.errors else 200)


class IssueForm(forms.Form):
    segment = forms.TypedChoiceField(label=gettext_lazy("Give one to every customer of"), coerce=int)

    def __init__(self, *args, actor, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["segment"].choices = [(s.id, s.name) for s in Segment.objects.for_corp(actor.corp).order_by("name")]


@console_view
def coupon_page(request, template_id: int):
    actor = request.actor
    template = selectors.coupon_template_get(actor, template_id)
    issue = IssueForm(request.POST or None, actor=actor)
    if request.method == "POST" and issue.is_valid():
        segment = Segment.objects.for_corp(actor.corp).filter(pk=issue.cleaned_data["segment"]).first()
        if saved_or_form_error(issue, lambda: coupons.coupons_issue_to_segment(actor=actor, template=template, segment=segment) or True):
            messages.success(request, _("The coupons are being issued; the figures below grow as they go."))
            return redirect("console:coupon", template.id)
    link = request.build_absolute_uri(reverse("h5_coupon_claim", args=[actor.corp.corp_id, template.pk])) if template.claimable else ""
    context = {
        "template": template,
        "worth": coupons.describe(template),
        "stats": coupons.coupon_stats(template),
        "recent": selectors.coupons_of(actor, template)[:50],
        "issue": issue,
        "link": link,
        "nav": "coupons",
    }
    return render(request, "console/coupon.html", context, status=400 if issue.errors else 200)


@require_POST
@console_view
def coupon_toggle(request, template_id: int):
    actor = request.actor
    template = selectors.coupon_template_get(actor, template_id)
    coupons.template_active_set(actor=actor, template=template, active=not template.active)
    return redirect("console:coupon", template.id)


# -- the points mall ------------------------------------------------------------------------------------
class MallItemForm(forms.Form):
    kind = forms.ChoiceField(label=gettext_lazy("Kind"), choices=MallItem.Kind.choices)
    name = forms.CharField(label=gettext_lazy("Name"), max_length=32)
    description = forms.CharField(label=gettext_lazy("Description"), required=False, max_length=200)
    points = WholeField(label=gettext_lazy("Points"), min_value=1, max_value=10_000_000)
    coupon_template_id = forms.TypedChoiceField(label=gettext_lazy("The coupon it gives"), coerce=int, required=False, empty_value=None)
    delivery = forms.ChoiceField(label=gettext_lazy("Delivery"), choices=MallItem.Delivery.choices)
    stock = WholeField(label=gettext_lazy("Stock"), required=False, min_value=0, help_text=gettext_lazy("Empty: no limit."))
    per_person = WholeField(label=gettext_lazy("Per person"), required=False, min_value=1, max_value=1000)

    def __init__(self, *args, actor, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["coupon_template_id"].choices = [("", "—"), *((t.id, t.name) for t in selectors.coupon_templates(actor))]


@console_view
def mall_page(request):
    actor = request.actor
    form = MallItemForm(request.POST or None, actor=actor)
    if request.method == "POST" and form.is_valid():
        if saved_or_form_error(form, lambda: mall.item_save(actor=actor, **form.cleaned_data)):
            messages.success(request, _("The item is in the mall."))
            return redirect("console:mall")
    context = {"items": selectors.mall_items(actor), "orders": selectors.mall_orders(actor)[:50], "form": form, "nav": "mall"}
    return render(request, "console/mall.html", context, status=400 if form.errors else 200)


class ShipForm(forms.Form):
    tracking_no = forms.CharField(label=gettext_lazy("Tracking number"), max_length=64)


@require_POST
@console_view
def mall_order_ship(request, mall_order_id: int):
    actor = request.actor
    order = selectors.mall_order_get(actor, mall_order_id)
    form = ShipForm(request.POST)
    if form.is_valid() and saved_or_form_error(form, lambda: mall.order_ship(actor=actor, order=order, tracking_no=form.cleaned_data["tracking_no"])):
        messages.success(request, _("Marked as shipped."))
    else:
        messages.error(request, form_error_text(form) or _("Give the tracking number."))
    return redirect("console:mall")


@require_POST
@console_view
def mall_order_cancel(request, mall_order_id: int):
    actor = request.actor
    mall.order_cancel(actor=actor, order=selectors.mall_order_get(actor, mall_order_id))
    messages.success(request, _("Cancelled: the points and the unit are back."))
    return redirect("console:mall")


# -- lotteries ------------------------------------------------------------------------------------------
class LotteryForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=32)
    kind = forms.ChoiceField(label=gettext_lazy("Kind"), choices=Lottery.Kind.choices)
    starts_at = forms.DateTimeField(label=gettext_lazy("Starts"))
    ends_at = forms.DateTimeField(label=gettext_lazy("Ends"))
    draws_per_day = WholeField(label=gettext_lazy("Draws a day, per person"), min_value=1, max_value=100, initial=1)
    draws_total = WholeField(label=gettext_lazy("Draws in all, per person"), required=False, min_value=1, max_value=10_000)
    points_cost = WholeField(label=gettext_lazy("Points a draw"), min_value=0, max_value=1_000_000, initial=0)
    prizes = forms.CharField(
        label=gettext_lazy("Prizes"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=gettext_lazy(
            "One a line: name, kind (coupon / points / goods), chance in %, stock, daily cap, then the coupon ID or the points. "
            "Leave a number empty for no limit. E.g. 5 off, coupon, 20, 500, , 3"
        ),
    )

    def clean_prizes(self) -> list[dict]:
        out = []
        for n, line in enumerate(self.cleaned_data["prizes"].replace("，", ",").splitlines(), 1):
            if not line.strip():
                continue
            parts = [p.strip() for p in line.split(",")] + [""] * 6
            name, kind, chance, stock, cap, extra = parts[:6]
            try:
                per_million = round(float(chance) * 10_000)
                numbers = [int(v) if v else None for v in (stock, cap, extra)]
            except ValueError:
                raise forms.ValidationError(
                    _("Line %(n)s: the chance is a number and the stock, cap and coupon or points are whole numbers.") % {"n": n}
                ) from None
            row = {"name": name, "kind": kind, "per_million": per_million, "stock": numbers[0], "daily_cap": numbers[1]}
            row["coupon_template_id" if kind == "coupon" else "points"] = numbers[2]
            out.append(row)
        return out


@console_view
def lottery_list(request):
    actor = request.actor
    form = LotteryForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        created = saved_or_form_error(form, lambda: lottery.lottery_save(actor=actor, **form.cleaned_data))
        if created:
            messages.success(request, _("Lottery created."))
            return redirect("console:lottery", created.id)
    return render(
        request, "console/lotteries.html", {"lotteries": selectors.lotteries(actor), "form": form, "nav": "lotteries"}, status=400 if form.errors else 200
    )


@console_view
def lottery_page(request, lottery_id: int):
    actor = request.actor
    game = selectors.lottery_get(actor, lottery_id)
    link = request.build_absolute_uri(reverse("h5_lottery", args=[actor.corp.corp_id, game.pk]))
    return render(request, "console/lottery.html", {"game": game, **selectors.lottery_stats(actor, game), "link": link, "nav": "lotteries"})


# -- group games ----------------------------------------------------------------------------------------
class GameForm(forms.Form):
    kind = forms.ChoiceField(label=gettext_lazy("Game"), choices=GroupGame.Kind.choices)
    name = forms.CharField(label=gettext_lazy("Name"), max_length=32)
    starts_at = forms.DateTimeField(label=gettext_lazy("Starts"))
    ends_at = forms.DateTimeField(label=gettext_lazy("Ends"))
    host_id = forms.TypedChoiceField(label=gettext_lazy("Host"), coerce=int, required=False, empty_value=None)
    group_id = forms.TypedChoiceField(label=gettext_lazy("Played in the group"), coerce=int, required=False, empty_value=None)
    dice = WholeField(label=gettext_lazy("Dice"), required=False, min_value=1, max_value=3, initial=1)
    target = WholeField(label=gettext_lazy("The number to roll"), required=False, min_value=1, max_value=18)
    rolls_each = WholeField(label=gettext_lazy("Rolls per player"), required=False, min_value=1, max_value=20, initial=3)
    prize_points = WholeField(label=gettext_lazy("Winner's points"), required=False, min_value=0, max_value=1_000_000)
    prize_coupon_id = forms.TypedChoiceField(label=gettext_lazy("Winner's coupon"), coerce=int, required=False, empty_value=None)
    envelopes = WholeField(label=gettext_lazy("Envelopes"), required=False, min_value=1, max_value=500)
    total_points = WholeField(label=gettext_lazy("Points in all the envelopes"), required=False, min_value=1, max_value=1_000_000)

    def __init__(self, *args, actor=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["host_id"].choices = [(None, "—"), *Staff.objects.for_corp(actor.corp).filter(status=Staff.Status.ACTIVE).values_list("pk", "name")[:2000]]
        self.fields["group_id"].choices = [(None, "—"), *CustomerGroup.objects.for_corp(actor.corp).values_list("pk", "name")[:500]]
        self.fields["prize_coupon_id"].choices = [(None, "—"), *CouponTemplate.objects.for_corp(actor.corp).filter(active=True).values_list("pk", "name")]

    def values(self) -> dict:
        d = {k: v for k, v in self.cleaned_data.items() if v is not None}
        return {**d, "prize_points": d.get("prize_points", 0)}


@console_view
def game_list(request):
    actor = request.actor
    form = GameForm(request.POST or None, actor=actor)
    if request.method == "POST" and form.is_valid():
        created = saved_or_form_error(form, lambda: games.game_create(actor=actor, **form.values()))
        if created:
            messages.success(request, _("Game created: share its page in the group."))
            return redirect("console:game", created.id)
    context = {"games": selectors.group_games(actor)[:100], "form": form, "nav": "games"}
    return render(request, "console/games.html", context, status=400 if form.errors else 200)


@console_view
def game_page(request, game_id: int):
    actor = request.actor
    game = selectors.group_game_get(actor, game_id)
    if request.method == "POST":
        games.game_stop(actor=actor, game=game)
        messages.success(request, _("Game stopped."))
        return redirect("console:game", game.id)
    link = request.build_absolute_uri(reverse("h5_game", args=[actor.corp.corp_id, game.pk]))
    context = {"game": game, "stats": games.games_stats([game.pk])[game.pk], "plays": selectors.game_plays(actor, game)[:50], "link": link, "nav": "games"}
    return render(request, "console/game.html", context)
