"""The shift managers' pages and API: the live wallboard (and its big-screen view) over a
WebSocket, skills and state changes, listen/whisper/barge, the audit log, the history."""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from hotline.queue.agents import AgentError
from hotline.web import boundary, case_access, csv_export
from hotline.web.hub import BOARD_CLIENT_TYPES, Client, board_message
from hotline.web.keys import AUDITS, HUB, ORIGINS, SETTINGS, STORE, SUPERVISION, WALLBOARD
from hotline.web.params import date_range, int_query, json_body, user
from hotline.web.security import require
from hotline.web.sockets import serve_socket

log = logging.getLogger(__name__)
routes = web.RouteTableDef()  # registered when the app has a wallboard and supervision

# both clocks (issue 16): from queue entry (Asterisk's: offered = the calls that reached a queue)
# and from the first ring (the citizen's, the headline: first_ring_*, the IVR hang-ups offered too)
FIRST_RING_COLUMNS = ("first_ring_offered", "ivr_abandoned", "short_abandoned", "first_ring_answered_in_target",
                      "first_ring_sl_over_answered", "first_ring_sl_over_offered", "first_ring_asa")
HISTORY_COLUMNS = {
    "days": ("bucket", "offered", "answered", "abandoned", "answered_in_target", "sl_over_answered",
             "sl_over_offered", "asa", "aht", *FIRST_RING_COLUMNS),
    "half_hours": ("bucket", "offered", "answered", "abandoned", "answered_in_target", "sl_over_answered",
                   "sl_over_offered", "asa", "aht", *FIRST_RING_COLUMNS),
    "operators": ("operator", "name", "calls", "talk", "pause", "wrapup"),
}


def _pct(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def _dumps(o: Any) -> str:
    return json.dumps(o, default=str)


@routes.get("/wallboard")
@require("supervisor")
async def page(request: web.Request) -> web.StreamResponse:
    p = user(request)
    view = "big" if request.query.get("view") == "big" else "floor"
    return aiohttp_jinja2.render_template("wallboard.html", request, {"me": p, "csrf": p.csrf, "view": view})


async def _board_text(client: Client, data: str) -> None:
    boundary.message_type(boundary.loads(data), BOARD_CLIENT_TYPES)


@routes.get("/ws/wallboard")
@require("supervisor")
async def socket(request: web.Request) -> web.StreamResponse:
    p = user(request)
    hub, wallboard = request.app[HUB], request.app[WALLBOARD]
    return await serve_socket(request, request.app[ORIGINS], p, hub, hub.add_board,
                              lambda: wallboard.snapshot(p), _board_text,
                              lambda text: board_message("error", message=text), "wallboard")


@routes.get("/api/wallboard")
@require("supervisor")
async def snapshot(request: web.Request) -> web.Response:
    return web.json_response(await request.app[WALLBOARD].snapshot(user(request)), dumps=_dumps)


@routes.post(r"/api/agents/{ext:\d+}/skills")
@require("supervisor")
async def skills(request: web.Request) -> web.Response:
    changes = await request.app[SUPERVISION].set_skills(user(request), request.match_info["ext"],
                                                        await json_body(request))
    return web.json_response({"ok": True, "queues": changes})


@routes.post(r"/api/supervision/{ext:\d+}/{mode:listen|whisper|barge}")
@require("supervisor")
async def spy(request: web.Request) -> web.Response:
    session = await request.app[SUPERVISION].spy(user(request), request.match_info["ext"], request.match_info["mode"])
    return web.json_response({"ok": True, "session": session.to_json()})


@routes.post("/api/supervision/stop")
@require("supervisor")
async def spy_stop(request: web.Request) -> web.Response:
    return web.json_response({"ok": True, "stopped": await request.app[SUPERVISION].stop(user(request))})


@routes.get("/api/audit")
@require("supervisor")
async def audit(request: web.Request) -> web.Response:
    rows = await request.app[AUDITS].audit_log(int_query(request, "limit", 100, 1, 1000))
    return web.json_response({"audit": [{**r, "detail": json.loads(r["detail"] or "{}")} for r in rows]})


async def history_data(request: web.Request) -> tuple[dt.date, dt.date, dict[str, list[dict[str, Any]]]]:
    settings = request.app[SETTINGS]
    first, last, start, end = date_range(request)
    data = await request.app[STORE].history(start, end, settings.routing.target_seconds,
                                            settings.routing.short_abandon_seconds)
    for kind in ("days", "half_hours"):
        for r in data[kind]:
            r["sl_over_answered"] = _pct(r["answered_in_target"], r["answered"])
            done = r["answered"] + r["abandoned"]
            r["sl_over_offered"] = _pct(r["answered_in_target"], done)
            r["first_ring_sl_over_answered"] = _pct(r["first_ring_answered_in_target"], r["answered"])
            r["first_ring_sl_over_offered"] = _pct(r["first_ring_answered_in_target"], done + r["ivr_abandoned"])
            for k in ("asa", "aht", "first_ring_asa"):
                r[k] = round(r[k], 1) if r[k] is not None else None
    names = {op.extension: op.name for op in settings.operators}
    for r in data["operators"]:
        r["name"] = names.get(r["operator"], "")
        for k in ("talk", "pause", "wrapup"):
            r[k] = round(r[k], 1)
    return first, last, data


@routes.get("/history.json")
@routes.get("/history")
@require("supervisor")
async def history(request: web.Request) -> web.StreamResponse:
    first, last, data = await history_data(request)
    if request.path.endswith(".json"):
        return web.json_response({"from": str(first), "to": str(last), **data})
    return aiohttp_jinja2.render_template("history.html", request, {
        "first": first, "last": last, "data": data, "target": request.app[SETTINGS].routing.target_seconds,
        "columns": HISTORY_COLUMNS})


@routes.get("/history.csv")
@require("supervisor")
async def history_csv(request: web.Request) -> web.StreamResponse:
    first, last, data = await history_data(request)
    kind = request.query.get("kind", "half_hours")
    if kind not in HISTORY_COLUMNS:
        raise AgentError("bad-request", f"kind must be one of {', '.join(HISTORY_COLUMNS)}")
    rows = [HISTORY_COLUMNS[kind], *([r.get(c) for c in HISTORY_COLUMNS[kind]] for r in data[kind])]
    await case_access.audit(request, request.app[AUDITS], "export", "/history.csv", {
        "kind": f"history-{kind}", "from": str(first), "to": str(last), "rows": len(data[kind])})
    return csv_export.response(rows, f"history-{kind}-{first}-{last}.csv")
