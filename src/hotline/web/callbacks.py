"""Call back tasks on the web: the list (a confidential case's details only to whom the access
rule shows them), placing the call from the desktop, recording its outcome."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hotline.cases import access
from hotline.cases.callback import CallbackService
from hotline.cases.workflow import WorkflowError
from hotline.web import case_access
from hotline.web.case_views import actor_of, dumps, page
from hotline.web.keys import AFTER_CALL
from hotline.web.params import json_body, user
from hotline.web.security import require

routes = web.RouteTableDef()

routes.get("/callbacks")(page("callbacks.html", "operator", "supervisor"))


@routes.get("/api/callbacks/tasks")
@require("operator", "supervisor")
async def callback_tasks(request: web.Request) -> web.Response:
    callbacks = request.app[AFTER_CALL].callbacks
    tasks = await callbacks.tasks() if callbacks is not None else []
    for t in tasks:  # the number of a confidential case only to whom the rule shows it (the call
        # itself is placed by the hotline: the operator need not read it)
        seen = task_access(request, t)
        if not seen.readable:  # another operator's confidential case: its stub, no actions
            t["restricted"] = True
            for key in ("topic", "category", "district", "language", "detail"):
                t[key] = access.HIDDEN if key in ("topic", "category", "district") else ""
        if not seen.identity:
            t["caller_number"] = access.HIDDEN
        if not seen.address:
            t["address"] = access.HIDDEN
        if not seen.form:
            t["description"] = t["reply_summary"] = access.HIDDEN
    return web.json_response({"tasks": tasks}, dumps=dumps)


def task_id(request: web.Request) -> int:
    try:
        return int(request.match_info["id"])
    except ValueError:
        raise WorkflowError("bad-request", "not a task id") from None


def task_access(request: web.Request, t: dict[str, Any]) -> access.Access:
    """The access rule for a call back task's case (who took it, by hand or on the phone)."""
    return case_access.decide(request, {
        "uniqueid": t.get("case_uniqueid"), "operator": t.get("taken_by"), "confidential": t.get("confidential"),
        "department": t.get("department"), "source": t.get("source"), "form_saved_by": t.get("form_saved_by")})


def running(request: web.Request) -> CallbackService:
    callbacks = request.app[AFTER_CALL].callbacks
    if callbacks is None:
        raise WorkflowError("no-call", "call backs are not running")
    return callbacks


async def allowed_task(request: web.Request, callbacks: CallbackService) -> int:
    """The task's id, when the rule lets this user act on its case (else 403, audited)."""
    cb_id = task_id(request)
    task = next((t for t in await callbacks.tasks() if t["id"] == cb_id), None)
    if task is not None:
        seen = task_access(request, task)
        if not seen.readable:
            raise case_access.refuse(seen.reason)
    return cb_id  # no open task: the service says so (case-unknown)


@routes.post(r"/api/callbacks/{id:\d+}/call")
@require("operator")
async def callback_call(request: web.Request) -> web.Response:
    callbacks = running(request)
    channel = await callbacks.call_from_desktop(await allowed_task(request, callbacks), actor_of(request),
                                                user(request).extension)
    return web.json_response({"ok": True, "channel": channel})


@routes.post(r"/api/callbacks/{id:\d+}/result")
@require("operator", "supervisor")
async def callback_result(request: web.Request) -> web.Response:
    callbacks = running(request)
    body = await json_body(request)
    await callbacks.record_from_desktop(await allowed_task(request, callbacks), actor_of(request),
                                        str(body.get("outcome", "")))
    return web.json_response({"ok": True})
