"""One caller under one number (cases/caller_key.py): ``13912341234``, ``+8613912341234``,
``013912341234`` and ``8613912341234`` are one caller's cases, in the desktop's caller history
(the screen pop), in the case search by number, for a case entered by hand, and for the rows
already in the file (migration 0013, with its frozen copy of the key; a site with another
``phone_region`` is re-keyed at start)."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils
from aiohttp.test_utils import TestClient, TestServer, unused_port

from hotline import config
from hotline import events as ev
from hotline.bus import Bus
from hotline.cases.caller_key import caller_key, key_format
from hotline.cases.store import CaseStore
from hotline.floor.calls import CallRegistry
from hotline.floor.desktop import DesktopService
from hotline.graph import build_services
from hotline.queue.roster import Roster
from hotline.queue.wrapup import WrapUp
from hotline.storage import migrations
from hotline.storage.database import Database
from hotline.web.app import build_app

SITE = Path(__file__).resolve().parents[1] / "etc/site.example.toml"
ONE_CALLER = ["13912341234", "+8613912341234", "013912341234", "8613912341234", "008613912341234",
              "+86 139-1234-1234"]
NUMBERS = [*ONE_CALLER, "", "anonymous", "1001", "12345", "+14155552671", "0014155552671", "01012345678",
           "1012345678", "+", "++86139", "+852 2123 4567"]


def test_the_forms_of_one_mobile_are_one_key() -> None:
    assert {caller_key(n) for n in ONE_CALLER} == {"+8613912341234"}
    assert caller_key("01012345678") == caller_key("1012345678") == "+861012345678"  # a Beijing landline
    assert caller_key("+14155552671") == caller_key("0014155552671") == "+14155552671"
    assert caller_key("1001") == "1001" and caller_key("12345") == "12345"  # not valid numbers: their digits
    assert caller_key("") == caller_key("anonymous") == caller_key("+") == ""  # withheld: nobody's history
    assert caller_key("4155552671", "US") == "+14155552671"  # the region reads numbers without a code


def test_migration_0013_keys_as_the_live_code_does() -> None:
    for number in NUMBERS:
        assert migrations._caller_key(number, "CN") == caller_key(number, "CN"), number
    assert migrations.CALLER_KEY_REGION_0013 == "CN"


def test_phone_region_is_a_setting() -> None:
    settings = config.load(SITE, {})
    assert settings.phone_region == "CN"
    with pytest.raises(config.ConfigError, match="phone_region"):
        config.parse({**_site_data(), "phone_region": "China"}, SITE.parent, {})
    assert config.parse({**_site_data(), "phone_region": "hk"}, SITE.parent, {}).phone_region == "HK"


def _site_data() -> dict[str, Any]:
    import tomllib
    return tomllib.loads(SITE.read_text())


def row(uid: str, number: str, at: float) -> dict[str, Any]:
    return {"uniqueid": uid, "linkedid": uid, "caller_number": number, "language": "zh", "topic": "housing",
            "ivr_path": "", "queue": "hl-zh-housing", "queued_at": at}


async def test_the_caller_history_finds_every_form_of_the_number(tmp_path: Path) -> None:
    store = CaseStore(tmp_path / "c.db")
    await store.open()
    try:
        now = time.time()
        for i, number in enumerate(ONE_CALLER[:4]):
            assert await store.create(row(f"u{i}", number, now - 1000 + i))
        await store.create(row("other", "13900009999", now - 500))
        await store.create(row("anon1", "anonymous", now - 400))
        await store.create(row("anon2", "anonymous", now - 300))
        history = await store.caller_history("+86 139 1234 1234", exclude="u3")
        assert [h["uniqueid"] for h in history] == ["u2", "u1", "u0"]  # newest first, the call itself left out
        assert await store.caller_history("anonymous", exclude="anon2") == []  # withheld numbers are not one caller
        assert await store.rekey_callers() == 0  # keys made with this region and library already
    finally:
        await store.close()


async def test_the_screen_pop_shows_the_callers_cases_under_another_form(tmp_path: Path) -> None:
    settings = config.load(SITE, {})
    store = CaseStore(tmp_path / "c.db")
    await store.open()
    try:
        await store.create(row("old", "013912341234", time.time() - 86400))
        await store.save_form("old", {"category": "housing", "description": "the lift is broken"}, "op1",
                              time.time() - 86000)

        class Pages:
            def __init__(self) -> None:
                self.sent: list[dict[str, Any]] = []

            def to_extension(self, extension: str, msg: dict[str, Any]) -> int:
                self.sent.append(msg)
                return 1

            def extensions(self) -> set[str]:
                return {"1001"}

        class NoPbx:
            async def queue_pause(self, *a: Any) -> None: ...

        roster = Roster(settings)
        calls = CallRegistry()
        pages = Pages()
        desktop = DesktopService(settings, roster, calls, WrapUp(5, roster, NoPbx()), store,  # type: ignore[arg-type]
                                 pages)
        uid, q = "1800000000.1", "hl-zh-housing"
        await store.create(row(uid, "+8613912341234", time.time()))
        ring = ev.AgentRinging(uid, q, "PJSIP/1001", "1001", "+8613912341234", "zh", "housing", time.time())
        calls.apply(ev.CallerJoined(uid, uid, q, "+8613912341234", "zh", "housing", "", 1, time.time()))
        calls.apply(ring)
        await desktop.handle(ring)
        offer = next(m for m in pages.sent if m["type"] == "offer")
        assert [(h["id"], h["description"]) for h in offer["history"]] == [(1, "the lift is broken")], offer
    finally:
        await store.close()


async def test_the_rows_already_there_get_their_key_and_another_region_rekeys(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    before = [m for m in migrations.MIGRATIONS if m[0] != "0013_caller_key"]
    migrations.migrate(sqlite_utils.Database(conn), before)  # the file as it was before 0013
    for i, number in enumerate(["13912341234", "+8613912341234", "6502530000", ""]):
        conn.execute("insert into cases (uniqueid, caller_number, state, queued_at) values (?, ?, 'ended', ?)",
                     [f"u{i}", number, 1_700_000_000 + i])
    conn.close()
    store = CaseStore(Database(path))
    await store.open()  # migration 0013: the column, the keys, the index
    try:
        conn = sqlite3.connect(path)
        keys = dict(conn.execute("select uniqueid, caller_key from cases").fetchall())
        # 650 253 0000 is not a Chinese number: its digits
        assert keys == {"u0": "+8613912341234", "u1": "+8613912341234", "u2": "6502530000", "u3": None}
        assert conn.execute("select value from kv where key = 'caller_key_format'").fetchone()[0] == key_format("CN")
        conn.close()
        assert len(await store.caller_history("013912341234", exclude="")) == 2
    finally:
        await store.close()
    us = CaseStore(Database(path), phone_region="US")  # the site moved: numbers without a code are American
    await us.open()
    try:
        assert await us.rekey_callers() == 3
        assert [h["uniqueid"] for h in await us.caller_history("+1 650 253 0000", exclude="")] == ["u2"]
        assert await us.rekey_callers() == 0
    finally:
        await us.close()


async def test_the_search_by_number_and_a_case_entered_by_hand(tmp_path: Path) -> None:
    settings = config.load(SITE, {})
    store = CaseStore(tmp_path / "c.db")
    await store.open()
    graph = build_services(settings, store, None, Bus())  # type: ignore[arg-type]
    port = unused_port()
    app = build_app(replace(graph.web("secret-token"), settings=replace(
        settings, http=replace(settings.http, port=port))))
    client: TestClient[Any, Any] = TestClient(TestServer(app, port=port))
    await client.start_server()
    bearer = {"Authorization": "Bearer secret-token"}
    try:
        now = time.time()
        for i, number in enumerate(["13912341234", "8613912341234", "13900009999"]):
            await store.create(row(f"u{i}", number, now - 100 + i))
        entered = graph.desk
        assert entered is not None
        case = await entered.enter(_actor(), {"caller_number": "+8613912341234", "category": "housing",
                                              "district": settings.districts[0], "address": "12 Chaoyangmen Street",
                                              "description": "A letter about the lift", "urgency": "normal",
                                              "department": settings.departments[0].code})
        keys = dict(await store.db.read(lambda db: db.execute("select uniqueid, caller_key from cases").fetchall()))
        assert keys[case.uniqueid] == "+8613912341234"
        r = await client.get("/api/search?caller=013912341234", headers=bearer)
        assert r.status == 200, await r.text()
        found = await r.json()
        assert found["total"] == 3 and {c["uniqueid"] for c in found["cases"]} == {"u0", "u1", case.uniqueid}
        r = await client.get("/api/search?caller=anonymous", headers=bearer)
        assert (await r.json())["total"] == 0
    finally:
        await client.close()
        await graph.stop()
        await store.close()


def _actor() -> Any:
    from hotline.cases.workflow import Actor
    return Actor("boss", "supervisor")
