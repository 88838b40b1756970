"""Every CSV the hotline hands out (the history, staffing and trends exports, ``hotline staffing
--csv``) goes through here, so all of them open right in a spreadsheet and none can run in one:

- UTF-8 with a byte-order mark: Excel on a Chinese (GBK) Windows reads a CSV without one in the
  system's code page and shows 供热 as mojibake; with the BOM it reads UTF-8.
- Formula injection neutralised: a text cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a
  carriage return is a formula (or becomes one) to Excel and LibreOffice; such a cell gets a
  leading single quote (``=HYPERLINK(...)`` comes out as ``'=HYPERLINK(...)``), which the
  spreadsheet shows as text. Numbers (int, float) are not text: ``-3`` as a count stays ``-3``
  and sums as a number. ``None`` is an empty cell.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from pathlib import Path

from aiohttp import web

BOM = "\ufeff"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: object) -> object:
    """The value as the CSV writes it: numbers as they are, text neutralised, None empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)):
        return value
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def text(rows: Iterable[Sequence[object]]) -> str:
    """The rows as CSV text with the byte-order mark in front (encode it as UTF-8)."""
    out = io.StringIO()
    out.write(BOM)
    writer = csv.writer(out)
    for row in rows:
        writer.writerow([cell(v) for v in row])
    return out.getvalue()


def encode(rows: Iterable[Sequence[object]]) -> bytes:
    """The rows as the bytes of a CSV file: EF BB BF, then UTF-8."""
    return text(rows).encode("utf-8")


def response(rows: Iterable[Sequence[object]], filename: str) -> web.Response:
    """An attachment ``filename`` holding the rows (text/csv; charset=utf-8, with the BOM)."""
    return web.Response(body=encode(rows), content_type="text/csv", charset="utf-8", headers={
        "Content-Disposition": f'attachment; filename="{filename}"'})


def write_file(path: str | Path, rows: Iterable[Sequence[object]]) -> None:
    """The rows into the file at ``path`` (the CLI's exports), as ``response`` would serve them."""
    Path(path).write_bytes(encode(rows))
