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


SAVE_AS_UTF8 = ("save the file as UTF-8 (in a spreadsheet: 'Save as' tab-separated, encoding "
                "UTF-8)")


def read_utf8(path: str | Path, what: str, advice: str = SAVE_AS_UTF8) -> str:
    """The file's text (a UTF-8 byte-order mark is dropped); an error names the line and
    column (in characters) of the first byte that is not UTF-8."""
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
        data, offset = err.object, err.start  # the bytes after a byte-order mark, if any
        line = data.count(b"\n", 0, offset) + 1
        # Characters, not bytes, before the bad one: what an editor's column shows. The
        # line up to it is valid UTF-8 (the decoder stopped at the first bad byte).
        column = len(data[data.rfind(b"\n", 0, offset) + 1:offset].decode()) + 1
        raise InputError(
            f"{what} {path}: line {line}, column {column}: byte 0x{data[offset]:02x} is not "
            f"UTF-8 text; {advice}") from None
