"""Custom customer fields (客户字段): the corp defines them, anyone who may see a customer fills
them in (the console, the sidebar, the API). Writes; the reads are in selectors."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.utils.translation import gettext as _

from siyu.kit.clock import now
from siyu.kit.db import in_chunks
from siyu.kit.errors import InvalidInput
from siyu.kit.events import publish
from siyu.kit.phones import phone_normalise
from siyu.kit.tables import read_table
from siyu.kit.tenancy import Actor

from .events import CustomerFieldsChanged
from .models import Customer, CustomerFieldValue, CustomerPhone, CustomField, TimelineEvent
from .stages import stages_place

Kind = CustomField.Kind
MAX_FIELDS = 100  # a profile, the sidebar's form and an import sheet stay readable
MAX_CHOICES = 50
TEXT_MAX = 200
NUMBER_LIMIT = Decimal("999999999999.99")  # the column's 14 digits, 2 after the point
KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


def _clean_choices(kind: str, choices) -> list[str]:
    if kind != Kind.CHOICE:
        return []
    cleaned = list(dict.fromkeys(str(c).strip() for c in choices or () if str(c).strip()))
    if not cleaned:
        raise InvalidInput(_("A choice field needs at least one choice."), code="no_choices", field="choices")
    if len(cleaned) > MAX_CHOICES:
        raise InvalidInput(_("A field has at most %(n)s choices.") % {"n": MAX_CHOICES}, code="too_many_choices", field="choices")
    if any(len(c) > 40 for c in cleaned):
        raise InvalidInput(_("A choice is at most 40 characters."), code="choice_too_long", field="choices")
    return cleaned


def custom_field_save(*, actor: Actor, field: CustomField | None = None, name: str, kind: str, key: str = "", choices=(), position: int = 0) -> CustomField:
    """A new field, or an edit of one. Its key and kind are fixed once it exists: imports,
    conditions and values already stored depend on them. A manager's."""
    actor.require_manager()
    name = (name or "").strip()
    if not name or len(name) > 40:
        raise InvalidInput(_("Name the field (at most 40 characters)."), code="bad_name", field="name")
    if field is None:
        if kind not in Kind.values:
            raise InvalidInput(_("Choose the field's kind: text, number, date or choice."), code="bad_kind", field="kind")
        key = (key or "").strip()
        if not KEY_RE.match(key):
            raise InvalidInput(_("The key is lower-case letters, digits and underscores, starting with a letter (at most 40)."), code="bad_key", field="key")
        if CustomField.objects.filter(corp=actor.corp, key=key).exists():
            raise InvalidInput(_("Another field has the key “%(key)s”.") % {"key": key}, code="duplicate_key", field="key")
        if CustomField.objects.filter(corp=actor.corp, archived_at__isnull=True).count() >= MAX_FIELDS:
            raise InvalidInput(_("A corp has at most %(n)s fields; archive one first.") % {"n": MAX_FIELDS}, code="too_many_fields", field="name")
        field = CustomField(corp=actor.corp, key=key, kind=kind)
    elif kind and kind != field.kind:
        raise InvalidInput(_("A field's kind cannot change; make a new field."), code="kind_fixed", field="kind")
    taken = CustomField.objects.filter(corp=actor.corp, name=name, archived_at__isnull=True).exclude(pk=field.pk)
    if taken.exists():
        raise InvalidInput(_("Another field is called “%(name)s”.") % {"name": name}, code="duplicate_name", field="name")
    new_choices = _clean_choices(field.kind, choices)
    if field.pk and field.kind == Kind.CHOICE:
        dropped = set(field.choices) - set(new_choices)
        used = CustomerFieldValue.objects.filter(field=field, text__in=dropped).values_list("text", flat=True).first()
        if used is not None:
            raise InvalidInput(_("Customers have the choice “%(choice)s”: it cannot be removed.") % {"choice": used}, code="choice_in_use", field="choices")
    field.name, field.choices, field.position = name, new_choices, max(0, int(position or 0))
    field.save()
    return field


def custom_field_archive(*, actor: Actor, field: CustomField) -> CustomField:
    """No longer shown or asked for; the values stay, and its key stays taken."""
    actor.require_manager()
    if field.archived_at is None:
        field.archived_at = now()
        field.save(update_fields=["archived_at"])
    return field


def parse_value(field: CustomField, raw) -> tuple[str, Decimal | None, date | None] | None:
    """(text, number, date) for the field's column from what a person typed or an API sent;
    None for empty (the value is cleared). Refusals name the field by its key."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    where = f"fields.{field.key}"
    if field.kind == Kind.NUMBER:
        try:
            number = Decimal(str(raw).strip()).quantize(Decimal("0.01"))
        except (InvalidOperation, ValueError):
            raise InvalidInput(_("“%(field)s” takes a number.") % {"field": field.name}, code="bad_number", field=where) from None
        if not number.is_finite() or abs(number) > NUMBER_LIMIT:
            raise InvalidInput(_("“%(field)s” is too large a number.") % {"field": field.name}, code="bad_number", field=where)
        return "", number, None
    if field.kind == Kind.DATE:
        if isinstance(raw, date):
            return "", None, raw
        try:
            return "", None, date.fromisoformat(str(raw).strip()[:10])
        except ValueError:
            raise InvalidInput(_("“%(field)s” takes a date such as 2026-03-18.") % {"field": field.name}, code="bad_date", field=where) from None
    text = str(raw).strip()
    if field.kind == Kind.CHOICE and text not in field.choices:
        raise InvalidInput(_("“%(value)s” is not one of the choices of “%(field)s”.") % {"value": text, "field": field.name}, code="bad_choice", field=where)
    if len(text) > TEXT_MAX:
        raise InvalidInput(_("“%(field)s” is at most %(n)s characters.") % {"field": field.name, "n": TEXT_MAX}, code="text_too_long", field=where)
    return text, None, None


def values_from_form(fields, data) -> dict[str, str]:
    """{key: typed value} of the fields a form posted (`field_<key>`, as customers/_field_inputs.html
    names them); fields the form did not carry stay as they are."""
    return {s.field.key: data[f"field_{s.field.key}"] for s in fields if f"field_{s.field.key}" in data}


def typed_again(fields, data) -> None:
    """After a refusal, the form shows what was typed, not the stored values."""
    for s in fields:
        s.value = data.get(f"field_{s.field.key}", s.value)


def refusal_shown(exc) -> tuple[str, str]:
    """(key, message) of a refusal, for _field_inputs.html to show next to its field."""
    return ((exc.field or "").removeprefix("fields."), exc.message)


def shown(field: CustomField, value: CustomerFieldValue | None) -> str:
    """The value as the console, the sidebar and the timeline show it ("" when unset)."""
    if value is None:
        return ""
    if field.kind == Kind.NUMBER:
        return "" if value.number is None else f"{value.number.normalize():f}"
    if field.kind == Kind.DATE:
        return value.date.isoformat() if value.date else ""
    return value.text


def customer_fields_set(*, actor: Actor, customer: Customer, values: dict) -> dict[str, tuple[str, str]]:
    """Set the customer's fields from {key: raw value} (empty clears); keys not given stay as they
    are. All or nothing: one bad value refuses the lot. Returns {key: (old, new)} of what changed,
    recorded on the timeline and announced (journeys branch on fields). The caller found the
    customer among those the actor may see."""
    fields = {f.key: f for f in CustomField.objects.filter(corp=customer.corp_id, key__in=list(values), archived_at__isnull=True)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise InvalidInput(_("There is no field “%(key)s”.") % {"key": unknown[0]}, code="unknown_field", field=f"fields.{unknown[0]}")
    parsed = {key: parse_value(fields[key], raw) for key, raw in values.items()}
    by = actor.user.get_username() if actor.user else ""
    return _apply(actor.corp, fields, {customer.pk: parsed}, staff_id=actor.staff_id, by=by).get(customer.pk, {})


def customer_fields_fill(*, customer: Customer, values: dict, by: str) -> dict[str, tuple[str, str]]:
    """What the customer told a form (`by` names it) fills their fields: a value that no longer
    fits (the field archived, a choice since removed) is left out rather than refusing the rest,
    because the customer's add goes on regardless. Empty answers clear nothing."""
    fields = {f.key: f for f in CustomField.objects.filter(corp=customer.corp_id, key__in=list(values), archived_at__isnull=True)}
    parsed = {}
    for key, raw in values.items():
        if key in fields:
            try:
                cells = parse_value(fields[key], raw)
            except InvalidInput:
                continue
            if cells is not None:
                parsed[key] = cells
    return _apply(customer.corp, fields, {customer.pk: parsed}, staff_id=None, by=by).get(customer.pk, {}) if parsed else {}


def customers_fields_write(*, corp, key: str, raw, customer_ids: list[int], by: str) -> int:
    """One value for one field of many customers (a journey's step): checked once, written in bulk,
    each change recorded and announced as any other. Returns how many customers changed."""
    field = CustomField.objects.filter(corp=corp, key=key, archived_at__isnull=True).first()
    if field is None:
        raise InvalidInput(_("There is no field “%(key)s”.") % {"key": key}, code="unknown_field", field=f"fields.{key}")
    cells = parse_value(field, raw)
    return len(_apply(corp, {key: field}, {pk: {key: cells} for pk in customer_ids}, staff_id=None, by=by))


def _apply(corp, fields: dict[str, CustomField], parsed: dict[int, dict], *, staff_id: int | None, by: str) -> dict[int, dict[str, tuple[str, str]]]:
    """Write {customer id: {key: (text, number, date), or None to clear}} in bulk: one read of the
    values there are, then inserts, updates, deletes and a timeline entry per customer changed, each
    change announced; customers whose date changed are placed in their stage again. Returns
    {customer id: {key: (old, new)}} of the customers that changed."""
    by_pk = {f.pk: f for f in fields.values()}
    stamp = now()
    out: dict[int, dict[str, tuple[str, str]]] = {}
    with transaction.atomic():
        existing: dict[tuple[int, int], CustomerFieldValue] = {}
        for chunk in in_chunks(list(parsed)):
            for v in CustomerFieldValue.objects.select_for_update().filter(customer_id__in=chunk, field__in=list(by_pk)):
                existing[(v.customer_id, v.field_id)] = v
        new_rows, changed_rows, gone, events, dated = [], [], [], [], []
        for customer_id, values in parsed.items():
            changed = {}
            for key, cells in values.items():
                field = fields[key]
                row = existing.get((customer_id, field.pk))
                old = shown(field, row)
                if cells is None:
                    if row is not None:
                        gone.append(row.pk)
                        changed[key] = (old, "")
                    continue
                row = row or CustomerFieldValue(corp_id=corp.pk, customer_id=customer_id, field=field)
                row.text, row.number, row.date = cells
                new = shown(field, row)
                if new == old:
                    continue
                changed[key] = (old, new)
                if row.pk:
                    row.updated_at = stamp
                    changed_rows.append(row)
                else:
                    new_rows.append(row)
            if not changed:
                continue
            out[customer_id] = changed
            events.append(
                TimelineEvent(
                    corp_id=corp.pk,
                    customer_id=customer_id,
                    kind=TimelineEvent.Kind.PROFILE_UPDATED,
                    staff_id=staff_id,
                    occurred_at=stamp,
                    data={"fields": [[fields[k].name, o, n] for k, (o, n) in changed.items()], "by": by},
                )
            )
            publish(CustomerFieldsChanged(corp_id=corp.pk, customer_id=customer_id, changed=tuple((k, o, n) for k, (o, n) in changed.items())))
            if any(fields[k].kind == Kind.DATE for k in changed):  # a stage may hold now, or no longer
                dated.append(customer_id)
        for chunk in in_chunks(gone):
            CustomerFieldValue.objects.filter(pk__in=chunk).delete()
        CustomerFieldValue.objects.bulk_create(new_rows, batch_size=5000)
        CustomerFieldValue.objects.bulk_update(changed_rows, ["text", "number", "date", "updated_at"], batch_size=5000)
        TimelineEvent.objects.bulk_create(events, batch_size=5000)
        if dated:
            # Many customers: the whole corp is placed again (one read per stage, not a list of ids the database must take).
            some = dated if len(dated) <= 5000 else None
            stages_place(corp_id=corp.pk, today=stamp.astimezone(corp.tzinfo).date(), customer_ids=some)
    return out


MAX_IMPORT_ROWS = 100_000  # one transaction; a larger base is imported in several files
MAX_REPORTED = 20
ID_COLUMNS = {"external_userid": "external_userid", "外部联系人id": "external_userid", "手机号": "phone", "phone": "phone", "mobile": "phone"}
READ_ONLY_COLUMNS = {"姓名", "name", "客户", "昵称"}  # what an exported list carries beside the keys


@dataclass
class FieldImport:
    rows: int
    customers_changed: int
    values_changed: int


def customer_fields_import(*, actor: Actor, file_name: str, content: bytes) -> FieldImport:
    """Customers' field values from a sheet (CSV or Excel): a column naming the customer
    (external_userid, or 手机号 for a phone the customer is known by) and a column per field, headed
    by its name or key (a name column is passed over). An empty cell leaves the value as it is. All or nothing: the first problems
    (an unknown customer or column, a value the field refuses, a phone two customers share) are
    reported by row and column and nothing is written. A manager's."""
    actor.require_manager()
    table = [r for r in read_table(file_name, content) if any(c.strip() for c in r)]
    if not table:
        raise InvalidInput(_("%(name)s is empty.") % {"name": file_name}, code="empty_file", field="file")
    header, rows = [c.strip() for c in table[0]], table[1:]
    if len(rows) > MAX_IMPORT_ROWS:
        raise InvalidInput(_("At most %(n)s rows a file.") % {"n": MAX_IMPORT_ROWS}, code="too_many_rows", field="file")
    live = list(CustomField.objects.filter(corp=actor.corp, archived_at__isnull=True))
    by_heading = {f.name: f for f in live} | {f.key: f for f in live}
    id_col, columns = None, {}
    for i, heading in enumerate(header):
        if heading.lower() in ID_COLUMNS and id_col is None:
            id_col = (i, ID_COLUMNS[heading.lower()])
        elif heading in by_heading:
            columns[i] = by_heading[heading]
        elif heading and heading.lower() not in READ_ONLY_COLUMNS:
            raise InvalidInput(_("Column “%(name)s” is no customer field.") % {"name": heading}, code="unknown_column", field="file")
    if id_col is None:
        raise InvalidInput(_("Name the customers in a column headed external_userid or 手机号."), code="no_id_column", field="file")
    cell = lambda row, i: row[i].strip() if i < len(row) else ""  # noqa: E731
    keys = [cell(r, id_col[0]) for r in rows]
    if id_col[1] == "phone":
        wanted = {}
        for k in keys:
            try:
                wanted[k] = phone_normalise(k) if k else ""
            except InvalidInput:
                wanted[k] = ""
        owners: dict[str, set[int]] = {}
        for chunk in in_chunks(sorted(set(wanted.values()))):
            for phone, customer_id in CustomerPhone.objects.filter(corp=actor.corp, phone__in=chunk).values_list("phone", "customer_id"):
                owners.setdefault(phone, set()).add(customer_id)
        found = {k: owners.get(p, set()) for k, p in wanted.items()}
    else:
        ids = {}
        for chunk in in_chunks(sorted(set(keys))):
            ids |= dict(Customer.objects.filter(corp=actor.corp, external_userid__in=chunk).values_list("external_userid", "pk"))
        found = {k: {ids[k]} if k in ids else set() for k in keys}
    problems, parsed = [], {}
    for n, (row, key) in enumerate(zip(rows, keys, strict=True), start=2):
        owners_of_row = found.get(key, set())
        if len(owners_of_row) != 1:
            why = _("no such customer") if not owners_of_row else _("several customers have this phone")
            problems.append(_("row %(row)s: %(key)s — %(why)s") % {"row": n, "key": key or "—", "why": why})
            continue
        customer_id = next(iter(owners_of_row))
        for i, field in columns.items():
            raw = cell(row, i)
            if not raw:
                continue
            try:
                parsed.setdefault(customer_id, {})[field.key] = parse_value(field, raw)
            except InvalidInput as exc:
                problems.append(_("row %(row)s, %(column)s: %(why)s") % {"row": n, "column": header[i], "why": exc.message})
        if len(problems) >= MAX_REPORTED:
            break
    if problems:
        raise InvalidInput(_("Nothing was imported. %(problems)s") % {"problems": "; ".join(problems[:MAX_REPORTED])}, code="import_rejected", field="file")
    changed = _apply(actor.corp, {f.key: f for f in columns.values()}, parsed, staff_id=None, by=actor.user.get_username() if actor.user else "")
    return FieldImport(rows=len(rows), customers_changed=len(changed), values_changed=sum(len(c) for c in changed.values()))
