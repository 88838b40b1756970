"""Service level, counted from events exactly once per call, on two clocks.

From queue entry (Asterisk's clock; ``sl_over_answered`` still equals ServicelevelPerf):
- answered within target / answered                      ("over answered")
- answered within target / (answered + abandoned)        ("over offered")
From the first ring (the citizen's clock, the headline: ``first_ring_*``): the wait counts from the
call's arrival at the IVR (HL_ARRIVED on the queue events; a call whose arrival is not known counts
from queue entry), and a caller who hung up in the IVR (IvrHangup) is an offered call not
answered, counted on this clock only (overall, no queue). Abandons shorter than
``short_abandon`` seconds from the first ring are counted apart as well (``short_abandoned``),
never dropped from offered. Abandoned calls, the callers waiting now and the longest current wait,
per queue and overall. A call is counted once, keyed by uniqueid, whatever replays or resyncs
deliver it again. Only the counts are kept here: who waits now is the call registry's (``calls``,
queue/waiting.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from hotline import events as ev
from hotline.queue.waiting import WaitingCalls

IVR_STATE = "abandoned-ivr"  # the case row of an IVR hang-up (cases/service.py)


@dataclass
class Counters:
    answered: int = 0
    answered_in_target: int = 0
    abandoned: int = 0
    abandoned_in_target: int = 0
    wait_total: float = 0.0
    ivr_abandoned: int = 0  # hung up in the IVR: offered on the first-ring clock only
    first_ring_answered_in_target: int = 0
    first_ring_wait_total: float = 0.0
    short_abandoned: int = 0  # abandons (queue or IVR) under the short-abandon seconds, still offered

    def figures(self) -> dict[str, Any]:
        offered = self.answered + self.abandoned
        first_ring_offered = offered + self.ivr_abandoned
        return {
            "answered": self.answered, "abandoned": self.abandoned,
            "answered_in_target": self.answered_in_target,
            "sl_over_answered": _pct(self.answered_in_target, self.answered),
            "sl_over_offered": _pct(self.answered_in_target, offered),
            # Asterisk's SL2 also counts callers who gave up within the target as served
            "asterisk_sl2": _pct(self.answered_in_target + self.abandoned_in_target, offered),
            "average_wait": round(self.wait_total / offered, 1) if offered else None,
            # from the first ring (the headline)
            "first_ring_offered": first_ring_offered, "ivr_abandoned": self.ivr_abandoned,
            "short_abandoned": self.short_abandoned,
            "first_ring_answered_in_target": self.first_ring_answered_in_target,
            "first_ring_sl_over_answered": _pct(self.first_ring_answered_in_target, self.answered),
            "first_ring_sl_over_offered": _pct(self.first_ring_answered_in_target, first_ring_offered),
            "first_ring_average_wait": (round(self.first_ring_wait_total / first_ring_offered, 1)
                                        if first_ring_offered else None),
        }


def _pct(num: int, den: int) -> float | None:
    return round(100.0 * num / den, 1) if den else None


def first_ring_wait(hold: float, at: float, arrived_at: float | None) -> float:
    """Seconds from the first ring to ``at`` (the answer or the hang-up): from ``arrived_at`` when
    known, never less than the queue's own ``hold`` (0 or None: the clock starts at queue entry)."""
    return max(hold, at - arrived_at) if arrived_at else hold


class ServiceLevel:
    def __init__(self, target_seconds: int, clock: Callable[[], float] = time.time, since: float = 0.0, *,
                 calls: WaitingCalls | None = None, short_abandon: float = 0.0) -> None:
        self.target = target_seconds
        self.short_abandon = short_abandon  # seconds: abandons under it are counted apart (0: none)
        self.calls = calls  # the callers waiting now (the report's waiting figures; none without it)
        self.since = since  # calls before this (e.g. replayed from an old queue_log) are not counted
        self._clock = clock
        self.total = Counters()
        self.per_queue: dict[str, Counters] = {}
        self.counted: set[str] = set()

    def _count(self, uniqueid: str, queue: str, answered: bool, wait: float, first_ring: float) -> None:
        if uniqueid in self.counted:
            return
        self.counted.add(uniqueid)
        for c in (self.total, self.per_queue.setdefault(queue, Counters())):
            c.wait_total += wait
            c.first_ring_wait_total += first_ring
            if answered:
                c.answered += 1
                c.answered_in_target += wait <= self.target
                c.first_ring_answered_in_target += first_ring <= self.target
            else:
                c.abandoned += 1
                c.abandoned_in_target += wait <= self.target
                c.short_abandoned += first_ring < self.short_abandon

    def _count_ivr(self, uniqueid: str, first_ring: float) -> None:
        if uniqueid in self.counted:
            return
        self.counted.add(uniqueid)
        c = self.total
        c.ivr_abandoned += 1
        c.first_ring_wait_total += first_ring
        c.short_abandoned += first_ring < self.short_abandon

    def load(self, cases: Iterable[dict[str, Any]]) -> None:
        """Count finished calls already in the case store (at start, so a restart loses nothing)."""
        for case in cases:
            wait = case["wait_seconds"] or 0.0
            arrived = case.get("arrived_at")
            if case["state"] in ("answered", "ended") and case["answered_at"] is not None:
                self._count(case["uniqueid"], case["queue"], True, wait,
                            first_ring_wait(wait, case["answered_at"], arrived))
            elif case["state"] == "abandoned":
                self._count(case["uniqueid"], case["queue"], False, wait,
                            first_ring_wait(wait, case.get("ended_at") or 0.0, arrived))
            elif case["state"] == IVR_STATE:
                self._count_ivr(case["uniqueid"], first_ring_wait(0.0, case.get("ended_at") or 0.0, arrived))

    def apply(self, event: ev.Event) -> None:
        if getattr(event, "at", self.since) < self.since:
            return
        if isinstance(event, ev.AgentConnected):
            hold = float(event.hold_seconds)
            self._count(event.uniqueid, event.queue, True, hold, first_ring_wait(hold, event.at, event.arrived_at))
        elif isinstance(event, ev.CallerAbandoned):
            hold = float(event.hold_seconds)
            self._count(event.uniqueid, event.queue, False, hold, first_ring_wait(hold, event.at, event.arrived_at))
        elif isinstance(event, ev.IvrHangup):
            self._count_ivr(event.uniqueid, first_ring_wait(0.0, event.at, event.arrived_at))

    def report(self) -> dict[str, Any]:
        now = self._clock()
        queues: dict[str, Any] = {}
        for name, c in sorted(self.per_queue.items()):
            queues[name] = {**c.figures(), "waiting": 0, "longest_wait": 0.0, "longest_since_first_ring": 0.0}
        waiting = self.calls.waiting() if self.calls is not None else ()
        for call in waiting:
            q = queues.setdefault(call.queue, {**Counters().figures(), "waiting": 0, "longest_wait": 0.0,
                                               "longest_since_first_ring": 0.0})
            q["waiting"] += 1
            q["longest_wait"] = max(q["longest_wait"], round(now - call.joined_at, 1))
            q["longest_since_first_ring"] = max(q["longest_since_first_ring"],
                                                round(now - (call.arrived_at or call.joined_at), 1))
        waits = [now - call.joined_at for call in waiting]
        rings = [now - (call.arrived_at or call.joined_at) for call in waiting]
        return {"target_seconds": self.target, "short_abandon_seconds": self.short_abandon,
                "overall": {**self.total.figures(), "waiting": len(waits),
                            "longest_wait": round(max(waits), 1) if waits else 0.0,
                            "longest_since_first_ring": round(max(rings), 1) if rings else 0.0},
                "queues": queues}
