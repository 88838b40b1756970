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
- ``pooled`` (``LIMITS``): every operator has every skill, longest idle first: the bound.

A call arrives at the first ring and enters the queue ``ivr_seconds`` later (sim/ivr.py; 0
without an IVR), in ``queue_language``'s queue, moved to its own language's at ``choose_after``.
The router's deadline runs from the first ring; the queuerules (hl-widen, the ladders) from queue
entry. A ringing operator answers after ``ring_delay`` seconds; the figures take the wait from the
first ring and from queue entry (sim/results.py).
With an interpreter ``Pool`` (sim/interpreting.py) a call answered by an operator who does not
speak an automatically offered language waits for an interpreter, for every strategy alike.
"""

from __future__ import annotations

import bisect
import math
import random
from collections import defaultdict
from dataclasses import dataclass

from hotline.config import Routing
from hotline.queue import policy
from hotline.queue.skills import GENERAL
from hotline.sim.interpreting import InterpreterRequest, Pool
from hotline.sim.ivr import IvrModel
from hotline.sim.results import Result

STRATEGIES = ("ours", "ringall", "leastrecent", "fewestcalls", "rrmemory", "linear")
LIMITS = ("pooled",)  # every operator every skill: the bound no routing can beat


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
    arrival: float  # the first ring (arrival at the IVR)
    language: str
    topic: str
    patience: float  # from the first ring
    handle: float
    pressed_any: bool = False
    answered_at: float | None = None
    abandoned_at: float | None = None
    agent: str | None = None
    entry: policy.Entry | None = None
    interpreted: bool = False
    # the IVR (sim/ivr.py); the defaults: no IVR, the call is queued on arrival in its language
    ivr_seconds: float = 0.0
    queue_language: str = ""  # the queue it waits in ("": its language)
    choose_after: float | None = None  # seconds from the first ring: moved to its language's queue
    informed: bool = False  # hangs up after the surge announcement, before the queue
    accepts_callback: bool = False  # presses the key when a queued call back is offered
    callback_at: float | None = None  # the call back's request
    ended_in: str = ""  # ivr, informed, queue (abandoned), operator
    own_language: bool = False  # answered by an operator who speaks the caller's language
    rule_start: float = 0.0  # the queuerule's clock: queue entry, or the move to another queue

    def __post_init__(self) -> None:
        self.queue_language = self.queue_language or self.language

    @property
    def queued_at(self) -> float:
        return self.arrival + self.ivr_seconds


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


def simulate(agents: list[Agent], calls: list[Call], routing: Routing, strategy: str = "ours",
             ladder: Ladder | None = None, ring_delay: float = 1.0, wrapup: float | None = None,
             seed: int = 1, tick: float = 1.0, pool: Pool | None = None, ivr: IvrModel | None = None) -> Result:
    """``ivr``: the call back and short-abandon settings (the calls' IVR paths are made with
    them by ``scenario.make_calls``); None: no call backs."""
    if strategy not in STRATEGIES + LIMITS:
        raise ValueError(f"unknown strategy {strategy!r}; one of {', '.join(STRATEGIES + LIMITS)}")
    ladder = ladder or Ladder()
    ivr = ivr or IvrModel()
    wrap = routing.wrapup_seconds if wrapup is None else wrapup
    rng = random.Random(seed)
    calls = sorted(calls, key=lambda c: c.arrival)
    entries = sorted(calls, key=lambda c: (c.queued_at, c.arrival))  # queue entry order, after the IVR
    aht = sum(c.handle for c in calls) / len(calls) if calls else 0.0  # the call back's wait estimate
    order = {a.id: i for i, a in enumerate(agents)}
    rr_pointer: dict[tuple[str, str], int] = defaultdict(int)
    # duty transitions
    changes: list[tuple[float, int, Agent]] = []
    duty_time = 0.0
    horizon = max((c.queued_at for c in calls), default=0.0) + 3600
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

    def candidates(call: Call, t: float) -> list[tuple[int, Agent]]:
        out = []
        lang = call.queue_language
        if strategy == "pooled":  # the limit: every operator has every skill
            return [(0, a) for a in free.values()]
        if strategy == "ours":
            assert call.entry is not None
            ceiling = policy.ceiling(routing, call.entry, t - call.rule_start)
            members = [(p, a) for a in free.values()
                       if (p := a.penalty(lang, call.topic)) is not None and p <= ceiling]
            if members:
                return members
            # the router's deadline runs from the first ring
            stage = policy.overflow_stage(routing, t - call.queued_at, call.entry.urgent, call.ivr_seconds)
            if stage >= 1:
                out = [(policy.MAX_PENALTY, a) for a in free.values() if lang in a.languages]
            if stage >= 2 and not out:
                out = [(policy.MAX_PENALTY, a) for a in free.values()]
            return out
        ceiling = ladder.ceiling(t - call.rule_start)  # app_queue's clock: queue entry
        for a in free.values():
            p = a.penalty(lang, call.topic)
            if p is None:
                prof = a.languages.get(lang)
                p = 10 + (5 - prof) if prof is not None else 20
            if p <= ceiling:
                out.append((p, a))
        return out

    def pick(call: Call, tier: list[Agent]) -> Agent:
        if strategy in ("ours", "leastrecent", "pooled"):
            return min(tier, key=lambda a: (a.free_since, order[a.id]))
        if strategy == "fewestcalls":
            return min(tier, key=lambda a: (a.calls, order[a.id]))
        if strategy == "linear":
            return min(tier, key=lambda a: order[a.id])
        if strategy == "rrmemory":
            key = (call.queue_language, call.topic)
            ranked = sorted(tier, key=lambda a: order[a.id])
            start = rr_pointer[key]
            chosen = next((a for a in ranked if order[a.id] >= start), ranked[0])
            rr_pointer[key] = order[chosen.id] + 1
            return chosen
        return rng.choice(tier)  # ringall: whoever answers first

    def enter(c: Call, t: float, since: float) -> None:
        """Into a queue at ``since``: at queue entry, or moved by the caller's language choice."""
        c.rule_start = since
        if strategy == "ours":
            members = [p for a in free.values() if (p := a.penalty(c.queue_language, c.topic)) is not None]
            c.entry = policy.entry(routing, best_free=any(p <= routing.initial_max_penalty for p in members),
                                   any_member_free=bool(members), pressed_any=c.pressed_any)
        final = c.choose_after is None or c.queue_language == c.language
        # the wait estimate app_queue announces: the callers ahead x AHT / operators on duty
        if (final and ivr.callback_threshold > 0 and c.accepts_callback and not free and on_duty
                and (len(waiting) + 1) * aht / len(on_duty) > ivr.callback_threshold):
            c.callback_at = t  # hangs up and keeps the place

    pending: dict[int, Agent] = {}  # call id -> its operator, waiting for an interpreter

    while t <= end and (ci < len(entries) or waiting or busy or pending):
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
        # out of the IVR: hung up there, informed, or into the queue
        while ci < len(entries) and entries[ci].queued_at <= t:
            c = entries[ci]
            ci += 1
            if c.patience < c.ivr_seconds:
                c.abandoned_at, c.ended_in = c.arrival + c.patience, "ivr"
                continue
            if c.informed:
                c.ended_in = "informed"
                continue
            enter(c, t, c.queued_at)
            waiting.append(c)
        # language choices, abandonment, then assignment (oldest caller first)
        still: list[Call] = []
        for c in waiting:
            if c.callback_at is None and t - c.arrival >= c.patience:
                c.abandoned_at, c.ended_in = c.arrival + c.patience, "queue"
                continue
            if c.choose_after is not None and c.queue_language != c.language and t - c.arrival >= c.choose_after:
                c.queue_language = c.language  # keeps its place and its arrival time
                enter(c, t, t)
            cands = candidates(c, t) if free else []
            if not cands:
                still.append(c)
                continue
            low = min(p for p, _ in cands)
            a = pick(c, [ag for p, ag in cands if p == low])
            free.pop(a.id)
            c.answered_at = t + ring_delay + (ivr.callback_dial_seconds if c.callback_at is not None else 0.0)
            if c.callback_at is None and c.answered_at - c.arrival > c.patience:  # hung up while it rang
                c.answered_at = None
                c.abandoned_at, c.ended_in = c.arrival + c.patience, "queue"
                a.free_since = t
                free[a.id] = a
                continue
            c.agent, c.ended_in = a.id, "operator"
            c.own_language = strategy == "pooled" or c.language in a.languages
            a.calls += 1
            reserved = c.answered_at - t
            if pool is not None and strategy != "pooled" and pool.needed(c.language, a.languages):
                c.interpreted = True
                pool.request(InterpreterRequest(c.id, c.language, a.id, c.answered_at,
                                                c.handle * pool.model.handle_factor))
                pending[c.id] = a
                a.busy_time += reserved
                a.busy_until = math.inf
                continue
            a.busy_time += reserved + c.handle
            a.busy_until = c.answered_at + c.handle + wrap
            bisect.insort(busy, (a.busy_until, a.id))
        waiting = still
        t += tick
    for c in waiting:
        c.abandoned_at, c.ended_in = (c.callback_at or c.arrival + c.patience), "queue"
    return Result(strategy, calls, agents, routing.target_seconds, duty_time, pool=pool,
                  short_abandon=ivr.short_abandon_seconds, callback_target=ivr.callback_target_minutes * 60,
                  ivr=ivr.preset)
