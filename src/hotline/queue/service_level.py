"""Service level, counted from events exactly once per call.

- answered within target / answered                      ("over answered", Asterisk's ServicelevelPerf)
- answered within target / (answered + abandoned)        ("over offered")
Abandoned calls, the callers waiting now and the longest current wait, per queue and overall.
A call is counted once, keyed by uniqueid, whatever replays or resyncs deliver it again. Only the
counts are kept here: who waits now is the call registry's (``calls``, queue/waiting.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from hotline import events as ev
from hotline.queue.waiting import WaitingCalls


@dataclass
class Counters:
    answered: int = 0
    answered_in_target: int = 0
    abandoned: int = 0
    abandoned_in_target: int = 0
    wait_total: float = 0.0

    def figures(self) -> dict[str, Any]:
        offered = self.answered + self.abandoned
        return {
            "answered": self.answered, "abandoned": self.abandoned,
            "answered_in_target": self.answered_in_target,
            "sl_over_answered": _pct(self.answered_in_target, self.answered),
            "sl_over_offered": _pct(self.answered_in_target, offered),
            # Asterisk's SL2 also counts callers who gave up within the target as served
            "asterisk_sl2": _pct(self.answered_in_target + self.abandoned_in_target, offered),
            "average_wait": round(self.wait_total / offered, 1) if offered else None,
        }


def _pct(num: int, den: int) -> float | None:
    return round(100.0 * num / den, 1) if den else None


class ServiceLevel:
    def __init__(self, target_seconds: int, clock: Callable[[], float] = time.time, since: float = 0.0, *,
                 calls: WaitingCalls | None = None) -> None:
        self.target = target_seconds
        self.calls = calls  # the callers waiting now (the report's waiting figures; none without it)
        self.since = since  # calls before this (e.g. replayed from an old queue_log) are not counted
        self._clock = clock
        self.total = Counters()
        self.per_queue: dict[str, Counters] = {}
        self.counted: set[str] = set()

    def _count(self, uniqueid: str, queue: str, answered: bool, wait: float) -> None:
        if uniqueid in self.counted:
            return
        self.counted.add(uniqueid)
        for c in (self.total, self.per_queue.setdefault(queue, Counters())):
            c.wait_total += wait
            if answered:
                c.answered += 1
                c.answered_in_target += wait <= self.target
            else:
                c.abandoned += 1
                c.abandoned_in_target += wait <= self.target

    def load(self, cases: Iterable[dict[str, Any]]) -> None:
        """Count finished calls already in the case store (at start, so a restart loses nothing)."""
        for case in cases:
            if case["state"] in ("answered", "ended") and case["answered_at"] is not None:
                self._count(case["uniqueid"], case["queue"], True, case["wait_seconds"] or 0.0)
            elif case["state"] == "abandoned":
                self._count(case["uniqueid"], case["queue"], False, case["wait_seconds"] or 0.0)

    def apply(self, event: ev.Event) -> None:
        if getattr(event, "at", self.since) < self.since:
            return
        if isinstance(event, ev.AgentConnected):
            self._count(event.uniqueid, event.queue, True, float(event.hold_seconds))
        elif isinstance(event, ev.CallerAbandoned):
            self._count(event.uniqueid, event.queue, False, float(event.hold_seconds))

    def report(self) -> dict[str, Any]:
        now = self._clock()
        queues: dict[str, Any] = {}
        for name, c in sorted(self.per_queue.items()):
            queues[name] = {**c.figures(), "waiting": 0, "longest_wait": 0.0}
        waiting = self.calls.waiting() if self.calls is not None else ()
        for call in waiting:
            q = queues.setdefault(call.queue, {**Counters().figures(), "waiting": 0, "longest_wait": 0.0})
            q["waiting"] += 1
            q["longest_wait"] = max(q["longest_wait"], round(now - call.joined_at, 1))
        waits = [now - call.joined_at for call in waiting]
        return {"target_seconds": self.target,
                "overall": {**self.total.figures(), "waiting": len(waits),
                            "longest_wait": round(max(waits), 1) if waits else 0.0},
                "queues": queues}
