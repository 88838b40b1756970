"""Our deadline-driven routing against app_queue and against the fully pooled limit, on the same
generated days and the same staff, with the IVR of before and after issue 16; then the smallest
staffing each needs for 96% of offered calls answered within 15 s, by both clocks: from the
first ring (arrival at the IVR, the citizen's, the headline) and from queue entry (Asterisk's).

Contenders: ``ours`` (queue/policy.py, the live router's functions); ``pooled``, the limit
(every operator has every skill, longest idle first); app_queue ``leastrecent`` with the
queuerule ladder at 10 s / 20 s and with the tuned ladder at 5 s / 9 s.

The staffing search scales the scenario's Erlang C shift plan on a grid of ``--step`` percent
between ``--low`` and ``--high`` and bisects for the smallest scale that meets the goal (the
service level is nearly, not strictly, monotone in the staff: the generated operators change
with it). Per seed, each contender's staffing and every language's service level there.

    .venv/bin/python bench/routing_compare.py [etc/scenarios/beijing-peak.toml]
        [--seeds 1,2,3] [--step 0.25] [--ivr none,before,after] [--short-abandon 5]
        [--ivr-set greeting_seconds=2] [--quick] [--jobs 2]

``--quick``: one seed, 1% steps (a smoke run); the default is the honest one (3 seeds, 0.25%).
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from hotline.sim import ivr, scenario  # noqa: E402
from hotline.sim.engine import Ladder, simulate  # noqa: E402
from hotline.sim.results import Result  # noqa: E402
from hotline.sim.run import routing_of, table  # noqa: E402

GOAL = 96.0
CONTENDERS: dict[str, tuple[str, Ladder | None]] = {
    "ours": ("ours", None),
    "pooled (limit)": ("pooled", None),
    "app_queue 10/20": ("leastrecent", Ladder(((10.0, 14), (20.0, 24)))),
    "app_queue 5/9": ("leastrecent", Ladder(((5.0, 14), (9.0, 24)))),
}
CLOCKS = {"first ring": "sl_over_offered", "queue entry": "sl_queue_entry",
          "first ring, short abandons apart": "sl_short_apart"}


@dataclass(frozen=True)
class Task:
    path: str
    preset: str
    contender: str
    seed: int
    low: float
    high: float
    step: float  # fraction of the plan
    short_abandon: float = 0.0  # seconds: hang-ups sooner shown apart (a third figure)
    ivr_changes: tuple[tuple[str, float], ...] = ()


def one_run(data: dict[str, Any], preset: str, contender: str, seed: int, scale: float | None) -> Result:
    routing = routing_of(data)
    model = ivr.model_of(data, preset)
    calls = scenario.make_calls(data, seed, model)
    d = copy.deepcopy(data)
    if scale is not None:
        d.setdefault("staff", {})["scale"] = scale
    hourly = scenario.hourly_calls(d["traffic"]) if "traffic" in d else None
    agents = scenario.make_agents(d, seed, hourly, routing.target_seconds, routing.goal_percent / 100)
    strategy, ladder = CONTENDERS[contender]
    return simulate(agents, calls, routing, strategy, ladder or Ladder(), ring_delay=float(data.get("ring_delay", 1.0)),
                    seed=seed, pool=scenario.make_pool(data), ivr=model)


def search(task: Task) -> dict[str, Any]:
    """The smallest staffing meeting the goal on each clock (None: not reached at ``high``)."""
    data = scenario.load(Path(task.path))
    data.setdefault("ivr", {}).update(dict(task.ivr_changes))
    n_steps = round((task.high - task.low) / task.step)
    cache: dict[int, tuple[int, dict[str, Any]]] = {}

    def at(i: int) -> tuple[int, dict[str, Any]]:
        if i not in cache:
            r = one_run(data, task.preset, task.contender, task.seed, task.low + i * task.step)
            cache[i] = (len(r.agents), r.summary())
        return cache[i]

    out: dict[str, Any] = {"task": task}
    clocks = ["first ring"] if task.preset == "none" else ["first ring", "queue entry"]  # no IVR: one clock
    if task.short_abandon > 0:
        clocks.append("first ring, short abandons apart")
    for clock in clocks:
        key = CLOCKS[clock]

        def ok(i: int, key: str = key) -> bool:
            return (at(i)[1][key] or 0.0) >= GOAL

        if not ok(n_steps):
            out[clock] = {"reached": False, "operators": at(n_steps)[0], "summary": at(n_steps)[1]}
            continue
        lo, hi = 0, n_steps  # ok(hi); find the smallest ok index by bisection
        if ok(0):
            hi = 0
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if ok(mid):
                hi = mid
            else:
                lo = mid
        out[clock] = {"reached": True, "scale": round(task.low + hi * task.step, 4), "operators": at(hi)[0],
                      "summary": at(hi)[1], "at_low_bound": hi == 0}
    out["runs"] = len(cache)
    return out


def _languages(summary: dict[str, Any]) -> str:
    per = summary["per_language"]
    return " ".join(f"{k}={per[k]['sl_over_offered']}" for k in sorted(per, key=lambda k: (k != "zh", k)))


def report(results: list[dict[str, Any]], presets: list[str], plan: int) -> list[str]:
    lines = []
    for preset in presets:
        lines.append(f"\n== IVR {preset}: smallest staffing for {GOAL}% of offered calls answered within 15 s "
                     f"(the plan: {plan} operators) ==")
        for contender in CONTENDERS:
            rows = [r for r in results if r["task"].preset == preset and r["task"].contender == contender]
            for clock in CLOCKS:
                found = [r for r in rows if clock in r]
                if not found:
                    continue
                lines.append(f"{contender:<16} from the {clock}:")
                for r in found:
                    f, s = r[clock], r[clock]["summary"]
                    if not f["reached"]:
                        lines.append(f"    seed {r['task'].seed}: not reached with {f['operators']} operators "
                                     f"({r['task'].high:.2f} x plan): SL {s[CLOCKS[clock]]}% "
                                     f"(the other clock {s[_other(clock)]}%)")
                        continue
                    bound = " (the search's low bound)" if f["at_low_bound"] else ""
                    interp = (s.get("interpreting") or {}).get("requests")
                    lines.append(
                        f"    seed {r['task'].seed}: {f['operators']} operators ({f['scale']:.4f} x plan){bound}: "
                        f"SL first ring {s['sl_over_offered']}%, queue entry {s['sl_queue_entry']}%, "
                        f"short abandons {s['short_abandoned']} (SL with them apart {s['sl_short_apart']}%), "
                        f"IVR hang-ups {s['ivr_hangups']}, own language {s['own_language']}%, "
                        f"interpreted {interp if interp is not None else '-'}")
                    lines.append(f"        each language, SL first ring: {_languages(s)}")
                ns = [r[clock]["operators"] for r in found if r[clock]["reached"]]
                if ns:
                    lines.append(f"    range over seeds: {min(ns)}-{max(ns)} operators")
    return lines


def _ivr_changes(p: argparse.ArgumentParser, pairs: list[str]) -> dict[str, float]:
    out = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        try:
            out[key.strip()] = float(value)
        except ValueError:
            p.error(f"--ivr-set {pair!r}: KEY=NUMBER expected")
    return out


def _other(clock: str) -> str:
    return CLOCKS["first ring" if clock == "queue entry" else "queue entry"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("scenario", nargs="?", default=str(ROOT / "etc/scenarios/beijing-peak.toml"))
    p.add_argument("--seeds", default="1,2,3", help="comma-separated (default 1,2,3)")
    p.add_argument("--step", type=float, default=0.25, help="staffing step, percent of the plan (default 0.25)")
    p.add_argument("--low", type=float, default=0.75, help="smallest scale of the plan searched (default 0.75)")
    p.add_argument("--high", type=float, default=1.3, help="largest scale of the plan searched (default 1.3)")
    p.add_argument("--ivr", default="none,before,after", help="IVR presets (default none,before,after)")
    p.add_argument("--quick", action="store_true", help="one seed, 1%% steps")
    p.add_argument("--short-abandon", type=float, default=0.0,
                   help="seconds: also search with the hang-ups sooner than this shown apart (default 0: not)")
    p.add_argument("--ivr-set", action="append", default=[], metavar="KEY=NUMBER",
                   help="change an [ivr] setting of the scenario, e.g. greeting_seconds=2 (repeatable)")
    p.add_argument("--jobs", type=int, default=2, help="processes (default 2)")
    args = p.parse_args()
    seeds = [1] if args.quick else [int(s) for s in args.seeds.split(",")]
    step = 1.0 if args.quick else args.step
    presets = [s.strip() for s in args.ivr.split(",")]
    for preset in presets:
        if preset not in ivr.PRESETS:
            p.error(f"--ivr: one of {', '.join(ivr.PRESETS)}")
    path = Path(args.scenario)
    data = scenario.load(path)
    changes = _ivr_changes(p, args.ivr_set)
    if args.short_abandon > 0:
        changes["short_abandon_seconds"] = args.short_abandon
    data.setdefault("ivr", {}).update(changes)
    t0 = time.perf_counter()
    plan = 0
    for preset in presets:
        rows = []
        for contender in CONTENDERS:
            r = one_run(data, preset, contender, seeds[0], None)
            plan = len(r.agents)
            rows.append(dict(r.summary(), strategy=contender))
        print(f"== IVR {preset}, the plan's staff ({plan} operators), seed {seeds[0]}: SL within 15 s over offered "
              f"calls, from the first ring and from queue entry ==")
        print("\n".join(table(rows)))
    if "traffic" not in data or "operators" in data:
        print("\n(the scenario lists its operators: no staffing search)")
        return
    tasks = [Task(str(path), preset, contender, seed, args.low, args.high, step / 100, args.short_abandon,
                  tuple(changes.items()))
             for preset in presets for contender in CONTENDERS for seed in seeds]
    if args.jobs > 1:
        with ProcessPoolExecutor(args.jobs) as ex:
            results = list(ex.map(search, tasks))
    else:
        results = [search(t) for t in tasks]
    print("\n".join(report(results, presets, plan)))
    runs = sum(r["runs"] for r in results)
    print(f"\n{runs} simulated days for the search, {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
