"""The operator roster: each operator's state, mirrored from AMI queue events.

States: offline (in no queue, or phone not registered), ready, ringing, talking,
wrap-up (after a call: a pause with the reason "wrap-up" that queue/wrapup.py sets and ends,
plus the queue's short wrapuptime guard), paused (with a reason).
Memberships (queue -> penalty) are kept too: the router needs them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from hotline import events as ev
from hotline.config import Settings
from hotline.queue.skills import FALLBACK_QUEUE, extension_of

# Asterisk device states (AST_DEVICE_*)
NOT_INUSE, INUSE, BUSY, INVALID, UNAVAILABLE, RINGING, RINGINUSE, ONHOLD = 1, 2, 3, 4, 5, 6, 7, 8
STATES = ("offline", "ready", "ringing", "talking", "wrap-up", "paused")
WRAPUP_REASON = "wrap-up"  # the pause reason that means "after-call work", not a break
# queues.conf wrapuptime: keeps Asterisk from ringing the operator in the moment between the end
# of a call and the wrap-up pause landing (a few ms); the wrap-up itself is the pause
WRAPUP_GUARD_SECONDS = 1


@dataclass
class OperatorState:
    extension: str
    name: str
    queues: set[str] = field(default_factory=set)
    device_status: int = 0
    paused: bool = False
    pause_reason: str = ""
    ringing_for: str = ""  # uniqueid
    talking_with: str = ""  # uniqueid
    wrapup_until: float = 0.0
    since: float = 0.0
    last_state: str = "offline"
    answered: set[str] = field(default_factory=set)  # uniqueids, so a replay does not count twice

    @property
    def calls_today(self) -> int:
        return len(self.answered)

    def state(self, now: float) -> str:
        if FALLBACK_QUEUE not in self.queues and not self.queues:
            return "offline"
        if self.device_status in (INVALID, UNAVAILABLE):
            return "offline"
        if self.talking_with or self.device_status in (INUSE, BUSY, ONHOLD, RINGINUSE):
            return "talking"
        if self.ringing_for or self.device_status == RINGING:
            return "ringing"
        if self.paused:
            return "wrap-up" if self.pause_reason == WRAPUP_REASON else "paused"
        if now < self.wrapup_until:
            return "wrap-up"
        return "ready"


class Roster:
    def __init__(self, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self.wrapup_seconds = WRAPUP_GUARD_SECONDS
        self.ops: dict[str, OperatorState] = {
            op.extension: OperatorState(op.extension, op.name) for op in settings.operators}

    def get(self, extension: str) -> OperatorState | None:
        return self.ops.get(extension)

    def _op(self, interface: str) -> OperatorState | None:
        return self.ops.get(extension_of(interface))

    def is_free(self, extension: str) -> bool:
        op = self.ops.get(extension)
        return op is not None and op.state(self._clock()) == "ready"

    def _touch(self, op: OperatorState, now: float) -> None:
        """Record a change of state; a wrap-up that simply ran out changed at its end."""
        state = op.state(now)
        if state != op.last_state:
            expired_wrapup = op.last_state == "wrap-up" and state == "ready"
            op.last_state, op.since = state, (op.wrapup_until if expired_wrapup else now)

    def apply(self, event: ev.Event) -> None:
        now = self._clock()
        op: OperatorState | None = None
        if isinstance(event, ev.MemberStatus):
            op = self._op(event.interface)
            if op:
                op.queues.add(event.queue)
                op.device_status = event.device_status
                op.paused, op.pause_reason = event.paused, event.pause_reason
                if event.device_status == NOT_INUSE:
                    op.ringing_for = ""
                    if op.talking_with:
                        op.talking_with = ""
                        op.wrapup_until = now + self.wrapup_seconds
        elif isinstance(event, ev.MemberRemoved):
            op = self._op(event.interface)
            if op:
                op.queues.discard(event.queue)
        elif isinstance(event, ev.AgentRinging):
            op = self._op(event.interface)
            if op:
                op.ringing_for = event.uniqueid
        elif isinstance(event, ev.AgentNoAnswer):
            op = self._op(event.interface)
            if op and op.ringing_for == event.uniqueid:
                op.ringing_for = ""
        elif isinstance(event, ev.AgentConnected):
            op = self._op(event.interface)
            if op:
                op.ringing_for, op.talking_with = "", event.uniqueid
                op.answered.add(event.uniqueid)
        elif isinstance(event, ev.AgentCompleted):
            op = self._op(event.interface)
            if op:
                op.talking_with = ""
                op.wrapup_until = now + self.wrapup_seconds
        elif isinstance(event, ev.Resynced):
            members: dict[str, set[str]] = {}
            for m in event.members:
                members.setdefault(extension_of(m.interface), set()).add(m.queue)
            for ext, op in self.ops.items():
                op.queues = members.get(ext, set())
                op.ringing_for = ""
            for m in event.members:
                member = self._op(m.interface)
                if member:
                    member.device_status, member.paused, member.pause_reason = m.device_status, m.paused, m.pause_reason
                    if not m.in_call:
                        member.talking_with = ""
            for each in self.ops.values():
                self._touch(each, now)
        if op is not None:
            self._touch(op, now)

    def refresh(self) -> None:
        """Note the wrap-ups that ran out since the last event."""
        now = self._clock()
        for op in self.ops.values():
            self._touch(op, now)

    def snapshot(self) -> list[dict[str, object]]:
        now = self._clock()
        self.refresh()
        return [{"extension": op.extension, "name": op.name, "state": op.state(now),
                 "seconds_in_state": round(now - op.since, 1) if op.since else None,
                 "pause_reason": op.pause_reason if op.paused else "",
                 "queues": sorted(op.queues), "calls_today": op.calls_today, "logged_in": bool(op.queues),
                 "phone": "unregistered" if op.device_status in (INVALID, UNAVAILABLE) else "registered"}
                for op in self.ops.values()]
