"""Every console string has its Chinese translation, and the shipped .mo matches the .po."""

import gettext
from pathlib import Path

import polib
from django.conf import settings


def _catalogues():
    return sorted(Path(settings.LOCALE_PATHS[0]).glob("*/LC_MESSAGES/django.po"))


def test_catalogues_are_complete_and_compiled():
    assert _catalogues(), "no translation catalogue"
    for po_path in _catalogues():
        po = polib.pofile(str(po_path))
        assert not po.untranslated_entries(), [e.msgid for e in po.untranslated_entries()]
        assert not po.fuzzy_entries(), [e.msgid for e in po.fuzzy_entries()]
        with open(po_path.with_suffix(".mo"), "rb") as fh:
            mo = gettext.GNUTranslations(fh)
        for entry in po.translated_entries():
            if entry.msgid_plural:
                assert mo.ngettext(entry.msgid, entry.msgid_plural, 1) == entry.msgstr_plural[0]
            elif entry.msgctxt:
                assert mo.pgettext(entry.msgctxt, entry.msgid) == entry.msgstr, f"{entry.msgid}: run `siyu compiletranslations`"
            else:
                assert mo.gettext(entry.msgid) == entry.msgstr, f"{entry.msgid}: run `siyu compiletranslations`"
