"""Case search: full text and filters over a date range, limited to what the user may search
(a department user: their department's cases), each case as the access rule lets them see it;
every search audited."""

from __future__ import annotations

from aiohttp import web

from hotline.cases import access
from hotline.cases.caller_key import caller_key
from hotline.web import case_access
from hotline.web.case_views import dumps, views
from hotline.web.keys import AFTER_CALL, AUDITS, SETTINGS
from hotline.web.params import date_range, int_query, user
from hotline.web.security import require

routes = web.RouteTableDef()


@routes.get("/api/search")
@require("supervisor", "operator", "department")
async def search_cases(request: web.Request) -> web.Response:
    p = user(request)
    first, last, start, end = date_range(request, max_days=400)
    filters = {k: request.query.get(k, "") for k in ("district", "department", "status", "topic")}
    caller = request.query.get("caller", "")
    if caller.strip():  # one caller under one number: 13912341234 finds +8613912341234's cases too
        filters["caller_key"] = caller_key(caller, request.app[SETTINGS].phone_region) or "-"
    scope = access.search_scope(case_access.viewer_of(p))
    if scope.department:
        filters["department"] = scope.department
    query = request.query.get("q", "")
    limit, offset = int_query(request, "limit", 50, 1, 500), int_query(request, "offset", 0, 0, 1_000_000)
    result = await request.app[AFTER_CALL].search.search(query, start, end, filters, limit, offset, scope)
    await case_access.audit(request, request.app[AUDITS], "search", "/api/search", {
        "q": query[:200], "filters": {k: v for k, v in filters.items() if v}, "from": str(first),
        "to": str(last), "offset": offset, "total": result["total"], "shown": len(result["cases"])})
    return web.json_response({"total": result["total"], "more": result["more"],
                              "cases": views(request, result["cases"])}, dumps=dumps)
