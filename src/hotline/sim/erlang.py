"""Erlang C and Erlang A: the first estimate of how many operators an interval needs.

Erlang C (M/M/N) assumes callers never hang up. Erlang A (M/M/N+M, Palm's model) adds
exponential patience: callers who give up leave the queue, which shortens the wait of those
behind them, and count as not answered within the target. With ``patience`` the planner
uses Erlang A; formulas after Mandelbaum and Zeltyn, "The Palm/Erlang-A queue, with
applications to call centers" (2007), with a = N mu / theta and b = lambda / theta:

- P(all busy) = A E_B / (1 + (A - 1) E_B), A = a S(a, b), E_B the Erlang B blocking,
  S(x, y) = sum_k y^k / (x (x+1) ... (x+k)) (so gamma(x, y) = y^x e^-y S(x, y));
- P(virtual wait > t | > 0) = gamma(a, b e^-theta t) / gamma(a, b);
- answered within t = P(free) + P(all busy) * E[e^-theta V; V <= t | V > 0]
  = P(free) + P(all busy) * (gamma(a+1, b) - gamma(a+1, b e^-theta t)) / (b gamma(a, b)),
  since a caller's own patience is independent of the wait others make for them.
"""

from __future__ import annotations

import math


def erlang_b(agents: int, traffic: float) -> float:
    b = 1.0
    for n in range(1, agents + 1):
        b = traffic * b / (n + traffic * b)
    return b


def erlang_c(agents: int, traffic: float) -> float:
    """Probability that a call waits (M/M/N), ``traffic`` in Erlangs (calls x AHT / interval)."""
    if agents <= traffic:
        return 1.0
    b = erlang_b(agents, traffic)  # iterative, stable for thousands of agents
    return agents * b / (agents - traffic * (1 - b))


def service_level(agents: int, traffic: float, aht: float, target: float) -> float:
    """Share of calls answered within ``target`` seconds (Erlang C)."""
    if agents <= traffic:
        return 0.0
    return 1.0 - erlang_c(agents, traffic) * math.exp(-(agents - traffic) * target / aht)


def _log_s(x: float, y: float) -> float:
    """log S(x, y), S(x, y) = sum_k y^k / (x (x+1) ... (x+k)), summed in logs (y may be thousands)."""
    if y <= 0:
        return -math.log(x)
    ly = math.log(y)
    terms = [-math.log(x)]
    k = 0
    while True:
        k += 1
        term = terms[-1] + ly - math.log(x + k)
        terms.append(term)
        if x + k > y and term < max(terms[0], terms[-2]) - 40:  # past the peak and negligible
            break
    top = max(terms)
    return top + math.log(sum(math.exp(t - top) for t in terms))


def erlang_a(agents: int, calls: float, aht: float, interval: float, target: float,
             patience: float) -> tuple[float, float]:
    """(share of offered calls answered within ``target`` s, share abandoned) for ``calls`` per
    ``interval`` s, mean handling ``aht`` s and mean patience ``patience`` s (M/M/N+M)."""
    if calls <= 0:
        return 1.0, 0.0
    if agents <= 0:
        return 0.0, 1.0
    lam, mu, theta = calls / interval, 1.0 / aht, 1.0 / patience
    a, b = agents * mu / theta, lam / theta
    eb = erlang_b(agents, lam / mu)
    if eb <= 0.0:
        return 1.0, 0.0
    log_s = _log_s(a, b)
    log_big_a = math.log(a) + log_s
    # P(all busy) = 1 / (1 + (1/E_B - 1) / A)
    busy = 1.0 / (1.0 + math.exp(math.log(max(1e-300, 1.0 / eb - 1.0)) - log_big_a)) if eb < 1.0 else 1.0
    c = b * math.exp(-theta * target)
    served_in = math.exp(_log_s(a + 1, b) - log_s) \
        - math.exp(-(a + 1) * theta * target + b - c + _log_s(a + 1, c) - log_s)
    abandon_if_wait = 1.0 / (b * math.exp(log_s)) + 1.0 - a / b if log_s < 700 else 1.0 - a / b
    sl = (1.0 - busy) + busy * max(0.0, served_in)
    return min(1.0, sl), min(1.0, max(0.0, busy * abandon_if_wait))


def agents_needed(calls: float, aht: float, interval: float, target: float, goal: float,
                  patience: float | None = None) -> int:
    """Fewest agents for ``goal`` (0..1) of ``calls`` per ``interval`` seconds answered within
    ``target``: Erlang C, or Erlang A when the callers' mean ``patience`` is known."""
    traffic = calls * aht / interval
    n = max(1, math.ceil(traffic))
    while service_level(n, traffic, aht, target) < goal:
        n += 1
    if not patience:
        return n
    # Erlang A never needs more than Erlang C: search below it (answered-in-target grows with N)
    lo, hi = 1, n
    while lo < hi:
        mid = (lo + hi) // 2
        if erlang_a(mid, calls, aht, interval, target, patience)[0] >= goal:
            hi = mid
        else:
            lo = mid + 1
    return lo
