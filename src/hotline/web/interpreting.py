"""Interpreter routes: an operator asks for an interpreter on their call, cancels or releases it;
interpreters log in, pause and log out, and have a page (/interpreter, live over /ws/interpreter)
with the case summary and transcript of the call they are in; shift managers see the pool and
the minutes report."""

from __future__ import annotations

import logging
import time

import aiohttp_jinja2
from aiohttp import web

from hotline.queue.agents import AgentError
from hotline.web import boundary, case_access
from hotline.web.hub import DESK_CLIENT_TYPES, Client, desk_message
from hotline.web.keys import HUB, INTERPRETER_DESK, INTERPRETERS, INTERPRETING_LOG, ORIGINS
from hotline.web.params import date_range, json_body, user
from hotline.web.security import require
from hotline.web.sockets import serve_socket

log = logging.getLogger(__name__)


routes = web.RouteTableDef()  # registered when the app has interpreters
desk_routes = web.RouteTableDef()  # the interpreter's page and socket: when it has an interpreter desk too


@desk_routes.get("/interpreter")
@require("interpreter")
async def page(request: web.Request) -> web.StreamResponse:
    p = user(request)
    return aiohttp_jinja2.render_template("interpreter.html", request, {"me": p, "csrf": p.csrf})


async def _desk_text(client: Client, data: str) -> None:
    boundary.message_type(boundary.loads(data), DESK_CLIENT_TYPES)


@desk_routes.get("/ws/interpreter")
@require("interpreter")
async def socket(request: web.Request) -> web.StreamResponse:
    p = user(request)
    service, desk, hub = request.app[INTERPRETERS], request.app[INTERPRETER_DESK], request.app[HUB]

    async def snapshot() -> dict[str, object]:
        state = service.state(p.extension) if p.extension in service.pool else None
        return desk_message("interpreter_snapshot", me=p.to_json(), state=state,
                            assignment=desk.assignments.get(p.extension), server_time=time.time())

    return await serve_socket(request, request.app[ORIGINS], p, hub, hub.add, snapshot, _desk_text,
                              lambda text: desk_message("error", message=text), "interpreter")


@routes.post("/api/interpreters/request")
@require("operator", "supervisor")
async def ask(request: web.Request) -> web.Response:
    p = user(request)
    body = await json_body(request)
    operator = p.extension if p.role == "operator" else str(body.get("operator", ""))
    req = await request.app[INTERPRETERS].request(operator, p.username, str(body.get("language", "")))
    return web.json_response({"ok": True, "request": req.to_json()})


def own(request: web.Request) -> int:
    """The request of the route, when it is this operator's (or the user is a supervisor)."""
    p = user(request)
    try:
        rid = int(request.match_info["id"])
    except ValueError:
        raise AgentError("bad-request", "no such request") from None
    req = request.app[INTERPRETERS].requests.get(rid)
    if req is None:
        raise AgentError("bad-request", f"no interpreter request {rid}")
    if p.role == "operator" and req.operator != p.extension:
        raise AgentError("forbidden", "this request is another operator's")
    return rid


@routes.post(r"/api/interpreters/requests/{id:\d+}/cancel")
@require("operator", "supervisor")
async def cancel(request: web.Request) -> web.Response:
    return web.json_response({"ok": True, "request": (await request.app[INTERPRETERS].cancel(own(request))).to_json()})


@routes.post(r"/api/interpreters/requests/{id:\d+}/release")
@require("operator", "supervisor")
async def release(request: web.Request) -> web.Response:
    return web.json_response({"ok": True,
                              "request": (await request.app[INTERPRETERS].release(own(request))).to_json()})


@routes.post(r"/api/interpreters/{ext:\d+|me}/{action:login|logout|pause|unpause}")
@require("interpreter", "supervisor")
async def state(request: web.Request) -> web.Response:
    p = user(request)
    ext = request.match_info["ext"]
    if ext == "me":
        ext = p.extension
    elif p.role == "interpreter" and ext != p.extension:
        raise AgentError("forbidden", "interpreters may change only their own state")
    return web.json_response({"ok": True,
                              "interpreter": request.app[INTERPRETERS].set_state(ext, request.match_info["action"])})


@routes.get("/api/interpreters")
@require("supervisor")
async def pool(request: web.Request) -> web.Response:
    service = request.app[INTERPRETERS]
    return web.json_response({"interpreters": [service.state(ext) for ext in service.pool],
                              "requests": [r.to_json() for r in service.requests.values()]})


@routes.get("/api/interpreting/report")
@require("supervisor")
async def report(request: web.Request) -> web.Response:
    first, last, start, end = date_range(request)
    return web.json_response({"from": str(first), "to": str(last),
                              "languages": await request.app[INTERPRETING_LOG].interpreter_minutes(start, end)})


@routes.get("/api/cases/{uid}/interpreting")
@require("operator", "supervisor")
async def of_case(request: web.Request) -> web.Response:
    uid = request.match_info["uid"]
    await case_access.readable(request)  # the one access rule (cases/access.py): 404 / 403 before the rows
    return web.json_response({"interpreting": await request.app[INTERPRETING_LOG].interpreting_of(uid)})
