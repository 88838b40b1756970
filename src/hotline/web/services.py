"""What the web app reads: one services object handed to ``build_app`` (issue 15).

The route modules read it from the application (``hotline.web.keys``), not from closures over
``build_app``'s parameters. The optional services leave their routes out when absent.
"""

from __future__ import annotations

from dataclasses import dataclass

from hotline.assist.kb import KnowledgeBase
from hotline.auth.throttle import LoginThrottle
from hotline.auth.users import UserDirectory
from hotline.cases.audit_store import AuditStore
from hotline.cases.callback import CallbackService
from hotline.cases.desk import CaseDesk
from hotline.cases.interpreting_store import InterpretingStore
from hotline.cases.search import SearchStore
from hotline.cases.store import CaseStore
from hotline.cases.workflow import Workflow
from hotline.cases.workflow_store import WorkflowStore
from hotline.config import Settings
from hotline.floor.crisis import CrisisService
from hotline.floor.desktop import DesktopService
from hotline.floor.interpreter_view import InterpreterDesk
from hotline.floor.interpreters import InterpreterService
from hotline.floor.supervision import Supervision
from hotline.floor.surge import SurgeService
from hotline.floor.wallboard import WallboardService
from hotline.queue.agents import AgentCommands
from hotline.queue.roster import Roster
from hotline.queue.service_level import ServiceLevel
from hotline.recordings.store import RecordingStore
from hotline.web.hub import Hub
from hotline.web.probes import Probes


@dataclass(frozen=True)
class AfterCall:
    """The services of a case's life after the call (issue 6), for the web app."""

    workflow: Workflow
    flows: WorkflowStore
    callbacks: CallbackService | None
    recordings: RecordingStore
    search: SearchStore


@dataclass(frozen=True)
class WebServices:
    """Everything the web app reads. Without ``throttle`` the app keeps a login throttle of its
    own; without ``desk`` a case desk of its own (publishing on a bus the app pumps); without
    ``after_call``, ``wallboard`` + ``supervision`` or ``interpreters`` their routes are left out."""

    settings: Settings
    service_token: str
    users: UserDirectory
    commands: AgentCommands
    roster: Roster
    sl: ServiceLevel
    store: CaseStore
    desktop: DesktopService
    hub: Hub
    audits: AuditStore
    interpreting_log: InterpretingStore
    throttle: LoginThrottle | None = None
    wallboard: WallboardService | None = None
    supervision: Supervision | None = None
    interpreters: InterpreterService | None = None
    interpreter_desk: InterpreterDesk | None = None
    after_call: AfterCall | None = None
    desk: CaseDesk | None = None
    knowledge: KnowledgeBase | None = None  # the knowledge base (web/knowledge.py's routes only with it)
    probes: Probes | None = None  # health and metrics: AMI, transcription (runtime.py); none: not monitored
    metrics_token: str = ""  # /metrics' scrape token (secrets.json); "": sessions only
    crisis: CrisisService | None = None  # the crisis words' alerts (their routes only with it)
    surge: SurgeService | None = None  # surge announcements (web/surge_routes.py only with it)
