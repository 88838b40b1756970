"""The web app in-process: sessions, roles, CSRF, Origin, the login throttle, the service token,
domain errors mapped to clear HTTP answers, the case form's validation and drafts."""

from __future__ import annotations

import asyncio
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer, unused_port

from hotline import config
from hotline import events as ev
from hotline.auth.throttle import LoginThrottle
from hotline.bus import Bus
from hotline.cases.store import CaseStore
from hotline.graph import build_services
from hotline.sim.erlang import agents_needed
from hotline.web.app import build_app

SITE = Path(__file__).resolve().parents[1] / "etc/site.example.toml"
AUTH = {"Authorization": "Bearer secret-token"}
PASSWORD = "correct horse battery"


class RecordingPbx:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    async def queue_add(self, *a: Any) -> None:
        self.calls.append(("add", *a))

    async def queue_remove(self, *a: Any) -> None:
        self.calls.append(("remove", *a))

    async def queue_pause(self, *a: Any) -> None:
        self.calls.append(("pause", *a))


class App:
    def __init__(self, tmp_path: Path) -> None:
        site = config.load(SITE, {})
        # the origin check compares with the configured origins only: serve on the port they name
        self.port = unused_port()
        self.settings = replace(site, districts=("Dongcheng", "Xicheng"), http=replace(site.http, port=self.port))
        self.pbx = RecordingPbx()
        self.store = CaseStore(tmp_path / "c.db")
        self.throttle = LoginThrottle(max_failures=3)

    async def start(self) -> TestClient[Any, Any]:
        # built here, from the settings as the test left them
        self.graph = build_services(self.settings, self.store, self.pbx, Bus())  # type: ignore[arg-type]
        g = self.graph
        self.roster, self.sl, self.router, self.users = g.roster, g.sl, g.router, g.users
        self.hub, self.wrapup, self.desktop = g.hub, g.wrapup, g.desktop
        for name, role, ext in (("op1", "operator", "1001"), ("op2", "operator", "1002"),
                                ("boss", "supervisor", ""), ("dept", "department", "")):
            await self.users.add(name, role, PASSWORD, extension=ext, settings=self.settings,
                                 department="housing_bureau" if role == "department" else "")
        self.graph.start(clocks=False)  # the desk's CaseSaved reaches the desktop and the wrap-up
        app = build_app(self.graph.web("secret-token", self.throttle))
        self.client = TestClient(TestServer(app, port=self.port))
        await self.client.start_server()
        return self.client

    async def close(self) -> None:
        await self.client.close()
        await self.graph.stop()
        await self.store.close()


@pytest.fixture
async def app(tmp_path: Path) -> Any:
    a = App(tmp_path)
    await a.start()
    yield a
    await a.close()


def browser(app: App) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(base_url=str(app.client.server.make_url("")),
                                 cookie_jar=aiohttp.CookieJar(unsafe=True))


async def session(app: App, username: str, password: str = PASSWORD) -> tuple[aiohttp.ClientSession, str]:
    """A browser-like client logged in as ``username``; returns it and its CSRF token."""
    c = browser(app)
    page = await c.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', await page.text()).group(1)  # type: ignore[union-attr]
    r = await c.post("/login", data={"username": username, "password": password, "csrf": token},
                     allow_redirects=False)
    assert r.status == 302, await r.text()
    csrf = ""
    if r.headers["Location"] == "/desktop":
        desk = await c.get("/desktop")
        csrf = re.search(r'name="csrf-token" content="([^"]+)"', await desk.text()).group(1)  # type: ignore[union-attr]
    return c, csrf


async def test_everything_needs_a_login(app: App) -> None:
    c = app.client
    for method, path in [("GET", "/api/agents"), ("GET", "/api/queues"), ("GET", "/api/cases"),
                         ("POST", "/api/agents/1001/login"), ("GET", "/api/desktop/snapshot"),
                         ("POST", "/api/cases/x/form"), ("GET", "/ws/desktop")]:
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            r = await c.request(method, path, headers=headers)
            assert r.status == 401, (method, path)
            assert (await r.json())["error"] == "unauthorized"
    r = await c.get("/desktop", allow_redirects=False)
    assert r.status == 302 and r.headers["Location"].startswith("/login")
    assert app.pbx.calls == []


async def test_the_service_token_acts_as_admin_and_errors_are_clear(app: App) -> None:
    c = app.client
    r = await c.post("/api/agents/1001/login", headers=AUTH)
    assert r.status == 200
    added = {call[1] for call in app.pbx.calls if call[0] == "add"}
    assert added == {"hl-all", "hl-zh-general", "hl-zh-housing", "hl-zh-papers", "hl-en-general",
                     "hl-en-housing", "hl-en-papers"}
    r = await c.post("/api/agents/9999/login", headers=AUTH)
    assert (r.status, (await r.json())["error"]) == (404, "agent-unknown")
    r = await c.post("/api/agents/1002/pause", headers=AUTH, json={"reason": "break"})
    assert (r.status, (await r.json())["error"]) == (409, "agent-offline")
    app.roster.apply(ev.MemberStatus("hl-all", "PJSIP/1001", "x", 1, False, "", False, 0.0))
    r = await c.post("/api/agents/1001/pause", headers=AUTH, json={"reason": "  "})
    assert (r.status, (await r.json())["error"]) == (400, "pause-reason-missing")
    r = await c.post("/api/agents/1001/pause", headers=AUTH, data=b"{not json")
    assert (r.status, (await r.json())["error"]) == (400, "bad-request")
    r = await c.post("/api/agents/1001/pause", headers=AUTH, json={"reason": "training"})
    assert r.status == 200 and app.pbx.calls[-1] == ("pause", "PJSIP/1001", True, "training")
    r = await c.get("/api/cases?limit=abc", headers=AUTH)
    assert (r.status, (await r.json())["error"]) == (400, "bad-request")


async def test_roles_csrf_and_origin(app: App) -> None:
    op1, csrf1 = await session(app, "op1")
    try:
        # an operator may not read the supervisor's views, nor act for another operator
        assert (await op1.get("/api/agents")).status == 403
        assert (await op1.get("/api/cases")).status == 403
        r = await op1.post("/api/agents/1002/login", headers={"X-CSRF-Token": csrf1})
        assert (r.status, (await r.json())["error"]) == (403, "forbidden")
        # no CSRF token, a wrong one, or a foreign Origin: refused, nothing sent to the PBX
        r = await op1.post("/api/desktop/state", json={"action": "ready"})
        assert (r.status, (await r.json())["error"]) == (403, "csrf")
        r = await op1.post("/api/desktop/state", json={"action": "ready"}, headers={"X-CSRF-Token": "nope"})
        assert r.status == 403
        r = await op1.post("/api/desktop/state", json={"action": "ready"},
                           headers={"X-CSRF-Token": csrf1, "Origin": "http://evil.example"})
        assert (r.status, (await r.json())["error"]) == (403, "bad-origin")
        assert app.pbx.calls == []
        r = await op1.post("/api/desktop/state", json={"action": "ready"}, headers={"X-CSRF-Token": csrf1})
        assert r.status == 200
        assert {c[2] for c in app.pbx.calls if c[0] == "add"} == {"PJSIP/1001"}
        # a cross-origin WebSocket is refused; a same-origin one gets the snapshot first
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await op1.ws_connect("/ws/desktop", headers={"Origin": "http://evil.example"})
        assert refused.value.status == 403
        origin = str(app.client.server.make_url("")).rstrip("/")
        ws = await op1.ws_connect("/ws/desktop", headers={"Origin": origin})
        first = await ws.receive_json(timeout=5)
        assert first["type"] == "snapshot" and first["me"]["extension"] == "1001"
        await ws.close()
    finally:
        await op1.close()
    dept, _ = await session(app, "dept")
    try:
        assert (await dept.get("/desktop")).status == 403
        assert (await dept.get("/api/desktop/snapshot")).status == 403
    finally:
        await dept.close()


async def test_failed_logins_are_throttled_and_logged(app: App) -> None:
    c = browser(app)
    try:
        for _ in range(3):
            page = await c.get("/login")
            token = re.search(r'name="csrf" value="([^"]+)"', await page.text()).group(1)  # type: ignore[union-attr]
            r = await c.post("/login", data={"username": "op1", "password": "wrong password", "csrf": token},
                             allow_redirects=False)
            assert r.status == 302 and "error=failed" in r.headers["Location"]
        page = await c.get("/login")
        token = re.search(r'name="csrf" value="([^"]+)"', await page.text()).group(1)  # type: ignore[union-attr]
        r = await c.post("/login", data={"username": "op1", "password": PASSWORD, "csrf": token},
                         allow_redirects=False)
        assert r.status == 429 and int(r.headers["Retry-After"]) > 0
        outcomes = await app.store.db.run(lambda db: [row["outcome"] for row in db["auth_log"].rows])
        assert outcomes == ["failed", "failed", "failed", "throttled"]
        # a login form without its CSRF cookie is refused
        c2 = aiohttp.ClientSession(base_url=str(app.client.server.make_url("")))
        r = await c2.post("/login", data={"username": "op2", "password": PASSWORD, "csrf": "x"},
                          allow_redirects=False)
        assert "error=expired" in r.headers["Location"]
        await c2.close()
    finally:
        await c.close()


async def test_logout_ends_the_session(app: App) -> None:
    op1, csrf = await session(app, "op1")
    try:
        assert (await op1.get("/api/desktop/snapshot")).status == 200
        r = await op1.post("/logout", data={"csrf": csrf}, allow_redirects=False)
        assert r.status == 302
        assert (await op1.get("/api/desktop/snapshot")).status == 401
    finally:
        await op1.close()


async def test_the_case_form_is_validated_and_saved_with_the_wrapup_ended(app: App) -> None:
    await app.store.create({"uniqueid": "u1", "caller_number": "139", "language": "en", "topic": "housing",
                            "ivr_path": "", "queue": "hl-en-housing", "queued_at": 1.0})
    await app.store.create({"uniqueid": "u0", "caller_number": "139", "language": "en", "topic": "housing",
                            "ivr_path": "", "queue": "hl-en-housing", "queued_at": 0.5})
    app.roster.apply(ev.MemberStatus("hl-all", "PJSIP/1001", "x", 1, False, "", False, 0.0))
    await app.desktop.handle(ev.AgentRinging("u1", "hl-en-housing", "PJSIP/1001", "1001", "139", "en", "housing",
                                             2.0))
    await app.desktop.handle(ev.AgentConnected("u1", "hl-en-housing", "PJSIP/1001", "1001", 1, 3.0))
    await app.store.update("u1", {"operator": "1001", "state": "answered"})
    op1, csrf1 = await session(app, "op1")
    op2, csrf2 = await session(app, "op2")
    try:
        snap = await (await op1.get("/api/desktop/snapshot")).json()
        assert snap["call"]["caller_number"] == "139" and [h["id"] for h in snap["call"]["history"]] == [2]
        assert (await (await op2.get("/api/desktop/snapshot")).json())["call"] is None
        r = await op1.post("/api/cases/u1/form", headers={"X-CSRF-Token": csrf1},
                           json={"category": "housing", "district": "Atlantis", "description": "no",
                                 "urgency": "whenever", "confidential": "yes"})
        body = await r.json()
        assert r.status == 422
        assert set(body["fields"]) == {"district", "description", "urgency", "confidential"}
        r = await op2.post("/api/cases/u1/form", headers={"X-CSRF-Token": csrf2},
                           json={"category": "housing", "district": "Dongcheng", "description": "lift broken"})
        assert r.status == 403  # not op2's case
        app.roster.apply(ev.MemberStatus("hl-all", "PJSIP/1001", "x", 1, True, "wrap-up", False, 4.0))
        r = await op1.post("/api/cases/u1/form", headers={"X-CSRF-Token": csrf1},
                           json={"category": "housing", "district": "Dongcheng", "address": "1 Lane",
                                 "description": "The lift has been broken for a week", "urgency": "high",
                                 "citizen_name": "", "confidential": True, "notes": ""})
        assert r.status == 200, await r.text()
        case = await app.store.get("u1")
        assert case is not None
        assert (case["category"], case["district"], case["urgency"], case["confidential"],
                case["form_saved_by"]) == ("housing", "Dongcheng", "high", 1, "op1")
        await wait_for(lambda: app.pbx.calls[-1] == ("pause", "PJSIP/1001", False, ""))  # saving ended the wrap-up
    finally:
        await op1.close()
        await op2.close()


async def wait_for(ok: Any, timeout: float = 5.0) -> None:
    """Until ``ok()`` (the CaseSaved event reaches the desktop and the wrap-up on the app's bus)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not ok():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def next_message(ws: aiohttp.ClientWebSocketResponse, skip: tuple[str, ...] = ("status",)) -> dict[str, Any]:
    while True:
        m: dict[str, Any] = await ws.receive_json(timeout=5)
        if m["type"] not in skip:
            return m


async def test_a_draft_after_the_save_and_saves_after_the_hang_up_are_no_errors(app: App) -> None:
    """Issue 18: typing, saving at once and the hang-up cross; the operator sees the save, never
    "no such call on your desktop"; a second save of the same call is a 200 that updates it."""
    await app.store.create({"uniqueid": "u1", "caller_number": "139", "language": "en", "topic": "housing",
                            "ivr_path": "", "queue": "hl-en-housing", "queued_at": 1.0})
    app.roster.apply(ev.MemberStatus("hl-all", "PJSIP/1001", "x", 1, False, "", False, 0.0))
    await app.desktop.handle(ev.AgentRinging("u1", "hl-en-housing", "PJSIP/1001", "1001", "139", "en", "housing",
                                             2.0))
    await app.desktop.handle(ev.AgentConnected("u1", "hl-en-housing", "PJSIP/1001", "1001", 1, 3.0))
    await app.store.update("u1", {"operator": "1001", "state": "answered"})
    op1, csrf = await session(app, "op1")
    origin = str(app.client.server.make_url("")).rstrip("/")
    form = {"category": "housing", "district": "Dongcheng", "description": "The lift has been broken"}
    try:
        ws = await op1.ws_connect("/ws/desktop", headers={"Origin": origin})
        assert (await next_message(ws))["call"]["uniqueid"] == "u1"
        await ws.send_json({"type": "draft", "uniqueid": "u1", "fields": {"description": "The lift"}, "at": 1})
        await wait_for(lambda: True)
        # the caller hangs up: wrap-up; the form is saved after it
        await app.desktop.handle(ev.AgentCompleted("u1", "hl-en-housing", "PJSIP/1001", 1, 30, "caller", 33.0))
        app.roster.apply(ev.MemberStatus("hl-all", "PJSIP/1001", "x", 1, True, "wrap-up", False, 33.0))
        assert (await next_message(ws))["type"] == "call_ended"
        r = await op1.post("/api/cases/u1/form", headers={"X-CSRF-Token": csrf}, json=form)
        assert r.status == 200, await r.text()
        case_id = (await r.json())["case_id"]
        saved = await next_message(ws)
        assert (saved["type"], saved["uniqueid"], saved["case_id"]) == ("case_saved", "u1", case_id)
        await wait_for(lambda: app.pbx.calls[-1] == ("pause", "PJSIP/1001", False, ""))  # the wrap-up ended
        assert await app.store.draft("op1", "u1") is None  # the save took the draft with it
        # the draft the page had pending arrives after the save: accepted quietly, not stored
        await ws.send_json({"type": "draft", "uniqueid": "u1", "fields": {"description": "The lift has"}, "at": 2})
        await ws.send_str("NaN")  # a sentinel: the next answer is its error, so nothing came before it
        answer = await next_message(ws)
        assert (answer["type"], answer["message"]) == ("error", "NaN is not a JSON number"), answer
        assert await app.store.draft("op1", "u1") is None
        # a second save of the same call (it has left the desktop): a 200 that updates the case
        r = await op1.post("/api/cases/u1/form", headers={"X-CSRF-Token": csrf},
                           json={**form, "district": "Xicheng"})
        assert r.status == 200 and (await r.json())["case_id"] == case_id, await r.text()
        assert (await next_message(ws))["type"] == "case_saved"
        case = await app.store.get("u1")
        assert case is not None and case["district"] == "Xicheng"
        # a draft for a call that was never on this desktop is still refused
        await ws.send_json({"type": "draft", "uniqueid": "someone-elses", "fields": {}, "at": 3})
        refused = await next_message(ws)
        assert (refused["type"], refused["message"]) == ("error", "no such call on your desktop")
        await ws.close()
    finally:
        await op1.close()


def test_the_form_route_hands_the_save_to_the_case_desk() -> None:
    """The handler parses, checks access and calls the desk: no store write, workflow step or
    desktop call of its own (those are the desk's transaction and the CaseSaved reactions)."""
    source = (Path(__file__).resolve().parents[1] / "src/hotline/web/api.py").read_text()
    body = source[source.index("async def case_form_save"):source.index("async def desktop_snapshot")]
    assert "desk.save(" in body
    for call in ("store.", "workflow.", "desktop.", "save_form", "recorded(", "wrapup"):
        assert call not in body, call


async def test_the_staffing_page_for_shift_managers(tmp_path: Path) -> None:
    import datetime as dt

    a = App(tmp_path)
    day = dt.date.today() + dt.timedelta(days=1)
    a.settings = replace(a.settings, rota=(config.RotaEntry("1001", "10:00", "12:00"),
                                           config.RotaEntry("1002", "10:00", "11:00")))
    await a.start()
    try:
        # history: the same weekday a week ago, 40 calls between 10:00 and 10:30, 5 minutes each
        t0 = dt.datetime.combine(day - dt.timedelta(weeks=1), dt.time(10, 0)).timestamp()
        for i in range(40):
            await a.store.create({"uniqueid": f"h{i}", "caller_number": "1", "language": "zh" if i % 4 else "en",
                                  "topic": "", "ivr_path": "", "queue": "hl-zh-general", "queued_at": t0 + i * 40,
                                  "answered_at": t0 + i * 40 + 5, "state": "ended"})
            await a.store.update(f"h{i}", {"talk_seconds": 300.0})
        boss, _ = await session(a, "boss")
        op1, _ = await session(a, "op1")
        try:
            assert (await op1.get("/staffing")).status == 403
            html = await (await boss.get(f"/staffing?date={day}&weeks=2")).text()
            row = re.search(r'<tr data-slot="10:00".*?</tr>', html, re.S)
            assert row is not None, html
            cells = [c.strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row.group(0), re.S)]
            # 40 calls of 300 s in 30 minutes = 6.7 erlangs; two operators on the rota
            need = agents_needed(40, 300.0, 1800, 15, 0.96)
            assert cells[:6] == ["10:00", "40.0", str(need), "2", "", str(need - 2)]
            assert 'class="short"' in row.group(0)
            assert "first estimate Erlang C (too few abandoned calls" in html
            csv_text = await (await boss.get(f"/staffing.csv?date={day}&weeks=2")).text()
            assert csv_text.startswith("\ufeff")  # UTF-8 with BOM (web/csv_export.py)
            head, *rows = csv_text.removeprefix("\ufeff").strip().splitlines()
            assert head.startswith("slot,forecast_calls,needed_erlang_c,needed_erlang_a,needed_confirmed,simulated_sl,"
                                   "scheduled,logged_in,gap")
            assert next(r for r in rows if r.startswith("11:00,")).split(",")[6] == "1"  # 1002 went home
            assert (await boss.get("/staffing?date=someday")).status == 400
        finally:
            await boss.close()
            await op1.close()
    finally:
        await a.close()


async def test_stopping_the_service_closes_open_desktops_at_once(app: App) -> None:
    """A page's open socket does not hold the stop: it is closed with 1001 (going away) and the
    server does not wait out its shutdown timeout (it did: every stop with a desk open took 15 s+)."""
    op1, _csrf = await session(app, "op1")
    origin = str(app.client.server.make_url("")).rstrip("/")
    try:
        ws = await op1.ws_connect("/ws/desktop", headers={"Origin": origin})
        assert (await next_message(ws))["type"] == "snapshot"
        loop = asyncio.get_running_loop()
        started = loop.time()
        stopping = asyncio.create_task(app.client.server.close())
        msg = await asyncio.wait_for(ws.receive(), 10)
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED) and ws.close_code == 1001
        await asyncio.wait_for(stopping, 10)
        assert loop.time() - started < 5.0
    finally:
        await op1.close()


async def test_a_page_not_for_your_role_is_a_page_in_the_browser(app: App) -> None:
    """An operator opening the wallboard in a browser gets a 403 page saying so and a way home
    (it was raw JSON); a machine asking the same still gets the JSON error id."""
    op1, _csrf = await session(app, "op1")
    try:
        r = await op1.get("/wallboard", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
        body = await r.text()
        assert r.status == 403 and r.content_type == "text/html"
        assert "Not for your role" in body and "op1 (operator)" in body and 'href="/"' in body
        r = await op1.get("/wallboard")
        assert r.status == 403 and (await r.json())["error"] == "forbidden"
    finally:
        await op1.close()
