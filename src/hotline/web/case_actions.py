"""What is done to a case on the web: an appeal that did not come by phone, dispatch to a
department (and the suggestion), the department's accept, reply, return and extension request,
the supervisor's decision on an extension."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from hotline.cases.workflow import AT_DEPARTMENT, Actor, WorkflowError
from hotline.web.case_views import actor_of, dumps, view, visible_case
from hotline.web.keys import AFTER_CALL, DESK, SETTINGS
from hotline.web.params import json_body
from hotline.web.security import require
from hotline.web.services import AfterCall

log = logging.getLogger(__name__)
routes = web.RouteTableDef()


@routes.post("/api/cases")
@require("operator", "supervisor")
async def create_case(request: web.Request) -> web.Response:
    """An appeal that did not come by phone (letter, web form, walk-in), or a test."""
    # the case, its form and its status change: one command, one transaction (cases/desk.py)
    entered = await request.app[DESK].enter(actor_of(request), await json_body(request))
    return web.json_response(entered.to_json(), dumps=dumps)


async def act(request: web.Request, action: str) -> web.Response:
    """One step of the case's workflow on the case of the route, by its reader."""
    case, actor, seen = await visible_case(request)
    after = request.app[AFTER_CALL]
    workflow = after.workflow
    body = await json_body(request)
    uid = case["uniqueid"]
    if action == "dispatch":
        updated = await workflow.dispatch(uid, str(body.get("department", "")), actor, str(body.get("note", "")))
    elif action == "accept":
        updated = await workflow.accept(uid, actor)
    elif action == "reply":
        updated = await workflow.reply(uid, actor, str(body.get("text", "")), str(body.get("summary", "")))
        if body.get("bundle") and case.get("bundle_id"):
            await _reply_bundle(after, case, actor, body)
    elif action == "return":
        updated = await workflow.return_case(uid, actor, str(body.get("reason", "")))
    elif action == "extension":
        try:
            days = int(body.get("days", 0))
        except (TypeError, ValueError):
            raise WorkflowError("bad-request", "days must be a number") from None
        updated = await workflow.request_extension(uid, actor, days, str(body.get("reason", "")))
    elif action == "decide":
        granted = body.get("days")
        if granted is not None and (not isinstance(granted, int) or isinstance(granted, bool)
                                    or not 1 <= granted <= 60):
            raise WorkflowError("bad-request", "days must be a whole number from 1 to 60")
        updated = await workflow.decide_extension(uid, actor, bool(body.get("approve")), granted)
    else:
        raise web.HTTPNotFound()
    return web.json_response({"ok": True, "case": view(request, updated, seen)}, dumps=dumps)


async def _reply_bundle(after: AfterCall, case: dict[str, Any], actor: Actor, body: dict[str, Any]) -> None:
    for other in await after.flows.bundle_cases(case["bundle_id"], str(case.get("department")), AT_DEPARTMENT):
        if other["uniqueid"] != case["uniqueid"]:
            try:
                await after.workflow.reply(other["uniqueid"], actor, str(body.get("text", "")),
                                           str(body.get("summary", "")))
            except WorkflowError as exc:
                log.warning("bundle reply skipped case %s: %s", other["id"], exc)


@routes.post("/api/cases/{uid}/dispatch")
@require("operator", "supervisor")
async def dispatch(request: web.Request) -> web.Response:
    return await act(request, "dispatch")


@routes.post("/api/cases/{uid}/{action:accept|reply|return|extension}")
@require("department")
async def department_action(request: web.Request) -> web.Response:
    return await act(request, request.match_info["action"])


@routes.post("/api/cases/{uid}/extension/decide")
@require("supervisor")
async def decide(request: web.Request) -> web.Response:
    return await act(request, "decide")


@routes.get("/api/dispatch/suggest")
@require("operator", "supervisor")
async def suggest(request: web.Request) -> web.Response:
    case = {"category": request.query.get("topic", ""), "district": request.query.get("district", "")}
    code = request.app[AFTER_CALL].workflow.suggest(case)
    dept = request.app[SETTINGS].department(code)
    return web.json_response({"department": code, "name": dept.name if dept else ""})
