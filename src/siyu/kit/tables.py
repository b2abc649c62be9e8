"""Operators' tables (CSV from any till or shop back-office, Excel from anywhere) as rows of text cells."""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from datetime import datetime

from django.utils.translation import gettext as _
from openpyxl import load_workbook

from .errors import InvalidInput

EXCEL_SUFFIXES = (".xlsx", ".xlsm")


def iter_table(file_name: str, stream) -> Iterator[list[str]]:
    """Yield the rows of a binary stream: .xlsx through openpyxl, anything else as CSV (UTF-8 or GBK).

    Rows are produced as they are read, so a file of millions of orders is never held whole.
    """
    if file_name.lower().endswith(EXCEL_SUFFIXES):
        try:
            sheet = load_workbook(stream, read_only=True, data_only=True).worksheets[0]
        except Exception as exc:  # noqa: BLE001 — openpyxl raises many kinds for a broken file
            raise InvalidInput(
                _("%(file_name)s is not a readable Excel file (%(name)s).") % {"file_name": file_name, "name": exc.__class__.__name__},
                code="bad_file",
                field="file",
            ) from None
        for row in sheet.iter_rows(values_only=True):
            yield ["" if v is None else cell_text(v) for v in row]
        return
    encoding = _encoding(file_name, stream)
    stream.seek(0)
    text = io.TextIOWrapper(stream, encoding=encoding, newline="")
    try:
        yield from csv.reader(text)
    except UnicodeDecodeError:
        raise InvalidInput(_("%(file_name)s is neither UTF-8 nor GBK text.") % {"file_name": file_name}, code="bad_file", field="file") from None
    finally:
        text.detach()


def _encoding(file_name: str, stream) -> str:
    # Decide on the whole file: a GBK file can begin with plain ASCII headers.
    for encoding in ("utf-8-sig", "gb18030"):
        decoder = codecs.getincrementaldecoder(encoding)()
        stream.seek(0)
        try:
            while chunk := stream.read(1 << 20):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
            return encoding
        except UnicodeDecodeError:
            continue
    raise InvalidInput(_("%(file_name)s is neither UTF-8 nor GBK text.") % {"file_name": file_name}, code="bad_file", field="file")


def read_table(file_name: str, content: bytes) -> list[list[str]]:
    return list(iter_table(file_name, io.BytesIO(content)))


def cell_text(value) -> str:
    # Excel keeps phone numbers and order numbers as numbers: 13812345678.0 must not become "13812345678.0".
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    return str(value).strip()
