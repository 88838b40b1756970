"""Interpreter routes: an operator asks for an interpreter on their call, cancels or releases it;
interpreters log in, pause and log out, and have a page (/interpreter, live over /ws/interpreter)
with the case summary and transcript of the call they are in; shift managers see the pool and
the minutes report."""

from __future__ import annotations

import logging
import time

import aiohttp_jinja2
from aiohttp import web

from hotline.cases.store import CaseStore
from hotline.floor.interpreter_view import InterpreterDesk
from hotline.floor.interpreters import InterpreterService
from hotline.queue.agents import AgentError
from hotline.web import boundary, case_access
from hotline.web.api import date_range, json_body
from hotline.web.hub import DESK_CLIENT_TYPES, Client, Hub, desk_message
from hotline.web.security import principal_of, require
from hotline.web.sockets import serve_socket

log = logging.getLogger(__name__)


def add_routes(app: web.Application, service: InterpreterService, store: CaseStore,
               desk: InterpreterDesk | None = None, hub: Hub | None = None,
               origins: frozenset[str] = frozenset()) -> None:
    @require("operator", "supervisor")
    async def ask(request: web.Request) -> web.Response:
        p = principal_of(request)
        assert p is not None
        body = await json_body(request)
        operator = p.extension if p.role == "operator" else str(body.get("operator", ""))
        req = await service.request(operator, p.username, str(body.get("language", "")))
        return web.json_response({"ok": True, "request": req.to_json()})

    def own(request: web.Request) -> int:
        p = principal_of(request)
        assert p is not None
        try:
            rid = int(request.match_info["id"])
        except ValueError:
            raise AgentError("bad-request", "no such request") from None
        req = service.requests.get(rid)
        if req is None:
            raise AgentError("bad-request", f"no interpreter request {rid}")
        if p.role == "operator" and req.operator != p.extension:
            raise AgentError("forbidden", "this request is another operator's")
        return rid

    @require("operator", "supervisor")
    async def cancel(request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "request": (await service.cancel(own(request))).to_json()})

    @require("operator", "supervisor")
    async def release(request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "request": (await service.release(own(request))).to_json()})

    @require("interpreter", "supervisor")
    async def state(request: web.Request) -> web.Response:
        p = principal_of(request)
        assert p is not None
        ext = request.match_info["ext"]
        if ext == "me":
            ext = p.extension
        elif p.role == "interpreter" and ext != p.extension:
            raise AgentError("forbidden", "interpreters may change only their own state")
        return web.json_response({"ok": True, "interpreter": service.set_state(ext, request.match_info["action"])})

    @require("supervisor")
    async def pool(request: web.Request) -> web.Response:
        return web.json_response({"interpreters": [service.state(ext) for ext in service.pool],
                                  "requests": [r.to_json() for r in service.requests.values()]})

    @require("supervisor")
    async def report(request: web.Request) -> web.Response:
        first, last, start, end = date_range(request)
        return web.json_response({"from": str(first), "to": str(last),
                                  "languages": await store.interpreter_minutes(start, end)})

    @require("operator", "supervisor")
    async def of_case(request: web.Request) -> web.Response:
        p = principal_of(request)
        assert p is not None
        uid = request.match_info["uid"]
        case = await store.get(uid)
        if case is None:
            raise AgentError("case-unknown", f"no case for call {uid}")
        seen = case_access.decide(request, case)  # the one access rule (cases/access.py)
        if not seen.readable:
            raise case_access.refuse(seen.reason)
        return web.json_response({"interpreting": await store.interpreting_of(uid)})

    def my_state(ext: str) -> dict[str, object] | None:
        return service.state(ext) if ext in service.pool else None

    @require("interpreter")
    async def page(request: web.Request) -> web.StreamResponse:
        p = principal_of(request)
        assert p is not None
        return aiohttp_jinja2.render_template("interpreter.html", request, {"me": p, "csrf": p.csrf})

    @require("interpreter")
    async def socket(request: web.Request) -> web.StreamResponse:
        p = principal_of(request)
        assert p is not None and desk is not None and hub is not None

        async def snapshot() -> dict[str, object]:
            return desk_message("interpreter_snapshot", me=p.to_json(), state=my_state(p.extension),
                                assignment=desk.assignments.get(p.extension), server_time=time.time())

        async def on_text(client: Client, data: str) -> None:
            boundary.message_type(boundary.loads(data), DESK_CLIENT_TYPES)

        return await serve_socket(request, origins, p, hub, hub.add, snapshot, on_text,
                                  lambda text: desk_message("error", message=text), "interpreter")

    if desk is not None and hub is not None:
        app.router.add_get("/interpreter", page)
        app.router.add_get("/ws/interpreter", socket)
    app.router.add_post("/api/interpreters/request", ask)
    app.router.add_post(r"/api/interpreters/requests/{id:\d+}/cancel", cancel)
    app.router.add_post(r"/api/interpreters/requests/{id:\d+}/release", release)
    app.router.add_post(r"/api/interpreters/{ext:\d+|me}/{action:login|logout|pause|unpause}", state)
    app.router.add_get("/api/interpreters", pool)
    app.router.add_get("/api/interpreting/report", report)
    app.router.add_get("/api/cases/{uid}/interpreting", of_case)
