"""The crisis alerts' API (floor/crisis.py): an operator's alerts today (the desktop reads them after
a reload and shows those of the call on it), today's for a supervisor, and a supervisor's dismissal of
one as a false alarm (written, audited, counted on the wallboard)."""

from __future__ import annotations

from aiohttp import web

from hotline.floor.crisis import CrisisError
from hotline.web import case_access
from hotline.web.keys import AUDITS, CRISIS
from hotline.web.params import json_body, user
from hotline.web.security import require

routes = web.RouteTableDef()  # registered when the app has the crisis service


@routes.get("/api/crisis/alerts")
@require("operator", "supervisor")
async def alerts(request: web.Request) -> web.Response:
    """An operator: today's alerts of their calls (the desk shows those of the call on it); a
    supervisor: everyone's today, dismissed ones too."""
    crisis, p = request.app[CRISIS], user(request)
    if p.role == "operator":
        shown = crisis.of_operator(p.extension)
        body: dict[str, object] = {"alerts": shown}
    else:
        shown = [crisis.desk_json(a) | {"operator": a.operator} for a in crisis.alerts.values()]
        body = {"alerts": shown, **crisis.counts()}
    if shown:  # the callers' words: every read of them audited
        await case_access.audit(request, request.app[AUDITS], "crisis-read", "/api/crisis/alerts",
                                {"alerts": [a.get("id") for a in shown][:100], "count": len(shown)})
    return web.json_response(body)


@routes.post(r"/api/crisis/alerts/{alert_id:[0-9A-Za-z._:-]{1,120}}/dismiss")
@require("supervisor")
async def dismiss(request: web.Request) -> web.Response:
    body = await json_body(request)
    reason = body.get("reason", "")
    if not isinstance(reason, str):
        raise CrisisError("reason must be text", error_id="bad-request")
    crisis = request.app[CRISIS]
    alert = await crisis.dismiss(user(request), request.match_info["alert_id"], reason)
    return web.json_response({"ok": True, "alert": crisis.desk_json(alert), **crisis.counts()})
