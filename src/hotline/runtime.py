"""Builds the adapters and services and wires them: the one module that knows everything."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import secrets as secrets_mod
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from aiohttp import web

from hotline import events as ev
from hotline.auth.users import UserDirectory
from hotline.bus import Bus, consume
from hotline.cases.callback import CallbackService
from hotline.cases.desk import CaseDesk
from hotline.cases.desk_store import DeskStore
from hotline.cases.search import SearchStore
from hotline.cases.service import CaseService
from hotline.cases.store import CaseStore, StoreError
from hotline.cases.workflow import Workflow
from hotline.cases.workflow_store import WorkflowStore
from hotline.config import Settings
from hotline.floor.board import Board
from hotline.floor.desktop import DesktopService
from hotline.floor.interpreter_view import InterpreterDesk
from hotline.floor.interpreters import InterpreterService, Request
from hotline.floor.supervision import Supervision
from hotline.floor.wallboard import WallboardService
from hotline.ivr.prompts import synthesise
from hotline.pbx.actions import AmiQueueControl
from hotline.pbx.agi import AgiServer
from hotline.pbx.ami import AmiSession, PbxError
from hotline.pbx.queue_log import QueueLogReplay
from hotline.pbx.sip_acl import SipAclBlockList, db_path
from hotline.queue.agents import AgentCommands
from hotline.queue.roster import Roster
from hotline.queue.router import Router
from hotline.queue.service_level import ServiceLevel
from hotline.queue.skills import SkillBook
from hotline.queue.wrapup import WrapUp
from hotline.recordings.archive import make_archive
from hotline.recordings.service import RecordingService
from hotline.recordings.store import RecordingStore
from hotline.secrets import Secrets
from hotline.security.service import SipSecurityService
from hotline.transcribe.audiosocket import AudioSocketServer
from hotline.transcribe.models import ModelRegistry
from hotline.transcribe.pipeline import TranscriptionService
from hotline.web.app import build_app
from hotline.web.hub import Hub
from hotline.web.services import AfterCall, WebServices

log = logging.getLogger(__name__)
T = TypeVar("T")


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
        for ext, uid in await self.store.answered_today(start_of_today()):
            op = self.roster.get(ext)
            if op is not None:
                op.answered.add(uid)
        self.cases = CaseService(self.store)
        self.users = UserDirectory(self.store, s.http.session_hours * 3600)
        await self.users.sync_from_site(s)
        await self._first_admin()
        state_sub = self.bus.subscribe("state")
        case_sub = self.bus.subscribe("cases", maxsize=100_000)
        wrapup_sub = self.bus.subscribe("wrapup")
        desktop_sub = self.bus.subscribe("desktop", maxsize=50_000)
        self.replay = QueueLogReplay(s.asterisk.instance_dir / "log" / "queue_log", self.store, self.bus.publish)
        self.ami = AmiSession(self.bus, "127.0.0.1", s.asterisk.ami_port, "hotline", self.secrets.ami_secret,
                              before_snapshot=self.replay.replay, trace_path=s.asterisk.ami_trace or None)
        self.pbx = AmiQueueControl(self.ami)
        self.skills = SkillBook(s)
        self.router = Router(s, self.roster, self.sl, self.pbx, skills=self.skills)
        self.commands = AgentCommands(s, self.roster, self.router, self.pbx)
        self.wrapup = WrapUp(s.routing.wrapup_seconds, self.roster, self.pbx)
        self.hub = Hub()
        self.desktop = DesktopService(s, self.roster, self.sl, self.wrapup, self.store, self.hub)
        self.board = Board(s, self.roster, self.sl, self.skills)
        self.board.load(await self.store.since(start_of_today()), start_of_today())
        self.supervision = Supervision(s, self.commands, self.board, self.pbx, self.store)
        changed = await self.supervision.load_skills()
        if changed:
            log.info("skills of %d operators as last set by shift managers (the store, over the site file)", changed)
        self.wallboard = WallboardService(s, self.board, self.supervision, self.hub, self.store, start_of_today)
        self.supervision.on_change = self.wallboard.audit_changed
        wallboard_sub = self.bus.subscribe("wallboard", maxsize=50_000)
        self.interpreters = InterpreterService(s, self.board, self.pbx, self.store, self.bus.publish,
                                               self._interpreter_progress)
        self.bus.add_filter(self.interpreters.keep)
        self.wallboard.interpreting = self.interpreters.board_section
        self.interpreters.on_change = self.wallboard.changed
        interpreter_sub = self.bus.subscribe("interpreters")
        self.interpreter_desk = InterpreterDesk(s, self.store, self.hub)
        interpreter_desk_sub = self.bus.subscribe("interpreter-desk", maxsize=50_000)

        self._after_call()
        # the SIP guard: security events -> blocks (realtime ACL rows), the call limit's FastAGI
        self.sip_security = SipSecurityService(s.sip_security, SipAclBlockList(db_path(s.asterisk.instance_dir)),
                                               self.store)
        self.sip_security.on_change = self.wallboard.changed
        self.board.extra_alerts.append(self.sip_security.alerts)
        await self.sip_security.start()
        sip_security_sub = self.bus.subscribe("sip-security", maxsize=50_000)

        def apply_state(event: ev.Event) -> None:
            self.roster.apply(event)
            self.sl.apply(event)
            self.router.apply(event)
            self.board.apply(event)  # reads the roster as this event left it

        self.tasks = [
            asyncio.create_task(consume(state_sub, apply_state), name="state-pump"),
            asyncio.create_task(consume(case_sub, self.cases.handle, retry=(StoreError,)), name="case-pump"),
            asyncio.create_task(self.router.run(), name="deadline-watcher"),
            asyncio.create_task(consume(wrapup_sub, self.wrapup.handle), name="wrapup-pump"),
            asyncio.create_task(consume(desktop_sub, self.desktop.handle), name="desktop-pump"),
            asyncio.create_task(self.desktop.tick_forever(), name="desktop-tick"),
            asyncio.create_task(consume(wallboard_sub, self.wallboard.handle), name="wallboard-pump"),
            asyncio.create_task(self.wallboard.tick_forever(), name="wallboard-tick"),
            asyncio.create_task(consume(interpreter_sub, self.interpreters.handle), name="interpreter-pump"),
            asyncio.create_task(self.interpreters.run(), name="interpreter-tick"),
            asyncio.create_task(consume(interpreter_desk_sub, self.interpreter_desk.handle), name="interpreter-desk"),
            asyncio.create_task(consume(self._recording_sub, self.recordings.handle, retry=(StoreError,)),
                                name="recordings-pump"),
            asyncio.create_task(self.recordings.run(), name="recordings-housekeeping"),
            asyncio.create_task(consume(self._callback_sub, self.callbacks.handle, retry=(StoreError,)),
                                name="callback-pump"),
            asyncio.create_task(self.callbacks.run(), name="callback-clock"),
            asyncio.create_task(self._deadline_sweeps(), name="deadline-sweeps"),
            asyncio.create_task(consume(sip_security_sub, self.sip_security.handle), name="sip-security-pump"),
            asyncio.create_task(self.sip_security.run(), name="sip-security-expiry"),
        ]
        self.transcription: TranscriptionService | None = None
        self.audiosocket: AudioSocketServer | None = None
        if s.transcription.enabled:
            await self._start_transcription()
        self.agi = AgiServer({"route": lambda uid, a: self.route(uid, a[0], a[1], a[2]),
                              "callback": lambda uid, a: self.callbacks.answer(a[0], a[1], a[2]),
                              "admit": self.sip_security.admit, "refused": self.sip_security.refused},
                             "127.0.0.1", s.asterisk.agi_port)
        await self.agi.start()
        self.ami.start()
        try:
            await self.ami.wait_connected(connect_timeout)
        except PbxError as exc:
            log.error("%s; carrying on, the session keeps trying", exc)
        if self.serve_http:
            app = build_app(WebServices(
                s, self.secrets.api_token, self.users, self.commands, self.roster, self.sl, self.store,
                self.desktop, self.hub, wallboard=self.wallboard, supervision=self.supervision,
                interpreters=self.interpreters, interpreter_desk=self.interpreter_desk,
                after_call=AfterCall(self.workflow, self.flows, self.callbacks, self.recording_store,
                                     self.search), desk=self.desk))
            self._runner = web.AppRunner(app, access_log=None)
            await self._runner.setup()
            await web.TCPSite(self._runner, s.http.host, s.http.port).start()
            log.info("desktop and API on http://%s:%d", s.http.host, s.http.port)

    def _after_call(self) -> None:
        """Dispatch and deadlines, the call back, recordings, search (issue 6)."""
        s = self.settings
        self.flows = WorkflowStore(self.store)
        self.workflow = Workflow(s, self.flows)
        # the form save as one command: its CaseSaved reaches the desktop and the wrap-up on the bus
        self.desk = CaseDesk(s, DeskStore(self.store), self.workflow, self.bus.publish)
        self.search = SearchStore(self.store)
        self.recording_store = RecordingStore(self.store)
        self._blocking = ThreadPoolExecutor(max_workers=2, thread_name_prefix="after-call")
        # the recordings' quick file work (stat, unlink) has its own thread, never behind speech
        # synthesis or an archive job; the archive jobs run in the service's own bounded pool
        self._rec_files = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rec-files")
        self.recordings = RecordingService(
            s, s.asterisk.instance_dir / "spool" / "recordings", self.recording_store, make_archive,
            lambda p: shutil.disk_usage(p).free,
            lambda fn: asyncio.get_running_loop().run_in_executor(self._rec_files, fn))
        self.recordings.on_alert = self.wallboard.changed
        self.callbacks = CallbackService(s, self.flows, self.workflow, self.pbx, self._say)
        self.workflow.on_replied = self.callbacks.schedule
        self.overdue: list[dict[str, Any]] = []
        self.board.extra_alerts += [self.recordings.alerts, self._overdue_alert]
        self._recording_sub = self.bus.subscribe("recordings", maxsize=50_000)
        self._callback_sub = self.bus.subscribe("callbacks", maxsize=50_000)

    async def _in_thread(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._blocking, fn)

    async def _say(self, cb_id: int, text: str, language: str) -> str:
        """The department's reply as speech for a call back: the file's path as the dialplan
        plays it (in the chroot, no extension); "" when there is nothing to say."""
        if not text.strip():
            return ""
        lang = self.settings.language(language) or self.settings.default_language
        dest = self.settings.asterisk.instance_dir / "sounds" / "callback" / "summary" / f"{cb_id}.wav"
        await self._in_thread(lambda: synthesise(text[:500], lang.voice, dest))
        return f"{self.settings.asterisk.instance_dir_in_chroot}/sounds/callback/summary/{cb_id}"

    def _overdue_alert(self) -> list[dict[str, Any]]:
        if not self.overdue:
            return []
        by: dict[str, int] = {}
        for c in self.overdue:
            by[c.get("department") or "?"] = by.get(c.get("department") or "?", 0) + 1
        text = ", ".join(f"{k}: {v}" for k, v in sorted(by.items()))
        return [{"id": "cases:overdue", "kind": "cases_overdue", "severity": "warning", "since": None,
                 "target": "cases", "text": f"{len(self.overdue)} case(s) past their deadline ({text})"}]

    async def _deadline_sweeps(self, every: float = 60.0) -> None:
        while True:
            try:
                _warned, escalated = await self.workflow.sweep()
                before = len(self.overdue)
                self.overdue = await self.flows.overdue(self.workflow.clock())
                if escalated or len(self.overdue) != before:
                    self.wallboard.changed()
            except Exception:
                log.exception("deadline sweep failed; retrying")
            await asyncio.sleep(every)

    async def _start_transcription(self) -> None:
        s = self.settings
        self._speech_pool = ThreadPoolExecutor(max_workers=s.transcription.workers, thread_name_prefix="speech")
        folders = dict(s.transcription.models)
        self.models = ModelRegistry(folders, self._speech_pool)
        self.transcription = TranscriptionService(self.models, self._speech_pool, self.bus.publish, self.pbx,
                                                  "127.0.0.1", s.transcription.audiosocket_port,
                                                  operator_language=self._operator_language)
        sub = self.bus.subscribe("transcription")
        self.tasks.append(asyncio.create_task(consume(sub, self.transcription.handle), name="transcription-pump"))
        self.audiosocket = AudioSocketServer(self.transcription.open_leg, "127.0.0.1",
                                             s.transcription.audiosocket_port)
        await self.audiosocket.start()
        if not folders:
            log.warning("transcription: no speech models configured ([transcription.models] or "
                        "HOTLINE_VOSK_MODEL_<LANG>); calls go on without transcripts")
        self.tasks.append(asyncio.create_task(self.models.load_all(), name="load-speech-models"))

    def _operator_language(self, extension: str, language: str) -> str:
        """The language an operator speaks on a call: the caller's if they have it (skills as set
        now), else the hotline's own (an interpreted call)."""
        op = self.skills.get(extension)
        if op is None or language in op.languages:
            return language
        return self.settings.default_language.code

    def _interpreter_progress(self, req: Request) -> None:
        self.desktop.interpreter(req.operator, req.to_json())

    async def _first_admin(self) -> None:
        """A fresh installation gets one admin, with a generated password in a 0600 file."""
        if await self.users.count():
            return
        path = self.settings.state_dir / "initial-admin-password"
        password = secrets_mod.token_urlsafe(15)
        await self.users.add("admin", "admin", password, name="Administrator")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(password + "\n")
        log.warning("no users yet: created user 'admin' (password in %s); add operators with "
                    "`hotline users add NAME --role operator --extension EXT`", path)

    async def route(self, uniqueid: str, language: str, topic: str, path: str) -> dict[str, str]:
        d = self.router.decide(uniqueid, language, topic, path)
        return {"HL_QUEUE": d.queue, "QUEUE_MAX_PENALTY": str(d.max_penalty), "HL_RULE": d.rule,
                "HL_RECORD": "1" if self.recordings.record_this_call() else "0", "HL_ROUTED": "1"}

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
        if self.audiosocket is not None:
            await self.audiosocket.close()
        if self.transcription is not None:
            await self.transcription.close()
        await self.agi.close()
        await self.ami.close()
        await self.drain(2.0)
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.store.close()
        self._blocking.shutdown(wait=False, cancel_futures=True)
        self.recordings.close()  # rows not archived yet stay pending: the next start resumes them
        self._rec_files.shutdown(wait=False, cancel_futures=True)
        if self.transcription is not None:
            self._speech_pool.shutdown(wait=False, cancel_futures=True)
