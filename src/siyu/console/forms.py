import secrets

from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from siyu.acquisition.models import Channel, LiveCode
from siyu.acquisition.selectors import channels, exact_live_codes
from siyu.analytics import rfm
from siyu.analytics.segments import SegmentFilters
from siyu.corps.selectors import department_list, staff_list
from siyu.customers.models import Customer
from siyu.groups.selectors import group_choices
from siyu.kit.schema import whole_in_range
from siyu.tags.models import NAME_MAX
from siyu.tags.selectors import live_tags

from .fields import DayField, WholeField


class IdChoiceField(forms.TypedMultipleChoiceField):
    """Ids from checkboxes or a select whose "all" option submits an empty value."""

    def __init__(self, **kwargs):
        super().__init__(coerce=int, **kwargs)

    def to_python(self, value):
        return [v for v in super().to_python(value) if v != ""]


class AnyOfField(forms.MultipleChoiceField):
    """Choices from a select whose "any" option submits an empty value."""

    def to_python(self, value):
        return [v for v in super().to_python(value) if v != ""]


def _row_id(value) -> int:
    number = whole_in_range(value)
    if number is None or number < 1:
        raise ValueError(value)
    return number


class RowIdsField(IdChoiceField):
    """Ids of rows the view resolves within the actor's scope itself (ticked customers): any
    positive whole numbers, no list of choices."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.coerce = _row_id

    def valid_value(self, value):
        return True


class CustomerFilterForm(forms.Form):
    """The customer list's filters and order: the customers domain's own (search, staff, added
    dates, tags) and the value ones segments have (channel, RFM class, purchases), with groups and gender."""

    q = forms.CharField(label=_("Search"), required=False, max_length=64)
    staff = IdChoiceField(label=_("Staff"), required=False)
    channel = IdChoiceField(label=_("Channel"), required=False)
    added_from = DayField(label=_("Added from"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    added_to = DayField(label=_("Added to"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    tags = IdChoiceField(label=_("Tags"), required=False, widget=forms.CheckboxSelectMultiple)
    tag_mode = forms.ChoiceField(label=_("Match"), choices=[("all", _("All of these tags")), ("any", _("Any of these tags"))], initial="all", required=False)
    rfm = AnyOfField(
        label=_("RFM class"),
        required=False,
        choices=lambda: [(c.letter, f"{c.letter} {c.name}") for c in rfm.CLASSES],  # at render time, in the reader's language
    )
    buyers = forms.ChoiceField(label=_("Purchases"), required=False, choices=[("", _("Anyone")), ("yes", _("Has bought")), ("no", _("Never bought"))])
    group = IdChoiceField(label=_("Customer group"), required=False)
    gender = IdChoiceField(label=_("Gender"), required=False, choices=Customer.Gender.choices)
    sort = forms.ChoiceField(
        label=_("Sort by"),
        required=False,
        choices=[
            ("", _("Newest customers first")),
            ("-added", _("Added: latest first")),
            ("added", _("Added: earliest first")),
            ("-last_order", _("Last order: latest first")),
            ("-spent", _("Spend: highest first")),
            ("-clv", _("CLV: highest first")),
        ],
    )

    def __init__(self, *args, actor, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["staff"].choices = [(s.id, s.name) for s in staff_list(actor)]
        self.fields["channel"].choices = [(c.id, c.name) for c in channels(actor)]
        self.fields["tags"].choices = [(t.id, t.name) for t in live_tags(actor).order_by("group__order", "order", "id")]
        self.fields["group"].choices = [(g.id, g.name or _("(unnamed group)")) for g in group_choices(actor)]

    def to_filters(self) -> SegmentFilters:
        data = self.cleaned_data
        tags = data.get("tags") or []
        return SegmentFilters(
            q=data.get("q") or "",
            staff_ids=data.get("staff") or [],
            channel_ids=data.get("channel") or [],
            added_from=data.get("added_from"),
            added_to=data.get("added_to"),
            tags_all=tags if data.get("tag_mode") != "any" else [],
            tags_any=tags if data.get("tag_mode") == "any" else [],
            rfm=data.get("rfm") or [],
            buyers={"yes": True, "no": False}.get(data.get("buyers") or ""),
            group_ids=data.get("group") or [],
            gender=data.get("gender") or [],
        )


class BulkTagForm(forms.Form):
    """The customer list's bulk tagging: the customers ticked on the page, or every one the
    filters (carried in `query`) take; tags to add and to remove."""

    scope = forms.ChoiceField(label=_("Customers"), choices=[("selected", _("Those ticked")), ("all", _("All that match the filters"))], initial="selected")
    customers = RowIdsField(label=_("Customers"), required=False)
    add = IdChoiceField(label=_("Add tags"), required=False)
    remove = IdChoiceField(label=_("Remove tags"), required=False)
    query = forms.CharField(required=False, max_length=4000, widget=forms.HiddenInput)

    def __init__(self, *args, actor, **kwargs):
        super().__init__(*args, **kwargs)
        tags = [(t.id, f"{t.group.name} / {t.name}") for t in live_tags(actor).select_related("group").order_by("group__order", "order", "id")]
        self.fields["add"].choices = self.fields["remove"].choices = tags

    def clean(self):
        data = super().clean()
        if data.get("scope") == "selected" and not data.get("customers"):
            self.add_error("customers", _("Tick at least one customer, or choose all that match the filters."))
        if not data.get("add") and not data.get("remove"):
            self.add_error("add", _("Choose at least one tag to add or remove."))
        return data


class TagGroupForm(forms.Form):
    name = forms.CharField(label=_("Group name"), max_length=NAME_MAX)
    tags = forms.CharField(
        label=_("Tags (comma separated)"),
        required=False,
        max_length=2000,
        widget=forms.TextInput(attrs={"placeholder": _("e.g. Pregnant, 0-6 months, 6-12 months")}),
    )

    def tag_names(self) -> list[str]:
        raw = self.cleaned_data.get("tags", "").replace("，", ",")
        return [n.strip() for n in raw.split(",") if n.strip()]


class TagGroupRenameForm(forms.Form):
    name = forms.CharField(label=_("Group name"), max_length=NAME_MAX)


class TagForm(forms.Form):
    name = forms.CharField(label=_("Tag name"), max_length=NAME_MAX, widget=forms.TextInput(attrs={"placeholder": _("New tag"), "aria-label": _("Tag name")}))


class CorpCredentialsForm(forms.Form):
    secret = forms.CharField(label=_("Customer-contact secret"), required=False, max_length=200, widget=forms.PasswordInput)
    token = forms.CharField(label=_("Callback token"), required=False, max_length=100)
    aes_key = forms.CharField(label=_("Callback EncodingAESKey"), required=False, min_length=43, max_length=43)
    oa_appid = forms.CharField(
        label=_("Official Account AppID"),
        required=False,
        max_length=32,
        help_text=_("The brand's WeChat Official Account: how customer pages know who opens them."),
    )
    oa_secret = forms.CharField(label=_("Official Account AppSecret"), required=False, max_length=200, widget=forms.PasswordInput)


class CorpRegisterForm(forms.Form):
    name = forms.CharField(label=_("Corp name"), max_length=100)
    corp_id = forms.CharField(label=_("WeCom corp ID"), max_length=64)
    secret = forms.CharField(label=_("Customer-contact secret"), max_length=200, widget=forms.PasswordInput)
    token = forms.CharField(label=_("Callback token"), max_length=100)
    aes_key = forms.CharField(label=_("Callback EncodingAESKey"), min_length=43, max_length=43)
    api_base = forms.URLField(label=_("API base URL"), required=False, assume_scheme="https", help_text=_("Leave empty for WeCom; a sandbox URL for testing."))
    timezone = forms.CharField(label=_("Timezone"), initial="Asia/Shanghai", max_length=64)


# -- acquisition -----------------------------------------------------------------------------------
WEEKDAYS = [("1", _("Mon")), ("2", _("Tue")), ("3", _("Wed")), ("4", _("Thu")), ("5", _("Fri")), ("6", _("Sat")), ("7", _("Sun"))]


class ChannelForm(forms.Form):
    name = forms.CharField(label=_("Channel name"), max_length=64)
    group = forms.ChoiceField(label=_("Channel group"), choices=Channel.Group.choices, initial=Channel.Group.STORE)


class ChannelCostForm(forms.Form):
    day = DayField(label=_("Day"), widget=forms.DateInput(attrs={"type": "date", "aria-label": _("Day")}, format="%Y-%m-%d"))
    amount = forms.DecimalField(
        label=_("Cost (yuan)"),
        min_value=0,
        max_digits=14,
        decimal_places=2,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "placeholder": _("yuan"), "aria-label": _("Cost (yuan)"), "size": 8}),
    )

    def amount_fen(self) -> int:
        return int(self.cleaned_data["amount"] * 100)


class LiveCodeForm(forms.Form):
    """The live code editor. The weekly schedule is the same slots on each chosen weekday (a
    morning and an optional afternoon slot); finer schedules are the API's."""

    name = forms.CharField(label=_("Name"), max_length=64)
    channel = forms.TypedChoiceField(label=_("Channel"), coerce=int)
    mode = forms.ChoiceField(label=_("Mode"), choices=LiveCode.Mode.choices, initial=LiveCode.Mode.WECOM_LIST)
    routing = forms.ChoiceField(label=_("Routing"), choices=LiveCode.Routing.choices, initial=LiveCode.Routing.ROTATE)
    total_cap = WholeField(label=_("Total cap"), required=False, min_value=0, help_text=_("Empty: no total cap."))
    expires_at = forms.DateTimeField(
        label=_("Expires at"), required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
    )
    skip_verify = forms.BooleanField(label=_("Add without the staff confirming"), required=False, initial=True)
    tags = IdChoiceField(label=_("Tags on add"), required=False, widget=forms.CheckboxSelectMultiple)
    welcome_text = forms.CharField(
        label=_("Welcome message"),
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Placeholders: {customer_name}, {staff_name}. Empty: the staff's or the corp's default welcome."),
    )
    weekdays = forms.MultipleChoiceField(label=_("Online on"), required=False, choices=WEEKDAYS, widget=forms.CheckboxSelectMultiple)
    slot1_start = forms.TimeField(label=_("From"), required=False, widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"))
    slot1_end = forms.TimeField(label=_("To"), required=False, widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"))
    slot2_start = forms.TimeField(label=_("And from"), required=False, widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"))
    slot2_end = forms.TimeField(label=_("To"), required=False, widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"))
    holidays = forms.CharField(label=_("Holidays (offline all day)"), required=False, max_length=2000, help_text=_("Dates like 2026-12-25, comma separated."))

    def __init__(self, *args, actor, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["channel"].choices = [(c.id, c.name) for c in channels(actor)]
        self.fields["tags"].choices = [(t.id, t.name) for t in live_tags(actor).order_by("group__order", "order", "id")]

    def clean(self):
        data = super().clean()
        for i in (1, 2):
            start, end = data.get(f"slot{i}_start"), data.get(f"slot{i}_end")
            if bool(start) != bool(end):
                self.add_error(f"slot{i}_end", _("Give both ends of the slot."))
            elif start and end and end <= start:
                self.add_error(f"slot{i}_end", _("The slot must end after it starts."))
        if data.get("weekdays") and not data.get("slot1_start"):
            self.add_error("slot1_start", _("Chosen weekdays need a time slot."))
        return data

    def schedule(self, kept: dict | None = None) -> dict:
        """The schedule the form describes; date ranges (an API-only part) of `kept` stay."""
        data = self.cleaned_data
        schedule: dict = {"dates": kept["dates"]} if kept and kept.get("dates") else {}
        if data.get("weekdays"):
            slots = [[data[f"slot{i}_start"].strftime("%H:%M"), data[f"slot{i}_end"].strftime("%H:%M")] for i in (1, 2) if data.get(f"slot{i}_start")]
            schedule["weekly"] = dict.fromkeys(data["weekdays"], slots)
        holidays = [d.strip() for d in (data.get("holidays") or "").replace("，", ",").split(",") if d.strip()]
        if holidays:
            schedule["holidays"] = holidays
        return schedule

    @staticmethod
    def is_flattened(code: LiveCode) -> bool:
        """Whether the editor cannot show this code's weekly schedule exactly (different slots per day)."""
        weekly = code.schedule.get("weekly") or {}
        slots = list(weekly.values())
        return any(s != slots[0] for s in slots) or any(len(s) > 2 for s in slots)

    @staticmethod
    def initial_for(code: LiveCode) -> dict:
        weekly = code.schedule.get("weekly") or {}
        slots = next(iter(weekly.values()), [])
        initial = {
            "name": code.name,
            "channel": code.channel_id,
            "mode": code.mode,
            "routing": code.routing,
            "total_cap": code.total_cap,
            "expires_at": code.expires_at,
            "skip_verify": code.skip_verify,
            "tags": [t.id for t in code.tags.all()],
            "welcome_text": getattr(getattr(code, "welcome", None), "text", ""),
            "weekdays": list(weekly),
            "holidays": ", ".join(code.schedule.get("holidays", [])),
        }
        for i, (start, end) in enumerate(slots[:2], start=1):
            initial[f"slot{i}_start"], initial[f"slot{i}_end"] = start, end
        return initial


class MemberForm(forms.Form):
    who = forms.ChoiceField(label=_("Staff or department"), required=False)
    weight = WholeField(label=_("Weight"), min_value=1, max_value=1000, initial=1)
    daily_cap = WholeField(label=_("Daily cap"), required=False, min_value=0)
    backup = forms.BooleanField(label=_("Backup"), required=False)

    def __init__(self, *args, who_choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["who"].choices = who_choices

    def member(self) -> dict | None:
        data = self.cleaned_data
        if not data.get("who"):
            return None
        kind, _sep, pk = data["who"].partition(":")
        return {
            "staff_id": int(pk) if kind == "s" else None,
            "department_id": int(pk) if kind == "d" else None,
            "weight": data.get("weight") or 1,
            "daily_cap": data.get("daily_cap"),
            "backup": bool(data.get("backup")),
        }


def member_choices(actor) -> list:
    return [
        ("", "—"),
        (_("Staff"), [(f"s:{s.id}", f"{s.name} ({s.userid})") for s in staff_list(actor)]),
        (_("Departments"), [(f"d:{d.id}", d.name) for d in department_list(actor)]),
    ]


MemberFormSet = forms.formset_factory(MemberForm, extra=3)


def member_initial(code: LiveCode) -> list[dict]:
    return [
        {"who": f"s:{m.staff_id}" if m.staff_id else f"d:{m.department_id}", "weight": m.weight, "daily_cap": m.daily_cap, "backup": m.backup}
        for m in code.members.all()
    ]


class StatsFilterForm(forms.Form):
    start = DayField(label=_("From"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    end = DayField(label=_("To"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    by = forms.ChoiceField(
        label=_("Group by"), choices=[("channel", _("Channel")), ("live_code", _("Live code")), ("staff", _("Staff"))], initial="channel", required=False
    )
    channel = forms.TypedChoiceField(label=_("Channel"), coerce=int, required=False, empty_value=None)

    def __init__(self, *args, actor, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["channel"].choices = [("", _("All channels")), *((c.id, c.name) for c in channels(actor))]


class TagRuleForm(forms.Form):
    """The rule editor: each filled part is one condition."""

    name = forms.CharField(label=_("Rule name"), max_length=64)
    match = forms.ChoiceField(label=_("Match"), choices=[("all", _("All conditions")), ("any", _("Any condition"))], initial="all")
    channels = IdChoiceField(label=_("Channels"), required=False, widget=forms.CheckboxSelectMultiple)
    staff = IdChoiceField(label=_("Staff"), required=False, widget=forms.SelectMultiple(attrs={"size": 6}))
    weekdays = forms.TypedMultipleChoiceField(label=_("Added on"), required=False, choices=WEEKDAYS, coerce=int, widget=forms.CheckboxSelectMultiple)
    hour_from = WholeField(label=_("Added from hour"), required=False, min_value=0, max_value=23)
    hour_to = WholeField(label=_("to hour"), required=False, min_value=1, max_value=24)
    added_from = DayField(label=_("Added from"), required=False, widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    added_to = DayField(label=_("Added to"), required=False, widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    groups = IdChoiceField(label=_("Joined one of these groups"), required=False, widget=forms.SelectMultiple(attrs={"size": 6}))
    add_tags = IdChoiceField(label=_("Add tags"), required=False, widget=forms.CheckboxSelectMultiple)
    remove_tags = IdChoiceField(label=_("Remove tags"), required=False, widget=forms.CheckboxSelectMultiple)

    def __init__(self, *args, actor, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["channels"].choices = [(c.id, c.name) for c in channels(actor)]
        self.fields["staff"].choices = [(s.id, s.name) for s in staff_list(actor)]
        self.fields["groups"].choices = [(g.id, g.name or g.chat_id) for g in group_choices(actor, limit=500)]
        tag_choices = [(t.id, t.name) for t in live_tags(actor).order_by("group__order", "order", "id")]
        self.fields["add_tags"].choices = self.fields["remove_tags"].choices = tag_choices

    EDITED_KINDS = ("channel", "staff", "added_weekday", "added_hour", "added_between", "group_joined")

    @classmethod
    def initial_for(cls, rule) -> dict:
        by_kind = {c["kind"]: c for c in rule.conditions}
        initial = {
            "name": rule.name,
            "match": rule.match,
            "channels": by_kind.get("channel", {}).get("in", []),
            "staff": by_kind.get("staff", {}).get("in", []),
            "weekdays": by_kind.get("added_weekday", {}).get("in", []),
            "groups": by_kind.get("group_joined", {}).get("in", []),
            "add_tags": [t.id for t in rule.add_tags.all()],
            "remove_tags": [t.id for t in rule.remove_tags.all()],
        }
        if "added_hour" in by_kind:
            initial.update(hour_from=by_kind["added_hour"]["from"], hour_to=by_kind["added_hour"]["to"])
        if "added_between" in by_kind:
            initial.update(added_from=by_kind["added_between"]["from"], added_to=by_kind["added_between"]["to"])
        return initial

    def conditions(self, kept=()) -> list[dict]:
        """The conditions this editor shows, plus those of `kept` it does not (live codes,
        departments, lead answers: set through the API), so an edit here never drops them."""
        d = self.cleaned_data
        out = [c for c in kept if c.get("kind") not in self.EDITED_KINDS]
        if d.get("channels"):
            out.append({"kind": "channel", "in": d["channels"]})
        if d.get("staff"):
            out.append({"kind": "staff", "in": d["staff"]})
        if d.get("weekdays"):
            out.append({"kind": "added_weekday", "in": d["weekdays"]})
        if d.get("hour_from") is not None or d.get("hour_to") is not None:
            out.append({"kind": "added_hour", "from": d.get("hour_from") or 0, "to": d.get("hour_to") or 24})
        if d.get("added_from") or d.get("added_to"):
            out.append(
                {
                    "kind": "added_between",
                    "from": (d.get("added_from") or d.get("added_to")).isoformat(),
                    "to": (d.get("added_to") or d.get("added_from")).isoformat(),
                }
            )
        if d.get("groups"):
            out.append({"kind": "group_joined", "in": d["groups"]})
        return out


class GroupCodeForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=64)
    groups = IdChoiceField(label=_("Groups, in fill order"), widget=forms.SelectMultiple(attrs={"size": 8}))
    member_limit = WholeField(label=_("Members per group"), min_value=1, max_value=500, initial=200)
    auto_create = forms.BooleanField(label=_("Let WeCom open a new group when all are full"), required=False)
    room_base_name = forms.CharField(label=_("New groups' base name"), required=False, max_length=40)
    room_base_id = WholeField(label=_("Next group number"), min_value=1, initial=1)
    low_pool_alert = WholeField(label=_("Warn when this few groups have room"), min_value=0, initial=1)
    welcome_text = forms.CharField(label=_("Group welcome"), required=False, max_length=4000, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, actor, **kwargs):
        super().__init__(*args, **kwargs)
        active = group_choices(actor, active_only=True)
        self.fields["groups"].choices = [(g.id, f"{g.name or g.chat_id} ({g.member_count})") for g in active]


class LeadFormForm(forms.Form):
    """The lead form editor's page fields; its questions and city routes are rows of their own
    (LeadQuestionFormSet, CityRouteFormSet)."""

    name = forms.CharField(label=_("Name"), max_length=64)
    title = forms.CharField(label=_("Page title"), required=False, max_length=100)
    intro = forms.CharField(label=_("Intro"), required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))
    live_code = forms.TypedChoiceField(label=_("Default live code"), coerce=int)

    def __init__(self, *args, actor, **kwargs):
        super().__init__(*args, **kwargs)
        exact = exact_live_codes(actor)
        self.fields["live_code"].choices = [(c.id, f"{c.name} (#{c.id})") for c in exact]

    @classmethod
    def initial_for(cls, lead_form) -> dict:
        return {"name": lead_form.name, "title": lead_form.title, "intro": lead_form.intro, "live_code": lead_form.live_code_id}


QUESTION_TYPES = [("text", pgettext_lazy("answer type", "Text")), ("select", _("Choice")), ("city", _("City")), ("date", _("Date")), ("number", _("Number"))]


class LeadQuestionForm(forms.Form):
    """One question a visitor answers besides their phone. A blank row is no question."""

    label = forms.CharField(label=_("Question"), required=False, max_length=40)
    type = forms.ChoiceField(label=_("Answer type"), choices=QUESTION_TYPES, initial="text")
    options = forms.CharField(
        label=_("Options"),
        required=False,
        max_length=1000,
        help_text=_("For a choice or a city: the options, separated by commas (a city without options is typed)."),
    )
    required = forms.BooleanField(label=_("Required"), required=False, initial=True)
    customer_field = forms.ChoiceField(label=_("Fills the customer field"), required=False)
    key = forms.CharField(required=False, max_length=32, widget=forms.HiddenInput)  # kept on edits: stored answers use it

    def __init__(self, *args, customer_fields=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["customer_field"].choices = [("", "—"), *customer_fields]

    @staticmethod
    def initial_for(question: dict) -> dict:
        return {
            "label": question.get("label", ""),
            "type": question.get("type", "text"),
            "options": ", ".join(question.get("options") or []),
            "required": question.get("required", True),
            "customer_field": question.get("customer_field", ""),
            "key": question["key"],
        }

    def question(self) -> dict | None:
        d = self.cleaned_data
        if not d.get("label") or d.get("DELETE"):
            return None
        options = [o.strip() for o in (d.get("options") or "").replace("，", ",").split(",") if o.strip()]
        return {
            "key": d.get("key") or "",
            "label": d["label"].strip(),
            "type": d["type"],
            "required": d["required"],
            **({"options": options} if options else {}),
            **({"customer_field": d["customer_field"]} if d.get("customer_field") else {}),
        }


class CityRouteForm(forms.Form):
    city = forms.CharField(label=_("City"), required=False, max_length=32)
    live_code = forms.TypedChoiceField(label=_("Live code"), coerce=int, required=False, empty_value=None)

    def __init__(self, *args, live_codes=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["live_code"].choices = [("", "—")] + list(live_codes)

    def clean(self):
        data = super().clean()
        if data.get("city") and not data.get("live_code") and not data.get("DELETE"):
            self.add_error("live_code", _("Choose the live code this city's leads go to."))
        return data


LeadQuestionFormSet = forms.formset_factory(LeadQuestionForm, extra=2, can_delete=True, max_num=11, validate_max=True)
CityRouteFormSet = forms.formset_factory(CityRouteForm, extra=2, can_delete=True, max_num=200, validate_max=True)


def lead_questions(formset) -> list[dict]:
    """The questions of a valid formset, phone first. A new question gets a key never used before:
    stored leads keep their answers under the keys of questions since dropped, and a reused key
    would show those answers under another question."""
    questions = [q for q in (form.question() for form in formset.forms) if q]
    for q in questions:
        if not q["key"]:
            q["key"] = f"q{secrets.token_hex(4)}"
    return [{"key": "phone", "type": "phone", "label": "手机号", "required": True}, *questions]


def city_routes(formset) -> dict:
    return {
        f.cleaned_data["city"].strip(): f.cleaned_data["live_code"] for f in formset.forms if f.cleaned_data.get("city") and not f.cleaned_data.get("DELETE")
    }


class PhoneImportForm(forms.Form):
    name = forms.CharField(label=_("Batch name"), max_length=64)
    file = forms.FileField(label=_("File (CSV or Excel)"), help_text=_("Columns: 手机号 (phone), optional 姓名 (name), 标签 (tags), 导购 (staff userid)."))
    staff = IdChoiceField(label=_("Staff to share rows without a staff member"), required=False, widget=forms.SelectMultiple(attrs={"size": 6}))
    daily_limit = WholeField(label=_("Adds per account per day"), min_value=1, max_value=500, initial=20)
    new_account_limit = WholeField(label=_("… for accounts opened in the last 30 days"), min_value=0, max_value=500, initial=5)
    work_start = forms.TimeField(label=_("Working hours from"), initial="09:00", widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"))
    work_end = forms.TimeField(label=_("to"), initial="18:00", widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"))
    skip_existing = forms.BooleanField(label=_("Skip numbers that are already customers"), required=False, initial=True)

    def __init__(self, *args, actor, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["staff"].choices = [(s.id, s.name) for s in staff_list(actor)]


ATTACHMENT_KINDS = [
    ("", "—"),
    ("image", _("Image")),
    ("link", _("Link")),
    ("miniprogram", _("Mini-program card")),
    ("video", _("Video")),
    ("file", _("File")),
    ("content", _("From the content library")),
]


class AttachmentForm(forms.Form):
    """One attachment of a message (messaging.content checks it against WeCom's limits)."""

    kind = forms.ChoiceField(label=_("Type"), choices=ATTACHMENT_KINDS, required=False)
    title = forms.CharField(label=_("Title"), required=False, max_length=200)
    url = forms.CharField(label=_("Link or image URL"), required=False, max_length=2048)
    desc = forms.CharField(label=_("Description"), required=False, max_length=600)
    appid = forms.CharField(label=_("Mini-program AppID"), required=False, max_length=64)
    page = forms.CharField(label=_("Mini-program page"), required=False, max_length=1024)
    file = forms.FileField(label=_("Upload"), required=False)
    content = forms.TypedChoiceField(label=_("Library item"), coerce=int, required=False, empty_value=None)
    media = WholeField(required=False, widget=forms.HiddenInput)  # the stored file, kept when no new upload

    def __init__(self, *args, library=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["content"].choices = [("", "—"), *library]

    # Which form field shows an error messaging.content reports for an attachment key.
    FIELD_FOR = {
        "title": "title",
        "url": "url",
        "pic_url": "url",
        "picurl": "url",
        "desc": "desc",
        "appid": "appid",
        "page": "page",
        "media": "file",
        "msgtype": "kind",
        "content": "content",
    }

    @staticmethod
    def initial_for(attachment: dict) -> dict:
        kind = attachment.get("msgtype", "")
        body = attachment.get(kind, {})
        if "content" in body:
            return {"kind": "content", "content": body["content"]}
        return {
            "kind": kind,
            "title": body.get("title", ""),
            "url": body.get("url") or body.get("pic_url", ""),
            "desc": body.get("desc", ""),
            "appid": body.get("appid", ""),
            "page": body.get("page", ""),
            "media": body.get("media"),
        }

    def attachment(self, media_id: int | None) -> dict | None:
        """The attachment as messaging stores it (None for an empty row)."""
        d = self.cleaned_data
        kind = d.get("kind")
        if not kind:
            return None
        media = media_id if media_id is not None else d.get("media")
        if kind == "content":
            return {"msgtype": "link", "link": {"content": d.get("content")}}
        if kind == "image":
            body = {"media": media} if media is not None else {"pic_url": d["url"]}
        elif kind == "link":
            body = {"title": d["title"], "url": d["url"], "desc": d["desc"]}
        elif kind == "miniprogram":
            body = {"title": d["title"], "appid": d["appid"], "page": d["page"], "media": media}
        else:
            body = {"media": media}
        return {"msgtype": kind, kind: {k: v for k, v in body.items() if v not in (None, "")}}


AttachmentFormSet = forms.formset_factory(AttachmentForm, extra=0, max_num=9, validate_max=True, absolute_max=9)
