"""Our deadline-driven routing against app_queue's strategies, on the same generated day and
the same staff; then the smallest staffing each needs to answer 96% of offered calls within
15 s (the staff of the Erlang C shift plan scaled down in 1% steps until the goal is missed).

    .venv/bin/python bench/routing_compare.py [etc/scenarios/beijing-peak.toml] [--seed 1]
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from hotline.sim import scenario  # noqa: E402
from hotline.sim.engine import STRATEGIES, simulate  # noqa: E402
from hotline.sim.run import compare, ladder_of, routing_of, table  # noqa: E402

GOAL = 96.0


def smallest_staff(path: Path, strategy: str, seed: int) -> tuple[int, float]:
    data = scenario.load(path)
    routing = routing_of(data)
    calls = scenario.make_calls(data, seed)
    hourly = scenario.hourly_calls(data["traffic"])
    best = (0, 0.0)
    for step in range(0, 60):
        scale = 1.06 - 0.01 * step
        data["staff"]["scale"] = scale
        agents = scenario.make_agents(data, seed, hourly, routing.target_seconds, routing.goal_percent / 100)
        r = simulate(agents, copy.deepcopy(calls), routing, strategy, ladder_of(data), seed=seed,
                     pool=scenario.make_pool(data))
        sl = r.figures()["sl_over_offered"] or 0.0
        if sl < GOAL:
            break
        best = (len(agents), sl)
    return best


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("scenario", nargs="?", default=str(ROOT / "etc/scenarios/beijing-peak.toml"))
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    path = Path(args.scenario)
    t0 = time.perf_counter()
    rows = compare(path, args.seed)
    print("\n".join(table(rows)))
    print(f"\nsmallest staffing for {GOAL}% of offered calls answered within 15 s:")
    base = None
    for s in STRATEGIES:
        n, sl = smallest_staff(path, s, args.seed)
        base = base or n
        print(f"{s:<12} {n:>6} operators (SL {sl}%)   {n / base:.2f} x ours")
    print(f"\n{time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
