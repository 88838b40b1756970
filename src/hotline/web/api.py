"""The JSON API. Every route names the roles that may call it (security.require); the CLI uses
the service token, which acts as admin. Domain errors carry a stable ``error`` id and map to
HTTP statuses in one place (web/errors.py).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from aiohttp import web

from hotline.cases import access
from hotline.cases.desk import CaseDesk
from hotline.cases.store import CaseStore
from hotline.cases.workflow import Actor
from hotline.config import Settings
from hotline.floor.desktop import DesktopService
from hotline.floor.supervision import Supervision
from hotline.queue.agents import AgentCommands, AgentError
from hotline.queue.roster import Roster
from hotline.queue.service_level import ServiceLevel
from hotline.web import boundary, case_access
from hotline.web.security import principal_of, require

log = logging.getLogger(__name__)


def int_query(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    """A whole-number query parameter, clamped to [low, high]; anything else is a clear 400."""
    raw = request.query.get(name, str(default))
    try:
        if len(raw) > 20:
            raise ValueError(raw)
        return max(low, min(high, int(raw)))
    except ValueError:
        raise AgentError("bad-request", f"{name} must be a number") from None


def date_range(request: web.Request, max_days: int = 366) -> tuple[dt.date, dt.date, float, float]:
    """``?from=YYYY-MM-DD&to=YYYY-MM-DD`` (default today, to = from): the dates and the epoch
    bounds [start of from, start of the day after to)."""
    today = dt.date.today()
    try:
        first = dt.date.fromisoformat(request.query.get("from") or today.isoformat())
        last = dt.date.fromisoformat(request.query.get("to") or first.isoformat())
    except ValueError:
        raise AgentError("bad-request", "from and to must be YYYY-MM-DD") from None
    if last < first or (last - first).days > max_days:
        raise AgentError("bad-request", f"to must be on or after from, at most {max_days} days later")
    start = dt.datetime.combine(first, dt.time()).timestamp()
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time()).timestamp()
    return first, last, start, end


async def json_body(request: web.Request) -> dict[str, Any]:
    """The body as a JSON object, parsed at the boundary (depth, number size, charset, valid text)."""
    return await boundary.json_object(request)


def add_routes(app: web.Application, settings: Settings, commands: AgentCommands, roster: Roster,
               sl: ServiceLevel, store: CaseStore, desktop: DesktopService, desk: CaseDesk,
               supervision: Supervision | None = None) -> None:
    @require("supervisor")
    async def agents(request: web.Request) -> web.Response:
        return web.json_response({"agents": roster.snapshot()})

    async def run_action(ext: str, action: str, body: dict[str, Any]) -> Any:
        if action == "login":
            return await commands.login(ext)
        if action == "pause":
            await commands.pause(ext, str(body.get("reason", "")))
        elif action == "unpause":
            await commands.unpause(ext)
        elif action == "logout":
            await commands.logout(ext)
        else:
            raise web.HTTPNotFound()
        return None

    @require("supervisor", "operator")
    async def agent_action(request: web.Request) -> web.Response:
        ext, action = request.match_info["ext"], request.match_info["action"]
        p = principal_of(request)
        assert p is not None
        if p.role == "operator" and p.extension != ext:
            raise AgentError("forbidden", "operators may change only their own state")
        body = await json_body(request)
        result = await run_action(ext, action, body)
        log.info("agent=%s %s by %s", ext, action, p.username)
        if supervision is not None and p.role != "operator":  # a shift manager (or the CLI) acted on someone
            await supervision.audit(p, action, ext, {"reason": str(body.get("reason", ""))} if action == "pause"
                                    else {})
        return web.json_response({"ok": True, "agent": ext, "action": action, "result": result})

    @require("supervisor")
    async def queues(request: web.Request) -> web.Response:
        return web.json_response(sl.report())

    @require("supervisor")
    async def case_list(request: web.Request) -> web.Response:
        limit = int_query(request, "limit", 50, 1, 500)
        rows = await store.recent(limit)
        await case_access.audit(request, store, "case_list", "/api/cases", {"limit": limit, "count": len(rows)})
        return web.json_response({"cases": rows})

    async def case_for(request: web.Request) -> dict[str, Any]:
        """The case of the form: only the operator who took the call (or has it on the desktop)
        and supervisors fill it in (cases/access.py)."""
        uid = request.match_info["uid"]
        p = principal_of(request)
        assert p is not None
        case = await store.get(uid)
        if case is None:
            raise AgentError("case-unknown", f"no case for call {uid}")
        if not access.may_edit_form(case_access.viewer_of(p), case, case_access.is_handling(request, uid)):
            raise case_access.refuse("this case is not yours")
        return case

    @require("operator", "supervisor")
    async def case_get(request: web.Request) -> web.Response:
        uid = request.match_info["uid"]
        case = await store.get(uid)
        if case is None:
            raise AgentError("case-unknown", f"no case for call {uid}")
        seen = case_access.decide(request, case)
        if not seen.readable:
            raise case_access.refuse(seen.reason)
        transcript = await store.transcript(uid) if seen.transcript else []
        await case_access.audit(request, store, "case_read", uid, {"case_id": case["id"], "level": seen.level,
                                                                   "transcript": len(transcript)})
        return web.json_response({"case": access.redact(case, seen), "transcript": transcript})

    @require("operator", "supervisor")
    async def case_form_save(request: web.Request) -> web.Response:
        """Parse, check who may fill this form, and hand it to the case desk (cases/desk.py: the
        form, the status change and the day counts in one transaction; CaseSaved for the desktop
        and the wrap-up). A form with errors is a 422 ``invalid`` with ``fields``."""
        case = await case_for(request)
        p = principal_of(request)
        assert p is not None
        saved = await desk.save(Actor(p.username, p.role, p.department, p.extension), case["uniqueid"],
                                await json_body(request))
        return web.json_response(saved.to_json())

    @require("operator")
    async def desktop_snapshot(request: web.Request) -> web.Response:
        p = principal_of(request)
        assert p is not None
        return web.json_response(await desktop.snapshot(p), dumps=lambda o: json.dumps(o, default=str))

    @require("operator")
    async def desktop_state(request: web.Request) -> web.Response:
        p = principal_of(request)
        assert p is not None
        body = await json_body(request)
        action = {"ready": "unpause", "pause": "pause", "logout": "logout"}.get(str(body.get("action")))
        if action is None:
            raise AgentError("bad-request", "action must be ready, pause or logout")
        op = roster.get(p.extension)
        if action == "unpause" and (op is None or not op.queues):
            action = "login"  # "ready" from offline: log in to my queues
        result = await run_action(p.extension, action, body)
        log.info("agent=%s desktop %s by %s", p.extension, body.get("action"), p.username)
        return web.json_response({"ok": True, "result": result})

    @require("operator", "interpreter", "supervisor", "department")
    async def me(request: web.Request) -> web.Response:
        p = principal_of(request)
        assert p is not None
        return web.json_response(p.to_json())

    app.router.add_get("/api/me", me)
    app.router.add_get("/api/agents", agents)
    app.router.add_post(r"/api/agents/{ext:\d+}/{action:login|pause|unpause|logout}", agent_action)
    app.router.add_get("/api/queues", queues)
    app.router.add_get("/api/cases", case_list)
    app.router.add_get("/api/cases/{uid}", case_get)
    app.router.add_post("/api/cases/{uid}/form", case_form_save)
    app.router.add_get("/api/desktop/snapshot", desktop_snapshot)
    app.router.add_post("/api/desktop/state", desktop_state)
