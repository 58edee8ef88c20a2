"""Text files a study edits by hand (participant sheets, tables), read as UTF-8.

Spreadsheet programs often save Latin-1 or Windows-1252; decoding such a file fails at one
byte, and the user needs the line and column of that byte to find the cell. A workbook
(`.xlsx`, `.ods`, `.xls`) given where text belongs is named as such.
"""

from __future__ import annotations

from pathlib import Path

from pipeio.errors import InputError

# How workbooks begin: a zip archive (.xlsx, .ods) or an OLE2 compound file (.xls).
WORKBOOK_MAGIC = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")


def read_utf8(path: str | Path, what: str) -> str:
    """The file's text (a UTF-8 byte-order mark is dropped); an error names the line and
    column of the first byte that is not UTF-8."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise InputError(f"{what} {path}: {err.strerror or err}") from err
    if data.startswith(WORKBOOK_MAGIC):
        raise InputError(f"{what} {path} is a spreadsheet workbook, not text; save it from "
                         "the spreadsheet as tab-separated text, encoding UTF-8")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        offset = err.start
        line = data.count(b"\n", 0, offset) + 1
        column = offset - (data.rfind(b"\n", 0, offset) + 1) + 1
        raise InputError(
            f"{what} {path}: line {line}, column {column}: byte 0x{data[offset]:02x} is not "
            "UTF-8 text; save the file as UTF-8 (in a spreadsheet: 'Save as' tab-separated, "
            "encoding UTF-8)") from None
