"""``hotline sim`` (the call-center simulator: run a scenario, compare routing strategies) and
``hotline staffing plan`` (operators needed per half hour, confirmed with the simulator)."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

from hotline.cli.common import fmt, load_settings
from hotline.cli.service_api import api


def cmd_sim(args: argparse.Namespace) -> int:
    from hotline.sim import run as sim_run

    path = Path(args.scenario)
    if args.action == "run":
        result, secs = sim_run.run(path, args.strategy, args.seed)
        summary = result.summary()
        if args.json:
            print(json.dumps(summary, indent=2))
            return 0
        per_language = summary.pop("per_language")
        interpreting = summary.pop("interpreting", None)
        print(f"{len(result.calls)} calls, {len(result.agents)} operators, strategy {args.strategy}, "
              f"simulated in {secs:.1f}s")
        for key, value in summary.items():
            print(f"  {key:<18} {value}")
        print("  per language (SL over offered, abandon %, p95 wait):")
        for lang, f in per_language.items():  # type: ignore[attr-defined]
            print(f"    {lang:<4} {f['offered']:>7} calls  SL {f['sl_over_offered']}%  abandon {f['abandon_rate']}%"
                  f"  p95 {f['p95_wait']}s")
        if isinstance(interpreting, dict):
            print("  interpreters (requests, connected within the answer target, waits, occupancy, minutes):")
            for key, value in interpreting.items():
                print(f"    {key:<18} {value}")
    else:
        rows = sim_run.compare(path, args.seed)
        if args.json:
            print(json.dumps(rows, indent=2))
            return 0
        print(f"{'strategy':<12} {'SL/offered':>10} {'SL/answered':>11} {'abandon%':>8} {'avg wait':>8} "
              f"{'p95 wait':>8} {'occupancy':>9} {'interpreted':>11} {'interp<=target%':>15}")
        for r in rows:
            it = r.get("interpreting") or {}
            print(f"{r['strategy']:<12} {r['sl_over_offered']:>10} {r['sl_over_answered']:>11} "
                  f"{r['abandon_rate']:>8} {r['avg_wait']:>8} {r['p95_wait']:>8} {r['occupancy']:>9} "
                  f"{fmt(it.get('requests')):>11} {fmt(it.get('within_target_pct')):>15}")
    return 0


def cmd_staffing(args: argparse.Namespace) -> int:
    import datetime as dt

    from hotline.cases.store import CaseStore
    from hotline.sim import planner

    settings = load_settings(args)
    day = dt.date.fromisoformat(args.date) if args.date else dt.date.today() + dt.timedelta(days=1)
    start = dt.datetime.combine(day - dt.timedelta(weeks=args.weeks), dt.time()).timestamp()
    end = dt.datetime.combine(day, dt.time()).timestamp()

    async def history() -> list[dict[str, Any]]:
        store = CaseStore(settings.database)
        try:
            return await store.half_hour_history(start, end)
        finally:
            await store.close()

    plan = planner.build(settings, asyncio.run(history()), day, args.weeks, confirm=args.confirm)
    if args.live:
        agents = api(settings, "GET", "/api/agents")["agents"]
        now_in = sum(1 for a in agents if a["state"] not in ("offline",))
        for s in plan.slots:
            s.logged_in = now_in
    rows = plan.csv_rows()
    if args.csv:
        from hotline.web import csv_export

        csv_export.write_file(args.csv, rows)  # UTF-8 with BOM, formulas neutralised, as the web's
        print(f"written {args.csv}")
    if args.json:  # the same table as the CSV, one object a slot, with the plan's inputs
        print(json.dumps({"day": day.isoformat(), "weeks_of_history": plan.weeks_of_history,
                          "hotspot_factor": plan.hotspot_factor, "aht": plan.aht, "model": plan.model,
                          "language_mix": plan.language_mix, "patience": plan.patience,
                          "slots": [dict(zip(map(str, rows[0]), r, strict=True)) for r in rows[1:]]}, default=str))
        return 0
    print(f"{day} ({day:%A}): forecast from {plan.weeks_of_history} weeks, hotspot factor {plan.hotspot_factor}, "
          f"AHT {plan.aht}s, " + ("languages " + ", ".join(f"{k} {v:.1%}" for k, v in sorted(plan.language_mix.items()))
                                   if plan.language_mix else "no calls in the history yet"))
    print(f"first estimate: {plan.model}" + (f" (callers' mean patience {plan.patience}s from {plan.abandoned} "
                                             "abandoned calls)" if plan.patience else
                                             " (too few abandoned calls in the history to estimate patience)"))
    print(f"{'slot':<6} {'calls':>7} {'Erlang C':>8} {'Erlang A':>8} {'confirmed':>9} {'sim SL%':>7} "
          f"{'scheduled':>9} {'logged in':>9} {'gap':>5}")
    for r in rows[1:]:
        if r[1] or r[6]:
            print(f"{r[0]:<6} {r[1]:>7} {r[2]:>8} {fmt(r[3]):>8} {fmt(r[4]):>9} {fmt(r[5]):>7} {fmt(r[6]):>9} "
                  f"{fmt(r[7]):>9} {fmt(r[8]):>5}")
    return 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from hotline.sim.engine import STRATEGIES

    sm = sub.add_parser("sim", help="the call-center simulator: run a scenario, or compare routing strategies")
    sm.add_argument("action", choices=["run", "compare"])
    sm.add_argument("scenario", help="a scenario TOML file (see etc/scenarios/)")
    sm.add_argument("--strategy", choices=STRATEGIES, default="ours", help="with run: the routing (default ours)")
    sm.add_argument("--seed", type=int, default=1)
    sm.add_argument("--json", action="store_true")
    sm.set_defaults(fn=cmd_sim)

    st = sub.add_parser("staffing", help="operators needed per half hour: forecast, Erlang A/C, simulator check")
    st.add_argument("action", choices=["plan"])
    st.add_argument("--date", help="the day to plan, YYYY-MM-DD (default tomorrow)")
    st.add_argument("--weeks", type=int, default=4, help="weeks of history for the forecast")
    st.add_argument("--confirm", action="store_true", help="confirm with the simulator and the real skill mix")
    st.add_argument("--live", action="store_true", help="compare with the operators logged in now (needs the service)")
    st.add_argument("--csv", help="also write the plan as CSV to this file")
    st.add_argument("--json", action="store_true", help="the plan as JSON instead of the table")
    st.set_defaults(fn=cmd_staffing)
