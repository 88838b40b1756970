"""Erlang C: the first estimate of how many operators an interval needs."""

from __future__ import annotations

import math


def erlang_c(agents: int, traffic: float) -> float:
    """Probability that a call waits (M/M/N), ``traffic`` in Erlangs (calls x AHT / interval)."""
    if agents <= traffic:
        return 1.0
    # iterative Erlang B, then C (stable for hundreds of agents)
    b = 1.0
    for n in range(1, agents + 1):
        b = traffic * b / (n + traffic * b)
    return agents * b / (agents - traffic * (1 - b))


def service_level(agents: int, traffic: float, aht: float, target: float) -> float:
    """Share of calls answered within ``target`` seconds."""
    if agents <= traffic:
        return 0.0
    return 1.0 - erlang_c(agents, traffic) * math.exp(-(agents - traffic) * target / aht)


def agents_needed(calls: float, aht: float, interval: float, target: float, goal: float) -> int:
    """Fewest agents for ``goal`` (0..1) of ``calls`` per ``interval`` seconds answered within ``target``."""
    traffic = calls * aht / interval
    n = max(1, math.ceil(traffic))
    while service_level(n, traffic, aht, target) < goal:
        n += 1
    return n
