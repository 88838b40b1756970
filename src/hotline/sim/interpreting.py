"""Interpreters in the simulator: the pool the live InterpreterService routes, as a model.

A call answered by an operator who does not speak the caller's language, for a language the
site offers automatically (``policy.interpreter_needed``, the same test the live service
makes), asks for an interpreter at the answer. The longest-idle free interpreter with the
language on duty answers after ``ring_delay`` seconds; none free: the request waits (its own
answer target, ``answer_target`` seconds) until one comes free, or ``max_wait`` seconds, after
which the operator goes on alone. The operator waits with the caller meanwhile; an interpreted
call lasts ``handle_factor`` times its handling time and holds the interpreter for as long.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from hotline.queue import policy


@dataclass(frozen=True)
class InterpretingModel:
    languages: frozenset[str]  # offered automatically
    handle_factor: float = 1.5
    ring_delay: float = 4.0
    answer_target: float = 30.0
    max_wait: float = 180.0


@dataclass
class Interpreter:
    id: str
    languages: frozenset[str]
    shifts: list[tuple[float, float]]
    free_since: float = 0.0
    busy_until: float = 0.0
    busy_time: float = 0.0

    def on_duty(self, t: float) -> bool:
        return any(a <= t < b for a, b in self.shifts)


@dataclass
class InterpreterRequest:
    call_id: int
    language: str
    operator: str
    requested_at: float
    handle: float  # the call's interpreted handling time
    connected_at: float | None = None
    interpreter: str | None = None
    gave_up_at: float | None = None


@dataclass
class Pool:
    model: InterpretingModel
    interpreters: list[Interpreter]
    waiting: list[InterpreterRequest] = field(default_factory=list)
    done: list[InterpreterRequest] = field(default_factory=list)

    def needed(self, language: str, operator_languages: dict[str, int]) -> bool:
        return policy.interpreter_needed(self.model.languages, language, operator_languages)

    def request(self, req: InterpreterRequest) -> None:
        self.waiting.append(req)

    def step(self, t: float) -> list[InterpreterRequest]:
        """Requests settled at ``t`` (connected or given up), the oldest first."""
        settled = []
        still = []
        for req in self.waiting:
            if req.requested_at > t:
                still.append(req)
                continue
            free = [i for i in self.interpreters
                    if req.language in i.languages and i.busy_until <= t and i.on_duty(t)]
            if free:
                it = min(free, key=lambda i: (max(i.free_since, i.busy_until), i.id))
                req.connected_at = t + self.model.ring_delay
                req.interpreter = it.id
                it.busy_until = it.free_since = req.connected_at + req.handle
                it.busy_time += self.model.ring_delay + req.handle
                settled.append(req)
            elif t - req.requested_at >= self.model.max_wait:
                req.gave_up_at = t
                settled.append(req)
            else:
                still.append(req)
        self.waiting = still
        self.done += settled
        return settled

    def summary(self, duty_horizon: float) -> dict[str, Any]:
        reqs = self.done + self.waiting
        connected = [r for r in reqs if r.connected_at is not None]
        waits = sorted((r.connected_at or 0.0) - r.requested_at for r in connected)
        in_target = sum(1 for w in waits if w <= self.model.answer_target)
        duty = sum(max(0.0, min(b, duty_horizon) - a) for i in self.interpreters for a, b in i.shifts)
        minutes: dict[str, float] = {}
        for r in connected:
            minutes[r.language] = minutes.get(r.language, 0.0) + r.handle / 60
        return {
            "requests": len(reqs), "connected": len(connected),
            "no_interpreter": sum(1 for r in reqs if r.gave_up_at is not None),
            "within_target_pct": round(100 * in_target / len(reqs), 2) if reqs else None,
            "avg_wait": round(sum(waits) / len(waits), 2) if waits else None,
            "p95_wait": round(waits[min(len(waits) - 1, math.ceil(0.95 * len(waits)) - 1)], 2) if waits else None,
            "occupancy": round(100 * sum(i.busy_time for i in self.interpreters) / duty, 1) if duty else None,
            "minutes_by_language": {k: round(v, 1) for k, v in sorted(minutes.items())},
        }
