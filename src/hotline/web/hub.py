"""The WebSocket hub: each socket has a bounded queue and its own sender task, so a slow or dead
tab never stalls the others or the event loop. When a socket's queue overflows, what it holds is
dropped and a 'resync' is queued: the page fetches a snapshot and carries on.

Message types are those of floor/messages.json (the builders are floor/messages.py, re-exported
here for the web's routes); sending any other type raises.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from aiohttp import WSCloseCode, web

from hotline.auth.users import Principal
from hotline.floor.messages import (
    BOARD_CLIENT_TYPES,
    BOARD_SERVER_TYPES,
    CLIENT_TYPES,
    DESK_CLIENT_TYPES,
    DESK_SERVER_TYPES,
    SCHEMA,
    SERVER_TYPES,
    board_message,
    desk_message,
    message,
)

# the message types and builders are the live floor's (floor/messages.py), re-exported for the routes
__all__ = ["BOARD_CLIENT_TYPES", "BOARD_SERVER_TYPES", "CLIENT_TYPES", "DESK_CLIENT_TYPES", "DESK_SERVER_TYPES",
           "SCHEMA", "SERVER_TYPES", "SESSION_ENDED", "Client", "Hub", "board_message", "desk_message", "message"]

log = logging.getLogger(__name__)

SESSION_ENDED = 4001  # the close code of a socket whose session ended: live-socket.js goes to /login


class Client:
    def __init__(self, ws: web.WebSocketResponse, principal: Principal, maxsize: int = 256,
                 send_timeout: float = 5.0) -> None:
        self.ws = ws
        self.principal = principal
        self.queue: asyncio.Queue[str] = asyncio.Queue(maxsize)
        self.send_timeout = send_timeout
        self.overflows = 0
        self.closing: asyncio.Task[Any] | None = None

    def end_session(self, why: str) -> None:
        """Close the socket with ``SESSION_ENDED`` (the page goes to the login form): its session
        was ended (logout, another login, the user disabled or their password changed)."""
        if self.closing is None and not self.ws.closed:
            log.info("%s socket of %s closed: session ended (%s)", self.principal.role, self.principal.username, why)
            self.closing = asyncio.ensure_future(self.ws.close(code=SESSION_ENDED, message=b"session ended"))

    def offer(self, payload: str) -> None:
        try:
            self.queue.put_nowait(payload)
        except asyncio.QueueFull:
            self.overflows += 1
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(json.dumps(message("resync")))  # same type on both sockets
            log.warning("desktop socket of %s fell behind: dropped its queue, asked it to resync",
                        self.principal.username)

    async def sender(self) -> None:
        try:
            while not self.ws.closed:
                payload = await self.queue.get()
                await asyncio.wait_for(self.ws.send_str(payload), self.send_timeout)
        except (TimeoutError, ConnectionError, RuntimeError) as exc:
            log.info("desktop socket of %s closed by its sender: %s", self.principal.username, exc or "timeout")
            with contextlib.suppress(Exception):
                await self.ws.close()


class Hub:
    """Sockets indexed by the extension they belong to (operators' desktops, interpreters'
    pages), so a message costs a lookup, not a scan of every open page."""

    def __init__(self) -> None:
        self._by_extension: dict[str, set[Client]] = {}
        self._boards: set[Client] = set()  # supervisors' wallboards
        self._clients: set[Client] = set()  # every open socket, to end those of an ended session

    def add(self, client: Client) -> None:
        self._clients.add(client)
        if client.principal.role in ("operator", "interpreter") and client.principal.extension:
            self._by_extension.setdefault(client.principal.extension, set()).add(client)

    def add_board(self, client: Client) -> None:
        self._clients.add(client)
        self._boards.add(client)

    def end_sessions(self, why: str, *, session: str = "", username: str = "") -> int:
        """Close (and stop sending to) the sockets of ``session`` (a token hash) or of every
        session of ``username``; returns how many."""
        ended = [c for c in self._clients if (session and c.principal.session == session)
                 or (username and c.principal.username == username and c.principal.session)]
        for client in ended:
            self.remove(client)  # no further message reaches it
            client.end_session(why)
        return len(ended)

    async def close_all(self) -> int:
        """Close every open socket with 1001 (going away): the service is stopping. Without it the
        server's shutdown waits its whole timeout for the pages' sockets to end; the pages
        reconnect when the service is back."""
        clients = list(self._clients)
        for client in clients:
            self.remove(client)
        await asyncio.gather(*(c.ws.close(code=WSCloseCode.GOING_AWAY, message=b"service stopping")
                               for c in clients if not c.ws.closed), return_exceptions=True)
        return len(clients)

    def remove(self, client: Client) -> None:
        self._clients.discard(client)
        self._boards.discard(client)
        clients = self._by_extension.get(client.principal.extension)
        if clients is not None:
            clients.discard(client)
            if not clients:
                del self._by_extension[client.principal.extension]

    def to_extension(self, extension: str, msg: dict[str, Any]) -> int:
        """To every open page of the user on ``extension`` (an operator's desktop, an interpreter's
        page), and nobody else."""
        if msg.get("type") not in SERVER_TYPES | DESK_SERVER_TYPES:
            raise ValueError(f"undocumented desktop message type {msg.get('type')!r}")
        clients = self._by_extension.get(extension, ())
        if not clients:
            return 0
        payload = json.dumps(msg, default=str)
        for client in clients:
            client.offer(payload)
        return len(clients)

    def to_boards(self, msg: dict[str, Any]) -> int:
        """To every open wallboard; serialised once, whatever the number of pages."""
        if msg.get("type") not in BOARD_SERVER_TYPES:
            raise ValueError(f"undocumented wallboard message type {msg.get('type')!r}")
        if not self._boards:
            return 0
        payload = json.dumps(msg, default=str)
        for client in self._boards:
            client.offer(payload)
        return len(self._boards)

    def boards(self) -> int:
        return len(self._boards)

    def extensions(self) -> set[str]:
        return set(self._by_extension)
