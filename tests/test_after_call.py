"""After the call, in-process: deadlines in working days, dispatch rules, the case's life through
the web app as the hotline, two departments and a supervisor use it, the call back's attempts,
retries and operator tasks, search (Mandarin, Korean, English), trends, hotspots and bundles, and
the recordings' archive copy (pydub and ffmpeg for real) and disk guard."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer, unused_port

from hotline import config
from hotline import events as ev
from hotline.bus import Bus
from hotline.cases import deadlines
from hotline.cases.callback import within_hours
from hotline.cases.search import SearchStore
from hotline.cases.store import CaseStore
from hotline.cases.text_index import match_query
from hotline.cases.workflow import suggest_department
from hotline.graph import build_services
from hotline.recordings.archive import ArchiveError, make_archive, verify
from hotline.recordings.service import RecordingService
from hotline.recordings.store import RecordingStore
from hotline.sim import casegen
from hotline.web.app import build_app

SITE = Path(__file__).resolve().parents[1] / "etc/site.example.toml"
PASSWORD = "correct horse battery"


class Clock:
    def __init__(self) -> None:
        self.t = dt.datetime(2026, 11, 20, 10, 0).astimezone().timestamp()  # a Friday, 10:00

    def __call__(self) -> float:
        return self.t


class Pbx:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    async def queue_add(self, *a: Any) -> None: ...
    async def queue_remove(self, *a: Any) -> None: ...
    async def queue_pause(self, *a: Any) -> None: ...

    async def originate_callback(self, dial: str, caller_id: str, channel_id: str, ring_seconds: int,
                                 variables: dict[str, str]) -> None:
        self.calls.append(("callback", dial, channel_id, variables))

    async def originate_operator_callback(self, phone: str, dial: str, caller_id: str, channel_id: str) -> None:
        self.calls.append(("operator", phone, dial, channel_id))


def settings(**callback: Any) -> config.Settings:
    s = config.load(SITE, {})
    return replace(s, deadlines=replace(s.deadlines, holidays=("2026-11-25",), working_weekends=("2026-11-29",)),
                   callback=replace(s.callback, dial="PJSIP/citizens/sip:{number}@127.0.0.1:5092",
                                    hours_start="00:00", hours_end="00:00", **callback))


# -- pure rules --------------------------------------------------------------------------------

def test_working_day_deadline_skips_weekends_and_holidays_and_counts_a_working_sunday() -> None:
    s = settings()
    friday = dt.datetime(2026, 11, 20, 16, 30).astimezone().timestamp()
    due = deadlines.due(friday, s.deadlines)
    # Mon 23, Tue 24, (Wed 25 holiday), Thu 26, Fri 27, (Sat 28), Sun 29 worked, Mon 30, Tue 1 Dec
    assert dt.datetime.fromtimestamp(due.due_at).date() == dt.date(2026, 12, 2)  # end of Tue 1 Dec
    assert dt.datetime.fromtimestamp(due.due_at).hour == 0
    assert dt.datetime.fromtimestamp(due.warn_at).date() == dt.date(2026, 11, 30)  # end of the 5th: Sun 29
    calendar = replace(s.deadlines, working_days=False)
    assert deadlines.due(friday, calendar).due_at == pytest.approx(friday + 7 * 86400, abs=3600)
    assert deadlines.standing(due.warn_at + 1, due.warn_at, due.due_at) == "warning"
    assert deadlines.standing(due.due_at, due.warn_at, due.due_at) == "overdue"


def test_the_most_specific_dispatch_rule_wins() -> None:
    rules = settings().dispatch_rules
    assert suggest_department(rules, "housing", "Chaoyang") == "housing_bureau"
    assert suggest_department(rules, "other", "Chaoyang") == "chaoyang_office"
    assert suggest_department(rules, "other", "Haidian") == ""
    r = (config.DispatchRule("a", ("housing",)), config.DispatchRule("b", ("housing",), ("Haidian",)))
    assert suggest_department(r, "housing", "Haidian") == "b"
    assert suggest_department(r, "housing", "Xicheng") == "a"


def test_calls_are_placed_only_within_calling_hours() -> None:
    late = dt.datetime(2026, 11, 20, 22, 15).astimezone().timestamp()
    assert dt.datetime.fromtimestamp(within_hours(late, "08:00", "21:00")) == dt.datetime(2026, 11, 21, 8, 0)
    noon = dt.datetime(2026, 11, 20, 12, 0).astimezone().timestamp()
    assert within_hours(noon, "08:00", "21:00") == noon


def test_search_words_become_safe_fts_queries() -> None:
    assert match_query("漏水") == '"漏水"'
    assert match_query("电梯坏了") == '"电梯 梯坏 坏了"'
    assert match_query('lift" OR 1') == '"lift" AND "OR" AND "1"'
    assert match_query("stree*") == '"stree" *'
    assert match_query("  ") == ""


def test_bad_after_call_settings_are_refused() -> None:
    base = {"languages": [{"code": "zh", "name": "M", "digit": "1", "voice": "cmn"}],
            "topics": [{"code": "housing", "name": "h", "digit": "1"}]}
    with pytest.raises(config.ConfigError, match="dispatch_rules\\[0\\].department"):
        config.parse({**base, "dispatch_rules": [{"department": "nobody"}]}, Path("."), {})
    with pytest.raises(config.ConfigError, match="callback.dial"):
        config.parse({**base, "callback": {"dial": "PJSIP/carrier"}}, Path("."), {})
    with pytest.raises(config.ConfigError, match="users\\[0\\].department"):
        config.parse({**base, "users": [{"username": "dep", "role": "department"}]}, Path("."), {})
    with pytest.raises(config.ConfigError, match="recordings.format"):
        config.parse({**base, "recordings": {"format": "flac"}}, Path("."), {})
    with pytest.raises(config.ConfigError, match="deadlines.holidays"):
        config.parse({**base, "deadlines": {"holidays": ["1 May"]}}, Path("."), {})


# -- the web app ---------------------------------------------------------------------------------

class Web:
    def __init__(self, tmp_path: Path, **callback: Any) -> None:
        self.settings = settings(**callback)
        self.clock = Clock()
        self.store = CaseStore(tmp_path / "c.db")
        self.pbx = Pbx()
        self.said: list[tuple[int, str, str]] = []

    async def start(self) -> None:
        async def say(cb_id: int, text: str, lang: str) -> str:
            self.said.append((cb_id, text, lang))
            return f"/sounds/summary/{cb_id}"
        port = unused_port()  # the origin check compares with the configured origins only
        s = replace(self.settings, http=replace(self.settings.http, port=port))
        self.graph = g = build_services(s, self.store, self.pbx, Bus(), clock=self.clock, say=say)  # type: ignore[arg-type]
        self.users, self.flows, self.workflow, self.callbacks = g.users, g.flows, g.workflow, g.callbacks
        self.recordings = g.recording_store
        for name, role, ext, dept in (("op1", "operator", "1001", ""), ("boss", "supervisor", "", ""),
                                      ("housing", "department", "", "housing_bureau"),
                                      ("transport", "department", "", "transport_bureau")):
            await self.users.add(name, role, PASSWORD, extension=ext, settings=s, department=dept)
        g.start(clocks=False)  # the desk's CaseSaved reaches the desktop and the wrap-up
        app = build_app(g.web("tok"))
        self.client: TestClient[Any, Any] = TestClient(TestServer(app, port=port))
        await self.client.start_server()
        self.u = {name: User(self, *await self.login(name)) for name in ("op1", "boss", "housing", "transport")}

    async def login(self, username: str) -> tuple[aiohttp.ClientSession, str]:
        base = str(self.client.server.make_url(""))
        session = aiohttp.ClientSession(base_url=base, cookie_jar=aiohttp.CookieJar(unsafe=True))
        page = await (await session.get("/login")).text()
        token = re.search(r'name="csrf" value="([^"]+)"', page)
        assert token
        landed = await session.post("/login", data={"username": username, "password": PASSWORD,
                                                    "csrf": token.group(1), "next": "/home"})
        csrf = re.search(r'name="csrf" value="([^"]+)"', await landed.text())
        return session, csrf.group(1) if csrf else ""

    async def close(self) -> None:
        for user in self.u.values():
            await user.session.close()
        await self.client.close()
        await self.graph.stop()
        await self.store.close()


class User:
    def __init__(self, web: Web, session: aiohttp.ClientSession, csrf: str) -> None:
        self.web, self.session, self.csrf = web, session, csrf

    async def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        async with self.session.request(method, path, json=body, headers={
                "X-CSRF-Token": self.csrf, "Origin": str(self.web.client.server.make_url("")).rstrip("/")}) as r:
            return r.status, await r.json() if r.content_type == "application/json" else await r.read()


@pytest.fixture
async def web(tmp_path: Path) -> Any:
    w = Web(tmp_path)
    await w.start()
    yield w
    await w.close()


FORM = {"category": "housing", "district": "Dongcheng", "address": "5 Elm Street",
        "description": "楼道漏水严重, water through the ceiling", "urgency": "high", "citizen_name": "Li Lei",
        "confidential": False, "notes": "", "department": "auto"}


async def phone_case(w: Web, uid: str, number: str, form: dict[str, Any]) -> tuple[int, Any]:
    """A call answered by op1, then the operator saves the form (as the desktop does)."""
    await w.store.create({"uniqueid": uid, "caller_number": number, "language": "ko", "topic": "housing",
                          "ivr_path": "", "queue": "ko-housing", "queued_at": w.clock() - 60})
    await w.store.update(uid, {"state": "ended", "operator": "1001", "answered_at": w.clock() - 50})
    return await w.u["op1"].call("POST", f"/api/cases/{uid}/form", form)


async def test_a_case_from_dispatch_to_close_and_reopen(web: Web) -> None:
    u = web.u
    status, saved = await phone_case(web, "c1", "8613900000001", FORM)
    assert status == 200 and saved["status"] == "dispatched" and saved["department"] == "housing_bureau"
    # a transport case, created by hand (a letter), and a confidential housing case
    status, other = await u["op1"].call("POST", "/api/cases", {**FORM, "category": "transport",
                                                              "caller_number": "8613900000002"})
    assert status == 200 and other["department"] == "transport_bureau"
    status, secret = await u["boss"].call("POST", "/api/cases", {**FORM, "confidential": True,
                                                                "citizen_name": "Wang Fang",
                                                                "caller_number": "8613900000003"})
    assert status == 200

    # each department sees its own cases only; the confidential one without the caller
    status, mine = await u["housing"].call("GET", "/api/department/cases")
    assert status == 200
    numbers = {c["id"]: c["caller_number"] for c in mine["cases"]}
    assert set(numbers) == {saved["case_id"], secret["case_id"]}
    assert numbers[secret["case_id"]] == "(confidential)" and numbers[saved["case_id"]] == "8613900000001"
    assert (await u["transport"].call("GET", "/api/cases/c1/detail"))[0] == 403
    assert (await u["transport"].call("POST", "/api/cases/c1/accept", {}))[0] == 403
    status, detail = await u["housing"].call("GET", f"/api/cases/{secret['uniqueid']}/detail")
    assert detail["case"]["citizen_name"] == "(confidential)" and detail["transcript"] == []
    assert (await u["housing"].call("GET", "/api/worklist"))[0] == 403  # the hotline's list, not theirs

    # accept, reply: a call back is placed in the citizen's language with the summary spoken
    assert (await u["housing"].call("POST", "/api/cases/c1/accept", {}))[0] == 200
    assert (await u["housing"].call("POST", "/api/cases/c1/accept", {}))[0] == 409  # not twice
    status, replied = await u["housing"].call("POST", "/api/cases/c1/reply", {
        "text": "The pipe was replaced on 21 November.", "summary": "The pipe was replaced."})
    assert status == 200 and replied["case"]["status"] == "replied"
    await web.callbacks.tick()
    _kind, dial, channel_id, variables = web.pbx.calls[-1]
    assert dial == "PJSIP/citizens/sip:8613900000001@127.0.0.1:5092"
    assert variables["HL_CB_LANG"] == "ko" and variables["HL_CASE"] == str(saved["case_id"])
    assert web.said[-1][1:] == ("The pipe was replaced.", "ko")
    assert (await web.store.get("c1"))["status"] == "callback_due"  # type: ignore[index]

    # the citizen answers: not resolved -> reopened to the same department with a new deadline
    await web.callbacks.handle(ev.OriginateResult(channel_id, True, "4", web.clock()))
    cb_id = variables["HL_CB"]
    assert await web.callbacks.answer(cb_id, "resolved", "2") == {"HL_CB_OK": "1"}
    web.clock.t += 60
    await web.callbacks.answer(cb_id, "satisfied", "2")
    case = await web.store.get("c1")
    assert case is not None and case["status"] == "reopened" and case["department"] == "housing_bureau"
    assert case["resolved"] == 0 and case["satisfied"] == 0 and case["reopen_count"] == 1
    assert case["due_at"] > web.clock()

    # accept again, reply; this time resolved and satisfied: closed
    await u["housing"].call("POST", "/api/cases/c1/accept", {})
    await u["housing"].call("POST", "/api/cases/c1/reply", {"text": "Replaced the whole riser."})
    await web.callbacks.tick()
    channel_id, variables = web.pbx.calls[-1][2], web.pbx.calls[-1][3]
    await web.callbacks.answer(variables["HL_CB"], "resolved", "1")
    await web.callbacks.answer(variables["HL_CB"], "satisfied", "1")
    await web.callbacks.handle(ev.ChannelHangup(channel_id, "", "PJSIP/citizens-1", 16, web.clock()))
    case = await web.store.get("c1")
    assert case is not None and case["status"] == "closed" and case["resolved"] == 1 and case["satisfied"] == 1

    status, detail = await u["boss"].call("GET", "/api/cases/c1/detail")
    actions = [e["action"] for e in detail["events"]]
    assert actions == ["recorded", "dispatched", "accepted", "replied", "callback_due", "reopened", "accepted",
                       "replied", "callback_due", "closed"]
    assert {e["actor"] for e in detail["events"]} >= {"op1", "housing", "hotline"}
    assert detail["events"][1]["detail"]["suggested"] == "housing_bureau"

    # rates: one case answered twice: the last answer counts (resolved, satisfied), 1 reopened
    today = dt.date.fromtimestamp(web.clock()).isoformat()
    status, rates = await u["boss"].call("GET", f"/api/reports/rates?from={today}&to={today}")
    housing = next(d for d in rates["departments"] if d["department"] == "housing_bureau")
    assert housing["dispatched"] == 2 and housing["resolution_rate"] == 100.0 and housing["reopened"] == 1
    assert housing["on_time_rate"] == 100.0


async def test_return_extension_and_escalation(web: Web) -> None:
    u = web.u
    _status, saved = await phone_case(web, "c2", "8613900000009", {**FORM, "department": ""})
    assert saved["status"] == "new"
    status, worklist = await u["op1"].call("GET", "/api/worklist")
    assert [c["id"] for c in worklist["to_dispatch"]] == [saved["case_id"]]
    assert (await u["op1"].call("POST", "/api/cases/c2/dispatch", {"department": "nowhere"}))[0] == 400
    await u["op1"].call("POST", "/api/cases/c2/dispatch", {"department": "transport_bureau"})
    status, returned = await u["transport"].call("POST", "/api/cases/c2/return", {"reason": "a housing matter"})
    assert status == 200 and returned["case"]["status"] == "returned"
    assert (await u["transport"].call("GET", "/api/cases/c2/detail"))[0] == 403  # not theirs any more
    await u["boss"].call("POST", "/api/cases/c2/dispatch", {"department": "housing_bureau"})
    status, asked = await u["housing"].call("POST", "/api/cases/c2/extension", {"days": 5, "reason": "parts"})
    assert status == 200 and asked["case"]["status"] == "extension_requested"
    due_before = (await web.store.get("c2"))["due_at"]  # type: ignore[index]
    assert (await u["housing"].call("POST", "/api/cases/c2/extension/decide", {"approve": True}))[0] == 403
    status, approved = await u["boss"].call("POST", "/api/cases/c2/extension/decide", {"approve": True})
    assert status == 200 and approved["case"]["status"] == "accepted"
    assert approved["case"]["due_at"] > due_before + 4 * 86400

    # day 5 warns, the deadline escalates, each once
    case = await web.store.get("c2")
    assert case is not None
    web.clock.t = case["warn_at"] + 1
    warned, escalated = await web.workflow.sweep()
    assert [c["uniqueid"] for c in warned] == ["c2"] and escalated == []
    web.clock.t = case["due_at"] + 1
    warned, escalated = await web.workflow.sweep()
    assert [c["uniqueid"] for c in escalated] == ["c2"]
    assert await web.workflow.sweep() == ([], [])
    status, worklist = await u["boss"].call("GET", "/api/worklist")
    assert [c["id"] for c in worklist["overdue"]] == [saved["case_id"]]
    assert worklist["overdue"][0]["standing"] == "overdue"
    events = [e["action"] for e in await web.flows.case_events("c2")]
    assert events[-2:] == ["deadline_warning", "escalated"] and "returned" in events


async def test_unanswered_call_backs_retry_then_become_an_operators_task(tmp_path: Path) -> None:
    w = Web(tmp_path, retry_minutes=(1.0, 5.0))
    await w.start()
    try:
        op, boss, housing = w.u["op1"], w.u["boss"], w.u["housing"]
        await phone_case(w, "c3", "8613900000010", FORM)
        await housing.call("POST", "/api/cases/c3/reply", {"text": "Fixed the leak yesterday."})
        for attempt in (1, 2, 3):
            await w.callbacks.tick()
            assert len(w.pbx.calls) == attempt
            await w.callbacks.handle(ev.OriginateResult(w.pbx.calls[-1][2], False, "3", w.clock()))
            await w.callbacks.tick()
            assert len(w.pbx.calls) == attempt  # the retry waits its minutes
            w.clock.t += 6 * 60
        status, tasks = await op.call("GET", "/api/callbacks/tasks")
        assert [t["case_uniqueid"] for t in tasks["tasks"]] == ["c3"]
        assert tasks["tasks"][0]["detail"] == "no answer after 3 automatic calls"
        task = tasks["tasks"][0]["id"]
        status, _placed = await op.call("POST", f"/api/callbacks/{task}/call", {})
        assert status == 200 and w.pbx.calls[-1][:3] == ("operator", "PJSIP/1001",
                                                         "PJSIP/citizens/sip:8613900000010@127.0.0.1:5092")
        assert (await op.call("POST", f"/api/callbacks/{task}/result", {"outcome": "maybe"}))[0] == 400
        assert (await op.call("POST", f"/api/callbacks/{task}/result", {"outcome": "resolved-satisfied"}))[0] == 200
        case = await w.store.get("c3")
        assert case is not None and case["status"] == "closed" and case["satisfied"] == 1
        status, detail = await boss.call("GET", "/api/cases/c3/detail")
        assert [b["status"] for b in detail["callbacks"]] == ["unanswered", "unanswered", "unanswered", "done"]
        assert detail["events"][-1]["actor"] == "op1" and detail["events"][-1]["detail"]["how"] == "operator"
    finally:
        await w.close()


async def test_search_trends_hotspot_and_bundle(web: Web) -> None:
    """Test 5 in-process: a generated week with one address spiking today."""
    u = web.u
    spike = casegen.Spike("88 Guanghua Road", "housing", 12)
    for row, form in casegen.cases(7, 60, end=web.clock(), spike=spike):
        await web.store.create(row)
        await web.store.save_form(row["uniqueid"], form, "gen", row["queued_at"], 3)
    await phone_case(web, "c4", "8613900000011", {**FORM, "description": "엘리베이터 고장 났어요, lift stuck"})
    day = dt.date.fromtimestamp(web.clock()).isoformat()
    week_ago = (dt.date.fromtimestamp(web.clock()) - dt.timedelta(days=8)).isoformat()

    status, found = await u["boss"].call("GET", f"/api/search?q=엘리베이터&from={week_ago}&to={day}")
    assert status == 200 and [c["uniqueid"] for c in found["cases"]] == ["c4"]
    status, found = await u["boss"].call("GET", f"/api/search?q=漏水&from={week_ago}&to={day}&district=Chaoyang")
    assert status == 200 and found["total"] >= 1
    assert all("漏水" in c["description"] and c["district"] == "Chaoyang" for c in found["cases"])
    status, found = await u["housing"].call("GET", f"/api/search?q=lift&from={week_ago}&to={day}")
    assert status == 200 and {c["department"] for c in found["cases"]} <= {"housing_bureau"}  # theirs only
    assert (await u["boss"].call("GET", f"/api/search?q=%22&from={week_ago}&to={day}"))[0] == 400

    status, hot = await u["boss"].call("GET", f"/api/hotspots?day={day}")
    assert status == 200
    spots = [(h["kind"], h["label"]) for h in hot["hotspots"]]
    assert ("address", "88 Guanghua Road (housing)") in spots
    assert not [h for h in hot["hotspots"] if h["kind"] == "topic"]  # topics are steady
    bundle = next(b for b in hot["bundles"] if b["address"] == "88 Guanghua Road")
    assert bundle["cases"] >= 12 and bundle["topic"] == "housing"

    status, counts = await u["boss"].call("GET", f"/api/trends?from={week_ago}&to={day}&by=topic&period=day")
    per_day = {}
    for r in counts["rows"]:
        per_day[r["bucket"]] = per_day.get(r["bucket"], 0) + r["cases"]
    assert sum(per_day.values()) == 7 * 60 + 12 + 1
    status, words = await u["boss"].call("GET", f"/api/trends?from={week_ago}&to={day}&by=keyword&words=漏水,lift")
    assert {r["key"] for r in words["rows"]} == {"漏水", "lift"}
    async with u["boss"].session.get(f"/api/trends.csv?from={week_ago}&to={day}&by=district&period=week") as r:
        assert r.status == 200 and r.content_type == "text/csv"
        text = await r.text()
    assert text.splitlines()[0] == "\ufeffweek,district,cases"  # UTF-8 with BOM (web/csv_export.py)
    assert (await u["housing"].call("GET", f"/api/trends?from={week_ago}&to={day}"))[0] == 403


# -- recordings -----------------------------------------------------------------------------------

def tone(path: Path, freq: int, seconds: float, silence_at: float | None = None) -> Path:
    cmd = ["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(path), "synth", str(seconds), "sine", str(freq),
           "vol", "0.3"]
    if silence_at is not None:
        cmd += ["trim", "0", str(silence_at), "pad", "0", str(seconds - silence_at)]
    subprocess.run(cmd, check=True, capture_output=True)
    return path


def test_the_archive_copy_is_stereo_compressed_normalised_and_verified(tmp_path: Path) -> None:
    caller = tone(tmp_path / "c.wav", 600, 6.0, silence_at=3.0)
    heard = tone(tmp_path / "o.wav", 1000, 5.0)
    dest = tmp_path / "a" / "x.ogg"
    info = make_archive(caller, heard, dest, "ogg", "32k")
    assert info["seconds"] == pytest.approx(6.0, abs=0.05)
    assert info["bytes"] < (caller.stat().st_size + heard.stat().st_size) / 4  # compressed
    assert verify(dest, 6.0) == ""
    from pydub import AudioSegment
    left, right = AudioSegment.from_file(str(dest)).split_to_mono()
    # the sources peak at -10.5 dBFS; normalised, each channel peaks near -1 dBFS
    assert left[:2500].max_dBFS > -2.5 and right[:4500].max_dBFS > -2.5
    assert left[3500:].dBFS < -40 and right[5200:].dBFS < -40  # each leg keeps its own silences
    assert verify(dest, 9.0).startswith("6.0")  # a wrong length is caught
    (tmp_path / "bad.wav").write_bytes(b"RIFF....WAVE")
    with pytest.raises(ArchiveError):
        make_archive(tmp_path / "bad.wav", heard, tmp_path / "b.ogg", "ogg", "32k")
    assert not (tmp_path / "b.ogg").exists()


async def test_recordings_are_archived_and_a_full_disk_stops_them(tmp_path: Path) -> None:
    s = replace(config.load(SITE, {}), recordings=replace(config.load(SITE, {}).recordings,
                                                          folder=tmp_path / "archive", min_free_mb=100))
    store = CaseStore(tmp_path / "c.db")
    raw = tmp_path / "spool"
    raw.mkdir()
    free = {"bytes": 10**10}

    async def run(fn: Any) -> Any:
        return fn()
    rec = RecordingService(s, raw, RecordingStore(store.db), make_archive, lambda p: free["bytes"], run)
    rec.settle_seconds = 0.05
    try:
        tone(raw / "u1-caller.wav", 600, 2.0)
        tone(raw / "u1-operator.wav", 1000, 2.0)
        (raw / "u1-mix.wav").write_bytes((raw / "u1-caller.wav").read_bytes())
        await rec.handle(ev.AgentConnected("u1", "Q", "PJSIP/1001", "1001", 3, 1_000_000.0))
        await rec.handle(ev.ChannelHangup("u0", "", "PJSIP/1001-1", 16, 1_000_010.0))  # another channel: nothing
        assert (await RecordingStore(store.db).recording("u1"))["status"] == "recording"  # type: ignore[index]
        await rec.handle(ev.ChannelHangup("u1", "", "PJSIP/citizens-1", 16, 1_000_010.0))  # the caller hangs up
        for _ in range(100):
            row = await RecordingStore(store.db).recording("u1")
            if row is not None and row["status"] not in ("recording", "pending"):
                break
            await asyncio.sleep(0.05)
        assert row is not None and row["status"] == "archived" and row["verified_at"]
        assert Path(row["archive"]).is_file() and not list(raw.iterdir())  # noqa: ASYNC240  (originals removed)
        # a copy that cannot be made keeps the originals
        (raw / "u2-caller.wav").write_bytes(b"RIFF not really a wav file at all" * 10)
        tone(raw / "u2-operator.wav", 1000, 1.0)
        await rec.handle(ev.AgentConnected("u2", "Q", "PJSIP/1001", "1001", 3, 1_000_000.0))
        await rec.process("u2")
        row = await RecordingStore(store.db).recording("u2")
        assert row is not None and row["status"] == "failed" and (raw / "u2-caller.wav").exists()
        # the disk fills: no new recordings, an alert; calls are not touched
        assert rec.record_this_call()
        free["bytes"] = 50 * 10**6
        await rec.check_disk()
        assert not rec.record_this_call()
        assert rec.alerts()[0]["kind"] == "recordings_stopped"
        free["bytes"] = 10**10
        await rec.check_disk()
        assert rec.record_this_call() and rec.alerts() == []
        # retention: an archive older than the limit is deleted, the row says so
        rec.clock = lambda: 1_000_000.0 + 400 * 86400
        assert await rec.purge() == 1
        row = await RecordingStore(store.db).recording("u1")
        assert row is not None and row["status"] == "purged" and row["purged_at"]
    finally:
        rec.close()
        await store.close()


async def test_the_migration_indexes_the_cases_already_there(tmp_path: Path) -> None:
    """A case file from before issue 6: its saved cases become searchable and counted."""
    import sqlite3

    import sqlite_utils

    from hotline.storage.migrations import MIGRATIONS
    db = sqlite_utils.Database(sqlite3.connect(tmp_path / "old.db"))
    db.table("_migrations").create({"name": str, "applied_at": str}, pk="name")
    for name, fn in MIGRATIONS[:6]:
        fn(db)
        db.table("_migrations").insert({"name": name, "applied_at": "then"})
    db.table("cases").insert({"uniqueid": "old1", "state": "ended", "queued_at": 1_790_000_000.0,
                              "category": "housing", "district": "Xicheng", "address": "9 Elm St.",
                              "description": "暖气不热 no heating", "form_saved_at": 1_790_000_100.0})
    db.table("transcript").insert({"case_uniqueid": "old1", "speaker": "caller", "text": "radiator cold"})
    db.conn.close()
    store = CaseStore(tmp_path / "old.db")
    try:
        search = SearchStore(store.db)
        for words in ("暖气", "radiator"):
            found = await search.search(words, 1_789_900_000.0, 1_790_100_000.0, {})
            assert [c["uniqueid"] for c in found["cases"]] == ["old1"], words
        counts = await search.counts(1_789_900_000.0, 1_790_100_000.0, "day", "topic")
        assert [(r["key"], r["cases"]) for r in counts] == [("housing", 1)]
        # re-saving moves the counts instead of doubling them
        await store.save_form("old1", {"category": "transport", "district": "Xicheng", "address": "9 Elm St.",
                                       "description": "bus"}, "op", 1_790_000_200.0)
        counts = await search.counts(1_789_900_000.0, 1_790_100_000.0, "day", "topic")
        assert [(r["key"], r["cases"]) for r in counts] == [("transport", 1)]
    finally:
        await store.close()


async def test_one_reply_answers_the_whole_bundle(web: Web) -> None:
    """Two callers about the same address and topic: one bundle; the department answers both at once."""
    u = web.u
    await phone_case(web, "b1", "8613900000021", {**FORM, "address": "12 Elm Street"})
    web.clock.t += 3600
    await phone_case(web, "b2", "8613900000022", {**FORM, "address": "12 elm street."})
    one, two = await web.store.get("b1"), await web.store.get("b2")
    assert one is not None and two is not None and one["bundle_id"] and one["bundle_id"] == two["bundle_id"]
    status, body = await u["housing"].call("POST", "/api/cases/b1/reply", {"text": "The pipe at number 12 was fixed.",
                                                                           "bundle": True})
    assert status == 200, body
    assert [(await web.store.get(uid))["status"] for uid in ("b1", "b2")] == ["replied", "replied"]  # type: ignore[index]
    await web.callbacks.tick()
    assert {call[1] for call in web.pbx.calls} == {"PJSIP/citizens/sip:8613900000021@127.0.0.1:5092",
                                                   "PJSIP/citizens/sip:8613900000022@127.0.0.1:5092"}


def test_a_spike_generated_just_after_midnight_still_falls_today() -> None:
    """The generated spike stays on ``end``'s local day: CI once ran the hotspot test at 00:10 and the
    spike's six hours fell on yesterday, so today's page showed no hotspot."""
    import datetime as dt

    midnight = dt.datetime(2026, 12, 2, 0, 0).timestamp()
    for end in (midnight + 600, midnight + 5, midnight + 12 * 3600):
        made = casegen.cases(2, 3, end=end, spike=casegen.Spike("88 Guanghua Road", "housing", 10))
        spike = [row for row, form in made if form["address"] == "88 Guanghua Road"]
        days = {dt.datetime.fromtimestamp(r["queued_at"]).date() for r in spike}
        assert days == {dt.date(2026, 12, 2)}, (end - midnight, days)
        assert all(r["queued_at"] <= end for r in spike)
