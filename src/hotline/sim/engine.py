"""A call-center simulator: callers, operators with languages, topics, proficiency and shifts,
and a routing strategy, stepped one second at a time.

Strategies:
- ``ours``: the hotline's routing, through the same policy functions the live router uses
  (``hotline.queue.policy``): entry decision, the hl-widen ceiling, overflow stages; within
  the lowest penalty tier the longest-idle operator (app_queue ``leastrecent``, as deployed).
- app_queue models with a fixed penalty ladder: every operator is a member of every skill
  queue, penalty = 5 - proficiency for the exact skill, 10 + that for the caller's language
  with another topic, 20 for another language; queuerules raise the ceiling to 14 and 24 at
  fixed times (``ladder``). Within the lowest tier: ``ringall`` (first to answer: random),
  ``leastrecent``, ``fewestcalls``, ``rrmemory`` (round robin), ``linear`` (file order).

A ringing operator answers after ``ring_delay`` seconds; wait = answer time - arrival.
With an interpreter ``Pool`` (sim/interpreting.py) a call answered by an operator who does not
speak an automatically offered language waits for an interpreter, for every strategy alike.
"""

from __future__ import annotations

import bisect
import math
import random
from collections import defaultdict
from dataclasses import dataclass, field

from hotline.config import Routing
from hotline.queue import policy
from hotline.queue.skills import GENERAL
from hotline.sim.interpreting import InterpreterRequest, Pool

STRATEGIES = ("ours", "ringall", "leastrecent", "fewestcalls", "rrmemory", "linear")


@dataclass
class Agent:
    id: str
    languages: dict[str, int]
    topics: frozenset[str]
    shifts: list[tuple[float, float]]  # on-duty windows (start, end) in seconds
    busy_until: float = 0.0
    free_since: float = 0.0
    calls: int = 0
    busy_time: float = 0.0

    def penalty(self, language: str, topic: str) -> int | None:
        """Member penalty in the caller's skill queue, None when not a member."""
        prof = self.languages.get(language)
        if prof is None or not (topic == GENERAL or topic in self.topics):
            return None
        return 5 - prof

    def on_duty(self, t: float) -> bool:
        return any(a <= t < b for a, b in self.shifts)


@dataclass
class Call:
    id: int
    arrival: float
    language: str
    topic: str
    patience: float
    handle: float
    pressed_any: bool = False
    answered_at: float | None = None
    abandoned_at: float | None = None
    agent: str | None = None
    entry: policy.Entry | None = None
    interpreted: bool = False


@dataclass(frozen=True)
class Ladder:
    """app_queue queuerules: (seconds, new max penalty) steps; the start ceiling is 4."""
    steps: tuple[tuple[float, int], ...] = ((10.0, 14), (20.0, 24))

    def ceiling(self, elapsed: float) -> int:
        c = 4
        for at, value in self.steps:
            if elapsed >= at:
                c = value
        return c


@dataclass
class Result:
    strategy: str
    calls: list[Call]
    agents: list[Agent]
    target: float
    duty_time: float
    per_language: dict[str, dict[str, float | int | None]] = field(default_factory=dict)
    pool: Pool | None = None

    def figures(self, calls: list[Call] | None = None) -> dict[str, float | int | None]:
        calls = self.calls if calls is None else calls
        answered = [c for c in calls if c.answered_at is not None]
        abandoned = [c for c in calls if c.abandoned_at is not None]
        waits = sorted((c.answered_at or 0) - c.arrival for c in answered)
        in_target = sum(1 for w in waits if w <= self.target)
        offered = len(answered) + len(abandoned)
        return {
            "offered": len(calls), "answered": len(answered), "abandoned": len(abandoned),
            "sl_over_answered": _pct(in_target, len(answered)), "sl_over_offered": _pct(in_target, offered),
            "abandon_rate": _pct(len(abandoned), offered),
            "avg_wait": round(sum(waits) / len(waits), 2) if waits else None,
            "p95_wait": round(waits[min(len(waits) - 1, math.ceil(0.95 * len(waits)) - 1)], 2) if waits else None,
        }

    def summary(self) -> dict[str, object]:
        busy = sum(a.busy_time for a in self.agents)
        langs = sorted({c.language for c in self.calls})
        out: dict[str, object] = {
            "strategy": self.strategy, **self.figures(),
            "occupancy": round(100 * busy / self.duty_time, 1) if self.duty_time else None,
            "per_language": {lang: self.figures([c for c in self.calls if c.language == lang]) for lang in langs}}
        if self.pool is not None:
            horizon = max((c.arrival for c in self.calls), default=0.0) + 3600
            out["interpreting"] = self.pool.summary(horizon)
        return out


def _pct(num: int, den: int) -> float | None:
    return round(100.0 * num / den, 2) if den else None


def simulate(agents: list[Agent], calls: list[Call], routing: Routing, strategy: str = "ours",
             ladder: Ladder | None = None, ring_delay: float = 1.0, wrapup: float | None = None,
             seed: int = 1, tick: float = 1.0, pool: Pool | None = None) -> Result:
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; one of {', '.join(STRATEGIES)}")
    ladder = ladder or Ladder()
    wrap = routing.wrapup_seconds if wrapup is None else wrapup
    rng = random.Random(seed)
    calls = sorted(calls, key=lambda c: c.arrival)
    order = {a.id: i for i, a in enumerate(agents)}
    rr_pointer: dict[tuple[str, str], int] = defaultdict(int)
    # duty transitions
    changes: list[tuple[float, int, Agent]] = []
    duty_time = 0.0
    horizon = max((c.arrival for c in calls), default=0.0) + 3600
    for a in agents:
        for s, e in a.shifts:
            changes.append((s, 1, a))
            changes.append((e, 0, a))
            duty_time += max(0.0, min(e, horizon) - s)
    changes.sort(key=lambda x: (x[0], x[1]))
    free: dict[str, Agent] = {}  # on duty and not busy
    busy: list[tuple[float, str]] = []  # (busy_until, agent id), sorted
    on_duty: set[str] = set()
    by_id = {a.id: a for a in agents}
    waiting: list[Call] = []
    ci = ch = 0
    t = 0.0
    end = horizon

    def candidates(call: Call, elapsed: float) -> list[tuple[int, Agent]]:
        out = []
        if strategy == "ours":
            assert call.entry is not None
            ceiling = policy.ceiling(routing, call.entry, elapsed)
            members = [(p, a) for a in free.values()
                       if (p := a.penalty(call.language, call.topic)) is not None and p <= ceiling]
            if members:
                return members
            stage = policy.overflow_stage(routing, elapsed, call.entry.urgent)
            if stage >= 1:
                out = [(policy.MAX_PENALTY, a) for a in free.values() if call.language in a.languages]
            if stage >= 2 and not out:
                out = [(policy.MAX_PENALTY, a) for a in free.values()]
            return out
        ceiling = ladder.ceiling(elapsed)
        for a in free.values():
            p = a.penalty(call.language, call.topic)
            if p is None:
                prof = a.languages.get(call.language)
                p = 10 + (5 - prof) if prof is not None else 20
            if p <= ceiling:
                out.append((p, a))
        return out

    def pick(call: Call, tier: list[Agent]) -> Agent:
        if strategy in ("ours", "leastrecent"):
            return min(tier, key=lambda a: (a.free_since, order[a.id]))
        if strategy == "fewestcalls":
            return min(tier, key=lambda a: (a.calls, order[a.id]))
        if strategy == "linear":
            return min(tier, key=lambda a: order[a.id])
        if strategy == "rrmemory":
            key = (call.language, call.topic)
            ranked = sorted(tier, key=lambda a: order[a.id])
            start = rr_pointer[key]
            chosen = next((a for a in ranked if order[a.id] >= start), ranked[0])
            rr_pointer[key] = order[chosen.id] + 1
            return chosen
        return rng.choice(tier)  # ringall: whoever answers first

    pending: dict[int, Agent] = {}  # call id -> its operator, waiting for an interpreter

    while t <= end and (ci < len(calls) or waiting or busy or pending):
        # duty changes
        while ch < len(changes) and changes[ch][0] <= t:
            _, starting, a = changes[ch]
            ch += 1
            if starting:
                on_duty.add(a.id)
                if a.busy_until <= t:
                    a.free_since = max(a.free_since, t)
                    free[a.id] = a
            else:
                on_duty.discard(a.id)
                free.pop(a.id, None)
        # calls finishing
        while busy and busy[0][0] <= t:
            _, aid = busy.pop(0)
            a = by_id[aid]
            if aid in on_duty:
                a.free_since = t
                free[aid] = a
        # interpreters answering (or the operator going on alone)
        if pool is not None and pending:
            for req in pool.step(t):
                a = pending.pop(req.call_id)
                start = req.connected_at if req.connected_at is not None else (req.gave_up_at or t)
                a.busy_time += start - req.requested_at + req.handle
                a.busy_until = start + req.handle + wrap
                bisect.insort(busy, (a.busy_until, a.id))
        # arrivals
        while ci < len(calls) and calls[ci].arrival <= t:
            c = calls[ci]
            ci += 1
            if strategy == "ours":
                members = [p for a in free.values() if (p := a.penalty(c.language, c.topic)) is not None]
                c.entry = policy.entry(routing, best_free=any(p <= routing.initial_max_penalty for p in members),
                                       any_member_free=bool(members), pressed_any=c.pressed_any)
            waiting.append(c)
        # abandonment, then assignment (oldest caller first)
        still: list[Call] = []
        for c in waiting:
            elapsed = t - c.arrival
            if elapsed >= c.patience:
                c.abandoned_at = c.arrival + c.patience
                continue
            cands = candidates(c, elapsed) if free else []
            if not cands:
                still.append(c)
                continue
            low = min(p for p, _ in cands)
            a = pick(c, [ag for p, ag in cands if p == low])
            free.pop(a.id)
            c.answered_at = t + ring_delay
            if c.answered_at - c.arrival > c.patience:  # hung up while it rang
                c.answered_at = None
                c.abandoned_at = c.arrival + c.patience
                a.free_since = t
                free[a.id] = a
                continue
            c.agent = a.id
            a.calls += 1
            if pool is not None and pool.needed(c.language, a.languages):
                c.interpreted = True
                pool.request(InterpreterRequest(c.id, c.language, a.id, c.answered_at,
                                                c.handle * pool.model.handle_factor))
                pending[c.id] = a
                a.busy_time += ring_delay
                a.busy_until = math.inf
                continue
            a.busy_time += ring_delay + c.handle
            a.busy_until = c.answered_at + c.handle + wrap
            bisect.insort(busy, (a.busy_until, a.id))
        waiting = still
        t += tick
    for c in waiting:
        c.abandoned_at = c.arrival + c.patience
    return Result(strategy, calls, agents, routing.target_seconds, duty_time, pool=pool)
