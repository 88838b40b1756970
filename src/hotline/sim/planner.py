"""The staffing planner: how many operators each half hour of a day needs to answer 96% of
calls within 15 s.

1. Forecast: offered calls per half-hour slot for the day's weekday, averaged over the same
   weekday of the past weeks in the case store, times the day's hotspot factor (site file).
2. Erlang A per slot (pooled), and per language (the floor of speakers each language needs),
   with the callers' mean patience estimated from the same history (abandoned calls over the
   seconds all callers waited: the exponential model's maximum-likelihood estimate); Erlang C
   when the history has too few abandoned calls to estimate it. Erlang C is kept alongside.
3. Optionally the simulator confirms with the real skill mix (the site's operators as
   templates) and adds operators to the slots that miss the goal, until none does.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from hotline.config import WEEKDAYS, Routing, Settings
from hotline.sim.engine import Agent, Call, simulate
from hotline.sim.erlang import agents_needed

SLOTS = 48
SLOT_SECONDS = 1800


@dataclass
class Slot:
    index: int
    forecast: float
    needed_erlang: int  # Erlang C
    needed_by_language: dict[str, int] = field(default_factory=dict)
    needed_confirmed: int | None = None
    simulated_sl: float | None = None
    logged_in: int | None = None
    scheduled: int | None = None  # operators on the rota for this slot
    scheduled_by_language: dict[str, int] = field(default_factory=dict)
    needed_erlang_a: int | None = None  # with the callers' patience, when known

    @property
    def start(self) -> str:
        return f"{self.index // 2:02d}:{30 * (self.index % 2):02d}"

    @property
    def needed(self) -> int:
        if self.needed_confirmed is not None:
            return self.needed_confirmed
        return self.needed_erlang_a if self.needed_erlang_a is not None else self.needed_erlang

    @property
    def first_estimate(self) -> int:
        return self.needed_erlang_a if self.needed_erlang_a is not None else self.needed_erlang

    @property
    def staffed(self) -> int | None:
        """Who covers the slot: those logged in (the current slot), else the rota."""
        return self.logged_in if self.logged_in is not None else self.scheduled

    @property
    def gap(self) -> int | None:
        """Operators missing (positive) or spare (negative)."""
        return None if self.staffed is None else self.needed - self.staffed


def scheduled(settings: Settings, day: dt.date) -> list[tuple[int, dict[str, int]]]:
    """Operators on the rota per half-hour slot of ``day``, in all and per language spoken.
    A shift counts for a slot it covers at least half of; a shift past midnight counts on the
    day it starts (and its tail on the next day)."""
    wd = WEEKDAYS[day.weekday()]
    prev = WEEKDAYS[(day.weekday() - 1) % 7]
    out: list[tuple[int, dict[str, int]]] = [(0, {}) for _ in range(SLOTS)]
    for entry in settings.rota:
        op = settings.operator(entry.extension)
        if op is None:
            continue
        start, end = entry.minutes()
        windows = []
        if wd in entry.days:
            windows.append((start, end if end > start else 24 * 60))
        if end < start and prev in entry.days:
            windows.append((0, end))
        for a, b in windows:
            for i in range(SLOTS):
                lo, hi = i * 30, i * 30 + 30
                if min(b, hi) - max(a, lo) >= 15:
                    n, langs = out[i]
                    for lang in op.languages:
                        langs[lang] = langs.get(lang, 0) + 1
                    out[i] = (n + 1, langs)
    return out


@dataclass
class Plan:
    day: dt.date
    weeks_of_history: int
    hotspot_factor: float
    aht: float
    language_mix: dict[str, float]
    slots: list[Slot]
    patience: float | None = None  # callers' mean patience in seconds (None: Erlang C only)
    abandoned: int = 0  # abandoned calls in the history the estimate comes from

    @property
    def model(self) -> str:
        return "Erlang A" if self.patience else "Erlang C"

    def csv_rows(self) -> list[list[object]]:
        langs = sorted(self.language_mix)
        head: list[object] = ["slot", "forecast_calls", "needed_erlang_c", "needed_erlang_a", "needed_confirmed",
                              "simulated_sl", "scheduled", "logged_in", "gap", *[f"needed_{lang}" for lang in langs],
                              *[f"scheduled_{lang}" for lang in langs]]
        rows = [head]
        for s in self.slots:
            rows.append([s.start, round(s.forecast, 1), s.needed_erlang, s.needed_erlang_a, s.needed_confirmed,
                         s.simulated_sl,
                         s.scheduled, s.logged_in, s.gap, *[s.needed_by_language.get(lang, 0) for lang in langs],
                         *[s.scheduled_by_language.get(lang, 0) for lang in langs]])
        return rows


MIN_ABANDONED = 20  # fewer abandoned calls in the history: no patience estimate (Erlang C)


@dataclass
class Forecast:
    per_slot: list[float]
    mix: dict[str, float]
    aht: float
    patience: float | None
    abandoned: int


def forecast(history: list[dict[str, Any]], day: dt.date, weeks: int) -> Forecast:
    """Per-slot forecast for ``day`` from rows of CaseStore.half_hour_history, the language mix,
    the average handling time and the callers' mean patience (seconds waited by all callers
    over the abandoned calls). Only the same weekday counts; missing weeks count as zero only
    when some history exists for that weekday."""
    per_slot: list[float] = [0.0] * SLOTS
    lang_calls: dict[str, float] = defaultdict(float)
    talk = answered = waited = 0.0
    abandoned = 0
    days = set()
    for r in history:
        d = dt.date.fromisoformat(r["day"])
        if d.weekday() != day.weekday() or not (day - dt.timedelta(weeks=weeks) <= d < day):
            continue
        days.add(d)
        per_slot[int(r["slot"])] += r["calls"]
        lang_calls[r["language"] or "?"] += r["calls"]
        talk += r["talk"] or 0
        answered += r["answered"] or 0
        abandoned += int(r.get("abandoned") or 0)
        waited += float(r.get("waited") or 0.0)
    n = max(1, len(days))
    total = sum(lang_calls.values())
    mix = {k: v / total for k, v in lang_calls.items()} if total else {}
    aht = talk / answered if answered else 300.0
    patience = waited / abandoned if abandoned >= MIN_ABANDONED and waited > 0 else None
    return Forecast([c / n for c in per_slot], mix, aht, patience, abandoned)


def build(settings: Settings, history: list[dict[str, Any]], day: dt.date, weeks: int = 4,
          confirm: bool = False, seed: int = 1) -> Plan:
    fc = forecast(history, day, weeks)
    aht, patience = fc.aht, fc.patience
    factor = settings.hotspot_factor(day)
    r = settings.routing
    goal = r.goal_percent / 100

    def need(calls: float, patience: float | None) -> int:
        return agents_needed(calls, aht, SLOT_SECONDS, r.target_seconds, goal, patience) if calls > 0.05 else 0

    slots = []
    for i, calls in enumerate(fc.per_slot):
        calls *= factor
        by_lang = {lang: need(calls * share, patience) for lang, share in fc.mix.items() if calls * share > 0.05}
        slot = Slot(i, calls, need(calls, None), by_lang)
        if patience:
            slot.needed_erlang_a = need(calls, patience)
        slots.append(slot)
    plan = Plan(day, weeks, factor, round(aht, 1), fc.mix, slots,
                round(patience, 1) if patience else None, fc.abandoned)
    if settings.rota:
        for s, (n, langs) in zip(plan.slots, scheduled(settings, day), strict=True):
            s.scheduled, s.scheduled_by_language = n, langs
    if confirm:
        confirm_with_simulator(plan, settings, seed)
    return plan


def _agents_for(plan: Plan, settings: Settings, staff: list[int]) -> list[Agent]:
    """Operators per slot cloned from the site's operators (the real skill mix): first each
    language's floor of speakers, then the rest round-robin; never fewer than the floors."""
    templates = list(settings.operators)
    agents: list[Agent] = []
    for s, n in zip(plan.slots, staff, strict=True):
        window = [(s.index * SLOT_SECONDS * 1.0, (s.index + 1) * SLOT_SECONDS + 900.0)]
        picked: list[dict[str, int]] = []
        for lang, k in s.needed_by_language.items():
            speakers = [op for op in templates if lang in op.languages] or templates
            picked += [dict(speakers[j % len(speakers)].languages) for j in range(k)] if speakers else []
        while len(picked) < n and templates:
            picked.append(dict(templates[len(picked) % len(templates)].languages))
        agents += [Agent(f"s{s.index}-{j}", langs, frozenset(), window) for j, langs in enumerate(picked)]
    return agents


def confirm_with_simulator(plan: Plan, settings: Settings, seed: int, rounds: int = 6) -> None:
    rng = random.Random(seed)
    calls: list[Call] = []
    langs = list(plan.language_mix) or [settings.default_language.code]
    weights = [plan.language_mix.get(lang, 1.0) for lang in langs]
    for s in plan.slots:
        t = s.index * SLOT_SECONDS * 1.0
        rate = s.forecast / SLOT_SECONDS
        while rate > 0:
            t += rng.expovariate(rate)
            if t >= (s.index + 1) * SLOT_SECONDS:
                break
            patience = rng.expovariate(1 / plan.patience) if plan.patience else 1e9
            calls.append(Call(len(calls), t, rng.choices(langs, weights)[0], "general", patience,
                              max(20.0, rng.expovariate(1 / plan.aht))))
    staff = [s.first_estimate for s in plan.slots]
    routing: Routing = settings.routing
    for _ in range(rounds):
        result = simulate(_agents_for(plan, settings, staff),
                          [Call(c.id, c.arrival, c.language, c.topic, c.patience, c.handle) for c in calls],
                          routing, "ours", seed=seed)
        missed = False
        for s in plan.slots:
            slot_calls = [c for c in result.calls if s.index * SLOT_SECONDS <= c.arrival < (s.index + 1) * SLOT_SECONDS]
            if not slot_calls:
                s.simulated_sl = None
                continue
            sl = result.figures(slot_calls)["sl_over_offered"] or 0.0
            s.simulated_sl = sl
            if sl < routing.goal_percent:
                staff[s.index] += max(1, round(staff[s.index] * 0.05))
                missed = True
        if not missed:
            break
    for s, n in zip(plan.slots, staff, strict=True):
        s.needed_confirmed = n
