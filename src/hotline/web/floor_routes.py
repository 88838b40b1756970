"""The shift managers' pages and API: the live wallboard (and its big-screen view) over a
WebSocket, skills and state changes, listen/whisper/barge, the audit log, the history."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import logging
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from hotline.cases.store import CaseStore
from hotline.config import Settings
from hotline.floor.supervision import Supervision
from hotline.floor.wallboard import WallboardService
from hotline.queue.agents import AgentError
from hotline.web import boundary, case_access
from hotline.web.api import date_range, int_query, json_body
from hotline.web.hub import BOARD_CLIENT_TYPES, Client, Hub, board_message
from hotline.web.security import principal_of, require
from hotline.web.sockets import serve_socket

log = logging.getLogger(__name__)

HISTORY_COLUMNS = {
    "days": ("bucket", "offered", "answered", "abandoned", "answered_in_target", "sl_over_answered",
             "sl_over_offered", "asa", "aht"),
    "half_hours": ("bucket", "offered", "answered", "abandoned", "answered_in_target", "sl_over_answered",
                   "sl_over_offered", "asa", "aht"),
    "operators": ("operator", "name", "calls", "talk", "pause", "wrapup"),
}


def _dumps(o: Any) -> str:
    return json.dumps(o, default=str)


def add_routes(app: web.Application, settings: Settings, store: CaseStore, hub: Hub, wallboard: WallboardService,
               supervision: Supervision) -> None:
    @require("supervisor")
    async def page(request: web.Request) -> web.StreamResponse:
        p = principal_of(request)
        assert p is not None
        view = "big" if request.query.get("view") == "big" else "floor"
        return aiohttp_jinja2.render_template("wallboard.html", request, {"me": p, "csrf": p.csrf, "view": view})

    @require("supervisor")
    async def socket(request: web.Request) -> web.StreamResponse:
        p = principal_of(request)
        assert p is not None

        async def on_text(client: Client, data: str) -> None:
            boundary.message_type(boundary.loads(data), BOARD_CLIENT_TYPES)

        return await serve_socket(request, settings.http.allowed_origins(), p, hub, hub.add_board,
                                  lambda: wallboard.snapshot(p), on_text,
                                  lambda text: board_message("error", message=text), "wallboard")

    @require("supervisor")
    async def snapshot(request: web.Request) -> web.Response:
        p = principal_of(request)
        assert p is not None
        return web.json_response(await wallboard.snapshot(p), dumps=_dumps)

    @require("supervisor")
    async def skills(request: web.Request) -> web.Response:
        p = principal_of(request)
        assert p is not None
        changes = await supervision.set_skills(p, request.match_info["ext"], await json_body(request))
        return web.json_response({"ok": True, "queues": changes})

    @require("supervisor")
    async def spy(request: web.Request) -> web.Response:
        p = principal_of(request)
        assert p is not None
        session = await supervision.spy(p, request.match_info["ext"], request.match_info["mode"])
        return web.json_response({"ok": True, "session": session.to_json()})

    @require("supervisor")
    async def spy_stop(request: web.Request) -> web.Response:
        p = principal_of(request)
        assert p is not None
        return web.json_response({"ok": True, "stopped": await supervision.stop(p)})

    @require("supervisor")
    async def audit(request: web.Request) -> web.Response:
        rows = await store.audit_log(int_query(request, "limit", 100, 1, 1000))
        return web.json_response({"audit": [{**r, "detail": json.loads(r["detail"] or "{}")} for r in rows]})

    async def history_data(request: web.Request) -> tuple[dt.date, dt.date, dict[str, list[dict[str, Any]]]]:
        first, last, start, end = date_range(request)
        data = await store.history(start, end, settings.routing.target_seconds)
        for kind in ("days", "half_hours"):
            for r in data[kind]:
                r["sl_over_answered"] = round(100 * r["answered_in_target"] / r["answered"], 1) if r["answered"] \
                    else None
                done = r["answered"] + r["abandoned"]
                r["sl_over_offered"] = round(100 * r["answered_in_target"] / done, 1) if done else None
                r["asa"] = round(r["asa"], 1) if r["asa"] is not None else None
                r["aht"] = round(r["aht"], 1) if r["aht"] is not None else None
        names = {op.extension: op.name for op in settings.operators}
        for r in data["operators"]:
            r["name"] = names.get(r["operator"], "")
            for k in ("talk", "pause", "wrapup"):
                r[k] = round(r[k], 1)
        return first, last, data

    @require("supervisor")
    async def history(request: web.Request) -> web.StreamResponse:
        first, last, data = await history_data(request)
        if request.path.endswith(".json"):
            return web.json_response({"from": str(first), "to": str(last), **data})
        return aiohttp_jinja2.render_template("history.html", request, {
            "first": first, "last": last, "data": data, "target": settings.routing.target_seconds,
            "columns": HISTORY_COLUMNS})

    @require("supervisor")
    async def history_csv(request: web.Request) -> web.StreamResponse:
        first, last, data = await history_data(request)
        kind = request.query.get("kind", "half_hours")
        if kind not in HISTORY_COLUMNS:
            raise AgentError("bad-request", f"kind must be one of {', '.join(HISTORY_COLUMNS)}")
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(HISTORY_COLUMNS[kind])
        for r in data[kind]:
            writer.writerow(["" if r.get(c) is None else r.get(c) for c in HISTORY_COLUMNS[kind]])
        await case_access.audit(request, store, "export", "/history.csv", {
            "kind": f"history-{kind}", "from": str(first), "to": str(last), "rows": len(data[kind])})
        return web.Response(text=out.getvalue(), content_type="text/csv", headers={
            "Content-Disposition": f'attachment; filename="history-{kind}-{first}-{last}.csv"'})

    app.router.add_get("/wallboard", page)
    app.router.add_get("/ws/wallboard", socket)
    app.router.add_get("/api/wallboard", snapshot)
    app.router.add_post(r"/api/agents/{ext:\d+}/skills", skills)
    app.router.add_post(r"/api/supervision/{ext:\d+}/{mode:listen|whisper|barge}", spy)
    app.router.add_post("/api/supervision/stop", spy_stop)
    app.router.add_get("/api/audit", audit)
    app.router.add_get("/history", history)
    app.router.add_get("/history.json", history)
    app.router.add_get("/history.csv", history_csv)
