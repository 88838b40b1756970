"""Surge announcements' API (floor/surge.py): the messages on (every floor role), a shift manager's
new message and its early end (both audited)."""

from __future__ import annotations

from aiohttp import web

from hotline.web.keys import SURGE
from hotline.web.params import json_body, user
from hotline.web.security import require

routes = web.RouteTableDef()  # registered when the app has the surge service


@routes.get("/api/surge")
@require("supervisor", "admin")
async def current(request: web.Request) -> web.Response:
    return web.json_response(request.app[SURGE].board())


@routes.post("/api/surge")
@require("supervisor")
async def create(request: web.Request) -> web.Response:
    body = await json_body(request)
    surge = await request.app[SURGE].create(user(request), body)
    return web.json_response({"ok": True, "surge": surge.to_json()}, status=201)


@routes.delete(r"/api/surge/{surge_id:[0-9]{1,12}}")
@require("supervisor")
async def end(request: web.Request) -> web.Response:
    surge = await request.app[SURGE].end(user(request), int(request.match_info["surge_id"]))
    return web.json_response({"ok": True, "surge": surge.to_json()})
