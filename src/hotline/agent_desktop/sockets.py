"""One WebSocket, served the same way for the desktop and the wallboard: Origin checked before
accepting, a bounded queue and a sender of its own in the hub (registered before the snapshot is
built, so nothing that happens meanwhile is missed), the snapshot first, then client messages;
a refused message is answered with an error and the socket stays up."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import WSMsgType, web

from hotline.agent_desktop.hub import Client, Hub
from hotline.agent_desktop.security import error
from hotline.auth.users import Principal
from hotline.cases.store import StoreError

log = logging.getLogger(__name__)


async def serve_socket(request: web.Request, origins: frozenset[str], p: Principal, hub: Hub,
                       register: Callable[[Client], None],
                       snapshot: Callable[[], Awaitable[dict[str, Any]]],
                       on_text: Callable[[Client, str], Awaitable[None]],
                       error_message: Callable[[str], dict[str, Any]], name: str) -> web.StreamResponse:
    sent_origin = request.headers.get("Origin")
    if sent_origin not in origins:  # the configured origins only, never the request's own Host
        log.warning("%s socket refused: origin %r (user=%s)", name, sent_origin, p.username)
        return error(403, "bad-origin", "cross-origin WebSocket refused")
    ws = web.WebSocketResponse(heartbeat=20, max_msg_size=64 * 1024)
    await ws.prepare(request)
    client = Client(ws, p)
    register(client)
    sender = asyncio.create_task(client.sender(), name=f"ws-{name}-{p.username}")
    log.info("%s socket open: user=%s agent=%s", name, p.username, p.extension or "-")
    try:
        client.offer(json.dumps(await snapshot(), default=str))
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                if msg.type == WSMsgType.BINARY:
                    client.offer(json.dumps(error_message("send JSON text, not binary")))
                continue
            try:
                await on_text(client, msg.data)
            except (ValueError, AttributeError) as exc:  # boundary.BadInput is a ValueError
                client.offer(json.dumps(error_message(str(exc)[:300])))
            except StoreError as exc:  # what the page holds stays there; the socket stays up
                log.error("%s message not stored for user=%s: %s", name, p.username, exc)
                client.offer(json.dumps(error_message("not saved on the server; kept in this browser")))
            except Exception:  # a bug, not the client's input: visible in the log; the socket stays up
                log.exception("%s message failed for user=%s", name, p.username)
                client.offer(json.dumps(error_message("internal error; see the service log")))
    finally:
        hub.remove(client)
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sender
        log.info("%s socket closed: user=%s agent=%s", name, p.username, p.extension or "-")
    return ws
