"""Scenarios for the simulator: a TOML file describing traffic and staff, turned into calls and
operators (seeded, so a run is repeatable).

```toml
[traffic]
calls = 65000            # per day
profile = "beijing"      # or a list of 24 hourly weights
hours = [0, 24]          # the part of the day simulated
handle_mean = 300        # seconds (lognormal)
handle_cv = 0.5
patience_mean = 120      # seconds (exponential); 0 = callers never give up
any_share = 0.05         # share of callers who press 0
languages = { zh = 0.96, en = 0.02, ko = 0.005, ja = 0.005, ru = 0.004, fr = 0.002, de = 0.002, es = 0.002 }
topics = { housing = 0.4, transport = 0.3, papers = 0.3 }

[staff]
operators = 1700         # spread over 8-hour shifts by the Erlang C plan ("auto")
shift_hours = 8
second_language = { en = 0.12, ko = 0.03, ja = 0.03, ru = 0.02, fr = 0.015, de = 0.01, es = 0.015 }
topics_per_operator = 2
```
Interpreters (optional): calls of these languages answered by an operator who does not speak
them wait for an interpreter from the pool (sim/interpreting.py):
```toml
[interpreting]
languages = ["ko", "ja", "ru", "fr", "de", "es"]   # offered automatically
handle_factor = 1.5      # an interpreted call lasts this much longer
ring_delay = 4           # seconds until the interpreter answers
answer_target = 30
max_wait = 180           # then the operator goes on alone
pool = { ko = 2, ja = 2, ru = 1 }   # interpreters on duty all day, per language
```
or `[[interpreters]]` with `id`, `languages = ["ko"]` and `shifts = [[0, 86400]]`.
The IVR (optional, sim/ivr.py; default none: a call is queued on arrival):
```toml
[ivr]
preset = "after"         # none, before (today's dialplan), after (issue 16's intake)
silent_share = 0.2       # any setting of sim/ivr.py's IvrModel overrides the preset's
callback_threshold = 120 # offer a queued call back above this predicted wait (seconds)
[ivr.announcement]       # a surge message before queueing
topic = "housing"        # or "*"
seconds = 8
hangup_share = 0.3       # hang up informed
```
Or explicit staff and calls (for the validation against Asterisk):
```toml
[[operators]]
id = "2001"
languages = { zh = 5 }
topics = ["housing"]
shifts = [[0, 3600]]

[[calls]]
at = 0.0
language = "zh"
topic = "housing"
handle = 10
```
"""

from __future__ import annotations

import math
import random
import tomllib
from pathlib import Path
from typing import Any

from hotline.config import ConfigError
from hotline.sim import ivr
from hotline.sim.engine import Agent, Call
from hotline.sim.erlang import agents_needed
from hotline.sim.interpreting import Interpreter, InterpretingModel, Pool
from hotline.sim.ivr import IvrModel

# Share of a day's calls in each hour (Beijing-like: quiet nights, morning and afternoon peaks).
BEIJING = [0.6, 0.4, 0.3, 0.3, 0.4, 0.8, 1.8, 3.6, 6.2, 7.4, 7.6, 7.0, 5.6, 5.4, 6.6, 7.0,
           6.8, 6.0, 4.6, 4.0, 3.6, 3.0, 2.0, 1.2]


def load(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(str(path), f"cannot read the scenario: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), f"not valid TOML: {exc}") from None
    if "traffic" not in data and "calls" not in data:
        raise ConfigError(str(path), "a scenario needs [traffic] or [[calls]]")
    if "staff" not in data and "operators" not in data:
        raise ConfigError(str(path), "a scenario needs [staff] or [[operators]]")
    return data


def _mix(rng: random.Random, table: dict[str, float]) -> str:
    keys = list(table)
    return rng.choices(keys, weights=[table[k] for k in keys])[0]


def hourly_calls(traffic: dict[str, Any]) -> list[float]:
    profile = traffic.get("profile", "beijing")
    weights = BEIJING if profile == "beijing" else [float(w) for w in profile]
    if len(weights) != 24:
        raise ConfigError("traffic.profile", "needs 24 hourly weights or \"beijing\"")
    total = sum(weights)
    return [float(traffic["calls"]) * w / total for w in weights]


def make_calls(data: dict[str, Any], seed: int, model: IvrModel | None = None) -> list[Call]:
    """The day's calls, each through the IVR of ``model`` (default: the scenario's ``[ivr]``)."""
    model = ivr.model_of(data) if model is None else model
    calls = _calls(data, seed)
    if model.active:
        through_ivr(calls, model, random.Random(seed + 16), data)
    return calls


def through_ivr(calls: list[Call], model: IvrModel, rng: random.Random, data: dict[str, Any]) -> None:
    """Each call's path through the IVR (its own random stream: the calls stay the same)."""
    t = data.get("traffic", {})
    seen = list(t.get("languages", {})) or sorted({c.language for c in calls})
    site_order = list(ivr.BEFORE_LANGUAGE_MENU)
    languages = sorted(seen, key=lambda lang: site_order.index(lang) if lang in site_order else len(site_order))
    default = str(data.get("ivr", {}).get("default_language", seen[0] if seen else "zh"))
    topics = list(t.get("topics", {})) or sorted({c.topic for c in calls if c.topic != "general"})
    for c in calls:
        path = ivr.intake(model, rng, c.language, c.topic, c.pressed_any, default, languages, topics)
        c.ivr_seconds, c.queue_language, c.topic, c.pressed_any = (path.queued_after, path.queue_language,
                                                                   path.topic, path.pressed_any)
        c.choose_after, c.informed, c.accepts_callback = path.choose_after, path.informed, path.accepts_callback


def _calls(data: dict[str, Any], seed: int) -> list[Call]:
    if "calls" in data:
        return [Call(i, float(c["at"]), c["language"], c.get("topic", "general"), float(c.get("patience", 1e9)),
                     float(c["handle"]), bool(c.get("pressed_any", False))) for i, c in enumerate(data["calls"])]
    t = data["traffic"]
    rng = random.Random(seed)
    start_h, end_h = t.get("hours", [0, 24])
    mean, cv = float(t.get("handle_mean", 300)), float(t.get("handle_cv", 0.5))
    sigma = math.sqrt(math.log(1 + cv * cv))
    mu = math.log(mean) - sigma * sigma / 2
    patience = float(t.get("patience_mean", 120))
    any_share = float(t.get("any_share", 0.0))
    calls: list[Call] = []
    for h, expected in enumerate(hourly_calls(t)):
        if not start_h <= h < end_h:
            continue
        # Poisson arrivals within the hour
        clock = h * 3600.0
        rate = expected / 3600.0
        while rate > 0:
            clock += rng.expovariate(rate)
            if clock >= (h + 1) * 3600:
                break
            calls.append(Call(len(calls), clock, _mix(rng, t["languages"]), _mix(rng, t["topics"]),
                              rng.expovariate(1 / patience) if patience > 0 else 1e9,
                              max(20.0, rng.lognormvariate(mu, sigma)), rng.random() < any_share))
    return calls


def shift_plan(hourly: list[float], aht: float, target: float, goal: float, total: int | None,
               shift_hours: int) -> list[int]:
    """Operators starting a shift at each hour: Erlang C need per hour covered greedily by
    ``shift_hours``-long shifts (the day wraps), then scaled up to ``total`` if given."""
    need = [agents_needed(c, aht, 3600, target, goal) if c > 0 else 0 for c in hourly]
    starts = [0] * 24
    cover = [0] * 24
    for _ in range(2):  # twice round the clock so night shifts wrap into the morning
        for h in range(24):
            deficit = need[h] - cover[h]
            if deficit > 0:
                starts[h] += deficit
                for k in range(shift_hours):
                    cover[(h + k) % 24] += deficit
    planned = sum(starts)
    if total and total > planned:
        extra = total - planned
        weights = [max(1e-9, s) for s in starts]
        add = [int(extra * w / sum(weights)) for w in weights]
        for i in range(extra - sum(add)):
            add[i % 24] += 1
        starts = [s + a for s, a in zip(starts, add, strict=True)]
    return starts


def on_duty_windows(start: float, end: float, brk: float, rng: random.Random) -> list[tuple[float, float]]:
    """A shift [start, end) less one break of ``brk`` seconds near its middle (staggered by up to
    an hour either way so a whole shift never breaks at once, and never in its first or last
    hour), folded into one day (a shift past midnight continues at 0:00)."""
    parts = [(start, end)]
    if brk > 0 and end - start > brk + 7200:
        b0 = (start + end - brk) / 2 + rng.uniform(-3600, 3600)
        b0 = max(start + 3600, min(end - 3600 - brk, b0))
        parts = [(start, b0), (b0 + brk, end)]
    windows: list[tuple[float, float]] = []
    for a, b in parts:
        if a < 86400:
            windows.append((a, min(b, 86400.0)))
        if b > 86400:
            windows.append((max(a, 86400.0) - 86400, b - 86400))
    return windows


def make_agents(data: dict[str, Any], seed: int, calls_hourly: list[float] | None, target: float,
                goal: float) -> list[Agent]:
    if "operators" in data:
        return [Agent(str(o["id"]), dict(o["languages"]), frozenset(o.get("topics", [])),
                      [(float(a), float(b)) for a, b in o.get("shifts", [[0, 86400 * 2]])])
                for o in data["operators"]]
    s = data["staff"]
    t = data.get("traffic", {})
    rng = random.Random(seed + 1)
    shift_h = int(s.get("shift_hours", 8))
    starts = shift_plan(calls_hourly or [0.0] * 24, float(t.get("handle_mean", 300)), target, goal,
                        int(s["operators"]) if "operators" in s else None, shift_h)
    scale = float(s.get("scale", 1.0))  # staff the plan x scale (the staffing search)
    brk = float(s.get("break_minutes", 0)) * 60  # one break per shift, staggered around its middle
    starts = [round(n * scale) for n in starts]
    topics = list(t.get("topics", {}))
    per = int(s.get("topics_per_operator", 2))
    second = s.get("second_language", {})
    agents: list[Agent] = []
    for h, n in enumerate(starts):
        for _ in range(n):
            langs = {"zh": rng.choice([3, 4, 5, 5])}
            for lang, share in second.items():
                if rng.random() < share:
                    langs[lang] = rng.choice([3, 4, 5])
            start, end = h * 3600.0, (h + shift_h) * 3600.0
            windows = on_duty_windows(start, end, brk, rng)
            agents.append(Agent(f"a{len(agents)}", langs, frozenset(rng.sample(topics, min(per, len(topics)))),
                                windows))
    return agents


def make_pool(data: dict[str, Any]) -> Pool | None:
    """The interpreter pool of a scenario, fresh for every run (None without [interpreting])."""
    cfg = data.get("interpreting")
    if cfg is None:
        return None
    known = {"languages", "handle_factor", "ring_delay", "answer_target", "max_wait", "pool"}
    for key in cfg:
        if key not in known:
            raise ConfigError(f"interpreting.{key}", f"unknown setting (known: {', '.join(sorted(known))})")
    try:
        model = InterpretingModel(frozenset(cfg.get("languages", [])), float(cfg.get("handle_factor", 1.5)),
                                  float(cfg.get("ring_delay", 4.0)), float(cfg.get("answer_target", 30.0)),
                                  float(cfg.get("max_wait", 180.0)))
        interpreters = [Interpreter(str(i["id"]), frozenset(i["languages"]),
                                    [(float(a), float(b)) for a, b in i.get("shifts", [[0, 86400 * 2]])])
                        for i in data.get("interpreters", [])]
        for lang, n in cfg.get("pool", {}).items():
            interpreters += [Interpreter(f"{lang}{k}", frozenset({lang}), [(0.0, 86400.0 * 2)])
                             for k in range(int(n))]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ConfigError("interpreting", f"numbers, language lists and [[interpreters]] with id, languages "
                          f"and shifts expected: {exc!r}") from None
    return Pool(model, interpreters)
