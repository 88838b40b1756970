"""The JSON API of the queue and the case form. Every route names the roles that may call it
(security.require); the CLI uses the service token, which acts as admin. Domain errors carry a
stable ``error`` id and map to HTTP statuses in one place (web/errors.py).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web

from hotline.cases import access
from hotline.cases.workflow import Actor
from hotline.queue.agents import AgentCommands, AgentError
from hotline.web import case_access
from hotline.web.keys import AUDITS, COMMANDS, DESK, DESKTOP, ROSTER, SL, STORE, SUPERVISION
from hotline.web.params import int_query, json_body, user
from hotline.web.security import require

log = logging.getLogger(__name__)
routes = web.RouteTableDef()


@routes.get("/api/me")
@require("operator", "interpreter", "supervisor", "department")
async def me(request: web.Request) -> web.Response:
    return web.json_response(user(request).to_json())


@routes.get("/api/agents")
@require("supervisor")
async def agents(request: web.Request) -> web.Response:
    return web.json_response({"agents": request.app[ROSTER].snapshot()})


async def run_action(commands: AgentCommands, ext: str, action: str, body: dict[str, Any]) -> Any:
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


@routes.post(r"/api/agents/{ext:\d+}/{action:login|pause|unpause|logout}")
@require("supervisor", "operator")
async def agent_action(request: web.Request) -> web.Response:
    ext, action = request.match_info["ext"], request.match_info["action"]
    p = user(request)
    if p.role == "operator" and p.extension != ext:
        raise AgentError("forbidden", "operators may change only their own state")
    body = await json_body(request)
    result = await run_action(request.app[COMMANDS], ext, action, body)
    log.info("agent=%s %s by %s", ext, action, p.username)
    supervision = request.app.get(SUPERVISION)
    if supervision is not None and p.role != "operator":  # a shift manager (or the CLI) acted on someone
        await supervision.audit(p, action, ext, {"reason": str(body.get("reason", ""))} if action == "pause"
                                else {})
    return web.json_response({"ok": True, "agent": ext, "action": action, "result": result})


@routes.get("/api/queues")
@require("supervisor")
async def queues(request: web.Request) -> web.Response:
    return web.json_response(request.app[SL].report())


@routes.get("/api/cases")
@require("supervisor")
async def case_list(request: web.Request) -> web.Response:
    store = request.app[STORE]
    limit = int_query(request, "limit", 50, 1, 500)
    rows = await store.recent(limit)
    await case_access.audit(request, request.app[AUDITS], "case_list", "/api/cases",
                            {"limit": limit, "count": len(rows)})
    return web.json_response({"cases": rows})


async def case_for(request: web.Request) -> dict[str, Any]:
    """The case of the form: only the operator who took the call (or has it on the desktop)
    and supervisors fill it in (cases/access.py)."""
    uid = request.match_info["uid"]
    case = await request.app[STORE].get(uid)
    if case is None:
        raise AgentError("case-unknown", f"no case for call {uid}")
    if not access.may_edit_form(case_access.viewer_of(user(request)), case, case_access.is_handling(request, uid)):
        raise case_access.refuse("this case is not yours")
    return case


@routes.get("/api/cases/{uid}")
@require("operator", "supervisor")
async def case_get(request: web.Request) -> web.Response:
    store = request.app[STORE]
    uid = request.match_info["uid"]
    case, seen = await case_access.readable(request)  # the one access rule (cases/access.py)
    transcript = await store.transcript(uid) if seen.transcript else []
    await case_access.audit(request, request.app[AUDITS], "case_read", uid, {"case_id": case["id"], "level": seen.level,
                                                               "transcript": len(transcript)})
    return web.json_response({"case": access.redact(case, seen), "transcript": transcript})


@routes.post("/api/cases/{uid}/form")
@require("operator", "supervisor")
async def case_form_save(request: web.Request) -> web.Response:
    """Parse, check who may fill this form, and hand it to the case desk (cases/desk.py: the
    form, the status change and the day counts in one transaction; CaseSaved for the desktop
    and the wrap-up). A form with errors is a 422 ``invalid`` with ``fields``."""
    case = await case_for(request)
    p, desk = user(request), request.app[DESK]
    saved = await desk.save(Actor(p.username, p.role, p.department, p.extension), case["uniqueid"],
                            await json_body(request))
    return web.json_response(saved.to_json())


@routes.get("/api/desktop/snapshot")
@require("operator")
async def desktop_snapshot(request: web.Request) -> web.Response:
    return web.json_response(await request.app[DESKTOP].snapshot(user(request)),
                             dumps=lambda o: json.dumps(o, default=str))


@routes.post("/api/desktop/state")
@require("operator")
async def desktop_state(request: web.Request) -> web.Response:
    p = user(request)
    body = await json_body(request)
    action = {"ready": "unpause", "pause": "pause", "logout": "logout"}.get(str(body.get("action")))
    if action is None:
        raise AgentError("bad-request", "action must be ready, pause or logout")
    op = request.app[ROSTER].get(p.extension)
    if action == "unpause" and (op is None or not op.queues):
        action = "login"  # "ready" from offline: log in to my queues
    result = await run_action(request.app[COMMANDS], p.extension, action, body)
    log.info("agent=%s desktop %s by %s", p.extension, body.get("action"), p.username)
    return web.json_response({"ok": True, "result": result})
