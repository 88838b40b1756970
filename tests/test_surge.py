"""Surge announcements (issue 16): which caller hears which message, the API's refusals, the audit
rows and the counts (floor/surge.py, cases/surge_store.py, web/surge_routes.py)."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer, unused_port
from test_wallboard import Floor, login

from hotline import config
from hotline.auth.users import Principal
from hotline.cases.audit_store import AuditStore
from hotline.cases.store import CaseStore
from hotline.cases.surge_store import SurgeStore
from hotline.floor.surge import SurgeError, SurgeService
from hotline.web.app import build_app

SITE = Path(__file__).resolve().parents[1] / "etc/site.example.toml"
T0 = 1_800_000_000.0
BOSS = Principal("boss", "supervisor")


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def _write(dest: Path, data: bytes) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(data)


def surge_service(settings: config.Settings, store: CaseStore, tmp_path: Path, clock: Clock) -> SurgeService:
    async def speak(text: str, voice: str, dest: Path) -> None:
        _write(dest, f"{voice}: {text}".encode())  # the real synthesis is the e2e test's

    async def convert(src: Path, dest: Path) -> None:
        _write(dest, src.read_bytes())  # noqa: ASYNC240

    return SurgeService(settings, SurgeStore(store.db), AuditStore(store.db),  # type: ignore[arg-type]
                        tmp_path / "sounds", "/inst/sounds", speak, convert, clock)


async def service(tmp_path: Path) -> tuple[SurgeService, CaseStore, Clock]:
    store = CaseStore(tmp_path / "c.db")
    await store.open()
    settings = replace(config.load(SITE), state_dir=tmp_path / "state")
    clock = Clock()
    return surge_service(settings, store, tmp_path, clock), store, clock


def audit_rows(store: CaseStore) -> list[dict[str, Any]]:
    con = sqlite3.connect(store.db.path)
    con.row_factory = sqlite3.Row
    rows = [dict(r) for r in con.execute("select * from audit order by id")]
    con.close()
    return rows


async def test_a_topic_message_reaches_its_topic_in_the_callers_language_until_its_end(tmp_path: Path) -> None:
    surge, store, clock = await service(tmp_path)
    try:
        s = await surge.create(BOSS, {"scope": "topic", "target": "housing", "ends_at": T0 + 600,
                                      "texts": {"zh": "朝阳区停水已知，十八点前修复", "en": "The outage is known."}})
        assert (tmp_path / "sounds/surge" / f"{s.id}-zh.wav").exists()
        hit = surge.match("zh", "housing")
        assert hit is not None and hit[1] == f"/inst/sounds/surge/{s.id}-zh"
        assert surge.match("en", "housing")[1].endswith(f"{s.id}-en")  # type: ignore[index]
        assert surge.match("ja", "housing")[1].endswith(f"{s.id}-zh")  # type: ignore[index]  # the default's
        assert surge.match("zh", "transport") is None and surge.match("zh", "general") is None
        clock.now = T0 + 600
        assert surge.match("zh", "housing") is None  # over at its end
        assert surge.board() == {"surges": []}
    finally:
        await store.close()


async def test_everyone_a_later_start_and_a_topic_message_first(tmp_path: Path) -> None:
    surge, store, clock = await service(tmp_path)
    try:
        everyone = await surge.create(BOSS, {"scope": "everyone", "ends_at": T0 + 900, "texts": {"zh": "全体"}})
        later = await surge.create(BOSS, {"scope": "topic", "target": "transport", "starts_at": T0 + 60,
                                          "ends_at": T0 + 900, "texts": {"zh": "交通"}})
        district = await surge.create(BOSS, {"scope": "district", "target": "朝阳区", "ends_at": T0 + 900,
                                             "texts": {"zh": "朝阳"}})
        assert surge.match("zh", "transport")[0] is everyone  # type: ignore[index]  # not started yet
        assert surge.match("zh", "general")[0] is everyone  # type: ignore[index]
        clock.now = T0 + 60
        assert surge.match("zh", "transport")[0] is later  # type: ignore[index]
        # a district message never matches at intake (the caller has no district yet), but is shown
        assert district.id in [s["id"] for s in surge.board()["surges"]]
        await surge.end(BOSS, everyone.id)
        assert surge.match("zh", "general") is None
        with pytest.raises(SurgeError) as err:
            await surge.end(BOSS, everyone.id)
        assert err.value.error_id == "surge-unknown" and err.value.status == 404
    finally:
        await store.close()


async def test_counts_are_kept_and_read_back_after_a_restart(tmp_path: Path) -> None:
    surge, store, clock = await service(tmp_path)
    try:
        s = await surge.create(BOSS, {"scope": "topic", "target": "housing", "ends_at": T0 + 600,
                                      "texts": {"zh": "已知"}})
        for what in ("played", "played", "informed", "opted_out"):
            await surge.counted(str(s.id), what)
        await surge.counted("999", "played")  # an id not on: nothing
        await surge.counted("x;1", "played")
        again = surge_service(surge.settings, store, tmp_path, clock)
        await again.load()
        shown = again.board()["surges"]
        assert [(r["played"], r["informed"], r["opted_out"], r["on"]) for r in shown] == [(2, 1, 1, True)]
        assert again.match("zh", "housing") is not None  # its sound files are still there
    finally:
        await store.close()


@pytest.mark.parametrize("body, says", [
    ({"scope": "street", "ends_at": T0 + 60, "texts": {"zh": "x"}}, "scope"),
    ({"scope": "topic", "target": "nope", "ends_at": T0 + 60, "texts": {"zh": "x"}}, "topic"),
    ({"scope": "everyone", "ends_at": T0 + 60, "texts": {"xx": "x"}}, "language"),
    ({"scope": "everyone", "ends_at": T0 + 60, "texts": {"zh": "x" * 301}}, "300"),
    ({"scope": "everyone", "ends_at": T0 + 60, "texts": {}}, "either"),
    ({"scope": "everyone", "ends_at": T0 + 60, "texts": {"zh": "x"}, "recording": "/etc/passwd"}, "either"),
    ({"scope": "everyone", "ends_at": T0 + 60, "recording": "/etc/passwd"}, "surge-recordings"),
    ({"scope": "everyone", "ends_at": T0 - 1, "texts": {"zh": "x"}}, "ends_at"),
    ({"scope": "everyone", "ends_at": T0 + 25 * 3600, "texts": {"zh": "x"}}, "24 h"),
    ({"scope": "everyone", "ends_at": "soon", "texts": {"zh": "x"}}, "epoch"),
])
async def test_bad_messages_are_refused(tmp_path: Path, body: dict[str, Any], says: str) -> None:
    surge, store, _ = await service(tmp_path)
    try:
        with pytest.raises(SurgeError) as err:
            await surge.create(BOSS, body)
        assert err.value.status == 400 and says in str(err.value)
        assert surge.board() == {"surges": []} and audit_rows(store) == []
    finally:
        await store.close()


async def test_a_recording_is_converted_and_played_whatever_the_language(tmp_path: Path) -> None:
    surge, store, _ = await service(tmp_path)
    try:
        surge.uploads.mkdir(parents=True)
        (surge.uploads / "tone.wav").write_bytes(b"RIFF")
        s = await surge.create(BOSS, {"scope": "everyone", "ends_at": T0 + 60,
                                      "recording": str(surge.uploads / "tone.wav")})
        assert (tmp_path / "sounds/surge" / f"{s.id}-rec.wav").read_bytes() == b"RIFF"
        assert surge.match("ko", "general")[1].endswith(f"{s.id}-rec")  # type: ignore[index]
    finally:
        await store.close()


async def test_through_the_api_a_supervisor_sets_and_ends_it_an_operator_may_not(tmp_path: Path) -> None:
    f = Floor(tmp_path)
    await f.store.open()
    from test_wallboard import PASSWORD
    for name, role, ext in (("op1", "operator", "1001"), ("boss", "supervisor", "1901")):
        await f.graph.users.add(name, role, PASSWORD, extension=ext, settings=f.settings)
    clock = Clock()
    clock.now = __import__("time").time()
    surge = surge_service(replace(f.settings, state_dir=tmp_path / "state"), f.store, tmp_path, clock)
    f.graph.wallboard.sections["surge"] = surge.board
    port = unused_port()
    served = replace(f.settings, http=replace(f.settings.http, port=port))
    f.graph.start(clocks=False)
    client: TestClient[Any, Any] = TestClient(TestServer(build_app(replace(f.graph.web("t"), settings=served,
                                                                           surge=surge)), port=port))
    await client.start_server()

    class W:
        pass
    w = W()
    w.client = client  # type: ignore[attr-defined]
    op, op_csrf = await login(w, "op1")  # type: ignore[arg-type]
    boss, csrf = await login(w, "boss")  # type: ignore[arg-type]
    body = {"scope": "topic", "target": "housing", "ends_at": clock.now + 600, "texts": {"zh": "已知"}}
    try:
        r = await op.post("/api/surge", json=body, headers={"X-CSRF-Token": op_csrf})
        assert r.status == 403 and (await r.json())["error"] == "forbidden"
        r = await boss.post("/api/surge", json={**body, "scope": "?"}, headers={"X-CSRF-Token": csrf})
        assert r.status == 400 and (await r.json())["error"] == "surge-invalid"
        r = await boss.post("/api/surge", json=body, headers={"X-CSRF-Token": csrf})
        assert r.status == 201
        made = (await r.json())["surge"]
        snap = await (await boss.get("/api/wallboard")).json()
        assert [s["id"] for s in snap["surge"]["surges"]] == [made["id"]]
        assert [s["id"] for s in (await (await boss.get("/api/surge")).json())["surges"]] == [made["id"]]
        r = await op.delete(f"/api/surge/{made['id']}", headers={"X-CSRF-Token": op_csrf})
        assert r.status == 403
        r = await boss.delete(f"/api/surge/{made['id']}", headers={"X-CSRF-Token": csrf})
        assert r.status == 200
        r = await boss.delete(f"/api/surge/{made['id']}", headers={"X-CSRF-Token": csrf})
        assert r.status == 404 and (await r.json())["error"] == "surge-unknown"
        rows = [r for r in audit_rows(f.store) if r["action"].startswith("surge")]
        assert [(r["action"], r["actor"], r["target"]) for r in rows] == [
            ("surge_created", "boss", f"surge:{made['id']}"), ("surge_ended", "boss", f"surge:{made['id']}")]
    finally:
        await op.close()
        await boss.close()
        await client.close()
        await f.graph.stop()
        await f.store.close()


async def test_the_route_answer_carries_the_message_once_and_the_hang_up_counts_informed(tmp_path: Path) -> None:
    """runtime.route: HL_SURGE and HL_SURGE_ID for a housing caller, nothing after a language switch
    (the path holds switch:) nor for another topic; ivr_hangup with HL_SURGE_HEARD counts informed
    unless the call reached the queue."""
    from types import SimpleNamespace

    from hotline.runtime import Hotline

    surge, store, _ = await service(tmp_path)
    try:
        s = await surge.create(BOSS, {"scope": "topic", "target": "housing", "ends_at": T0 + 600,
                                      "texts": {"zh": "已知"}})
        h = Hotline.__new__(Hotline)
        decision = SimpleNamespace(queue="hl-zh-housing", max_penalty=0, rule="")
        published: list[Any] = []
        h.settings = surge.settings
        h.surge = surge
        h.bus = SimpleNamespace(publish=published.append)  # type: ignore[assignment]
        h.services = SimpleNamespace(router=SimpleNamespace(decide=lambda *a: decision), recordings=None,  # type: ignore[assignment]
                                     calls=SimpleNamespace(ever_queued=lambda uid: False))
        first = await h.route("u1", "zh", "housing", "lang:zh/topic:housing/", "")
        assert (first["HL_SURGE"], first["HL_SURGE_ID"]) == (f"/inst/sounds/surge/{s.id}-zh", str(s.id))
        again = await h.route("u1", "en", "housing", "lang:zh/topic:housing/switch:en/", "")
        other = await h.route("u2", "zh", "transport", "lang:zh/topic:transport/", "")
        assert again["HL_SURGE"] == other["HL_SURGE"] == "" and first["HL_ROUTED"] == "1"
        await h.ivr_hangup("u1", "", "zh", "lang:zh/topic:housing/", "139", "1", str(s.id))  # queued: not informed
        await h.ivr_hangup("u3", "", "zh", "lang:zh/topic:housing/", "139", "", str(s.id))
        assert (s.played, s.informed, s.opted_out) == (1, 1, 0) and len(published) == 1
        await h.surge_optout(str(s.id))
        assert s.opted_out == 1
    finally:
        await store.close()
