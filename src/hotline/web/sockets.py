"""One WebSocket, served the same way for the desktop and the wallboard: Origin checked before
accepting, a bounded queue and a sender of its own in the hub (registered before the snapshot is
built, so nothing that happens meanwhile is missed), the snapshot first, then client messages;
a refused message is answered with an error and the socket stays up. A socket lives only as long
as its session: ended here (logout, a new login with single_session), it is closed at once (code
4001, the page goes to the login form); ended elsewhere (the CLI disabling the user or changing the
password, expiry), it is closed at its next message or within ``SESSION_RECHECK`` seconds. A
failure building the first snapshot is logged and told to the page, and the socket is closed."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from hotline.auth.users import Principal
from hotline.cases.store import StoreError
from hotline.web.hub import Client, Hub
from hotline.web.keys import USERS
from hotline.web.security import error

log = logging.getLogger(__name__)

SESSION_RECHECK = 30.0  # seconds between checks that an open socket's session still exists
SessionCheck = Callable[[Principal], Awaitable[bool]]


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
    alive = _session_check(request)
    sender = asyncio.create_task(client.sender(), name=f"ws-{name}-{p.username}")
    watcher = asyncio.create_task(_watch_session(client, hub, alive, name), name=f"ws-{name}-{p.username}-session")
    log.info("%s socket open: user=%s agent=%s", name, p.username, p.extension or "-")
    try:
        try:
            first = json.dumps(await snapshot(), default=str)
        except Exception:  # the connection is upgraded: no HTTP 500 now; say so on the socket and close it
            log.exception("%s socket of user=%s agent=%s: its first snapshot failed", name, p.username,
                          p.extension or "-")
            hub.remove(client)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.send_str(json.dumps(error_message(
                    "the server could not load this page's state; reconnecting"))), 5)
                await ws.close(code=WSCloseCode.INTERNAL_ERROR, message=b"snapshot failed")
            return ws
        client.offer(first)
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                if msg.type == WSMsgType.BINARY:
                    client.offer(json.dumps(error_message("send JSON text, not binary")))
                continue
            if not await _alive(client, hub, alive, name):  # a message on an ended session is not acted on
                break
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
        for task in (sender, watcher):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if client.closing is not None:
            with contextlib.suppress(Exception):
                await client.closing
        log.info("%s socket closed: user=%s agent=%s", name, p.username, p.extension or "-")
    return ws


def _session_check(request: web.Request) -> SessionCheck | None:
    """Is a principal's session still open: the app's user directory says (None: no directory)."""
    users = request.app.get(USERS)
    if users is None:
        return None

    async def check(p: Principal) -> bool:
        return await users.session_open(p.session)
    return check


async def _alive(client: Client, hub: Hub, check: SessionCheck | None, name: str) -> bool:
    """The socket's session is still open; if not, the socket is closed (``SESSION_ENDED``)."""
    if client.closing is not None:
        return False
    if check is None or not client.principal.session:  # no directory, or the service token
        return True
    try:
        alive = await check(client.principal)
    except Exception as exc:  # the store is busy or failing: keep the socket, check again later
        log.warning("%s socket of user=%s: session check failed: %s", name, client.principal.username, exc)
        return True
    if not alive:
        hub.remove(client)
        client.end_session("checked: the session is gone")
    return alive


async def _watch_session(client: Client, hub: Hub, check: SessionCheck | None, name: str) -> None:
    """Every ``SESSION_RECHECK`` seconds: is the session still open (ended by the CLI in another
    process, expired, the user disabled)? If not, the socket is closed."""
    while not client.ws.closed:
        await asyncio.sleep(SESSION_RECHECK)
        if not await _alive(client, hub, check, name):
            return
