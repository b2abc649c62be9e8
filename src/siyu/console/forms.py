from django import forms
from django.utils.translation import gettext_lazy as _

from siyu.corps.selectors import staff_list
from siyu.customers.selectors import CustomerFilters
from siyu.tags.models import NAME_MAX
from siyu.tags.selectors import live_tags


class IdChoiceField(forms.TypedMultipleChoiceField):
    """Ids from checkboxes or a select whose "all" option submits an empty value."""

    def __init__(self, **kwargs):
        super().__init__(coerce=int, **kwargs)

    def to_python(self, value):
        return [v for v in super().to_python(value) if v != ""]


class CustomerFilterForm(forms.Form):
    q = forms.CharField(label=_("Search"), required=False, max_length=64)
    staff = IdChoiceField(label=_("Staff"), required=False)
    state = forms.CharField(label=_("Channel state"), required=False, max_length=30)
    added_from = forms.DateField(label=_("Added from"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    added_to = forms.DateField(label=_("Added to"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    tags = IdChoiceField(label=_("Tags"), required=False, widget=forms.CheckboxSelectMultiple)
    tag_mode = forms.ChoiceField(label=_("Match"), choices=[("all", _("All of these tags")), ("any", _("Any of these tags"))], initial="all", required=False)

    def __init__(self, *args, actor, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["staff"].choices = [(s.id, s.name) for s in staff_list(actor)]
        self.fields["tags"].choices = [(t.id, t.name) for t in live_tags(actor).order_by("group__order", "order", "id")]

    def to_filters(self) -> CustomerFilters:
        data = self.cleaned_data
        tags = data.get("tags") or []
        return CustomerFilters(
            q=data.get("q") or "", staff_ids=data.get("staff") or [], state=data.get("state") or "",
            added_from=data.get("added_from"), added_to=data.get("added_to"),
            tags_all=tags if data.get("tag_mode") != "any" else [], tags_any=tags if data.get("tag_mode") == "any" else [],
        )


class TagGroupForm(forms.Form):
    name = forms.CharField(label=_("Group name"), max_length=NAME_MAX)
    tags = forms.CharField(label=_("Tags (comma separated)"), required=False, max_length=2000)

    def tag_names(self) -> list[str]:
        raw = self.cleaned_data.get("tags", "").replace("，", ",")
        return [n.strip() for n in raw.split(",") if n.strip()]


class TagForm(forms.Form):
    name = forms.CharField(label=_("Tag name"), max_length=NAME_MAX)


class CorpCredentialsForm(forms.Form):
    secret = forms.CharField(label=_("Customer-contact secret"), required=False, max_length=200, widget=forms.PasswordInput)
    token = forms.CharField(label=_("Callback token"), required=False, max_length=100)
    aes_key = forms.CharField(label=_("Callback EncodingAESKey"), required=False, min_length=43, max_length=43)


class CorpRegisterForm(forms.Form):
    name = forms.CharField(label=_("Corp name"), max_length=100)
    corp_id = forms.CharField(label=_("WeCom corp ID"), max_length=64)
    secret = forms.CharField(label=_("Customer-contact secret"), max_length=200, widget=forms.PasswordInput)
    token = forms.CharField(label=_("Callback token"), max_length=100)
    aes_key = forms.CharField(label=_("Callback EncodingAESKey"), min_length=43, max_length=43)
    api_base = forms.URLField(label=_("API base URL"), required=False, assume_scheme="https", help_text=_("Leave empty for WeCom; a sandbox URL for testing."))
    timezone = forms.CharField(label=_("Timezone"), initial="Asia/Shanghai", max_length=64)
