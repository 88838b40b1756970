"""Citizens' data, in-process: the one case access rule per role (cases/access.py), every route
that returns a case tried by each role against a confidential case (what a user would see on
screen or in a response body), the audit rows of reads, searches, exports and refusals, and the
audit log's hash chain checked by ``hotline audit verify`` on real SQLite files after an UPDATE,
a DELETE of a middle row, a DELETE of the last row, and a row inserted by hand."""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import aiohttp
import pytest
import sqlite_utils
from aiohttp.test_utils import TestClient, TestServer, unused_port

from hotline import cli, config
from hotline import events as ev
from hotline.bus import Bus
from hotline.cases import access, audit_chain
from hotline.cases.access import Viewer
from hotline.cases.audit_store import AuditStore
from hotline.cases.store import CaseStore
from hotline.floor.calls import CallRegistry
from hotline.floor.interpreter_view import InterpreterDesk
from hotline.graph import build_services
from hotline.storage.migrations import MIGRATIONS
from hotline.web.app import build_app
from hotline.web.hub import Hub

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "etc/site.example.toml"
PASSWORD = "correct horse battery"
NUMBER, NAME = "8613912345678", "Zhao Min"  # the confidential caller: must never reach whom the rule hides it from
OPEN_NUMBER = "8613900000077"


# -- the rule ----------------------------------------------------------------------------------------

def test_the_rule_per_role() -> None:
    secret = {"uniqueid": "u1", "operator": "1001", "confidential": 1, "department": "housing_bureau",
              "caller_number": NUMBER, "citizen_name": NAME, "address": "5 Elm St", "description": "d", "note": "n"}
    plain = {**secret, "confidential": 0}
    taker, other = Viewer("op1", "operator", "1001"), Viewer("op2", "operator", "1002")
    housing, transport = Viewer("h", "department", department="housing_bureau"), Viewer("t", "department",
                                                                                        department="transport_bureau")
    interp = Viewer("i", "interpreter", "2002")
    rows = {
        # viewer, case, handling -> level, identity, transcript, recording
        "taker": (access.decide(taker, secret), ("full", True, True, True)),
        "other operator, confidential": (access.decide(other, secret), ("none", False, False, False)),
        "other operator, on their desktop": (access.decide(other, secret, handling=True), ("full", True, True, True)),
        "other operator, not confidential": (access.decide(other, plain), ("full", True, True, False)),
        "supervisor": (access.decide(Viewer("b", "supervisor"), secret), ("full", True, True, True)),
        "admin": (access.decide(Viewer("cli", "admin"), secret), ("full", True, True, True)),
        "department, confidential": (access.decide(housing, secret), ("masked", False, False, False)),
        "department, not confidential": (access.decide(housing, plain), ("full", True, True, True)),
        "another department": (access.decide(transport, plain), ("none", False, False, False)),
        "interpreter, interpreting it": (access.decide(interp, secret, handling=True), ("masked", False, True, False)),
        "interpreter, not interpreting": (access.decide(interp, plain), ("none", False, False, False)),
        "unknown role": (access.decide(Viewer("x", "guest"), plain), ("none", False, False, False)),
    }
    got = {k: (a.level, a.identity, a.transcript, a.recording) for k, (a, _want) in rows.items()}
    assert got == {k: want for k, (_a, want) in rows.items()}

    masked = access.redact(secret, access.decide(housing, secret))
    assert masked["caller_number"] == masked["citizen_name"] == access.HIDDEN and "note" not in masked
    assert masked["address"] == "5 Elm St" and masked["description"] == "d"  # they must act on it
    stub = access.redact(secret, access.decide(other, secret))
    assert stub["restricted"] is True and NUMBER not in json.dumps(stub) and stub.get("description") != "d"
    assert set(stub) <= {*access.STUB, "restricted"}
    # only the operator who took the call (or has it on the desktop) and supervisors fill the form
    assert access.may_edit_form(taker, plain) and not access.may_edit_form(other, plain)
    assert access.may_edit_form(other, plain, handling=True) and not access.may_edit_form(housing, plain)


def test_the_rule_imports_no_web_or_database_library() -> None:
    text = (ROOT / "src/hotline/cases/access.py").read_text()
    imported = set(re.findall(r"^(?:from|import) ([\w.]+)", text, re.M))
    assert imported <= {"__future__", "dataclasses", "typing"}, imported


# -- every route, every role -----------------------------------------------------------------------

class Web:
    def __init__(self, tmp_path: Path) -> None:
        s = config.load(SITE, {})
        self.settings = s
        self.store = CaseStore(tmp_path / "c.db")
        self.tmp = tmp_path

    async def start(self) -> None:
        class Pbx:
            async def queue_add(self, *a: Any) -> None: ...
            async def queue_remove(self, *a: Any) -> None: ...
            async def queue_pause(self, *a: Any) -> None: ...

        async def say(cb_id: int, text: str, lang: str) -> str:
            return f"/sounds/summary/{cb_id}"
        port = unused_port()
        s = replace(self.settings, http=replace(self.settings.http, port=port))
        self.graph = g = build_services(s, self.store, cast(Any, Pbx()), Bus(), say=say)
        self.users, self.flows, self.workflow, self.callbacks = g.users, g.flows, g.workflow, g.callbacks
        self.recordings, self.hub, self.desktop = g.recording_store, g.hub, g.desktop
        for name, role, ext, dept in (("op1", "operator", "1001", ""), ("op2", "operator", "1002", ""),
                                      ("boss", "supervisor", "", ""),
                                      ("housing", "department", "", "housing_bureau"),
                                      ("transport", "department", "", "transport_bureau")):
            await self.users.add(name, role, PASSWORD, extension=ext, settings=s, department=dept)
        g.start(clocks=False)  # the desk's CaseSaved reaches the desktop and the wrap-up
        app = build_app(g.web("tok"))
        self.client: TestClient[Any, Any] = TestClient(TestServer(app, port=port))
        await self.client.start_server()
        self.u = {n: await self.login(n) for n in ("op1", "op2", "boss", "housing", "transport")}

    async def login(self, username: str) -> User:
        base = str(self.client.server.make_url(""))
        session = aiohttp.ClientSession(base_url=base, cookie_jar=aiohttp.CookieJar(unsafe=True))
        page = await (await session.get("/login")).text()
        token = re.search(r'name="csrf" value="([^"]+)"', page)
        assert token
        landed = await session.post("/login", data={"username": username, "password": PASSWORD,
                                                    "csrf": token.group(1), "next": "/home"})
        csrf = re.search(r'name="csrf" value="([^"]+)"', await landed.text())
        return User(username, session, csrf.group(1) if csrf else "", base.rstrip("/"))

    async def close(self) -> None:
        for user in self.u.values():
            await user.session.close()
        await self.client.close()
        await self.graph.stop()
        await self.store.close()


class User:
    def __init__(self, name: str, session: aiohttp.ClientSession, csrf: str, origin: str) -> None:
        self.name, self.session, self.csrf, self.origin = name, session, csrf, origin

    async def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any, str]:
        """(status, parsed body, raw body text) — the raw text is what the user's browser received."""
        async with self.session.request(method, path, json=body,
                                        headers={"X-CSRF-Token": self.csrf, "Origin": self.origin}) as r:
            raw = await r.read()
            text = raw.decode("utf-8", "replace")
            return r.status, json.loads(text) if r.content_type == "application/json" else raw, text


@pytest.fixture
async def web(tmp_path: Path) -> Any:
    w = Web(tmp_path)
    await w.start()
    yield w
    await w.close()


FORM = {"category": "housing", "district": "Dongcheng", "address": "5 Elm Street",
        "description": "water through the ceiling of the stairwell", "urgency": "high", "citizen_name": NAME,
        "confidential": True, "notes": "", "department": "auto"}


async def answered(w: Web, uid: str, number: str, operator: str) -> None:
    now = time.time()
    await w.store.create({"uniqueid": uid, "caller_number": number, "language": "zh", "topic": "housing",
                          "ivr_path": "", "queue": "zh-housing", "queued_at": now - 60})
    await w.store.update(uid, {"state": "ended", "operator": operator, "answered_at": now - 50})


async def audit_rows(w: Web) -> list[dict[str, Any]]:
    return [{**r, "detail": json.loads(r["detail"])} for r in reversed(await w.graph.audits.audit_log(1000))]


async def test_a_confidential_case_per_role_and_route(web: Web) -> None:
    u = web.u
    await answered(web, "secret", NUMBER, "1001")
    status, saved, _ = await u["op1"].call("POST", "/api/cases/secret/form", FORM)
    assert status == 200 and saved["department"] == "housing_bureau"
    await web.store.add_segment({"case_uniqueid": "secret", "speaker": "caller", "language": "zh", "start": 1.0,
                                 "end": 2.0, "text": "my neighbour kumquat threatens me", "confidence": 0.9,
                                 "engine": "test", "created_at": time.time()})
    ogg = web.tmp / "secret.ogg"
    ogg.write_bytes(b"OggS" + b"\0" * 60)
    await web.recordings.save_recording({"case_uniqueid": "secret", "status": "archived", "archive": str(ogg),
                                         "seconds": 12.0, "started_at": time.time()})
    await answered(web, "plain", OPEN_NUMBER, "1001")
    assert (await u["op1"].call("POST", "/api/cases/plain/form", {**FORM, "confidential": False,
                                                                  "citizen_name": "Open Caller"}))[0] == 200
    plain_rec = web.tmp / "plain.ogg"
    plain_rec.write_bytes(b"OggS" + b"\1" * 60)
    await web.recordings.save_recording({"case_uniqueid": "plain", "status": "archived", "archive": str(plain_rec),
                                         "seconds": 9.0, "started_at": time.time()})
    seen: dict[str, str] = {n: "" for n in u}  # every body each user received

    async def get(name: str, path: str) -> tuple[int, Any]:
        status, body, text = await u[name].call("GET", path)
        seen[name] += text
        return status, body

    # the operator who took the call: everything
    status, body = await get("op1", "/api/cases/secret")
    assert status == 200 and body["case"]["caller_number"] == NUMBER and body["transcript"]
    status, detail = await get("op1", "/api/cases/secret/detail")
    assert detail["case"]["citizen_name"] == NAME and detail["recording"]["url"] == "/api/cases/secret/recording"
    assert (await get("op1", "/api/cases/secret/recording")) == (200, ogg.read_bytes())

    # another operator: refused on every route that opens it, and no list or search shows its caller
    for path in ("/api/cases/secret", "/api/cases/secret/detail", "/api/cases/secret/recording"):
        status, body = await get("op2", path)
        assert status == 403 and body["error"] == "forbidden", path
    assert (await u["op2"].call("POST", "/api/cases/secret/form", {**FORM, "citizen_name": "x"}))[0] == 403
    assert (await u["op2"].call("POST", "/api/cases/secret/dispatch", {"department": "housing_bureau"}))[0] == 403
    for q in ("", "ceiling", "kumquat"):
        status, found = await get("op2", f"/api/search?q={q}")
        assert status == 200 and saved["case_id"] not in [c["id"] for c in found["cases"]], q
    status, found = await get("op2", "/api/search?q=ceiling")
    assert [c["caller_number"] for c in found["cases"]] == [OPEN_NUMBER]  # the plain case: readable
    # a confidential case still to dispatch: on op2's worklist as a stub (number, status), nothing more
    await answered(web, "secret-new", NUMBER, "1001")
    assert (await u["op1"].call("POST", "/api/cases/secret-new/form", {**FORM, "department": ""}))[0] == 200
    status, worklist = await get("op2", "/api/worklist")
    stubs = [c for c in worklist["to_dispatch"] if c["uniqueid"] == "secret-new"]
    assert status == 200 and len(stubs) == 1 and stubs[0]["restricted"] is True and "description" not in stubs[0]
    # ... a case of another operator that is not confidential: readable, but not its recording
    status, detail = await get("op2", "/api/cases/plain/detail")
    assert status == 200 and detail["case"]["caller_number"] == OPEN_NUMBER and detail["recording"] is None
    assert (await get("op2", "/api/cases/plain/recording"))[0] == 403

    # the screen pop of the same caller calling again, ringing op2: a line saying there was a case
    await web.desktop.handle(ev.AgentRinging("again", "zh-housing", "PJSIP/1002", "1002", NUMBER, "zh", "housing",
                                             time.time()))
    history = web.desktop.views["1002"].history
    assert saved["case_id"] in [h["id"] for h in history] and all(h["confidential"] is True for h in history)
    assert "ceiling" not in json.dumps(history)
    # ... and the same caller's case on op2's desktop now (the call rang them): theirs to handle
    await web.desktop.handle(ev.AgentRinging("secret", "zh-housing", "PJSIP/1002", "1002", NUMBER, "zh", "housing",
                                             time.time()))
    status, body, _ = await u["op2"].call("GET", "/api/cases/secret")  # (not counted in what op2 may not see)
    assert status == 200 and body["case"]["caller_number"] == NUMBER
    web.desktop.views.pop("1002")
    assert (await get("op2", "/api/cases/secret"))[0] == 403  # gone from the desktop: refused again

    # a call back to make by hand: another operator's task list does not show the confidential number
    for uid in ("secret", "plain"):
        await web.store.db.run(lambda db, uid=uid: db.table("callbacks").insert({  # type: ignore[misc]
            "case_uniqueid": uid, "attempt": 3, "kind": "auto", "status": "task", "due_at": time.time(),
            "detail": "nobody answered"}))
    status, tasks = await get("op2", "/api/callbacks/tasks")
    assert sorted(t["caller_number"] for t in tasks["tasks"]) == sorted([access.HIDDEN, OPEN_NUMBER])
    status, tasks, _ = await u["op1"].call("GET", "/api/callbacks/tasks")  # the operator who took it
    assert sorted(t["caller_number"] for t in tasks["tasks"]) == sorted([NUMBER, OPEN_NUMBER])

    # a supervisor: everything
    status, detail = await get("boss", "/api/cases/secret/detail")
    assert detail["case"]["caller_number"] == NUMBER and detail["transcript"] and detail["recording"]["url"]
    assert (await get("boss", "/api/cases/secret/recording"))[0] == 200
    status, found = await get("boss", "/api/search?q=kumquat")
    assert [c["citizen_name"] for c in found["cases"]] == [NAME]

    # the case's department: masked (no number, name, transcript, recording); found by the form's
    # words, never by the transcript's
    status, detail = await get("housing", "/api/cases/secret/detail")
    assert status == 200 and detail["case"]["caller_number"] == access.HIDDEN and detail["transcript"] == []
    assert detail["recording"] is None and detail["case"]["description"] == FORM["description"]
    assert (await get("housing", "/api/cases/secret/recording"))[0] == 403
    status, found = await get("housing", "/api/search?q=ceiling")
    assert [(c["id"], c["citizen_name"]) for c in found["cases"] if c["id"] == saved["case_id"]] == [
        (saved["case_id"], access.HIDDEN)]
    status, found = await get("housing", "/api/search?q=kumquat")
    assert found["total"] == 0 and found["cases"] == []
    status, mine = await get("housing", "/api/department/cases")
    assert {c["caller_number"] for c in mine["cases"] if c["id"] == saved["case_id"]} == {access.HIDDEN}
    status, detail = await get("housing", "/api/cases/plain/detail")  # not confidential: the caller, the audio
    assert detail["case"]["caller_number"] == OPEN_NUMBER and detail["recording"]["url"]

    # another department: nothing
    for path in ("/api/cases/secret/detail", "/api/cases/secret/recording", "/api/cases/plain/detail"):
        assert (await get("transport", path))[0] == 403, path
    status, found = await get("transport", "/api/search?q=ceiling")
    assert found["cases"] == []

    # whom the rule hides the caller from never received the number or the name, on any route
    for name in ("op2", "housing", "transport"):
        assert NUMBER not in seen[name] and NAME not in seen[name], name
    assert "kumquat" not in seen["housing"] + seen["transport"] + seen["op2"]

    # exports
    assert (await get("boss", "/api/trends.csv?by=topic"))[0] == 200
    assert (await get("boss", "/history.csv?kind=operators"))[0] == 200

    rows = await audit_rows(web)
    reads = [(r["actor"], r["role"], r["target"]) for r in rows if r["action"] == "case_read"]
    assert ("op1", "operator", "secret") in reads and ("boss", "supervisor", "secret") in reads
    assert ("housing", "department", "secret") in reads and ("op2", "operator", "plain") in reads
    refused = [(r["actor"], r["detail"]["path"]) for r in rows if r["action"] == "refused"]
    for path in ("/api/cases/secret", "/api/cases/secret/detail", "/api/cases/secret/recording",
                 "/api/cases/secret/form", "/api/cases/secret/dispatch", "/api/cases/plain/recording"):
        assert ("op2", path) in refused, path
    assert ("transport", "/api/cases/secret/detail") in refused
    assert ("housing", "/api/cases/secret/recording") in refused
    assert all(r["detail"]["error"] == "forbidden" and r["role"] for r in rows if r["action"] == "refused")
    searches = [r for r in rows if r["action"] == "search" and r["actor"] == "housing"]
    assert [(r["detail"]["q"], r["detail"]["total"], r["detail"]["filters"]) for r in searches] == [
        ("ceiling", 2, {"department": "housing_bureau"}), ("kumquat", 0, {"department": "housing_bureau"})]
    played = [(r["actor"], r["target"]) for r in rows if r["action"] == "recording_played"]
    assert played == [("op1", "secret"), ("boss", "secret")]
    exports = [r["detail"]["kind"] for r in rows if r["action"] == "export"]
    assert exports == ["trends", "history-operators"]
    # the wallboard's audit panel keeps to the floor's actions (and refusals), not every read
    shown = {r["action"] for r in await web.graph.audits.audit_log(1000, exclude=audit_chain.DATA_ACTIONS)}
    assert "case_read" not in shown and "refused" in shown
    await web.store.close()
    assert audit_chain.verify(web.store.path).ok


async def test_call_back_tasks_follow_the_rule(web: Web) -> None:
    """Another operator's confidential case: a stub in the task list (no topic, category, district),
    no call and no result; the operator who took it (on the phone, or entered it by hand) acts."""
    await answered(web, "secret", NUMBER, "1001")
    await web.store.update("secret", {"confidential": 1, "category": "housing", "district": "Dongcheng",
                                      "status": "callback_due"})
    now = time.time()
    await web.store.create({"uniqueid": "byhand", "caller_number": OPEN_NUMBER, "language": "zh", "topic": "housing",
                            "ivr_path": "", "queue": "", "queued_at": now, "source": "manual"})
    await web.store.update("byhand", {"confidential": 1, "form_saved_by": "op2", "status": "callback_due"})
    ids = {}
    for uid in ("secret", "byhand"):
        ids[uid] = await web.flows.add_callback({"case_uniqueid": uid, "attempt": 3, "kind": "auto", "status": "task",
                                                 "due_at": now, "detail": "nobody answered"})
    status, listed, _ = await web.u["op2"].call("GET", "/api/callbacks/tasks")
    tasks = {t["case_uniqueid"]: t for t in listed["tasks"]}
    other = tasks["secret"]
    assert other["restricted"] and {other[k] for k in ("topic", "category", "district")} == {access.HIDDEN}
    assert NUMBER not in json.dumps(listed) and "Dongcheng" not in json.dumps(other)
    assert not tasks["byhand"].get("restricted") and tasks["byhand"]["caller_number"] == OPEN_NUMBER
    for action, body in (("call", {}), ("result", {"outcome": "unreachable"})):
        status, answer, _ = await web.u["op2"].call("POST", f"/api/callbacks/{ids['secret']}/{action}", body)
        assert (status, answer["error"]) == (403, "forbidden"), (action, answer)
    assert (await web.flows.callback(ids["secret"]) or {})["status"] == "task"  # nothing recorded
    status, answer, _ = await web.u["op2"].call("POST", f"/api/callbacks/{ids['byhand']}/result",
                                                {"outcome": "unreachable"})
    assert status == 200, answer  # the operator who entered it by hand
    status, answer, _ = await web.u["op1"].call("POST", f"/api/callbacks/{ids['secret']}/result",
                                                {"outcome": "unreachable"})
    assert status == 200, answer  # the operator who took the call
    refused = [r for r in await audit_rows(web)
               if r["action"] == "refused" and "/api/callbacks/" in r["detail"]["path"]]
    assert len(refused) == 2 and {r["actor"] for r in refused} == {"op2"}


async def test_a_role_refused_a_route_is_audited(web: Web) -> None:
    status, body, _ = await web.u["housing"].call("GET", "/api/worklist")
    assert status == 403 and body["error"] == "forbidden"
    status, body, _ = await web.u["op1"].call("GET", "/api/trends.csv")
    assert status == 403
    rows = [r for r in await audit_rows(web) if r["action"] == "refused"]
    assert [(r["actor"], r["role"], r["detail"]["path"]) for r in rows] == [
        ("housing", "department", "/api/worklist"), ("op1", "operator", "/api/trends.csv")]


async def test_the_interpreter_sees_the_call_they_are_in_masked(tmp_path: Path) -> None:
    store = CaseStore(tmp_path / "c.db")
    try:
        await store.create({"uniqueid": "u1", "caller_number": NUMBER, "language": "en", "topic": "housing",
                            "ivr_path": "", "queue": "en-housing", "queued_at": time.time()})
        await store.save_form("u1", {**{k: v for k, v in FORM.items() if k != "department"}}, "op1", time.time())
        await store.add_segment({"case_uniqueid": "u1", "speaker": "caller", "language": "en", "start": 1.0,
                                 "end": 2.0, "text": "the ceiling leaks", "confidence": 0.9, "engine": "t",
                                 "created_at": time.time()})
        desk = InterpreterDesk(config.load(SITE, {}), CallRegistry(), store, Hub())
        await desk.handle(ev.InterpreterJoined("u1", 1, "2002", "en", "PJSIP/2002-01", time.time(), time.time()))
    finally:
        await store.close()
    shown = json.dumps(desk.assignments["2002"], ensure_ascii=False)
    # identity=False for interpreters: not the number, not even its last digits, nor the name
    assert NUMBER not in shown and NAME not in shown and NUMBER[-4:] not in shown
    assert desk.assignments["2002"]["caller"] == "not shown to interpreters"
    assert "the ceiling leaks" in shown and FORM["description"] in shown  # what they interpret


# -- the chain -------------------------------------------------------------------------------------------

def site_for(tmp_path: Path) -> Path:
    site = tmp_path / "site.toml"
    site.write_text(f'database = "{tmp_path / "c.db"}"\n' + SITE.read_text(), encoding="utf-8")
    return site


def verify_cli(site: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    code = cli.main(["--site", str(site), "audit", "verify", *extra])
    out = capsys.readouterr()
    return code, out.out + out.err


async def write_rows(db: Path, n: int) -> None:
    store = CaseStore(db)
    audits = AuditStore(store.db)
    try:
        await asyncio.gather(*(audits.audit(f"user{i % 3}", "case_read", f"case-{i}", {"i": i, "name": "李雷"},
                                           1_000_000.0 + i, role="operator") for i in range(n)))
    finally:
        await store.close()


def sql(db: Path, statement: str, *args: Any) -> None:
    conn = sqlite3.connect(db)
    conn.execute(statement, args)
    conn.commit()
    conn.close()


async def test_audit_verify_finds_an_edited_a_deleted_and_a_truncated_row(tmp_path: Path,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    site, db = site_for(tmp_path), tmp_path / "c.db"
    await write_rows(db, 10)  # ten at once: written one after another on the store's thread
    code, out = verify_cli(site, capsys)
    assert code == 0 and "10 rows, chain intact" in out
    head = re.search(r"head id (\d+), hash ([0-9a-f]{64})", out)
    assert head and head.group(1) == "10"
    good = db.read_bytes()

    sql(db, "update audit set detail = ? where id = 4", json.dumps({"i": 3, "name": "someone else"}))
    code, out = verify_cli(site, capsys)
    assert code == 1 and "row 4 was edited" in out

    db.write_bytes(good)
    sql(db, "delete from audit where id = 6")
    code, out = verify_cli(site, capsys)
    assert code == 1 and "rows 6..6 were deleted" in out

    db.write_bytes(good)
    sql(db, "delete from audit where id = 10")
    code, out = verify_cli(site, capsys)
    assert code == 1 and "rows after 9 were deleted" in out and "row 10" in out

    # the last row deleted and the stored head moved back with it: only a head kept elsewhere sees it
    db.write_bytes(good)
    rows, _ = audit_chain.read(db)
    sql(db, "delete from audit where id = 10")
    sql(db, "update kv set value = ? where key = ?", audit_chain.head_value(9, rows[8]["hash"]), audit_chain.HEAD_KEY)
    assert verify_cli(site, capsys)[0] == 0  # the limit, stated in docs/security.md
    code, out = verify_cli(site, capsys, "--head", f"{head.group(1)}:{head.group(2)}")
    assert code == 1 and "rows after 9 were deleted" in out

    db.write_bytes(good)
    sql(db, "insert into audit (id, at, actor, role, action, target, detail) values (11, 1, 'x', '', 'y', 'z', '{}')")
    code, out = verify_cli(site, capsys)
    assert code == 1 and "row 11 has no hash" in out

    # an edit that recomputes the edited row's hash breaks the link to the next row
    db.write_bytes(good)
    rows, _ = audit_chain.read(db)
    forged = {**rows[4], "detail": "{}"}
    sql(db, "update audit set detail = '{}', hash = ? where id = 5", audit_chain.row_hash(forged["prev_hash"], forged))
    code, out = verify_cli(site, capsys)
    assert code == 1 and "row 6" in out

    db.write_bytes(good)  # and the service goes on writing the chain after a restart
    await write_rows(db, 2)
    code, out = verify_cli(site, capsys)
    assert code == 0 and "12 rows, chain intact" in out


async def test_the_migration_chains_the_rows_already_there(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "c.db"
    old = sqlite_utils.Database(db)
    old.table("_migrations").create({"name": str, "applied_at": str}, pk="name")
    for name, fn in MIGRATIONS:
        if name.startswith("0008"):
            break
        fn(old)
        old.table("_migrations").insert({"name": name, "applied_at": "then"})
    for i in range(3):  # as the old code wrote them
        old.table("audit").insert({"at": 100.0 + i, "actor": "boss", "action": "listen", "target": "1001",
                                   "detail": json.dumps({"uniqueid": f"u{i}"})})
    old.conn.close()
    store = CaseStore(db)
    await AuditStore(store.db).audit("boss", "case_read", "u9", {}, 200.0, role="supervisor")
    await store.close()
    code, out = verify_cli(site_for(tmp_path), capsys)
    assert code == 0 and "4 rows, chain intact" in out
    rows, head = audit_chain.read(db)
    assert [r["role"] for r in rows] == ["", "", "", "supervisor"] and head == {"id": 4, "hash": rows[-1]["hash"]}


async def test_audit_writes_stay_cheap(tmp_path: Path) -> None:
    store = CaseStore(tmp_path / "c.db")
    audits = AuditStore(store.db)
    try:
        await audits.audit("warm", "case_read", "x", {}, 1.0)
        started = time.perf_counter()
        for i in range(500):
            await audits.audit("op1", "case_read", f"c{i}", {"case_id": i}, 2.0 + i, role="operator")
        per_row = (time.perf_counter() - started) / 500
    finally:
        await store.close()
    print(f"audit write: {per_row * 1000:.2f} ms a row (500 rows, one after another)")
    assert per_row < 0.02  # a case read must not wait on its audit row
    report = audit_chain.verify(tmp_path / "c.db")
    assert report.ok, report.text()
    assert report.rows == 501


async def test_audit_values_that_sqlite_changes_still_verify(tmp_path: Path,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    """An int ``at`` comes back REAL, a non-str target as text: the hash is of what is stored; the
    service log names the row, never its detail (a search's words are citizens' names)."""
    store = CaseStore(tmp_path / "c.db")
    audits = AuditStore(store.db)
    try:
        with caplog.at_level("INFO", logger="hotline.cases.store"):
            await audits.audit("op1", "search", cast(Any, 42), {"q": NAME}, cast(Any, 1000), role="operator")
            await audits.audit("op1", "case_read", "u1", {}, 1001.5, role="operator")
    finally:
        await store.close()
    report = audit_chain.verify(tmp_path / "c.db")
    assert report.ok, report.text()
    assert report.rows == 2
    assert "audit row 1: search 42" in caplog.text and NAME not in caplog.text
