"""The hotline's worklist: cases to dispatch (new, returned), extensions to decide, overdue."""

from __future__ import annotations

from aiohttp import web

from hotline.web.case_views import dumps, page, views
from hotline.web.keys import AFTER_CALL
from hotline.web.security import require

routes = web.RouteTableDef()

routes.get("/worklist")(page("worklist.html", "operator", "supervisor"))


@routes.get("/api/worklist")
@require("supervisor", "operator")
async def worklist(request: web.Request) -> web.Response:
    after = request.app[AFTER_CALL]
    flows, workflow = after.flows, after.workflow
    to_dispatch = await flows.by_status(("new", "returned"))
    return web.json_response({
        "now": workflow.clock(), "to_dispatch": views(request, to_dispatch),
        "extensions": views(request, await flows.by_status(("extension_requested",))),
        "overdue": views(request, await flows.overdue(workflow.clock()))}, dumps=dumps)
