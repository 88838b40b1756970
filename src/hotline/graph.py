"""The service graph: ONE function builds every domain service from the settings and the adapters
it is given (issue 15). runtime.py calls it with the AMI's queue control, the tests and the
benchmarks with a stand-in PBX control; nobody else wires services by hand.

``build_services`` only constructs (no I/O, no tasks), so a unit test can build the floor
synchronously. ``Services.load`` restores today's figures from the store (at start), and
``Services.start`` runs the pumps that feed each service from the bus (and, by default, their
clocks). What stays in runtime.py is the outside world: the AMI session, FastAGI, the queue_log
replay, transcription, the HTTP site and the process's own thread pools.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from hotline import events as ev
from hotline.assist.crisis_store import CrisisStore
from hotline.assist.kb import KnowledgeBase
from hotline.assist.kb_store import KnowledgeStore
from hotline.auth.throttle import LoginThrottle
from hotline.auth.user_store import UserStore
from hotline.auth.users import UserDirectory
from hotline.bus import Bus, Subscription, consume
from hotline.cases.audit_store import AuditStore
from hotline.cases.callback import CallbackPbx, CallbackService
from hotline.cases.desk import CaseDesk
from hotline.cases.desk_store import DeskStore
from hotline.cases.form import categories
from hotline.cases.interpreting_store import InterpretingStore
from hotline.cases.overdue import OverdueCases
from hotline.cases.search import SearchStore
from hotline.cases.service import CaseService
from hotline.cases.store import CaseStore, StoreError
from hotline.cases.workflow import Workflow
from hotline.cases.workflow_store import WorkflowStore
from hotline.config import Settings
from hotline.floor.board import Board
from hotline.floor.calls import CallRegistry
from hotline.floor.crisis import CrisisService
from hotline.floor.desktop import DesktopService
from hotline.floor.interpreter_view import InterpreterDesk
from hotline.floor.interpreters import ConferenceControl, InterpreterService
from hotline.floor.knowledge import KnowledgeSuggestions
from hotline.floor.suggestions import SuggestionService
from hotline.floor.supervision import SpyControl, Supervision
from hotline.floor.wallboard import WallboardService
from hotline.queue.agents import AgentCommands
from hotline.queue.roster import Roster
from hotline.queue.router import QueueControl, Router
from hotline.queue.service_level import ServiceLevel
from hotline.queue.skills import SkillBook
from hotline.queue.wrapup import WrapUp
from hotline.recordings.service import ArchiveFn, FreeFn, RecordingService, RunFn
from hotline.recordings.store import RecordingStore
from hotline.security.service import BlockList, SipSecurityService
from hotline.storage.operator_store import OperatorStore
from hotline.web.hub import Hub
from hotline.web.services import AfterCall, WebServices

SayFn = Callable[[int, str, str], Awaitable[str]]


class PbxControl(QueueControl, SpyControl, ConferenceControl, CallbackPbx, Protocol):
    """Every PBX action a service asks for (pbx/actions.py ``AmiQueueControl`` in production)."""


def start_of_today() -> float:
    now = dt.datetime.now().astimezone()
    return now.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


async def say_nothing(cb_id: int, text: str, language: str) -> str:
    """A call back without the department's reply read out (no speech synthesis)."""
    return ""


@dataclass(frozen=True)
class RecordingFiles:
    """What the recording service needs of the file system (runtime: the spool, the archiver,
    shutil.disk_usage and a thread of its own)."""

    raw_dir: Path
    archive: ArchiveFn
    free_bytes: FreeFn
    run: RunFn


@dataclass
class Pump:
    name: str
    sub: Subscription[ev.Event]
    handle: Callable[[ev.Event], Awaitable[None] | None]
    retry: tuple[type[BaseException], ...] = ()


@dataclass
class Services:
    """The built graph. Fields are the services; ``web`` gives what ``build_app`` reads."""

    settings: Settings
    store: CaseStore
    audits: AuditStore
    operators: OperatorStore
    interpreting_log: InterpretingStore
    bus: Bus[ev.Event]
    pbx: PbxControl
    since_day: Callable[[], float]
    roster: Roster
    calls: CallRegistry
    sl: ServiceLevel
    skills: SkillBook
    router: Router
    commands: AgentCommands
    wrapup: WrapUp
    hub: Hub
    desktop: DesktopService
    form_suggestions: SuggestionService  # suggested form values (slots) and the spoken language, to the desktops
    board: Board
    supervision: Supervision
    interpreters: InterpreterService
    wallboard: WallboardService
    interpreter_desk: InterpreterDesk
    cases: CaseService
    users: UserDirectory
    flows: WorkflowStore
    workflow: Workflow
    callbacks: CallbackService
    desk: CaseDesk
    search: SearchStore
    recording_store: RecordingStore
    recordings: RecordingService | None
    sip_security: SipSecurityService | None
    overdue: OverdueCases
    knowledge: KnowledgeBase
    kb_suggestions: KnowledgeSuggestions  # knowledge articles suggested to the desk showing a call
    crisis: CrisisService
    pumps: list[Pump] = field(default_factory=list)
    clocks: list[tuple[str, Callable[[], Coroutine[Any, Any, None]]]] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def apply(self, event: ev.Event) -> None:
        """The state pump's step: the live floor as this event leaves it (the call registry right
        after the roster; the board reads both as the event left them, so it comes last)."""
        self.roster.apply(event)
        self.calls.apply(event)
        self.sl.apply(event)
        self.board.apply(event)

    async def load(self) -> int:
        """Today's figures from the store (a restart loses nothing): the service level, what each
        operator answered, the board's calls; the skills shift managers set, over the site file's.
        Returns how many operators' skills came from the store."""
        since = self.since_day()
        today = await self.store.since(since)
        self.calls.load(today)
        self.sl.load(today)
        for ext, uid in await self.store.answered_today(since):
            op = self.roster.get(ext)
            if op is not None:
                op.answered.add(uid)
        self.board.load(today, since)
        return await self.supervision.load_skills()

    def web(self, service_token: str, throttle: LoginThrottle | None = None) -> WebServices:
        """Everything the web app reads (``build_app(services.web(token))``)."""
        return WebServices(self.settings, service_token, self.users, self.commands, self.roster, self.sl,
                           self.store, self.desktop, self.hub, audits=self.audits,
                           interpreting_log=self.interpreting_log, throttle=throttle, wallboard=self.wallboard,
                           supervision=self.supervision, interpreters=self.interpreters,
                           interpreter_desk=self.interpreter_desk, knowledge=self.knowledge,
                           after_call=AfterCall(self.workflow, self.flows, self.callbacks, self.recording_store,
                                                self.search), desk=self.desk, crisis=self.crisis)

    def start(self, *, clocks: bool = True) -> list[asyncio.Task[None]]:
        """Feed every service from its subscription (in order, a store error retried); with
        ``clocks`` also their timers (deadlines, ticks, housekeeping). Returns the new tasks."""
        new = [asyncio.create_task(consume(p.sub, p.handle, retry=p.retry), name=f"{p.name}-pump")
               for p in self.pumps]
        if clocks:
            new += [asyncio.create_task(run(), name=name) for name, run in self.clocks]
        self.tasks += new
        return new

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.tasks = []

    def operator_language(self, extension: str, language: str) -> str:
        """The language an operator speaks on a call: the caller's if they have it (skills as set
        now), else the hotline's own (an interpreted call)."""
        op = self.skills.get(extension)
        if op is None or language in op.languages:
            return language
        return self.settings.default_language.code


def build_services(settings: Settings, store: CaseStore, pbx: PbxControl, bus: Bus[ev.Event], *,
                   clock: Callable[[], float] = time.time, since_day: Callable[[], float] = start_of_today,
                   say: SayFn = say_nothing, recording_files: RecordingFiles | None = None,
                   sip_blocks: BlockList | None = None, deadline_every: float = 60.0) -> Services:
    """The whole domain graph on ``store`` (opened or not: it opens on first use), ``pbx`` and
    ``bus``. The consumers' subscriptions are taken here, so no event published from now on is
    missed; ``Services.start`` runs them. Without ``recording_files`` no call is recorded; without
    ``sip_blocks`` there is no SIP guard (both: runtime only)."""
    s = settings
    publish = bus.publish
    db = store.db  # the one Database every repository shares (one writer thread, one set of keys)
    audits, operators, interpreting_log = AuditStore(db), OperatorStore(db), InterpretingStore(db)
    roster = Roster(s, clock)
    calls = CallRegistry(since_day(), clock=clock)  # the calls in progress: every floor service reads it
    sl = ServiceLevel(s.routing.target_seconds, clock, since=since_day(), calls=calls,
                      short_abandon=s.routing.short_abandon_seconds)
    skills = SkillBook(s)
    router = Router(s, roster, calls, pbx, clock, skills=skills)
    commands = AgentCommands(s, roster, router, pbx)
    wrapup = WrapUp(s.routing.wrapup_seconds, roster, pbx)
    hub = Hub()
    desktop = DesktopService(s, roster, calls, wrapup, store, hub)
    board = Board(s, roster, calls, skills, clock)
    supervision = Supervision(s, commands, board, calls, pbx, operators, audits, clock=clock)
    interpreters = InterpreterService(s, calls, skills, pbx, store, interpreting_log, publish,
                                      lambda req: desktop.interpreter(req.operator, req.to_json()), clock=clock)
    bus.add_filter(interpreters.keep)
    wallboard = WallboardService(s, board, supervision, hub, store, audits, operators, since_day,
                                 clock=clock, interpreting=interpreters.board_section)
    flows = WorkflowStore(db)
    workflow = Workflow(s, flows, clock)
    callbacks = CallbackService(s, flows, workflow, pbx, say, clock)
    recording_store = RecordingStore(db)
    knowledge = KnowledgeBase(KnowledgeStore(db), [lang.code for lang in s.languages],
                              [c["code"] for c in categories(s)])
    recordings = None
    if recording_files is not None:
        f = recording_files
        recordings = RecordingService(s, f.raw_dir, recording_store, f.archive, f.free_bytes, f.run, clock)
    sip_security = None
    if sip_blocks is not None:
        sip_security = SipSecurityService(s.sip_security, sip_blocks, audits, clock)
    services = Services(
        settings=s, store=store, audits=audits, operators=operators, interpreting_log=interpreting_log,
        bus=bus, pbx=pbx, since_day=since_day, roster=roster, calls=calls, sl=sl,
        skills=skills, router=router, commands=commands, wrapup=wrapup, hub=hub, desktop=desktop, board=board,
        form_suggestions=SuggestionService(s, hub, desktop.desktop_of),
        supervision=supervision, interpreters=interpreters, wallboard=wallboard,
        interpreter_desk=InterpreterDesk(s, calls, store, hub), cases=CaseService(store),
        users=UserDirectory(UserStore(db), s.http.session_hours * 3600), flows=flows, workflow=workflow,
        callbacks=callbacks,
        # the form save as one command: its CaseSaved reaches the desktop and the wrap-up on the bus
        desk=CaseDesk(s, DeskStore(db), workflow, publish, clock), search=SearchStore(db),
        recording_store=recording_store, recordings=recordings, sip_security=sip_security,
        overdue=OverdueCases(workflow, flows), knowledge=knowledge,
        kb_suggestions=KnowledgeSuggestions(calls, knowledge, hub),
        crisis=CrisisService(s, calls, hub, CrisisStore(db), audits, since_day, clock))
    _connect(services)
    _subscribe(services, deadline_every)
    return services


def _connect(g: Services) -> None:
    """The few links that are real cycles, made once here after every service exists:
    - the wallboard reads the supervision sessions, the interpreter pool's section and the board's
      alerts (recordings, SIP guard, overdue cases), and each of those tells it when to re-read;
    - the workflow schedules the call back when a department replies, and the call back service
      drives the workflow.
    The board's extra alert sources are added here too, next to the link that announces them."""
    # what the desk's snapshot adds to its call: suggested form values, the spoken language, articles
    g.desktop.call_extras["suggestions"] = g.form_suggestions.items_of
    g.desktop.call_extras["spoken_language"] = g.form_suggestions.spoken_of
    g.desktop.call_extras["knowledge"] = g.kb_suggestions.shown
    g.supervision.on_change = g.wallboard.audit_changed
    g.interpreters.on_change = g.wallboard.changed
    g.workflow.on_replied = g.callbacks.schedule
    if g.recordings is not None:
        g.recordings.on_alert = g.wallboard.changed
        g.board.extra_alerts.append(g.recordings.alerts)
    if g.sip_security is not None:
        g.sip_security.on_change = g.wallboard.changed
        g.board.extra_alerts.append(g.sip_security.alerts)
    g.overdue.on_change = g.wallboard.changed
    g.board.extra_alerts.append(g.overdue.alerts)
    g.crisis.on_change = g.wallboard.audit_changed  # its alerts and their audit lines
    g.board.extra_alerts.append(g.crisis.board_alerts)
    g.wallboard.sections["crisis"] = g.crisis.counts


def _subscribe(g: Services, deadline_every: float) -> None:
    """A subscription per consumer, in the order the runtime always took them: an event wakes its
    consumers in subscription order, so the state pump (the floor as the event leaves it) comes
    first and the desktop, wallboard and interpreter pumps after it read that state."""
    bus = g.bus
    stored = (StoreError,)

    def pump(name: str, handle: Callable[[ev.Event], Awaitable[None] | None], maxsize: int = 10_000,
             retry: tuple[type[BaseException], ...] = ()) -> None:
        g.pumps.append(Pump(name, bus.subscribe(name, maxsize=maxsize), handle, retry))

    pump("state", g.apply)
    pump("cases", g.cases.handle, 100_000, stored)
    pump("wrapup", g.wrapup.handle)
    pump("desktop", g.desktop.handle, 50_000)
    pump("slots", g.form_suggestions.handle, 50_000)
    pump("wallboard", g.wallboard.handle, 50_000)
    pump("interpreters", g.interpreters.handle)
    pump("interpreter-desk", g.interpreter_desk.handle, 50_000)
    pump("knowledge", g.kb_suggestions.handle, 50_000)
    g.clocks += [("deadline-watcher", g.router.run), ("desktop-tick", g.desktop.tick_forever),
                 ("wallboard-tick", g.wallboard.tick_forever), ("interpreter-tick", g.interpreters.run),
                 ("callback-clock", g.callbacks.run)]
    if g.recordings is not None:
        pump("recordings", g.recordings.handle, 50_000, stored)
        g.clocks.append(("recordings-housekeeping", g.recordings.run))
    pump("callbacks", g.callbacks.handle, 50_000, stored)
    if g.sip_security is not None:
        pump("sip-security", g.sip_security.handle, 50_000)
        g.clocks.append(("sip-security-expiry", g.sip_security.run))
    g.clocks.append(("deadline-sweeps", lambda: g.overdue.run(deadline_every)))
    pump("crisis", g.crisis.handle, 50_000)
    g.clocks.append(("crisis-alerts", g.crisis.run))
