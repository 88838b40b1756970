"""The simulator and Erlang C, without Asterisk."""

from pathlib import Path

import pytest

from hotline.config import Routing
from hotline.sim import erlang
from hotline.sim.engine import Agent, Call, simulate
from hotline.sim.run import compare, run

ROOT = Path(__file__).resolve().parents[1]


def test_erlang_c_matches_known_values() -> None:
    # 10 Erlangs on 11 agents waits 68.2% of the time (standard tables)
    assert erlang.erlang_c(11, 10.0) == pytest.approx(0.6821, abs=1e-3)
    # DOMAIN.md: 6,500 calls/h x 300 s needs about 557 agents for 80% in 15 s, about 570 for 96%
    assert erlang.agents_needed(6500, 300, 3600, 15, 0.80) in range(550, 565)
    assert erlang.agents_needed(6500, 300, 3600, 15, 0.96) in range(563, 578)


def test_one_operator_serves_in_order_with_exact_waits() -> None:
    agents = [Agent("a", {"zh": 5}, frozenset({"housing"}), [(0.0, 1000.0)])]
    calls = [Call(i, float(i), "zh", "housing", 1e9, 10.0) for i in range(3)]
    r = simulate(agents, calls, Routing(wrapup_seconds=0), "ours", ring_delay=1.0)
    waits = [c.answered_at - c.arrival for c in r.calls]  # type: ignore[operator]
    assert waits == [1.0, 11.0, 21.0]
    assert r.figures()["sl_over_answered"] == pytest.approx(66.67)


def test_ours_overflows_to_another_language_before_the_deadline() -> None:
    # the only English speaker is busy for a long time; a Mandarin operator is free
    agents = [Agent("en", {"en": 5}, frozenset(), [(0.0, 1e4)]),
              Agent("zh", {"zh": 5}, frozenset(), [(0.0, 1e4)])]
    calls = [Call(0, 0.0, "en", "general", 1e9, 500.0), Call(1, 1.0, "en", "general", 1e9, 60.0)]
    routing = Routing(wrapup_seconds=0)
    ours = simulate([Agent(a.id, a.languages, a.topics, a.shifts) for a in agents], calls, routing, "ours")
    second = ours.calls[1]
    assert second.agent == "zh" and second.answered_at is not None
    assert second.answered_at - second.arrival <= routing.overflow_any_after + 2
    ladder = simulate([Agent(a.id, a.languages, a.topics, a.shifts) for a in agents],
                      [Call(0, 0.0, "en", "general", 1e9, 500.0), Call(1, 1.0, "en", "general", 1e9, 60.0)],
                      routing, "leastrecent")
    assert ladder.calls[1].answered_at - 1.0 >= 20, "the fixed ladder reaches other languages at 20 s"  # type: ignore[operator]


def test_scenarios_are_repeatable_and_ours_wins_at_the_peak() -> None:
    path = ROOT / "etc/scenarios/beijing-peak.toml"
    a, _ = run(path, "ours", seed=3)
    b, _ = run(path, "ours", seed=3)
    assert a.summary() == b.summary()
    rows = {r["strategy"]: r for r in compare(path, seed=3)}
    assert all(rows["ours"]["sl_over_offered"] >= r["sl_over_offered"] for r in rows.values())


def test_unknown_strategy_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown strategy"):
        simulate([], [], Routing(), "fastest")


def test_breaks_take_operators_off_duty_inside_their_shift() -> None:
    import random

    from hotline.sim.scenario import on_duty_windows

    rng = random.Random(3)
    for h in range(24):
        start, end = h * 3600.0, (h + 8) * 3600.0
        windows = on_duty_windows(start, end, 1800, rng)
        assert sum(b - a for a, b in windows) == 8 * 3600 - 1800
        assert all(0 <= a < b <= 86400 for a, b in windows)
        covered = {round(t) % 86400 for a, b in windows for t in (a, b - 1)}
        assert round(start) % 86400 in covered  # the first hour is worked
    assert on_duty_windows(0, 3600, 1800, rng) == [(0, 3600)]  # too short for a break
