"""The wallboard's figures, kept from domain events (no database read per page or per event).

Per queue (language x topic): callers waiting and since when, the share answered within the
target over the last 5 and 30 minutes and today, in both definitions (over answered, over
answered + abandoned) and on both clocks (from queue entry, Asterisk's: ``over_*``; from the
first ring, the citizen's: ``first_ring_over_*``, the headline), answered, abandoned, average
wait and handling time. Callers who hung up in the IVR (IvrHangup) belong to no queue: they are
offered on the first-ring clock of the totals and the service-level alert only. Per operator:
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
from hotline.cases.caller_key import mask_number
from hotline.config import Settings
from hotline.floor.calls import Call, CallRegistry
from hotline.queue.roster import Roster
from hotline.queue.service_level import IVR_STATE, first_ring_wait
from hotline.queue.skills import FALLBACK_QUEUE, SkillBook, extension_of, parse_queue

WINDOWS = {"5m": 300, "30m": 1800}


@dataclass
class Finished:
    """A call that left the queue: answered (with its wait) or abandoned; or hung up in the IVR
    (``queue`` "", ``ivr``: offered on the first-ring clock only)."""

    at: float
    queue: str
    answered: bool
    wait: float
    first_ring: float = 0.0  # seconds from the first ring (the wait when the arrival is not known)
    ivr: bool = False


@dataclass
class Today:
    answered: int = 0
    abandoned: int = 0
    answered_in_target: int = 0
    wait_total: float = 0.0
    handled: int = 0  # calls ended after an answer, for the average handling time
    talk_total: float = 0.0
    first_ring_in_target: int = 0  # answered within the target from the first ring
    ivr_abandoned: int = 0  # hung up in the IVR (the totals' "" entry only)
    short_abandoned: int = 0  # abandons under routing.short_abandon_seconds from the first ring


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
            wait, arrived = c["wait_seconds"] or 0.0, c.get("arrived_at")
            if c["answered_at"] is not None:
                self._finish(uid, queue, True, wait, c["answered_at"], first_ring_wait(wait, c["answered_at"], arrived))
                if c["state"] == "ended":
                    self._handled(queue, c["talk_seconds"] or 0.0)
            elif c["state"] == "abandoned":
                at = c["ended_at"] or c["queued_at"]
                self._finish(uid, queue, False, wait, at, first_ring_wait(wait, at, arrived))
            elif c["state"] == IVR_STATE:
                at = c["ended_at"] or c["queued_at"]
                self._finish(uid, "", False, 0.0, at, first_ring_wait(0.0, at, arrived), ivr=True)

    def new_day(self, since: float) -> None:
        """Midnight: today's counters start again (the windows slide on their own)."""
        self.since_day, self.today, self.counted = since, {}, set()

    def _lang_topic(self, queue: str, language: str | None = None, topic: str | None = None) -> tuple[str, str]:
        parsed = parse_queue(queue)
        if parsed:
            return parsed
        return language or "", topic or ""

    def _finish(self, uid: str, queue: str, answered: bool, wait: float, at: float, first_ring: float | None = None,
                *, ivr: bool = False) -> None:
        if uid in self.counted or at < self.since_day:
            return
        self.counted.add(uid)
        ring = wait if first_ring is None else first_ring
        self.recent.append(Finished(at, queue, answered, wait, ring, ivr))
        t = self.today.setdefault(queue, Today())
        short = not answered and ring < self.settings.routing.short_abandon_seconds
        t.short_abandoned += short
        if ivr:
            t.ivr_abandoned += 1
            return
        t.wait_total += wait
        if answered:
            t.answered += 1
            t.answered_in_target += wait <= self.target
            t.first_ring_in_target += ring <= self.target
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
            hold = float(event.hold_seconds)
            self._finish(event.uniqueid, event.queue, True, hold, event.at,
                         first_ring_wait(hold, event.at, event.arrived_at))
            self.dirty.add(ext)
        elif isinstance(event, ev.CallerAbandoned):
            hold = float(event.hold_seconds)
            self._finish(event.uniqueid, event.queue, False, hold, event.at,
                         first_ring_wait(hold, event.at, event.arrived_at))
        elif isinstance(event, ev.IvrHangup):
            self._finish(event.uniqueid, "", False, 0.0, event.at, first_ring_wait(0.0, event.at, event.arrived_at),
                         ivr=True)
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
        # queue -> window -> [answered, in target, abandoned, in target from the first ring]
        windows: dict[str, dict[str, list[int]]] = {}
        for f in self.recent:
            if f.ivr:
                continue  # no queue: the totals' and the alerts' first-ring figures
            per = windows.setdefault(f.queue, {w: [0, 0, 0, 0] for w in WINDOWS})
            for w, seconds in WINDOWS.items():
                if f.at >= now - seconds:
                    c = per[w]
                    if f.answered:
                        c[0] += 1
                        c[1] += f.wait <= self.target
                        c[3] += f.first_ring <= self.target
                    else:
                        c[2] += 1
        waiting: dict[str, list[float]] = {}
        for call in self.calls.waiting():
            waiting.setdefault(call.queue, []).append(call.joined_at)
        out = []
        for queue in sorted((set(self.today) | set(waiting) | set(windows)) - {""}):
            t = self.today.get(queue, Today())
            lang, topic = self._lang_topic(queue)
            row: dict[str, Any] = {
                "queue": queue, "language": lang, "topic": topic, "waiting": len(waiting.get(queue, ())),
                "oldest_since": min(waiting[queue]) if waiting.get(queue) else None,
                "answered": t.answered, "abandoned": t.abandoned,
                "average_wait": round(t.wait_total / (t.answered + t.abandoned), 1) if t.answered + t.abandoned
                else None,
                "average_handling": round(t.talk_total / t.handled, 1) if t.handled else None,
                "short_abandoned": t.short_abandoned,
                "sl": {"today": {"over_answered": _pct(t.answered_in_target, t.answered),
                                 "over_offered": _pct(t.answered_in_target, t.answered + t.abandoned),
                                 "first_ring_over_answered": _pct(t.first_ring_in_target, t.answered),
                                 "first_ring_over_offered": _pct(t.first_ring_in_target, t.answered + t.abandoned)}},
            }
            for w in WINDOWS:
                a, ok, ab, ring_ok = windows.get(queue, {}).get(w, [0, 0, 0, 0])
                row["sl"][w] = {"over_answered": _pct(ok, a), "over_offered": _pct(ok, a + ab),
                                "first_ring_over_answered": _pct(ring_ok, a),
                                "first_ring_over_offered": _pct(ring_ok, a + ab),
                                "answered": a, "abandoned": ab}
            out.append(row)
        return out

    def totals(self) -> dict[str, Any]:
        """Today's: ``offered`` and ``sl_*`` from queue entry (Asterisk's); ``first_ring_*`` from the
        first ring (the headline: the IVR hang-ups are offered there)."""
        answered = sum(t.answered for t in self.today.values())
        abandoned = sum(t.abandoned for t in self.today.values())
        in_target = sum(t.answered_in_target for t in self.today.values())
        ring_in_target = sum(t.first_ring_in_target for t in self.today.values())
        ivr = sum(t.ivr_abandoned for t in self.today.values())
        waiting = len(self.calls.waiting())
        return {"offered": answered + abandoned + waiting, "answered": answered,
                "abandoned": abandoned, "answered_in_target": in_target,
                "sl_over_answered": _pct(in_target, answered), "sl_over_offered": _pct(in_target, answered + abandoned),
                "first_ring_offered": answered + abandoned + ivr + waiting, "ivr_abandoned": ivr,
                "short_abandoned": sum(t.short_abandoned for t in self.today.values()),
                "first_ring_answered_in_target": ring_in_target,
                "first_ring_sl_over_answered": _pct(ring_in_target, answered),
                "first_ring_sl_over_offered": _pct(ring_in_target, answered + abandoned + ivr),
                "waiting": waiting, "talking": self.calls.talking()}

    def waiting(self) -> list[dict[str, Any]]:
        out = []
        for call in self.calls.waiting():  # oldest first
            lang, topic = self._lang_topic(call.queue, call.language, call.topic)
            out.append({"uniqueid": call.uniqueid, "queue": call.queue, "language": lang, "topic": topic,
                        "caller": mask_number(call.caller_number), "joined_at": call.joined_at,
                        "arrived_at": call.arrived_at or None,  # the first ring (None: not known)
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

    def _sl_alerts(self, now: float) -> list[dict[str, Any]]:
        """A queue (or all of them) under the goal in the alert window, on the first-ring clock
        (the IVR hang-ups are offered in "all"); the text gives both clocks."""
        a = self.settings.alerts
        goal = self.settings.routing.goal_percent
        window = a.service_level_minutes * 60
        # queue ("" the IVR hang-ups) -> [offered, in target from the first ring, from queue entry]
        per: dict[str, list[int]] = {}
        for f in self.recent:
            if f.at >= now - window:
                c = per.setdefault("" if f.ivr else f.queue, [0, 0, 0])
                c[0] += 1
                c[1] += f.answered and f.first_ring <= self.target
                c[2] += f.answered and f.wait <= self.target
        queues = sorted((q, c) for q, c in per.items() if q)
        total = [sum(c[i] for _, c in queues) for i in range(3)]
        rows = [*((q, c[0], c[0], c[1], c[2]) for q, c in queues),
                ("all", total[0] + per.get("", [0])[0], total[0], total[1], total[2])]
        out: list[dict[str, Any]] = []
        for queue, offered, queued, ok, queue_ok in rows:
            if offered and 100.0 * ok / offered < goal:
                entry = f"{100.0 * queue_ok / queued:.1f}%" if queued else "–"
                out.append({"id": f"sl:{queue}", "kind": "service_level", "severity": "warning", "since": None,
                            "target": queue,
                            "text": f"{queue}: {100.0 * ok / offered:.1f}% within {self.target} s from the first "
                                    f"ring ({entry} from queue entry) in the last {a.service_level_minutes} min "
                                    f"(goal {goal:g}%)"})
        return out

    def _free_skilled(self, queue: str) -> bool:
        now = self._clock()
        return any(queue in op.queues and op.state(now) == "ready" for op in self.roster.ops.values())

    def alerts(self) -> list[dict[str, Any]]:
        a = self.settings.alerts
        now = self._clock()
        out: list[dict[str, Any]] = []
        free: dict[str, bool] = {}
        for call in self.calls.waiting():
            uid, queue, ring = call.uniqueid, call.queue, call.first_ring_at
            waited = now - ring  # the target runs from the first ring
            if waited < a.waiting_seconds:
                continue
            if queue not in free:
                free[queue] = self._free_skilled(queue)
            if not free[queue]:
                out.append({"id": f"waiting:{uid}", "kind": "waiting", "severity": "critical", "since": ring,
                            "target": queue, "text": f"caller waiting {waited:.0f} s from the first ring "
                                                     f"({now - call.joined_at:.0f} s in {queue}) and no free "
                                                     "operator with the skill"})
        out += self._sl_alerts(now)
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
