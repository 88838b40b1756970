"""Run a scenario file: ``hotline sim run`` and ``hotline sim compare``."""

from __future__ import annotations

import copy
import time
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from hotline.config import ConfigError, Routing
from hotline.sim import ivr, scenario
from hotline.sim.engine import STRATEGIES, Ladder, simulate
from hotline.sim.ivr import IvrModel
from hotline.sim.results import Result


def routing_of(data: dict[str, Any]) -> Routing:
    raw = data.get("routing", {})
    known = {f.name for f in fields(Routing)}
    for key in raw:
        if key not in known:
            raise ConfigError(f"routing.{key}", "unknown setting")
    return replace(Routing(), **raw)


def ladder_of(data: dict[str, Any]) -> Ladder:
    steps = data.get("ladder", {}).get("steps")
    return Ladder(tuple((float(a), int(b)) for a, b in steps)) if steps else Ladder()


def prepare(path: Path, seed: int, ivr_preset: str | None = None
            ) -> tuple[dict[str, Any], Routing, list[Any], list[Any], IvrModel]:
    """``ivr_preset``: the IVR instead of the scenario's (none, before, after)."""
    data = scenario.load(path)
    routing = routing_of(data)
    model = ivr.model_of(data, ivr_preset)
    goal = float(data.get("staff", {}).get("goal_percent", routing.goal_percent)) / 100
    calls = scenario.make_calls(data, seed, model)
    hourly = scenario.hourly_calls(data["traffic"]) if "traffic" in data else None
    agents = scenario.make_agents(data, seed, hourly, routing.target_seconds, goal)
    return data, routing, calls, agents, model


def run(path: Path, strategy: str = "ours", seed: int = 1, ivr_preset: str | None = None) -> tuple[Result, float]:
    data, routing, calls, agents, model = prepare(path, seed, ivr_preset)
    t0 = time.perf_counter()
    result = simulate(agents, calls, routing, strategy, ladder_of(data),
                      ring_delay=float(data.get("ring_delay", 1.0)), seed=seed, pool=scenario.make_pool(data),
                      ivr=model)
    return result, time.perf_counter() - t0


def compare(path: Path, seed: int = 1, strategies: tuple[str, ...] = STRATEGIES,
            ivr_preset: str | None = None) -> list[dict[str, Any]]:
    """Every strategy on the same generated day and the same staff."""
    data, routing, calls, agents, model = prepare(path, seed, ivr_preset)
    out = []
    for s in strategies:
        r = simulate(copy.deepcopy(agents), copy.deepcopy(calls), routing, s, ladder_of(data),
                     ring_delay=float(data.get("ring_delay", 1.0)), seed=seed, pool=scenario.make_pool(data),
                     ivr=model)
        out.append(r.summary())
    return out


def _cell(value: object) -> str:
    """A figure for the table: '-' where there is none (no calls, no interpreter requests)."""
    return "-" if value is None else str(value)


def table(rows: list[dict[str, Any]]) -> list[str]:
    """The lines ``bench/routing_compare.py`` prints for ``compare``'s rows, a header first: both
    clocks, the first ring's (the citizen's, the headline) first, then queue entry's (Asterisk's)."""
    lines = [f"{'strategy':<16} {'SL 1st ring':>11} {'SL queue':>8} {'abandon%':>8} {'IVR hang-ups':>12} "
             f"{'avg wait':>8} {'p95 wait':>8} {'occupancy':>9} {'interpreted':>11} {'interp<=30s%':>12} "
             f"{'own lang%':>9}  minority languages SL 1st ring"]
    for r in rows:
        minority = {k: v["sl_over_offered"] for k, v in r["per_language"].items() if k != "zh"}
        worst = min(minority.values(), key=lambda v: v if v is not None else 101) if minority else None
        interp = r.get("interpreting") or {}
        lines.append(
            f"{r['strategy']:<16} {_cell(r['sl_over_offered']):>11} {_cell(r.get('sl_queue_entry')):>8} "
            f"{_cell(r['abandon_rate']):>8} {_cell(r.get('ivr_hangups')):>12} {_cell(r['avg_wait']):>8} "
            f"{_cell(r['p95_wait']):>8} {_cell(r['occupancy']):>9} {_cell(interp.get('requests')):>11} "
            f"{_cell(interp.get('within_target_pct')):>12} {_cell(r.get('own_language')):>9}  worst {_cell(worst)} "
            + " ".join(f"{k}={_cell(v)}" for k, v in sorted(minority.items())))
    return lines
