"""The messages the live floor sends to its pages: the desktop (/ws/desktop), the wallboard
(/ws/wallboard) and the interpreter's page (/ws/interpreter). Their types are those of
messages.json (beside this module, the pages' contract); building one of any other type raises.
The web hub (web/hub.py) sends them and checks the type again on the way out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SCHEMA: dict[str, Any] = json.loads((Path(__file__).parent / "messages.json").read_text())
SERVER_TYPES = frozenset(SCHEMA["server"])
CLIENT_TYPES = frozenset(SCHEMA["client"])
BOARD_SERVER_TYPES = frozenset(SCHEMA["wallboard"]["server"])
BOARD_CLIENT_TYPES = frozenset(SCHEMA["wallboard"]["client"])
DESK_SERVER_TYPES = frozenset(SCHEMA["interpreter"]["server"])
DESK_CLIENT_TYPES = frozenset(SCHEMA["interpreter"]["client"])


def message(kind: str, /, **fields: Any) -> dict[str, Any]:
    """A message to an operator's desktop."""
    if kind not in SERVER_TYPES:
        raise ValueError(f"undocumented desktop message type {kind!r}: add it to messages.json")
    return {"type": kind, **fields}


def board_message(kind: str, /, **fields: Any) -> dict[str, Any]:
    """A message to the wallboards."""
    if kind not in BOARD_SERVER_TYPES:
        raise ValueError(f"undocumented wallboard message type {kind!r}: add it to messages.json")
    return {"type": kind, **fields}


def desk_message(kind: str, /, **fields: Any) -> dict[str, Any]:
    """A message to an interpreter's page (/ws/interpreter)."""
    if kind not in DESK_SERVER_TYPES:
        raise ValueError(f"undocumented interpreter message type {kind!r}: add it to messages.json")
    return {"type": kind, **fields}
