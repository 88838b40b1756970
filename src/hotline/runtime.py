"""Builds the adapters and services and wires them: the one module that knows everything."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

from aiohttp import web

from hotline import events as ev
from hotline.agent_desktop.api import build_app
from hotline.bus import Bus, consume
from hotline.cases.service import CaseService
from hotline.cases.store import CaseStore, StoreError
from hotline.config import Settings
from hotline.pbx.actions import AmiQueueControl
from hotline.pbx.agi import AgiServer
from hotline.pbx.ami import AmiSession, PbxError
from hotline.pbx.queue_log import QueueLogReplay
from hotline.queue.agents import AgentCommands
from hotline.queue.roster import Roster
from hotline.queue.router import Router
from hotline.queue.service_level import ServiceLevel
from hotline.secrets import Secrets

log = logging.getLogger(__name__)


def start_of_today() -> float:
    now = dt.datetime.now().astimezone()
    return now.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


class Hotline:
    """The Python side of the hotline: AMI session, router, FastAGI, cases, HTTP API."""

    def __init__(self, settings: Settings, secrets: Secrets, *, serve_http: bool = True) -> None:
        self.settings = settings
        self.secrets = secrets
        self.serve_http = serve_http
        self.tasks: list[asyncio.Task[None]] = []
        self._runner: web.AppRunner | None = None

    async def start(self, connect_timeout: float = 15.0) -> None:
        s = self.settings
        self.bus: Bus[ev.Event] = Bus()
        self.store = CaseStore(s.database)
        await self.store.open()
        self.roster = Roster(s)
        self.sl = ServiceLevel(s.routing.target_seconds, since=start_of_today())
        self.sl.load(await self.store.since(start_of_today()))
        self.cases = CaseService(self.store)
        state_sub = self.bus.subscribe("state")
        case_sub = self.bus.subscribe("cases", maxsize=100_000)
        self.replay = QueueLogReplay(s.asterisk.instance_dir / "log" / "queue_log", self.store, self.bus.publish)
        self.ami = AmiSession(self.bus, "127.0.0.1", s.asterisk.ami_port, "hotline", self.secrets.ami_secret,
                              before_snapshot=self.replay.replay)
        self.pbx = AmiQueueControl(self.ami)
        self.router = Router(s, self.roster, self.sl, self.pbx)
        self.commands = AgentCommands(s, self.roster, self.router, self.pbx)

        def apply_state(event: ev.Event) -> None:
            self.roster.apply(event)
            self.sl.apply(event)
            self.router.apply(event)

        self.tasks = [
            asyncio.create_task(consume(state_sub, apply_state), name="state-pump"),
            asyncio.create_task(consume(case_sub, self.cases.handle, retry=(StoreError,)), name="case-pump"),
            asyncio.create_task(self.router.run(), name="deadline-watcher"),
        ]
        self.agi = AgiServer(self.route, "127.0.0.1", s.asterisk.agi_port)
        await self.agi.start()
        self.ami.start()
        try:
            await self.ami.wait_connected(connect_timeout)
        except PbxError as exc:
            log.error("%s; carrying on, the session keeps trying", exc)
        if self.serve_http:
            app = build_app(self.secrets.api_token, self.commands, self.roster, self.sl, self.store)
            self._runner = web.AppRunner(app, access_log=None)
            await self._runner.setup()
            await web.TCPSite(self._runner, s.http.host, s.http.port).start()
            log.info("HTTP API on http://%s:%d", s.http.host, s.http.port)

    async def route(self, uniqueid: str, language: str, topic: str, path: str) -> dict[str, str]:
        d = self.router.decide(uniqueid, language, topic, path)
        return {"HL_QUEUE": d.queue, "QUEUE_MAX_PENALTY": str(d.max_penalty), "HL_RULE": d.rule,
                "HL_ROUTED": "1"}

    async def drain(self, timeout: float = 5.0) -> None:
        """Wait until every published event has been handled (for tests and shutdown)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self.bus.pending():
            if asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.05)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        await self.agi.close()
        await self.ami.close()
        await self.drain(2.0)
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.store.close()
