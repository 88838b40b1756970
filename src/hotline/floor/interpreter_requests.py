"""The interpreter pool's records: each interpreter's state, each request (ringing whom, waiting,
connected, ended) as the operator's desktop and the wallboard see it, and which of the site's
languages an interpreter can be asked for (floor/interpreters.py runs them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hotline.config import Interpreter, Settings


def interpretable(settings: Settings) -> list[dict[str, str]]:
    """The site's languages some configured interpreter speaks (code and name, in the site's
    order): what the desktop offers "Add interpreter" for."""
    spoken = {code for i in settings.interpreters for code, level in i.languages.items() if level > 0}
    return [{"code": lang.code, "name": lang.name} for lang in settings.languages if lang.code in spoken]


@dataclass
class InterpreterState:
    cfg: Interpreter
    logged_in: bool = False
    paused: bool = False
    busy_with: int | None = None  # request id
    idle_since: float = 0.0

    def free_for(self, language: str) -> bool:
        return self.logged_in and not self.paused and self.busy_with is None and language in self.cfg.languages


@dataclass
class Request:
    id: int
    uniqueid: str  # the caller's call (the case)
    language: str
    operator: str
    requested_by: str
    room: str
    created_at: float
    queue: str = ""
    wait: float = 0.0
    answered_at: float = 0.0
    state: str = "moving"  # moving | ringing | waiting | connected | released | cancelled | ended | failed
    tried: list[str] = field(default_factory=list)
    ringing: str = ""  # the interpreter's extension being rung
    channel_id: str = ""  # the uniqueid of that attempt's channel
    ring_started: float = 0.0
    interpreter: str = ""
    joined_at: float | None = None
    left_at: float | None = None
    case_id: int | None = None  # the case number the interpreter hears
    answer_target: float = 30.0  # seconds from the request to the interpreter joining
    seq: int = 0  # grows with every change: a desktop drops a message older than what it shows

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "seq": self.seq, "answer_target": self.answer_target, "uniqueid": self.uniqueid,
                "language": self.language, "operator": self.operator,
                "state": self.state, "ringing": self.ringing, "tried": list(self.tried),
                "interpreter": self.interpreter, "case_id": self.case_id, "created_at": self.created_at,
                "joined_at": self.joined_at,
                "left_at": self.left_at, "room": self.room}
