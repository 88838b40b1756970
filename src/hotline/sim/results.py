"""A simulated day's figures, on both clocks, named plainly:

- from the first ring (arrival at the IVR, the citizen's clock, the headline): ``sl_over_offered``
  (answered within the target of the first ring, over every offered call except those who hung
  up informed by an announcement), ``sl_over_answered``, ``avg_wait``, ``p95_wait``;
- from queue entry (Asterisk's clock, ServicelevelPerf): ``sl_queue_entry`` (over the calls that
  entered the queue), ``sl_queue_entry_answered`` (over answered, Asterisk's own figure),
  ``avg_wait_queue``, ``p95_wait_queue``.

Without an IVR both clocks are the same. A hang-up in the IVR is an offered call, not answered
(``ivr_hangups``; ``abandon_rate`` counts them with the queue's ``abandoned``); hang-ups sooner
than the IVR model's ``short_abandon_seconds`` are shown apart (``short_abandoned``) and stay in
every figure but one, named for it: ``sl_short_apart``, the first ring's figure over the offered
calls less the short abandons. A queued call back counts under its own figure (``callbacks``, answered within
``callback_target_minutes`` of the request) and never as answered within the target.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hotline.sim.interpreting import Pool

if TYPE_CHECKING:
    from hotline.sim.engine import Agent, Call


def _pct(num: int, den: int) -> float | None:
    return round(100.0 * num / den, 2) if den else None


def _p95(waits: list[float]) -> float | None:
    return round(waits[min(len(waits) - 1, math.ceil(0.95 * len(waits)) - 1)], 2) if waits else None


def _avg(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 2) if values else None


@dataclass
class Result:
    strategy: str
    calls: list[Call]
    agents: list[Agent]
    target: float
    duty_time: float
    per_language: dict[str, dict[str, float | int | None]] = field(default_factory=dict)
    pool: Pool | None = None
    short_abandon: float = 0.0
    callback_target: float = 1800.0  # seconds
    ivr: str = "none"

    def figures(self, calls: list[Call] | None = None) -> dict[str, float | int | None]:
        calls = self.calls if calls is None else calls
        answered = [c for c in calls if c.answered_at is not None and c.callback_at is None]
        abandoned = [c for c in calls if c.ended_in == "queue"]
        ivr = [c for c in calls if c.ended_in == "ivr"]
        informed = sum(1 for c in calls if c.ended_in == "informed")
        callbacks = [c for c in calls if c.callback_at is not None]
        entered = [c for c in calls if c.ended_in in ("queue", "operator")]
        waits = sorted((c.answered_at or 0.0) - c.arrival for c in answered)
        queue_waits = sorted((c.answered_at or 0.0) - c.queued_at for c in answered)
        in_target = sum(1 for w in waits if w <= self.target)
        in_target_queue = sum(1 for w in queue_waits if w <= self.target)
        offered = len(calls) - informed
        short = sum(1 for c in abandoned + ivr if (c.abandoned_at or 0.0) - c.arrival < self.short_abandon)
        cb_in = sum(1 for c in callbacks if c.answered_at is not None
                    and c.answered_at - (c.callback_at or 0.0) <= self.callback_target)
        return {
            "offered": len(calls), "answered": len(answered), "abandoned": len(abandoned),
            "ivr_hangups": len(ivr), "short_abandoned": short, "informed": informed,
            "sl_over_offered": _pct(in_target, offered), "sl_over_answered": _pct(in_target, len(answered)),
            "sl_short_apart": _pct(in_target, offered - short),
            "sl_queue_entry": _pct(in_target_queue, len(entered)),
            "sl_queue_entry_answered": _pct(in_target_queue, len(answered)),
            "abandon_rate": _pct(len(abandoned) + len(ivr), offered),
            "avg_wait": _avg(waits), "p95_wait": _p95(waits),
            "avg_wait_queue": _avg(queue_waits), "p95_wait_queue": _p95(queue_waits),
            "avg_ivr": _avg([c.ivr_seconds for c in entered]),
            "own_language": _pct(sum(1 for c in answered if c.own_language), len(answered)),
            "callbacks": len(callbacks), "callback_within_target": _pct(cb_in, len(callbacks)),
        }

    def summary(self) -> dict[str, object]:
        busy = sum(a.busy_time for a in self.agents)
        langs = sorted({c.language for c in self.calls})
        out: dict[str, object] = {
            "strategy": self.strategy, "ivr": self.ivr, **self.figures(),
            "occupancy": round(100 * busy / self.duty_time, 1) if self.duty_time else None,
            "per_language": {lang: self.figures([c for c in self.calls if c.language == lang]) for lang in langs}}
        if self.pool is not None:
            horizon = max((c.arrival for c in self.calls), default=0.0) + 3600
            out["interpreting"] = self.pool.summary(horizon)
        return out
