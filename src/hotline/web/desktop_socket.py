"""The operator's desktop WebSocket (/ws/desktop): Origin checked before it accepts, then the hub
gives it a bounded queue and a sender of its own (web/sockets.py); the snapshot first, then the
page's messages (a draft of the case form, kept by the desktop service)."""

from __future__ import annotations

from aiohttp import web

from hotline.web import boundary
from hotline.web.hub import CLIENT_TYPES, Client, message
from hotline.web.keys import DESKTOP, HUB, ORIGINS
from hotline.web.params import user
from hotline.web.security import require
from hotline.web.sockets import serve_socket

routes = web.RouteTableDef()


@routes.get("/ws/desktop")
@require("operator")
async def desktop_socket(request: web.Request) -> web.StreamResponse:
    p = user(request)
    desktop, hub = request.app[DESKTOP], request.app[HUB]

    def register(client: Client) -> None:
        desktop.forget_status(p.extension)
        hub.add(client)

    async def on_text(client: Client, data: str) -> None:
        msg = boundary.message_type(boundary.loads(data), CLIENT_TYPES)
        if msg["type"] == "draft":
            fields = msg.get("fields")
            if not isinstance(fields, dict):
                raise ValueError("draft.fields must be an object")
            await desktop.draft(client.principal, str(msg.get("uniqueid", "")), fields)

    return await serve_socket(request, request.app[ORIGINS], p, hub, register, lambda: desktop.snapshot(p),
                              on_text, lambda text: message("error", message=text), "desktop")
