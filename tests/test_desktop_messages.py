"""Every desktop WebSocket message type is documented in messages.json (and every documented one
is used); a slow socket is cut loose with a 'resync' rather than slowing anyone else."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest

from hotline.auth.users import Principal
from hotline.web.hub import (
    BOARD_CLIENT_TYPES,
    BOARD_SERVER_TYPES,
    CLIENT_TYPES,
    SCHEMA,
    SERVER_TYPES,
    Client,
    Hub,
    board_message,
    message,
)

DESKTOP = Path(__file__).resolve().parents[1] / "src/hotline/web"
FLOOR = Path(__file__).resolve().parents[1] / "src/hotline/floor"


def server_types_in_python() -> set[str]:
    found: set[str] = set()
    for path in [*DESKTOP.glob("*.py"), *FLOOR.glob("*.py")]:
        found |= set(re.findall(r'\bmessage\(\s*"([a-z_]+)"', path.read_text()))
    return found


def test_every_message_type_is_documented_and_used() -> None:
    js = (DESKTOP / "static/desktop.js").read_text()
    handled = set(re.findall(r"^\s{4}([a-z_]+): ", js[js.index("const handlers"):js.index("function onMessage")],
                             re.M))
    sent_by_page = set(re.findall(r'type: "([a-z_]+)"', js))
    assert server_types_in_python() <= SERVER_TYPES, "sent but undocumented"
    assert handled <= SERVER_TYPES, "handled by the page but undocumented"
    assert sent_by_page <= CLIENT_TYPES, "sent by the page but undocumented"
    assert server_types_in_python() >= SERVER_TYPES, "documented but never sent"
    assert handled == SERVER_TYPES, "documented but not handled by the page"
    assert all(SCHEMA["server"][t]["description"] for t in SERVER_TYPES)
    with pytest.raises(ValueError, match="undocumented"):
        message("surprise")


def test_every_wallboard_message_type_is_documented_and_used() -> None:
    js = (DESKTOP / "static/wallboard.js").read_text()
    handled = set(re.findall(r"^\s{4}([a-z_]+): ", js[js.index("const handlers"):js.index("function onMessage")],
                             re.M))
    sent = set()
    for path in [*FLOOR.glob("*.py"), *DESKTOP.glob("*.py")]:
        sent |= set(re.findall(r'\bboard_message\(\s*"([a-z_]+)"', path.read_text()))
    sent |= {"resync"}  # the hub's overflow message, shared with the desktop
    assert sent == BOARD_SERVER_TYPES
    assert handled == BOARD_SERVER_TYPES
    assert set(re.findall(r'type: "([a-z_]+)"', js)) <= BOARD_CLIENT_TYPES
    assert all(SCHEMA["wallboard"]["server"][t]["description"] for t in BOARD_SERVER_TYPES)
    with pytest.raises(ValueError, match="undocumented"):
        board_message("offer")


def test_every_interpreter_page_message_type_is_documented_and_used() -> None:
    from hotline.web.hub import DESK_SERVER_TYPES

    js = (DESKTOP / "static/interpreter.js").read_text()
    handled = set(re.findall(r"^\s{4}([a-z_]+): ", js[js.index("const handlers"):js.index("function onMessage")],
                             re.M))
    sent = set()
    for path in [*DESKTOP.glob("*.py"), *FLOOR.glob("*.py")]:
        sent |= set(re.findall(r'\bdesk_message\(\s*"([a-z_]+)"', path.read_text()))
    sent |= {"resync"}  # the hub's overflow message
    assert sent == DESK_SERVER_TYPES and handled == DESK_SERVER_TYPES
    assert all(SCHEMA["interpreter"]["server"][t]["description"] for t in DESK_SERVER_TYPES)


class SlowSocket:
    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.closed = False
        self.sent: list[str] = []

    async def send_str(self, data: str) -> None:
        await asyncio.sleep(self.delay)
        self.sent.append(data)

    async def close(self) -> None:
        self.closed = True


async def test_a_slow_tab_gets_a_resync_and_never_stalls_the_others() -> None:
    hub = Hub()
    me = Principal("kim", "operator", extension="2001")
    fast_ws, slow_ws, dead_ws = SlowSocket(0), SlowSocket(0.05), SlowSocket(60)
    fast = Client(fast_ws, me, maxsize=8)  # type: ignore[arg-type]
    slow = Client(slow_ws, me, maxsize=8)  # type: ignore[arg-type]
    dead = Client(dead_ws, me, maxsize=8, send_timeout=0.2)  # type: ignore[arg-type]
    other = Client(SlowSocket(0), Principal("wang", "operator", extension="2002"), maxsize=8)  # type: ignore[arg-type]
    for c in (fast, slow, dead, other):
        hub.add(c)
    senders = [asyncio.create_task(c.sender()) for c in (fast, slow, dead)]
    for i in range(30):
        assert hub.to_extension("2001", message("status", n=i)) == 3
        await asyncio.sleep(0.005)
    await asyncio.sleep(0.5)
    assert [json.loads(m)["n"] for m in fast_ws.sent] == list(range(30))  # the fast tab got everything
    kinds = [json.loads(m)["type"] for m in slow_ws.sent]
    assert slow.overflows >= 1 and "resync" in kinds  # the slow one was told to fetch a snapshot
    assert dead_ws.closed  # the dead one timed out and was closed
    assert other.queue.empty()  # nothing for another operator
    for t in senders:
        t.cancel()
    await asyncio.gather(*senders, return_exceptions=True)
