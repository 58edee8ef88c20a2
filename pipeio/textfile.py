"""Text files a study edits by hand (participant sheets, tables), read as UTF-8.

Spreadsheet programs often save Latin-1 or Windows-1252; decoding such a file fails at one
byte, and the user needs the line and column of that byte to find the cell. A workbook
(`.xlsx`, `.ods`, `.xls`) given where text belongs is named as such. UTF-16 text with its
byte-order mark (a spreadsheet's "Unicode Text", tab-separated) is read as such. Tab-separated tables are read by `tsv_frame`, which
refuses a row with more cells than its header instead of letting pandas shift the columns,
a `#` line and a stray quote that would swallow rows, and labels rows by file line.
"""

from __future__ import annotations

import codecs
import csv
import io
import warnings
from pathlib import Path

import pandas as pd

from pipeio.errors import InputError

# How workbooks begin: a zip archive (.xlsx, .ods) or an OLE2 compound file (.xls).
WORKBOOK_MAGIC = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")
# UTF-16's byte-order marks: Excel's "Unicode Text" is tab-separated UTF-16.
UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


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
    if data.startswith(UTF16_BOMS):  # unambiguous: the mark says the encoding and order
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as err:
            raise InputError(f"{what} {path} starts as UTF-16 text (a spreadsheet's 'Unicode "
                             f"Text') but byte {err.start} is not: {advice}") from None
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


def _check_layout(text: str, path: Path, what: str) -> list[int]:
    """The file line of each data row, in order, after checking the layout.

    A header naming a column twice, and a row with more cells than the header beyond
    empty ones at its end (a trailing tab), are refused by line: pandas would rename the
    second column (`age.1`, never read), or read the first column as row names and shift
    every column by one (a participant's group read as their id), or fail naming no file.
    A cell that opens a quote closed only lines later, holding tabs (a stray `"`, such as a
    ditto mark), is refused too: the rows in between would silently become that cell's
    text. A line starting with `#` is refused: pandas reads no comments, so a commented-out
    participant would be one named `#sub-003`. Lines end in LF, CRLF or CR alone (Excel for
    Mac's tab-delimited text)."""
    rows = csv.reader(io.StringIO(text, newline=""), delimiter="\t")
    width = None
    lines: list[int] = []
    end = 0
    for row in rows:
        start, end = end + 1, rows.line_num
        if not row or (len(row) == 1 and not row[0].strip()):  # pandas skips blank lines
            continue
        if row[0].lstrip().startswith("#"):
            raise InputError(f"{what} {path}: line {start} starts with '#': it is read as "
                             f"data (a first cell {row[0].strip()!r}), not skipped as a "
                             "comment; delete the line")
        stray = next((cell for cell in row if "\t" in cell and
                      ("\n" in cell or "\r" in cell)), None)
        if stray is not None:
            raise InputError(
                f"{what} {path}: line {start}: a cell begins with a double quote (\") that "
                f"closes only on line {end}, so the lines between are read as that cell's "
                "text, not as rows; remove the stray quote (or put it after the cell's first "
                "character)")
        if width is None:
            width = len(row)
            names = [cell.strip() for cell in row]
            twice = next((n for i, n in enumerate(names) if n and n in names[:i]), None)
            if twice is not None:
                raise InputError(f"{what} {path}: line {start} (the header) names "
                                 f"column {twice!r} twice; rename or remove one")
            continue
        if any(cell.strip() for cell in row[width:]):
            raise InputError(
                f"{what} {path}: line {start} has {len(row)} tab-separated cells, the "
                f"header line {width}; a cell holds a tab, or the line has a value past the "
                "last column")
        lines.append(start)
    return lines


def tsv_frame(text: str, path: str | Path, what: str, **read_csv) -> pd.DataFrame:
    """`text` (of the file `path`) as a table: tab-separated, header on the first line,
    never a column taken as row names; empty or malformed text is one error naming the file.
    Row labels are file line numbers minus 2 (as `analysis.inputs.file_lines` counts them),
    also after a blank line, which pandas skips: an error then names the right line.
    `read_csv`: pandas' options (dtype, keep_default_na, usecols)."""
    path = Path(path)
    if not text.strip():
        raise InputError(f"{what} {path} is empty")
    lines = _check_layout(text, path, what)
    try:
        with warnings.catch_warnings():  # cells past the header: empty (_check_layout)
            warnings.simplefilter("ignore", pd.errors.ParserWarning)
            frame = pd.read_csv(io.StringIO(text), sep="\t", index_col=False, **read_csv)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise InputError(f"{what} {path} is not a readable TSV: {err}") from None
    if len(lines) == len(frame) and lines != list(range(2, len(frame) + 2)):
        frame.index = pd.Index([line - 2 for line in lines])
    return frame


def separator_hint(columns: list[str]) -> str:
    """For a message on missing columns: a one-column header holding commas or semicolons
    is a file saved with the wrong separator."""
    sep = next((s for s in (",", ";") if len(columns) == 1 and s in str(columns[0])), None)
    if sep is None:
        return ""
    return (f": the file looks {'comma' if sep == ',' else 'semicolon'}-separated; save it "
            "tab-separated (in a spreadsheet: 'Save as' text, tab-delimited)")
