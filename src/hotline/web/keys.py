"""The typed keys under which ``build_app`` puts what the route modules read (issue 15).

The required services are always set; ``WALLBOARD``, ``SUPERVISION``, ``INTERPRETERS``,
``INTERPRETER_DESK`` and ``AFTER_CALL`` only when the app was given them (their routes are
registered only then; a route that reads one only if present uses ``request.app.get``).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from aiohttp import web

from hotline.assist.kb import KnowledgeBase
from hotline.auth.throttle import LoginThrottle
from hotline.auth.users import UserDirectory
from hotline.cases.audit_store import AuditStore
from hotline.cases.desk import CaseDesk
from hotline.cases.interpreting_store import InterpretingStore
from hotline.cases.store import CaseStore
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
from hotline.web.hub import Hub
from hotline.web.probes import Probes
from hotline.web.services import AfterCall

if TYPE_CHECKING:  # web/security.py reads its keys from here
    from hotline.web.security import Proxies

SETTINGS = web.AppKey("settings", Settings)
SERVICE_TOKEN = web.AppKey("service-token", str)  # the CLI's bearer token (acts as admin)
USERS = web.AppKey("users", UserDirectory)
COMMANDS = web.AppKey("commands", AgentCommands)
ROSTER = web.AppKey("roster", Roster)
SL = web.AppKey("service-level", ServiceLevel)
STORE = web.AppKey("store", CaseStore)
AUDITS = web.AppKey("audits", AuditStore)  # the audit chain's rows
INTERPRETING_LOG = web.AppKey("interpreting-log", InterpretingStore)  # who interpreted which case
DESKTOP = web.AppKey("desktop", DesktopService)
HUB = web.AppKey("hub", Hub)
THROTTLE = web.AppKey("throttle", LoginThrottle)  # the one given, or the app's own
DESK = web.AppKey("case-desk", CaseDesk)  # the one given, or the app's own (web/app.py)
WALLBOARD = web.AppKey("wallboard", WallboardService)
SUPERVISION = web.AppKey("supervision", Supervision)
INTERPRETERS = web.AppKey("interpreters", InterpreterService)
INTERPRETER_DESK = web.AppKey("interpreter-desk", InterpreterDesk)
AFTER_CALL = web.AppKey("after-call", AfterCall)
KNOWLEDGE = web.AppKey("knowledge", KnowledgeBase)  # the knowledge base (web/knowledge.py)
CRISIS = web.AppKey("crisis", CrisisService)  # the crisis words' alerts (web/crisis_routes.py)
SURGE = web.AppKey("surge", SurgeService)  # surge announcements (web/surge_routes.py)
# the allowed origins (settings.http.allowed_origins()) and the trusted proxies, read once
ORIGINS: web.AppKey[frozenset[str]] = web.AppKey("origins", frozenset)
PROXIES: web.AppKey[Proxies] = web.AppKey("proxies")
PROBES = web.AppKey("probes", Probes)  # the AMI session, transcription, disk (web/health.py)
METRICS_TOKEN = web.AppKey("metrics-token", str)  # Prometheus' bearer token: the metrics role only; "" none
HASHING = web.AppKey("hashing", asyncio.Semaphore)  # password checks queued or running (web/login.py)
