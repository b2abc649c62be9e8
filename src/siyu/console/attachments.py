"""The console's attachment editor: rows of AttachmentForm turned into messaging content, uploads
stored as Media, and messaging's refusals shown on the row and field they are about."""

from __future__ import annotations

from django.forms.forms import NON_FIELD_ERRORS

from siyu.kit.errors import InvalidInput
from siyu.kit.tenancy import Actor
from siyu.messaging.media import media_create
from siyu.messaging.selectors import content_items

from .forms import AttachmentForm, AttachmentFormSet

MEDIA_KIND = {"image": "image", "miniprogram": "image", "video": "video", "file": "file"}


def attachment_formset(request, attachments: list[dict] | None = None) -> AttachmentFormSet:
    # The library's items to pick from (a library holds hundreds, not millions).
    kwargs = {"form_kwargs": {"library": [(i.id, f"{i.get_kind_display()} · {i.title}") for i in content_items(request.actor)[:500]]}, "prefix": "a"}
    if request.method == "POST" and "a-TOTAL_FORMS" in request.POST:
        return AttachmentFormSet(request.POST, request.FILES, **kwargs)
    # A POST without the editor (a script posting the other fields) keeps what is stored.
    return AttachmentFormSet(initial=[AttachmentForm.initial_for(a) for a in attachments or []], **kwargs)


class AttachmentRows:
    """What a valid formset holds, in order, remembering which form each attachment came from."""

    def __init__(self, actor: Actor, formset: AttachmentFormSet, stored: list[dict] | None = None):
        self.actor, self.formset, self.stored, self.forms = actor, formset, list(stored or []), []

    def is_valid(self) -> bool:
        return not self.formset.is_bound or self.formset.is_valid()

    def attachments(self) -> list[dict]:
        """Upload new files (inside the caller's transaction) and build the attachments."""
        if not self.formset.is_bound:
            return self.stored
        out = []
        self.forms = []
        for form in self.formset.forms:
            upload = form.cleaned_data.get("file") if form.cleaned_data.get("kind") else None
            media_id = None
            if upload is not None and form.cleaned_data["kind"] in MEDIA_KIND:
                try:
                    media_id = media_create(
                        actor=self.actor,
                        kind=MEDIA_KIND[form.cleaned_data["kind"]],
                        name=upload.name,
                        content=upload.read(),
                        content_type=getattr(upload, "content_type", "") or "",
                    ).pk
                except InvalidInput as exc:
                    exc.field = f"attachments.{len(out)}.{form.cleaned_data['kind']}.media"
                    self.forms.append(form)
                    raise
            attachment = form.attachment(media_id)
            if attachment is not None:
                out.append(attachment)
                self.forms.append(form)
        return out

    def show(self, exc: InvalidInput, page_form) -> bool:
        """Put a refusal about attachments on its row and field; False when it is about something else."""
        parts = (exc.field or "").split(".")
        if parts[0] != "attachments":
            return False
        if len(parts) > 1 and parts[1].isdigit() and int(parts[1]) < len(self.forms):
            form = self.forms[int(parts[1])]
            field = AttachmentForm.FIELD_FOR.get(parts[-1]) if len(parts) > 3 else None
            form.add_error(field, exc.message)
        else:
            self.formset._non_form_errors = self.formset.error_class([exc.message])
        # Shown on the row, not again at the top of the page.
        page_form.errors.pop(NON_FIELD_ERRORS, None)
        return True
