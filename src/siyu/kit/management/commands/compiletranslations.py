from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Compile the .po catalogues to .mo with polib (no GNU gettext needed). Run after makemessages."

    def handle(self, *args, **options):
        try:
            import polib  # noqa: PLC0415 — a development dependency, absent in production installs
        except ImportError:
            raise CommandError("polib is a development dependency: run the test command once to install it.") from None
        for locale_dir in settings.LOCALE_PATHS:
            for po_path in sorted(Path(locale_dir).glob("*/LC_MESSAGES/*.po")):
                po = polib.pofile(str(po_path))
                untranslated = [e.msgid for e in po.untranslated_entries()]
                if untranslated:
                    raise CommandError(f"{po_path}: untranslated: {untranslated[:5]}")
                po.save_as_mofile(str(po_path.with_suffix(".mo")))
                self.stdout.write(f"compiled {po_path.with_suffix('.mo')}")
