"""The calls in progress: one record per call (uniqueid), the one copy every floor service reads.

Fed only by the state pump (``apply``, right after the roster), plus the router's entry decision
(``decided``, from the FastAGI answer). The service level and the router read the waiting callers
through ``queue/waiting.py``'s protocols; the board, the desktop, the interpreter pool, the
interpreter's page and supervision look calls up here instead of keeping their own index.

A record's ``state``: ``entry`` (known, in no queue: routed at entry, restored from the store, or
left a queue unanswered), ``waiting`` (in a queue), ``answered`` (an operator took it), ``ended``.
An ended call stays resolvable for ``linger`` seconds, and as long as it is its operator's latest
call: consumers on their own subscriptions (the desktop, the interpreter's page) may handle an
event after the pump applied it, and must still find whose call it was. A resync (``Resynced``)
rebuilds the waiting callers from Asterisk's snapshot and ends the calls Asterisk no longer holds.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from hotline import events as ev
from hotline.queue.router import RouteDecision
from hotline.queue.skills import extension_of

STATES = ("entry", "waiting", "answered", "ended")


@dataclass
class Call:
    """One call as the registry keeps it. The registry alone writes it: its readers only read."""

    uniqueid: str
    queue: str = ""
    caller_number: str = ""
    language: str = ""  # as the call's events carry them ("" when not known)
    topic: str = ""
    joined_at: float = 0.0  # entered the queue (Asterisk's wait counts from here)
    arrived_at: float = 0.0  # the first ring, at the IVR (the citizen's wait counts from here; 0: not known)
    answered_at: float | None = None
    wait: float | None = None  # Asterisk's hold time at the answer
    operator: str = ""  # the extension that answered
    agent_channel: str = ""
    channel: str = ""  # the caller's
    ended_at: float | None = None
    state: str = "entry"
    decision: RouteDecision | None = None  # the router's, at entry
    urgent: bool = False  # overflow at once (the router's entry decision)
    offered_to: list[str] = field(default_factory=list)  # extensions whose phones rang for it
    interpreters: set[str] = field(default_factory=set)  # interpreters in its room now

    @property
    def waiting(self) -> bool:
        return self.state == "waiting"

    @property
    def first_ring_at(self) -> float:
        """Where the citizen's clock starts: the arrival, or the queue entry when not known."""
        return self.arrived_at or self.joined_at

    @property
    def live(self) -> bool:
        return self.state != "ended"

    def desktops(self) -> list[str]:
        """The extensions whose desktop may show this call: who answered, then who it rang."""
        return [e for e in dict.fromkeys([self.operator, *reversed(self.offered_to)]) if e]


class CallRegistry:
    def __init__(self, since: float = 0.0, linger: float = 120.0, clock: Callable[[], float] = time.time) -> None:
        self.since = since  # calls before this (an old queue_log replayed) are not taken in
        self.linger = linger
        self._clock = clock
        self._calls: dict[str, Call] = {}
        self._waiting: dict[str, Call] = {}  # the calls in state "waiting" (read many times a second)
        self._by_operator: dict[str, str] = {}  # extension -> the call they are on now
        self._latest: dict[str, str] = {}  # extension -> the last call they answered (kept past the linger)
        self._expiry: deque[tuple[float, str]] = deque()  # (forget after, uniqueid) of ended calls
        self._forget_at: dict[str, float] = {}  # uniqueid -> when its linger is over
        self._held: set[str] = set()  # ended, linger over, still their operator's latest call
        self._done: set[str] = set()  # calls that left the queue today: a replayed join makes none wait again

    # -- reading ------------------------------------------------------------------------------------

    def get(self, uniqueid: str) -> Call | None:
        """Any call still known, ended ones during their linger."""
        return self._calls.get(uniqueid)

    def live(self, uniqueid: str) -> Call | None:
        """The call if it has not ended."""
        call = self._calls.get(uniqueid)
        return call if call is not None and call.live else None

    def waiting(self) -> list[Call]:
        """Every caller waiting now, oldest first."""
        return sorted(self._waiting.values(), key=lambda c: c.joined_at)

    def waiting_in(self, queue: str) -> list[Call]:
        """The callers waiting in ``queue``, oldest first."""
        return [c for c in self.waiting() if c.queue == queue]

    def ever_queued(self, uniqueid: str) -> bool:
        """The call entered a queue (it waits, was answered or gave up there): its hang-up is the
        queue's to count, not an IVR hang-up."""
        call = self._calls.get(uniqueid)
        return uniqueid in self._done or (call is not None and (bool(call.joined_at) or call.answered_at is not None))

    def of_operator(self, extension: str) -> Call | None:
        """The call ``extension`` is on now (answered, not ended)."""
        uid = self._by_operator.get(extension)
        return self._calls.get(uid) if uid else None

    def answered(self) -> list[Call]:
        """The calls an operator is on now."""
        return [c for uid in self._by_operator.values() if (c := self._calls.get(uid)) is not None]

    def talking(self) -> int:
        """How many operators are on a call."""
        return len(self._by_operator)

    def __len__(self) -> int:
        return len(self._calls)

    # -- the router's entry decision ----------------------------------------------------------------

    def decided(self, uniqueid: str, decision: RouteDecision, urgent: bool, arrived_at: float = 0.0) -> None:
        """``arrived_at``: the first ring as the route request gave it (0.0: not known)."""
        call = self._calls.get(uniqueid)
        if call is None:
            call = self._calls[uniqueid] = Call(uniqueid, decision.queue)
        call.decision, call.urgent = decision, urgent
        call.arrived_at = call.arrived_at or arrived_at

    # -- loading and events -------------------------------------------------------------------------

    def load(self, cases: Iterable[dict[str, Any]]) -> None:
        """Today's cases from the store (at start): unfinished ones are known calls (the resync
        says which still wait), answered ones are their operator's; finished ones never wait again."""
        for c in cases:
            uid = str(c["uniqueid"])
            if c["state"] not in ("queued", "answered"):
                if c["answered_at"] is not None or c["state"] == "abandoned":
                    self._done.add(uid)
                continue
            call = self._calls.setdefault(uid, Call(uid))
            call.queue = c["queue"] or call.queue
            call.caller_number = c["caller_number"] or ""
            call.language, call.topic = c["language"] or "", c["topic"] or ""
            call.joined_at = c["queued_at"] or 0.0
            call.arrived_at = c.get("arrived_at") or 0.0
            call.answered_at, call.wait, call.operator = c["answered_at"], c["wait_seconds"], c["operator"] or ""
            if c["answered_at"] is not None:
                self._done.add(uid)
            if call.operator and c["state"] == "answered":
                self._set(call, "answered")
                self._by_operator[call.operator] = uid
                self._latest[call.operator] = uid

    def apply(self, event: ev.Event) -> None:
        self._forget_expired()
        if isinstance(event, ev.CallerJoined):
            self._joined(event)
        elif isinstance(event, ev.AgentRinging):
            self._rang(event)
        elif isinstance(event, ev.AgentConnected):
            self._connected(event)
        elif isinstance(event, ev.CallerAbandoned):
            self._done.add(event.uniqueid)
            self._end(event.uniqueid, event.at)
        elif isinstance(event, (ev.AgentCompleted, ev.ChannelHangup)):
            self._end(event.uniqueid, event.at)
        elif isinstance(event, (ev.CallerLeft, ev.InterpreterJoined, ev.InterpreterLeft)):
            call = self._calls.get(event.uniqueid)
            if call is None:
                return
            if isinstance(event, ev.InterpreterJoined):
                call.interpreters.add(event.interpreter)
            elif isinstance(event, ev.InterpreterLeft):
                call.interpreters.discard(event.interpreter)
            elif call.waiting:  # left the queue unanswered: a queue joined later starts from its own entry
                self._set(call, "entry")
                call.urgent = False
        elif isinstance(event, ev.Resynced):
            self._resynced(event)

    def _set(self, call: Call, state: str) -> None:
        call.state = state
        if state == "waiting":
            self._waiting[call.uniqueid] = call
        else:
            self._waiting.pop(call.uniqueid, None)

    def _known(self, uniqueid: str, queue: str = "") -> Call:
        call = self._calls.get(uniqueid)
        if call is None:
            call = self._calls[uniqueid] = Call(uniqueid, queue)
        return call

    def _rang(self, e: ev.AgentRinging) -> None:
        if e.at < self.since:
            return
        call = self._known(e.uniqueid, e.queue)
        call.caller_number = call.caller_number or e.caller_number
        call.language, call.topic = call.language or e.language, call.topic or e.topic
        ext = extension_of(e.interface)
        if ext not in call.offered_to:
            call.offered_to.append(ext)

    def _joined(self, e: ev.CallerJoined) -> None:
        if e.at < self.since or e.uniqueid in self._done:
            return  # an old line replayed, or a call already answered or given up
        call = self._known(e.uniqueid, e.queue)
        if not call.live or call.state == "answered":
            return
        call.queue, call.joined_at = e.queue, e.at
        call.arrived_at = call.arrived_at or e.arrived_at  # a queue joined later keeps the first ring
        self._set(call, "waiting")
        call.caller_number = e.caller_number or call.caller_number
        call.language, call.topic = e.language or call.language, e.topic or call.topic

    def _connected(self, e: ev.AgentConnected) -> None:
        if e.at < self.since:
            return
        self._done.add(e.uniqueid)
        ext = extension_of(e.interface)
        call = self._known(e.uniqueid, e.queue)
        if not call.joined_at:
            call.joined_at = e.at - e.hold_seconds
        call.arrived_at = call.arrived_at or e.arrived_at
        call.queue = call.queue or e.queue
        call.caller_number = call.caller_number or e.caller_number
        call.language = call.language or e.language
        if call.operator and call.operator != ext and self._by_operator.get(call.operator) == e.uniqueid:
            del self._by_operator[call.operator]  # answered again elsewhere (a replay): one operator's call
        call.answered_at, call.wait, call.operator = e.at, float(e.hold_seconds), ext
        call.agent_channel, call.channel = e.agent_channel, e.channel
        self._set(call, "answered")
        call.ended_at = None
        self._forget_at.pop(e.uniqueid, None)
        previous = self._latest.get(ext)
        self._by_operator[ext] = self._latest[ext] = e.uniqueid
        if previous in self._held:  # the operator's last call, kept past its linger until this one
            self._held.discard(previous)
            self._forget(previous)

    def _end(self, uniqueid: str, at: float) -> None:
        call = self._calls.get(uniqueid)
        if call is None or not call.live:
            return
        self._set(call, "ended")
        call.ended_at = at  # (its interpreters leave with InterpreterLeft)
        if call.operator and self._by_operator.get(call.operator) == uniqueid:
            del self._by_operator[call.operator]
        self._forget_at[uniqueid] = self._clock() + self.linger
        self._expiry.append((self._forget_at[uniqueid], uniqueid))

    def _resynced(self, e: ev.Resynced) -> None:
        at = e.at or self._clock()
        waiting = {w.uniqueid: w for w in e.waiting}
        live = set(waiting) | {c.uniqueid for c in e.channels}
        for uid, call in list(self._calls.items()):
            if uid not in live:
                self._end(uid, at)
            elif call.waiting and uid not in waiting:
                self._set(call, "entry")
        for w in e.waiting:
            call = self._known(w.uniqueid, w.queue)
            self._set(call, "waiting")
            call.ended_at = None
            self._forget_at.pop(w.uniqueid, None)
            call.queue, call.joined_at = w.queue, at - w.wait_seconds
            call.caller_number = call.caller_number or w.caller_number

    # -- the linger ---------------------------------------------------------------------------------

    def _forget_expired(self) -> None:
        now = self._clock()
        while self._expiry and self._expiry[0][0] <= now:
            _, uid = self._expiry.popleft()
            deadline = self._forget_at.get(uid)
            if deadline is None or deadline > now:
                continue  # answered again, or ended again since (a later entry stands)
            del self._forget_at[uid]
            call = self._calls.get(uid)
            if call is not None and call.operator and self._latest.get(call.operator) == uid:
                self._held.add(uid)  # kept until the operator's next call
            else:
                self._forget(uid)

    def _forget(self, uniqueid: str) -> None:
        call = self._calls.get(uniqueid)
        if call is not None and not call.live:
            del self._calls[uniqueid]
            self._held.discard(uniqueid)
