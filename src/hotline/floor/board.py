"""The wallboard's figures, kept from domain events (no database read per page or per event).

Per queue (language x topic): callers waiting and since when, the share answered within the
target over the last 5 and 30 minutes and today, in both definitions (over answered, over
answered + abandoned), answered, abandoned, average wait and handling time. Per operator:
state and since when, the current call and its wait, calls today, skills. Alerts that come
before the target slips. Today's finished calls are loaded from the case store at start and
the roster and waiting callers are resynced from Asterisk after every AMI (re)connect, so a
restart of either shows the same figures. The calls themselves (who waits, who is on which call)
are the call registry's (floor/calls.py); the board keeps only its counts.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from hotline import events as ev
from hotline.config import Settings
from hotline.floor.calls import Call, CallRegistry
from hotline.queue.roster import Roster
from hotline.queue.skills import FALLBACK_QUEUE, SkillBook, extension_of, parse_queue

WINDOWS = {"5m": 300, "30m": 1800}


@dataclass
class Finished:
    """A call that left the queue: answered (with its wait) or abandoned."""

    at: float
    queue: str
    answered: bool
    wait: float


@dataclass
class Today:
    answered: int = 0
    abandoned: int = 0
    answered_in_target: int = 0
    wait_total: float = 0.0
    handled: int = 0  # calls ended after an answer, for the average handling time
    talk_total: float = 0.0


def mask_number(number: str) -> str:
    """Shift managers see enough of a caller's number to tell calls apart, not to dial it."""
    if len(number) <= 4:
        return "*" * len(number)
    head = number[:3] if len(number) > 7 else ""
    return head + "*" * (len(number) - len(head) - 4) + number[-4:]


def _pct(num: int, den: int) -> float | None:
    return round(100.0 * num / den, 1) if den else None


class Board:
    def __init__(self, settings: Settings, roster: Roster, calls: CallRegistry, skills: SkillBook,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.target = settings.routing.target_seconds
        self.roster = roster
        self.calls = calls
        self.skills = skills
        self._clock = clock
        self.recent: deque[Finished] = deque()
        self.today: dict[str, Today] = {}
        self.counted: set[str] = set()
        # alerts of other services (recordings stopped by a full disk, overdue cases)
        self.extra_alerts: list[Callable[[], list[dict[str, Any]]]] = []
        self.dirty: set[str] = set()  # extensions whose row changed since the last flush
        self.since_day = 0.0
        self._paused: dict[str, tuple[bool, str]] = {}
        # (extension, paused, reason, at) for the store's pause log (the per-operator history)
        self.pause_log: list[tuple[str, bool, str, float]] = []

    # -- loading and events ---------------------------------------------------------------------

    def load(self, cases: Iterable[dict[str, Any]], since: float) -> None:
        """Today's calls from the case store: finished ones count (the unfinished ones are the call
        registry's)."""
        self.since_day = since
        for c in cases:
            uid, queue = c["uniqueid"], c["queue"] or FALLBACK_QUEUE
            if c["answered_at"] is not None:
                self._finish(uid, queue, True, c["wait_seconds"] or 0.0, c["answered_at"])
                if c["state"] == "ended":
                    self._handled(queue, c["talk_seconds"] or 0.0)
            elif c["state"] == "abandoned":
                self._finish(uid, queue, False, c["wait_seconds"] or 0.0, c["ended_at"] or c["queued_at"])

    def new_day(self, since: float) -> None:
        """Midnight: today's counters start again (the windows slide on their own)."""
        self.since_day, self.today, self.counted = since, {}, set()

    def _lang_topic(self, queue: str, language: str | None = None, topic: str | None = None) -> tuple[str, str]:
        parsed = parse_queue(queue)
        if parsed:
            return parsed
        return language or "", topic or ""

    def _finish(self, uid: str, queue: str, answered: bool, wait: float, at: float) -> None:
        if uid in self.counted or at < self.since_day:
            return
        self.counted.add(uid)
        self.recent.append(Finished(at, queue, answered, wait))
        t = self.today.setdefault(queue, Today())
        t.wait_total += wait
        if answered:
            t.answered += 1
            t.answered_in_target += wait <= self.target
        else:
            t.abandoned += 1

    def _handled(self, queue: str, talk: float) -> None:
        t = self.today.setdefault(queue, Today())
        t.handled += 1
        t.talk_total += talk

    def apply(self, event: ev.Event) -> None:
        """After the roster, the call registry and the service level have applied the same event."""
        if isinstance(event, ev.AgentConnected):
            ext = extension_of(event.interface)
            self._finish(event.uniqueid, event.queue, True, float(event.hold_seconds), event.at)
            self.dirty.add(ext)
        elif isinstance(event, ev.CallerAbandoned):
            self._finish(event.uniqueid, event.queue, False, float(event.hold_seconds), event.at)
        elif isinstance(event, ev.AgentCompleted):
            self._handled(event.queue, float(event.talk_seconds))
            self.dirty.add(extension_of(event.interface))
        elif isinstance(event, ev.ChannelHangup):
            call = self.calls.get(event.uniqueid)
            if call is not None and call.operator:
                self.dirty.add(call.operator)
        elif isinstance(event, (ev.MemberStatus, ev.MemberRemoved, ev.AgentRinging, ev.AgentNoAnswer)):
            ext = extension_of(event.interface)
            self.dirty.add(ext)
            if isinstance(event, (ev.MemberStatus, ev.MemberRemoved)):
                self._note_pause(ext, event.at)
        elif isinstance(event, ev.Resynced):
            self.dirty |= set(self.roster.ops)
            for ext in self.roster.ops:
                self._note_pause(ext, event.at or self._clock())

    def _note_pause(self, ext: str, at: float) -> None:
        """A pause began, changed reason or ended (from the roster, which applied the event first)."""
        op = self.roster.get(ext)
        if op is None:
            return
        now = (op.paused and bool(op.queues), op.pause_reason if op.paused and op.queues else "")
        if self._paused.get(ext, (False, "")) != now:
            self._paused[ext] = now
            self.pause_log.append((ext, now[0], now[1], at))

    def trim(self) -> None:
        horizon = self._clock() - max(WINDOWS.values())
        while self.recent and self.recent[0].at < horizon:
            self.recent.popleft()

    # -- figures ------------------------------------------------------------------------------------

    def queues(self) -> list[dict[str, Any]]:
        now = self._clock()
        self.trim()
        windows: dict[str, dict[str, list[int]]] = {}  # queue -> window -> [answered, in target, abandoned]
        for f in self.recent:
            per = windows.setdefault(f.queue, {w: [0, 0, 0] for w in WINDOWS})
            for w, seconds in WINDOWS.items():
                if f.at >= now - seconds:
                    c = per[w]
                    if f.answered:
                        c[0] += 1
                        c[1] += f.wait <= self.target
                    else:
                        c[2] += 1
        waiting: dict[str, list[float]] = {}
        for call in self.calls.waiting():
            waiting.setdefault(call.queue, []).append(call.joined_at)
        out = []
        for queue in sorted(set(self.today) | set(waiting) | set(windows)):
            t = self.today.get(queue, Today())
            lang, topic = self._lang_topic(queue)
            row: dict[str, Any] = {
                "queue": queue, "language": lang, "topic": topic, "waiting": len(waiting.get(queue, ())),
                "oldest_since": min(waiting[queue]) if waiting.get(queue) else None,
                "answered": t.answered, "abandoned": t.abandoned,
                "average_wait": round(t.wait_total / (t.answered + t.abandoned), 1) if t.answered + t.abandoned
                else None,
                "average_handling": round(t.talk_total / t.handled, 1) if t.handled else None,
                "sl": {"today": {"over_answered": _pct(t.answered_in_target, t.answered),
                                 "over_offered": _pct(t.answered_in_target, t.answered + t.abandoned)}},
            }
            for w in WINDOWS:
                a, ok, ab = windows.get(queue, {}).get(w, [0, 0, 0])
                row["sl"][w] = {"over_answered": _pct(ok, a), "over_offered": _pct(ok, a + ab),
                                "answered": a, "abandoned": ab}
            out.append(row)
        return out

    def totals(self) -> dict[str, Any]:
        answered = sum(t.answered for t in self.today.values())
        abandoned = sum(t.abandoned for t in self.today.values())
        in_target = sum(t.answered_in_target for t in self.today.values())
        waiting = len(self.calls.waiting())
        return {"offered": answered + abandoned + waiting, "answered": answered,
                "abandoned": abandoned, "answered_in_target": in_target,
                "sl_over_answered": _pct(in_target, answered), "sl_over_offered": _pct(in_target, answered + abandoned),
                "waiting": waiting, "talking": self.calls.talking()}

    def waiting(self) -> list[dict[str, Any]]:
        out = []
        for call in self.calls.waiting():  # oldest first
            lang, topic = self._lang_topic(call.queue, call.language, call.topic)
            out.append({"uniqueid": call.uniqueid, "queue": call.queue, "language": lang, "topic": topic,
                        "caller": mask_number(call.caller_number), "joined_at": call.joined_at,
                        "ringing": [op.extension for op in self.roster.ops.values()
                                    if op.ringing_for == call.uniqueid]})
        return out

    def agent(self, ext: str) -> dict[str, Any]:
        now = self._clock()
        op = self.roster.ops[ext]
        skills = self.skills.get(ext)
        state = op.state(now)
        call = self._call_of(ext, op.talking_with, op.ringing_for)
        lang, topic = self._lang_topic(call.queue, call.language, call.topic) if call else ("", "")
        return {"extension": ext, "name": op.name, "state": state, "since": round(op.since, 1) if op.since else None,
                "pause_reason": op.pause_reason if op.paused else "", "calls_today": op.calls_today,
                "languages": dict(skills.languages) if skills else {}, "topics": list(skills.topics) if skills else [],
                "logged_in": bool(op.queues),
                "call": ({"uniqueid": call.uniqueid, "language": call.language or lang, "topic": call.topic or topic,
                          "caller": mask_number(call.caller_number), "wait": call.wait,
                          "answered_at": call.answered_at} if call and state in ("talking", "ringing") else None)}

    def _call_of(self, ext: str, talking_with: str, ringing_for: str) -> Call | None:
        """The call on an operator's row: the one they answered, else what the roster says they
        are talking on or ringing for (a call not ended)."""
        call = self.calls.of_operator(ext)
        if call is None:
            uid = talking_with or ringing_for
            call = self.calls.live(uid) if uid else None
        return call

    def agents(self) -> list[dict[str, Any]]:
        self.roster.refresh()
        return [self.agent(ext) for ext in self.roster.ops]

    def take_dirty(self) -> list[dict[str, Any]]:
        dirty, self.dirty = self.dirty, set()
        return [self.agent(ext) for ext in sorted(dirty) if ext in self.roster.ops]

    # -- alerts -------------------------------------------------------------------------------------

    def _free_skilled(self, queue: str) -> bool:
        now = self._clock()
        return any(queue in op.queues and op.state(now) == "ready" for op in self.roster.ops.values())

    def alerts(self) -> list[dict[str, Any]]:
        a = self.settings.alerts
        now = self._clock()
        out: list[dict[str, Any]] = []
        free: dict[str, bool] = {}
        for call in self.calls.waiting():
            uid, queue, joined = call.uniqueid, call.queue, call.joined_at
            waited = now - joined
            if waited < a.waiting_seconds:
                continue
            if queue not in free:
                free[queue] = self._free_skilled(queue)
            if not free[queue]:
                out.append({"id": f"waiting:{uid}", "kind": "waiting", "severity": "critical", "since": joined,
                            "target": queue, "text": f"caller waiting {waited:.0f} s in {queue} and no free "
                                                     "operator with the skill"})
        goal = self.settings.routing.goal_percent
        window = a.service_level_minutes * 60
        per: dict[str, list[int]] = {}
        for f in self.recent:
            if f.at >= now - window:
                c = per.setdefault(f.queue, [0, 0])
                c[0] += 1
                c[1] += f.answered and f.wait <= self.target
        total = [sum(c[0] for c in per.values()), sum(c[1] for c in per.values())]
        for queue, (offered, ok) in [*sorted(per.items()), ("all", (total[0], total[1]))]:
            if offered and 100.0 * ok / offered < goal:
                out.append({"id": f"sl:{queue}", "kind": "service_level", "severity": "warning", "since": None,
                            "target": queue, "text": f"{queue}: {100.0 * ok / offered:.1f}% within {self.target} s "
                                                     f"in the last {a.service_level_minutes} min (goal {goal:g}%)"})
        for op in self.roster.ops.values():
            state = op.state(now)
            limit = {"paused": a.pause_seconds, "wrap-up": a.wrapup_seconds}.get(state)
            if limit is not None and op.since and now - op.since > limit:
                out.append({"id": f"{state}:{op.extension}", "kind": f"long_{state.replace('-', '')}",
                            "severity": "warning", "since": op.since, "target": op.extension,
                            "text": f"{op.name} ({op.extension}) in {state} for {(now - op.since) / 60:.0f} min"
                                    + (f": {op.pause_reason}" if state == "paused" and op.pause_reason else "")})
        for extra in self.extra_alerts:
            out += extra()
        return out
