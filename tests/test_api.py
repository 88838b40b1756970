"""The HTTP API in-process: token required, domain errors mapped to clear HTTP answers."""

from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from hotline import config
from hotline import events as ev
from hotline.agent_desktop.api import build_app
from hotline.cases.store import CaseStore
from hotline.queue.agents import AgentCommands
from hotline.queue.roster import Roster
from hotline.queue.router import Router
from hotline.queue.service_level import ServiceLevel

SITE = Path(__file__).resolve().parents[1] / "etc/site.example.toml"


class RecordingPbx:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    async def queue_add(self, *a: Any) -> None:
        self.calls.append(("add", *a))

    async def queue_remove(self, *a: Any) -> None:
        self.calls.append(("remove", *a))

    async def queue_pause(self, *a: Any) -> None:
        self.calls.append(("pause", *a))


async def client(tmp_path: Path) -> tuple[TestClient[Any, Any], RecordingPbx, Roster, CaseStore]:
    settings = config.load(SITE, {})
    roster = Roster(settings)
    sl = ServiceLevel(15)
    pbx = RecordingPbx()
    router = Router(settings, roster, sl, pbx)
    store = CaseStore(tmp_path / "c.db")
    app = build_app("secret-token", AgentCommands(settings, roster, router, pbx), roster, sl, store)
    c = TestClient(TestServer(app))
    await c.start_server()
    return c, pbx, roster, store


AUTH = {"Authorization": "Bearer secret-token"}


async def test_every_route_needs_the_token(tmp_path: Path) -> None:
    c, pbx, _, store = await client(tmp_path)
    try:
        for method, path in [("GET", "/api/agents"), ("GET", "/api/queues"), ("GET", "/api/cases"),
                             ("POST", "/api/agents/1001/login")]:
            for headers in ({}, {"Authorization": "Bearer wrong"}):
                r = await c.request(method, path, headers=headers)
                assert r.status == 401, (method, path)
                assert (await r.json())["error"] == "unauthorized"
        assert pbx.calls == []
    finally:
        await c.close()
        await store.close()


async def test_login_pause_and_errors(tmp_path: Path) -> None:
    c, pbx, roster, store = await client(tmp_path)
    try:
        r = await c.post("/api/agents/1001/login", headers=AUTH)
        assert r.status == 200
        added = {call[1] for call in pbx.calls if call[0] == "add"}
        assert added == {"hl-all", "hl-zh-general", "hl-zh-housing", "hl-zh-papers", "hl-en-general",
                         "hl-en-housing", "hl-en-papers"}
        r = await c.post("/api/agents/9999/login", headers=AUTH)
        assert (r.status, (await r.json())["error"]) == (404, "agent-unknown")
        r = await c.post("/api/agents/1002/pause", headers=AUTH, json={"reason": "break"})
        assert (r.status, (await r.json())["error"]) == (409, "agent-offline")
        roster.apply(ev.MemberStatus("hl-all", "PJSIP/1001", "x", 1, False, "", False, 0.0))
        r = await c.post("/api/agents/1001/pause", headers=AUTH, json={"reason": "  "})
        assert (r.status, (await r.json())["error"]) == (400, "pause-reason-missing")
        r = await c.post("/api/agents/1001/pause", headers=AUTH, data=b"{not json")
        assert (r.status, (await r.json())["error"]) == (400, "bad-request")
        r = await c.post("/api/agents/1001/pause", headers=AUTH, json={"reason": "training"})
        assert r.status == 200 and pbx.calls[-1] == ("pause", "PJSIP/1001", True, "training")
        r = await c.get("/api/cases?limit=abc", headers=AUTH)
        assert (r.status, (await r.json())["error"]) == (400, "bad-request")
    finally:
        await c.close()
        await store.close()
