"""The department portal: a department user's page and the list of their department's cases
(each as the access rule lets them see it). What they do to a case is in case_actions."""

from __future__ import annotations

from aiohttp import web

from hotline.cases.workflow import WorkflowError
from hotline.web.case_views import actor_of, dumps, page, views
from hotline.web.keys import AFTER_CALL, SETTINGS
from hotline.web.params import int_query
from hotline.web.security import require

routes = web.RouteTableDef()

routes.get("/department")(page("department.html", "department"))


@routes.get("/api/department/cases")
@require("department")
async def department_cases(request: web.Request) -> web.Response:
    after = request.app[AFTER_CALL]
    actor = actor_of(request)
    if not actor.department:
        raise WorkflowError("forbidden", "this user belongs to no department")
    rows = await after.flows.department_cases(actor.department, limit=int_query(request, "limit", 200, 1, 1000))
    dept = request.app[SETTINGS].department(actor.department)
    return web.json_response({"department": {"code": actor.department, "name": dept.name if dept else ""},
                              "now": after.workflow.clock(), "cases": views(request, rows)}, dumps=dumps)
