"""The wallboard in-process: its figures from events (windows, both service-level definitions,
averages, alerts), the deltas it pushes, supervision actions with their audit lines, skills kept
across a restart, roles, and the history against the case rows."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer, unused_port

from hotline import config
from hotline import events as ev
from hotline.auth.users import Principal
from hotline.bus import Bus
from hotline.cases.caller_key import mask_number
from hotline.cases.store import CaseStore
from hotline.graph import build_services
from hotline.queue.skills import memberships
from hotline.web.app import build_app

SITE = Path(__file__).resolve().parents[1] / "etc/site.example.toml"
PASSWORD = "correct horse battery"
T0 = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


class RecordingPbx:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    async def queue_add(self, *a: Any) -> None:
        self.calls.append(("add", *a))

    async def queue_remove(self, *a: Any) -> None:
        self.calls.append(("remove", *a))

    async def queue_pause(self, *a: Any) -> None:
        self.calls.append(("pause", *a))

    async def queue_penalty(self, *a: Any) -> None:
        self.calls.append(("penalty", *a))

    async def supervise(self, *a: Any) -> None:
        self.calls.append(("supervise", *a))

    async def hangup(self, *a: Any) -> None:
        self.calls.append(("hangup", *a))

    async def move_to_conference(self, *a: Any) -> None:
        self.calls.append(("move", *a))

    async def originate_to_conference(self, *a: Any) -> None:
        self.calls.append(("originate", *a))


def member(queue: str, ext: str, status: int = 1, paused: bool = False, reason: str = "",
           at: float = T0) -> ev.MemberStatus:
    return ev.MemberStatus(queue, f"PJSIP/{ext}", ext, status, paused, reason, status != 1, at)


class Floor:
    """The services the wallboard sits on, fed by hand."""

    def __init__(self, tmp_path: Path, clock: Clock | None = None, settings: config.Settings | None = None) -> None:
        self.settings = settings or config.load(SITE, {})
        self.clock = clock or Clock()
        self.pbx = RecordingPbx()
        self.store = CaseStore(tmp_path / "c.db")
        self.graph = g = build_services(self.settings, self.store, self.pbx, Bus(), clock=self.clock,  # type: ignore[arg-type]
                                        since_day=lambda: T0 - 3600)
        self.roster, self.sl, self.router, self.commands, self.board = g.roster, g.sl, g.router, g.commands, g.board
        self.hub, self.supervision, self.wallboard = g.hub, g.supervision, g.wallboard

    def apply(self, *events: ev.Event) -> None:
        for e in events:
            self.graph.apply(e)

    def login(self, ext: str) -> None:
        self.apply(*(member(q, ext) for q in memberships(self.settings.operator(ext))))  # type: ignore[arg-type]

    def call(self, uid: str, queue: str, joined: float, answered_by: str = "", wait: int = 0,
             abandon_after: int = 0) -> None:
        self.apply(ev.CallerJoined(uid, uid, queue, "13900001234", "zh", "housing", "", 1, joined))
        if answered_by:
            self.apply(ev.AgentConnected(uid, queue, f"PJSIP/{answered_by}", answered_by, wait, joined + wait,
                                         agent_channel=f"PJSIP/{answered_by}-0001"))
        elif abandon_after:
            self.apply(ev.CallerAbandoned(uid, queue, abandon_after, joined + abandon_after))


def test_figures_both_definitions_windows_and_averages(tmp_path: Path) -> None:
    f = Floor(tmp_path)
    f.board.since_day = T0 - 3600
    f.login("1001")
    f.login("1002")
    q = "hl-zh-housing"
    f.call("old", q, T0 - 1200, answered_by="1001", wait=20)  # 20 min ago: in 30 min, not 5 min
    f.apply(ev.AgentCompleted("old", q, "PJSIP/1001", 20, 100, "agent", T0 - 1080))
    f.call("a", q, T0 - 100, answered_by="1002", wait=5)
    f.call("b", q, T0 - 60, abandon_after=30)
    f.call("c", q, T0 - 12)  # waiting now
    rows = {r["queue"]: r for r in f.board.queues()}
    r = rows[q]
    assert (r["answered"], r["abandoned"], r["waiting"]) == (2, 1, 1)
    assert r["oldest_since"] == T0 - 12
    # no arrival on these events: the first-ring clock starts at queue entry, both clocks agree
    assert r["sl"]["5m"] == {"over_answered": 100.0, "over_offered": 50.0, "answered": 1, "abandoned": 1,
                             "first_ring_over_answered": 100.0, "first_ring_over_offered": 50.0}
    assert r["sl"]["30m"]["over_answered"] == 50.0 and r["sl"]["30m"]["over_offered"] == pytest.approx(33.3)
    assert r["sl"]["today"] == {"over_answered": 50.0, "over_offered": pytest.approx(33.3),
                                "first_ring_over_answered": 50.0, "first_ring_over_offered": pytest.approx(33.3)}
    assert r["average_wait"] == round((20 + 5 + 30) / 3, 1) and r["average_handling"] == 100.0
    t = f.board.totals()
    assert (t["offered"], t["answered"], t["abandoned"], t["waiting"], t["talking"]) == (4, 2, 1, 1, 1)
    agent = f.board.agent("1002")
    assert agent["state"] == "talking" and agent["call"]["wait"] == 5.0
    assert agent["call"]["caller"] == "139****1234" and "13900001234" not in json.dumps(f.board.agents())
    assert mask_number("1234") == "****" and mask_number("12345678") == "123*5678"


def test_alerts_come_before_the_target_slips(tmp_path: Path) -> None:
    f = Floor(tmp_path)
    f.board.since_day = T0 - 3600
    f.login("1002")
    f.apply(member("hl-all", "1002", status=2))  # on a call: nobody free for zh-transport
    f.call("w", "hl-zh-transport", T0 - 9)
    assert [a for a in f.board.alerts() if a["kind"] == "waiting"] == []
    f.clock.now += 1.5  # 10.5 s
    waiting = [a for a in f.board.alerts() if a["kind"] == "waiting"]
    assert len(waiting) == 1 and waiting[0]["severity"] == "critical" and "hl-zh-transport" in waiting[0]["text"]
    f.apply(member("hl-all", "1002", status=1))  # free again, with the skill: no alert (it will be rung)
    for q in memberships(f.settings.operator("1002")):  # type: ignore[arg-type]
        f.apply(member(q, "1002"))
    assert [a for a in f.board.alerts() if a["kind"] == "waiting"] == []
    # the service level of the last 15 minutes under the goal; then a pause that lasts too long
    f.call("late", "hl-zh-housing", T0 - 60, answered_by="1002", wait=40)
    kinds = {a["id"] for a in f.board.alerts()}
    assert {"sl:hl-zh-housing", "sl:all"} <= kinds
    f.login("1001")
    f.apply(*(member(q, "1001", paused=True, reason="meal") for q in memberships(f.settings.operator("1001"))))  # type: ignore[arg-type]
    assert "paused:1001" not in {a["id"] for a in f.board.alerts()}
    f.clock.now += 901
    long = [a for a in f.board.alerts() if a["id"] == "paused:1001"]
    assert long and "meal" in long[0]["text"]
    assert ("1001", True, "meal", T0) in f.board.pause_log  # the event's time


async def test_updates_carry_only_what_changed(tmp_path: Path) -> None:
    f = Floor(tmp_path)
    await f.store.open()
    try:
        f.login("1001")
        first = f.wallboard.flush(f.board.agents())
        assert first is not None and len(first["agents"]) == len(f.settings.operators)
        assert f.wallboard.flush(f.board.agents()) is None  # nothing changed
        f.apply(member("hl-all", "1001", status=6))  # ringing
        update = f.wallboard.flush(f.board.take_dirty())
        assert update is not None and [a["extension"] for a in update["agents"]] == ["1001"]
        assert update["agents"][0]["state"] == "ringing" and "queues" not in update
    finally:
        await f.store.close()


class Web:
    def __init__(self, tmp_path: Path) -> None:
        self.floor = Floor(tmp_path)
        f = self.floor
        self.users, self.desktop = f.graph.users, f.graph.desktop

    async def start(self) -> TestClient[Any, Any]:
        f = self.floor
        await f.store.open()
        for name, role, ext in (("op1", "operator", "1001"), ("boss", "supervisor", "1901"),
                                ("nophone", "supervisor", "")):
            await self.users.add(name, role, PASSWORD, extension=ext, settings=f.settings)
        port = unused_port()  # the origin check compares with the configured origins only
        served = replace(f.settings, http=replace(f.settings.http, port=port))
        f.graph.start(clocks=False)  # the desk's CaseSaved reaches the desktop and the wrap-up
        app = build_app(replace(f.graph.web("secret-token"), settings=served))
        self.client = TestClient(TestServer(app, port=port))
        await self.client.start_server()
        return self.client


@pytest.fixture
async def web(tmp_path: Path) -> Any:
    w = Web(tmp_path)
    await w.start()
    yield w
    await w.client.close()
    await w.floor.graph.stop()
    await w.floor.store.close()


async def login(web: Web, username: str) -> tuple[aiohttp.ClientSession, str]:
    c = aiohttp.ClientSession(base_url=str(web.client.server.make_url("")), cookie_jar=aiohttp.CookieJar(unsafe=True))
    page = await c.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', await page.text()).group(1)  # type: ignore[union-attr]
    r = await c.post("/login", data={"username": username, "password": PASSWORD, "csrf": token})
    assert r.status == 200
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', await r.text())
    return c, csrf.group(1) if csrf else ""


async def test_roles_skills_audit_and_spy(web: Web) -> None:
    f = web.floor
    op, _ = await login(web, "op1")
    boss, csrf = await login(web, "boss")
    try:
        for path in ("/wallboard", "/api/wallboard", "/history", "/history.csv", "/api/audit"):
            assert (await op.get(path, allow_redirects=False)).status == 403, path
        r = await op.post("/api/agents/1002/skills", json={"languages": {"en": 5}}, headers={"X-CSRF-Token": "x"})
        assert r.status == 403
        snap = await (await boss.get("/api/wallboard")).json()
        assert snap["type"] == "wallboard_snapshot" and len(snap["agents"]) == len(f.settings.operators)
        assert snap["me"]["extension"] == "1901"
        r = await boss.post("/api/agents/1002/skills", json={"languages": {"en": 5}, "topics": []})
        assert r.status == 403  # no CSRF token

        f.login("1002")
        f.pbx.calls.clear()
        h = {"X-CSRF-Token": csrf}
        r = await boss.post("/api/agents/1002/skills", json={"languages": {"zh": 5, "xx": 3}}, headers=h)
        assert (r.status, (await r.json())["error"]) == (400, "bad-request") and f.pbx.calls == []
        r = await boss.post("/api/agents/1002/skills", headers=h,
                            json={"languages": {"zh": 3, "en": 5}, "topics": ["transport"]})
        assert r.status == 200, await r.text()
        calls = set(f.pbx.calls)
        assert ("add", "hl-en-transport", "PJSIP/1002", 0, "1002", "") in calls
        assert ("add", "hl-en-general", "PJSIP/1002", 0, "1002", "") in calls
        assert ("penalty", "hl-zh-transport", "PJSIP/1002", 2) in calls
        assert ("remove", "hl-zh-housing", "PJSIP/1002") in calls
        assert f.router.skills.memberships("1002")["hl-en-transport"] == 0
        audit = (await (await boss.get("/api/audit")).json())["audit"]
        assert audit[0]["actor"] == "boss" and audit[0]["action"] == "skills" and audit[0]["target"] == "1002"
        assert audit[0]["detail"]["to"] == {"languages": {"zh": 3, "en": 5}, "topics": ["transport"]}

        # a force pause from the wallboard is audited too
        r = await boss.post("/api/agents/1002/pause", headers=h, json={"reason": "coaching"})
        assert r.status == 200 and ("pause", "PJSIP/1002", True, "coaching") in f.pbx.calls
        audit = (await (await boss.get("/api/audit")).json())["audit"]
        assert (audit[0]["action"], audit[0]["detail"]) == ("pause", {"reason": "coaching"})

        # listen / whisper / barge: onto the operator's channel, from the supervisor's phone
        r = await boss.post("/api/supervision/1002/whisper", headers=h)
        assert (r.status, (await r.json())["error"]) == (409, "no-call")
        f.call("u1", "hl-en-transport", T0 - 3, answered_by="1002", wait=3)
        r = await boss.post("/api/supervision/1002/whisper", headers=h)
        assert r.status == 200, await r.text()
        sup = [c for c in f.pbx.calls if c[0] == "supervise"][-1]
        assert sup[1:4] == ("PJSIP/1901", "PJSIP/1002-0001", "whisper")
        channel_id = sup[5]
        r = await boss.post("/api/supervision/1002/barge", headers=h)  # a mode change ends the first
        assert ("hangup", channel_id) in f.pbx.calls
        assert [s.mode for s in f.supervision.sessions.values()] == ["barge"]
        barge_id = f.supervision.sessions["1901"].channel_id
        await f.wallboard.handle(ev.ChannelHangup(barge_id, barge_id, "PJSIP/1901-00000009", 16, T0 + 20))
        assert f.supervision.sessions == {}
        actions = [a["action"] for a in (await (await boss.get("/api/audit")).json())["audit"]]
        assert actions[:4] == ["spy-ended", "barge", "spy-stop", "whisper"]
        nophone, csrf2 = await login(web, "nophone")
        r = await nophone.post("/api/supervision/1002/listen", headers={"X-CSRF-Token": csrf2})
        assert (r.status, (await r.json())["error"]) == (409, "no-phone")
        await nophone.close()
    finally:
        await op.close()
        await boss.close()

    # the skills outlive a restart: a new process reads them from the store
    again = Floor(Path(web.floor.store.path).parent)
    again.store = f.store
    again.supervision.store = f.store
    assert await again.supervision.load_skills() == 1
    assert again.router.skills.get("1002").languages == {"zh": 3, "en": 5}  # type: ignore[union-attr]


async def test_history_agrees_with_the_case_rows(web: Web) -> None:
    import datetime as dt
    store = web.floor.store
    day = dt.date.today()
    base = dt.datetime.combine(day, dt.time(9, 10)).timestamp()
    rows = [  # uniqueid, minute offset, wait, answered, talk, operator
        ("c1", 0, 5, True, 100, "1001"), ("c2", 5, 20, True, 200, "1001"), ("c3", 10, 8, False, 0, ""),
        ("c4", 25, 3, True, 60, "1002"), ("c5", 40, 30, False, 0, "")]
    for uid, minute, wait, answered, talk, opx in rows:
        at = base + minute * 60
        await store.create({"uniqueid": uid, "linkedid": uid, "caller_number": "1", "language": "zh",
                            "topic": "housing", "ivr_path": "", "queue": "hl-zh-housing", "state": "queued",
                            "queued_at": at})
        if answered:
            await store.update(uid, {"state": "ended", "answered_at": at + wait, "wait_seconds": wait,
                                     "operator": opx, "ended_at": at + wait + talk, "talk_seconds": talk})
        else:
            await store.update(uid, {"state": "abandoned", "abandoned": 1, "wait_seconds": wait,
                                     "ended_at": at + wait})
    # a case entered by hand (a letter, a walk-in) is no offered call
    await store.create({"uniqueid": "m1", "linkedid": "", "caller_number": "1", "language": "zh", "topic": "housing",
                        "ivr_path": "", "queue": "", "state": "ended", "queued_at": base + 60, "source": "manual"})
    pauses = web.floor.graph.operators
    await pauses.open_pause("1001", "meal", base)
    await pauses.close_pause("1001", base + 600)
    await pauses.open_pause("1001", "wrap-up", base + 700)
    await pauses.close_pause("1001", base + 730)
    boss, _ = await login(web, "boss")
    try:
        data = await (await boss.get(f"/history.json?from={day}&to={day}")).json()
        (d,) = data["days"]
        assert (d["offered"], d["answered"], d["abandoned"], d["answered_in_target"]) == (5, 3, 2, 2)
        assert d["sl_over_answered"] == pytest.approx(66.7) and d["sl_over_offered"] == 40.0
        assert d["asa"] == pytest.approx(round(28 / 3, 1)) and d["aht"] == pytest.approx(120.0)
        halves = {h["bucket"][-5:]: h for h in data["half_hours"]}
        assert (halves["09:00"]["offered"], halves["09:30"]["offered"]) == (3, 2)
        ops = {o["operator"]: o for o in data["operators"]}
        assert (ops["1001"]["calls"], ops["1001"]["talk"], ops["1001"]["pause"], ops["1001"]["wrapup"]) == \
            (2, 300, 600, 30)
        text = await (await boss.get(f"/history.csv?from={day}&kind=operators")).text()
        table = list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))  # the BOM: web/csv_export.py
        assert table[0]["operator"] == "1001" and table[0]["name"] == "Wang Fang" and table[0]["pause"] == "600.0"
        page = await (await boss.get(f"/history?from={day}")).text()
        assert 'id="history-days"' in page and "Wang Fang" in page
        r = await boss.get("/history?from=2026-13-01")
        assert r.status == 400
    finally:
        await boss.close()


class CaseRows:
    async def interpreting(self, row: dict[str, Any]) -> None: ...

    async def get(self, uniqueid: str) -> dict[str, Any] | None:
        return {"id": 4711, "uniqueid": uniqueid}


async def test_automatic_offer_and_interpreters_on_the_wallboard(tmp_path: Path) -> None:
    import tomllib

    from hotline.floor.interpreters import InterpreterService

    data = tomllib.loads(SITE.read_text())
    data["interpreting"] = {"auto_offer": ["ko"], "answer_target_seconds": 30}
    data["interpreters"] = [{"extension": "3001", "name": "Park", "languages": {"ko": 5, "zh": 4}}]
    f = Floor(tmp_path, settings=config.parse(data, SITE.parent, {}))
    pbx = RecordingPbx()
    svc = InterpreterService(f.settings, f.graph.calls, f.graph.skills, pbx, CaseRows(), CaseRows(), lambda e: None,
                             clock=f.clock)
    f.wallboard.interpreting = svc.board_section
    svc.set_state("3001", "login")
    f.login("1001")  # Mandarin and English, no Korean
    f.login("1004")  # speaks Korean, but is busy
    f.clock.now = T0 + 100

    def answered(uid: str, lang: str, ext: str) -> None:
        q = f"hl-{lang}-housing"
        f.apply(ev.CallerJoined(uid, uid, q, "13900001234", lang, "housing", "", 1, f.clock.now - 9),
                ev.AgentConnected(uid, q, f"PJSIP/{ext}", ext, 9, f.clock.now, channel=f"PJSIP/citizens-{uid}",
                                  agent_channel=f"PJSIP/{ext}-{uid}", language=lang))

    answered("ko-by-speaker", "ko", "1004")  # a Korean speaker answered: nothing to offer
    answered("zh-call", "zh", "1002")  # not an offered language
    assert await svc.auto_offer() == []
    answered("ko-call", "ko", "1001")  # the overflow to a Mandarin operator
    (req,) = await svc.auto_offer()
    assert (req.uniqueid, req.language, req.operator, req.requested_by, req.case_id) == ("ko-call", "ko", "1001",
                                                                                       "auto", 4711)
    assert pbx.calls[0] == ("move", "PJSIP/citizens-ko-call", "PJSIP/1001-ko-call", req.room)
    kind, dial, room, _cid, _chan, _ring, lang, case = pbx.calls[1]
    assert (kind, dial, room, lang, case) == ("originate", "PJSIP/3001", req.room, "ko", "4711")
    assert await svc.auto_offer() == []  # once per call

    section = f.wallboard._sections()["interpreting"]
    assert section["answer_target"] == 30
    assert section["interpreters"] == [{"extension": "3001", "name": "Park", "languages": {"ko": 5, "zh": 4},
                                        "state": "talking", "idle_since": T0, "request": req.id}]
    (row,) = section["requests"]
    assert (row["state"], row["ringing"], row["requested_by"], row["late"]) == ("ringing", "3001", "auto", False)
    f.clock.now += 31  # past the request's answer target and still not connected
    assert f.wallboard._sections()["interpreting"]["requests"][0]["late"] is True


def test_supervision_needs_a_known_phone() -> None:
    with pytest.raises(config.ConfigError, match=r"supervisors\[0\]\.extension"):
        config.parse({**_base(), "supervisors": [{"extension": "1001"}]}, Path("."), {})
    s = config.parse({**_base(), "supervisors": [{"extension": "1901"}]}, Path("."), {})
    assert [p.extension for p in s.phones][-1] == "1901"
    with pytest.raises(config.ConfigError, match=r"users\[0\]\.extension"):
        config.parse({**_base(), "users": [{"username": "boss", "role": "supervisor", "extension": "1999"}]},
                     Path("."), {})
    assert Principal("boss", "supervisor", extension="1901").extension == "1901"


def _base() -> dict[str, Any]:
    import tomllib
    return tomllib.loads(SITE.read_text().split("[[supervisors]]")[0])
