"""The team: console accounts and roles, invitations, API tokens, and the staff and departments
WeCom holds. Thin: the corps domain decides who may do what."""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.db import transaction
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from siyu.corps import selectors as corp_selectors
from siyu.corps import services as corp_services
from siyu.corps.models import Staff
from siyu.customers.selectors import follow_counts_by_staff
from siyu.kit.errors import InvalidInput
from siyu.kit.tenancy import Role

from .access import console_view, form_refusal, saved_or_form_error
from .fields import WholeField


def _role_choices(actor):
    # An admin cannot hand out the owner role; offering it would only lead to a refusal.
    return [(value, label) for value, label in Role.choices if actor.role == Role.OWNER or value != Role.OWNER]


class MemberForm(forms.Form):
    role = forms.ChoiceField(label=gettext_lazy("Role"))
    staff = forms.TypedChoiceField(label=gettext_lazy("Works as staff member"), coerce=int, required=False, empty_value=None)

    def __init__(self, *args, actor, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = _role_choices(actor)
        self.fields["staff"].choices = [("", gettext_lazy("— none —"))] + [(s.id, f"{s.name} ({s.userid})") for s in corp_selectors.staff_list(actor)]

    def staff_member(self, actor) -> Staff | None:
        staff_id = self.cleaned_data.get("staff")
        return corp_selectors.staff_resolve(actor, staff_id, "staff") if staff_id else None


class InviteForm(MemberForm):
    username = forms.CharField(label=gettext_lazy("Username"), max_length=150)
    email = forms.EmailField(label=gettext_lazy("Email (optional)"), required=False, max_length=254)
    field_order = ["username", "email", "role", "staff"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Said once, on the invitation; each member's row stays a line.
        self.fields["staff"].help_text = gettext_lazy("A guide sees and works only this staff member's customers.")


class TokenForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Token name"), max_length=64, help_text=gettext_lazy("What uses it, e.g. the mini-program's order sync."))


class InvitationAcceptForm(forms.Form):
    password = forms.CharField(label=gettext_lazy("Password"), widget=forms.PasswordInput, max_length=128)
    again = forms.CharField(label=gettext_lazy("Password again"), widget=forms.PasswordInput, max_length=128)

    def clean(self):
        data = super().clean()
        if data.get("password") and data.get("again") and data["password"] != data["again"]:
            self.add_error("again", _("The two passwords differ."))
        return data


@console_view
def team_page(request):
    actor = request.actor
    members = corp_selectors.team_members(actor)
    form = InviteForm(request.POST or None, actor=actor, initial={"role": Role.OPERATOR})
    invite_link = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        result = saved_or_form_error(
            form,
            lambda: corp_services.member_invite(actor=actor, username=data["username"], email=data["email"], role=data["role"], staff=form.staff_member(actor)),
        )
        if result:
            membership, key = result
            invite_link = settings.SIYU_PUBLIC_URL + reverse("console:invitation", args=[key])
            text = _("%(username)s is invited. Send them the link below; it works once, for 7 days.")
            messages.success(request, text % {"username": membership.user.username})
            members = corp_selectors.team_members(actor)
            form = InviteForm(actor=actor, initial={"role": Role.OPERATOR})
    return _team(request, members, form, invite_link=invite_link, status=400 if form.errors else 200)


def _team(request, members, invite_form, *, invite_link=None, refused=None, status=200):
    actor = request.actor
    for m in members:
        m.form = refused[1] if refused and refused[0] == m.id else MemberForm(actor=actor, initial={"role": m.role, "staff": m.staff_id}, auto_id=f"m{m.id}_%s")
        m.pending = hasattr(m, "invitation") and m.invitation.accepted_at is None
    context = {"members": members, "form": invite_form, "invite_link": invite_link, "nav": "team"}
    return render(request, "console/team.html", context, status=status)


@require_POST
@console_view
def member_edit(request, membership_id: int):
    actor = request.actor
    membership = corp_selectors.membership_get(actor, membership_id)
    form = MemberForm(request.POST, actor=actor, auto_id=f"m{membership.id}_%s")
    if form.is_valid():
        saved = saved_or_form_error(
            form, lambda: corp_services.membership_change(actor=actor, membership=membership, role=form.cleaned_data["role"], staff=form.staff_member(actor))
        )
        if saved:
            messages.success(request, _("%(username)s's role is saved.") % {"username": membership.user.username})
            return redirect("console:team")
    members = corp_selectors.team_members(actor)
    return _team(request, members, InviteForm(actor=actor, initial={"role": Role.OPERATOR}), refused=(membership.id, form), status=400)


@require_POST
@console_view
def member_remove(request, membership_id: int):
    actor = request.actor
    membership = corp_selectors.membership_get(actor, membership_id)
    corp_services.membership_remove(actor=actor, membership=membership)
    messages.success(request, _("%(username)s no longer has access to this corp.") % {"username": membership.user.username})
    return redirect("console:team")


def invitation(request, key: str):
    """The page an invited person opens: choose a password, then they are in. Public (no account
    can log in before this), so it names nothing of the corp but its name."""
    form = InvitationAcceptForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():
                user = corp_services.invitation_accept(key=key, password=form.cleaned_data["password"])
        except InvalidInput as exc:
            form_refusal(form, exc, {"key": None})
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, _("Welcome. Your password is set."))
            return redirect("console:dashboard")
    corp = corp_selectors.invitation_corp(key)
    return render(request, "console/invitation.html", {"form": form, "corp": corp}, status=400 if form.errors else (200 if corp else 404))


@console_view
def token_page(request):
    actor = request.actor
    form = TokenForm(request.POST or None)
    raw = None
    if request.method == "POST" and form.is_valid():
        result = saved_or_form_error(form, lambda: corp_services.api_token_create_own(actor=actor, name=form.cleaned_data["name"]))
        if result:
            raw = result[1]
            form = TokenForm()
    tokens = corp_selectors.api_tokens_for(actor)
    return render(request, "console/tokens.html", {"form": form, "tokens": tokens, "raw": raw, "nav": "tokens"}, status=400 if form.errors else 200)


@require_POST
@console_view
def token_revoke(request, token_id: int):
    actor = request.actor
    token = corp_services.api_token_revoke_for(actor=actor, token=corp_selectors.api_token_get(actor, token_id))
    messages.success(request, _("The token “%(name)s” is revoked: it opens nothing any more.") % {"name": token.name})
    return redirect("console:tokens")


class StaffFilterForm(forms.Form):
    q = forms.CharField(label=gettext_lazy("Search"), required=False, max_length=64)
    department = WholeField(label=gettext_lazy("Department"), required=False, min_value=1)
    status = forms.ChoiceField(label=gettext_lazy("Status"), required=False, choices=[("", gettext_lazy("Any"))] + list(Staff.Status.choices))


@console_view
def staff_page(request):
    actor = request.actor
    form = StaffFilterForm(request.GET or None)
    data = form.cleaned_data if form.is_valid() else {}
    staff = list(corp_selectors.staff_directory(actor, department_id=data.get("department"), q=data.get("q", ""), status=data.get("status", ""))[:500])
    counts = follow_counts_by_staff(actor, [s.id for s in staff])
    for s in staff:
        s.customer_count = counts.get(s.id, 0)
        s.accounts = [m.user.username for m in s.memberships.all() if m.corp_id == actor.corp.id]
    departments = corp_selectors.department_tree(actor)
    context = {"form": form, "staff": staff, "departments": departments, "nav": "staff"}
    return render(request, "console/staff.html", context, status=400 if form.errors else 200)
