"""The WebSocket hub: each socket has a bounded queue and its own sender task, so a slow or dead
tab never stalls the others or the event loop. When a socket's queue overflows, what it holds is
dropped and a 'resync' is queued: the page fetches a snapshot and carries on.

Message types are those of messages.json; sending any other type raises.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from pathlib import Path
from typing import Any

from aiohttp import web

from hotline.auth.users import Principal

log = logging.getLogger(__name__)

SCHEMA: dict[str, Any] = json.loads((Path(__file__).parent / "messages.json").read_text())
SERVER_TYPES = frozenset(SCHEMA["server"])
CLIENT_TYPES = frozenset(SCHEMA["client"])
BOARD_SERVER_TYPES = frozenset(SCHEMA["wallboard"]["server"])
BOARD_CLIENT_TYPES = frozenset(SCHEMA["wallboard"]["client"])
DESK_SERVER_TYPES = frozenset(SCHEMA["interpreter"]["server"])
DESK_CLIENT_TYPES = frozenset(SCHEMA["interpreter"]["client"])


def message(kind: str, /, **fields: Any) -> dict[str, Any]:
    if kind not in SERVER_TYPES:
        raise ValueError(f"undocumented desktop message type {kind!r}: add it to messages.json")
    return {"type": kind, **fields}


def board_message(kind: str, /, **fields: Any) -> dict[str, Any]:
    if kind not in BOARD_SERVER_TYPES:
        raise ValueError(f"undocumented wallboard message type {kind!r}: add it to messages.json")
    return {"type": kind, **fields}


def desk_message(kind: str, /, **fields: Any) -> dict[str, Any]:
    """A message to an interpreter's page (/ws/interpreter)."""
    if kind not in DESK_SERVER_TYPES:
        raise ValueError(f"undocumented interpreter message type {kind!r}: add it to messages.json")
    return {"type": kind, **fields}


class Client:
    def __init__(self, ws: web.WebSocketResponse, principal: Principal, maxsize: int = 256,
                 send_timeout: float = 5.0) -> None:
        self.ws = ws
        self.principal = principal
        self.queue: asyncio.Queue[str] = asyncio.Queue(maxsize)
        self.send_timeout = send_timeout
        self.overflows = 0

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

    def add(self, client: Client) -> None:
        if client.principal.role in ("operator", "interpreter") and client.principal.extension:
            self._by_extension.setdefault(client.principal.extension, set()).add(client)

    def add_board(self, client: Client) -> None:
        self._boards.add(client)

    def remove(self, client: Client) -> None:
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
