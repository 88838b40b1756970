"""The simulator and Erlang C, without Asterisk."""

from pathlib import Path

import pytest

from hotline.config import Routing
from hotline.sim import erlang
from hotline.sim.engine import Agent, Call, simulate
from hotline.sim.run import compare, run, table

ROOT = Path(__file__).resolve().parents[1]


def test_erlang_c_matches_known_values() -> None:
    # 10 Erlangs on 11 agents waits 68.2% of the time (standard tables)
    assert erlang.erlang_c(11, 10.0) == pytest.approx(0.6821, abs=1e-3)
    # DOMAIN.md: 6,500 calls/h x 300 s needs about 557 agents for 80% in 15 s, about 570 for 96%
    assert erlang.agents_needed(6500, 300, 3600, 15, 0.80) in range(550, 565)
    assert erlang.agents_needed(6500, 300, 3600, 15, 0.96) in range(563, 578)


def _erlang_a_by_brute_force(n: int, calls: float, aht: float, interval: float, t: float,
                              patience: float) -> tuple[float, float]:
    """M/M/N+M by its state probabilities (truncated) and the arriving caller's own chain,
    integrated by uniformisation: the answer the closed form must match."""
    import math
    lam, mu, th = calls / interval, 1 / aht, 1 / patience
    p = [1.0]
    for k in range(1, n + 400):
        p.append(p[-1] * lam / (min(k, n) * mu + max(0, k - n) * th))
    p = [x / sum(p) for x in p]
    vec, served, in_target = p[n:], 0.0, 0.0
    rate = n * mu + len(vec) * th + th
    pois, cum, m = math.exp(-rate * t), math.exp(-rate * t), 0
    while cum < 1 - 1e-12:
        in_target += pois * served
        new = [0.0] * len(vec)
        for j, v in enumerate(vec):
            d = n * mu + j * th
            if j == 0:
                served += v * d / rate
            else:
                new[j - 1] += v * d / rate
            new[j] += v * (1 - (d + th) / rate)
        vec, m = new, m + 1
        pois *= rate * t / m
        cum += pois
    abandoned = th * sum((k - n) * p[k] for k in range(n, len(p))) / lam
    return sum(p[:n]) + in_target, abandoned


@pytest.mark.parametrize("case", [(5, 100, 120, 3600, 15, 60), (20, 500, 200, 3600, 15, 120),
                                  (30, 800, 120, 3600, 20, 30)])
def test_erlang_a_matches_the_queue_computed_state_by_state(case: tuple[int, ...]) -> None:
    sl, abandoned = erlang.erlang_a(*case)
    want_sl, want_ab = _erlang_a_by_brute_force(*case)
    assert sl == pytest.approx(want_sl, abs=1e-6) and abandoned == pytest.approx(want_ab, abs=1e-6)


def test_erlang_a_needs_fewer_operators_and_becomes_erlang_c_without_hang_ups() -> None:
    c = erlang.agents_needed(6500, 300, 3600, 15, 0.96)
    a = erlang.agents_needed(6500, 300, 3600, 15, 0.96, patience=120)
    assert a < c and erlang.erlang_a(a, 6500, 300, 3600, 15, 120)[0] >= 0.96 > \
        erlang.erlang_a(a - 1, 6500, 300, 3600, 15, 120)[0]
    assert erlang.erlang_a(570, 6500, 300, 3600, 15, 1e7)[0] == pytest.approx(
        erlang.service_level(570, 6500 * 300 / 3600, 300, 15), abs=1e-4)


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


def test_interpreters_join_calls_answered_by_operators_without_the_language() -> None:
    from hotline.sim.interpreting import Interpreter, InterpretingModel, Pool

    agents = [Agent("op1", {"zh": 5}, frozenset(), [(0.0, 1e4)]), Agent("op2", {"zh": 5}, frozenset(), [(0.0, 1e4)])]
    calls = [Call(0, 0.0, "ko", "general", 1e9, 100.0), Call(1, 1.0, "ko", "general", 1e9, 100.0),
             Call(2, 2.0, "ja", "general", 1e9, 100.0)]  # ja: not offered automatically
    pool = Pool(InterpretingModel(frozenset({"ko"}), handle_factor=1.5, ring_delay=4.0, answer_target=30.0,
                                  max_wait=1000.0), [Interpreter("ko-1", frozenset({"ko"}), [(0.0, 1e4)])])
    routing = Routing(wrapup_seconds=0)
    r = simulate(agents, calls, routing, "ours", pool=pool)
    first, second, third = r.calls
    # nobody speaks Korean: Mandarin operators answer at the overflow deadline, then the interpreter is asked
    assert first.answered_at is not None and first.answered_at <= routing.overflow_any_after + 2
    assert first.interpreted and second.interpreted and not third.interpreted
    a, b = sorted(pool.done, key=lambda q: q.call_id)
    assert a.connected_at - a.requested_at == pytest.approx(4.0, abs=1.0)  # type: ignore[operator]
    # the one Korean interpreter is busy for 150 s (100 s x 1.5): the second request waits for them
    assert b.interpreter == "ko-1" and b.connected_at == pytest.approx(a.connected_at + 150 + 4, abs=1.0)  # type: ignore[operator]
    summary = r.summary()["interpreting"]
    assert summary["requests"] == 2 and summary["within_target_pct"] == 50.0  # type: ignore[index]
    assert summary["minutes_by_language"] == {"ko": 5.0}  # type: ignore[index]
    # the third caller (Japanese) waits for an operator held by the interpreted calls
    assert third.answered_at is not None and third.answered_at >= a.connected_at + 150  # type: ignore[operator]


def test_scenarios_are_repeatable_and_ours_wins_at_the_peak() -> None:
    path = ROOT / "etc/scenarios/beijing-peak.toml"
    a, _ = run(path, "ours", seed=3)
    b, _ = run(path, "ours", seed=3)
    assert a.summary() == b.summary()
    rows = {r["strategy"]: r for r in compare(path, seed=3)}
    assert all(rows["ours"]["sl_over_offered"] >= r["sl_over_offered"] for r in rows.values())


def test_a_bad_interpreter_pool_is_named() -> None:
    from hotline.config import ConfigError
    from hotline.sim import scenario

    with pytest.raises(ConfigError, match="interpreting"):
        scenario.make_pool({"interpreting": {"pool": {"ko": "three"}}})
    with pytest.raises(ConfigError, match="interpreting.speed"):
        scenario.make_pool({"interpreting": {"speed": 2}})


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


NO_INTERPRETER_SCENARIO = """
ring_delay = 1.0
[traffic]
calls = 2000
profile = "beijing"
hours = [8, 9]
handle_mean = 300
handle_cv = 0.5
patience_mean = 120
any_share = 0.05
languages = { zh = 1.0 }
topics = { housing = 0.5, transport = 0.5 }
[staff]
shift_hours = 8
topics_per_operator = 2
[routing]
target_seconds = 15
goal_percent = 96
[interpreting]
languages = ["ko"]
pool = { ko = 1 }
"""


def test_compare_table_with_no_interpreter_requests(tmp_path: Path) -> None:
    # bench/routing_compare.py's path: compare() then table(). Only Mandarin callers, so the
    # interpreter pool gets no request and its answer-within-target share is None.
    path = tmp_path / "no-interpreters.toml"
    path.write_text(NO_INTERPRETER_SCENARIO)
    rows = compare(path, seed=1)
    assert all(r["interpreting"]["requests"] == 0 for r in rows)
    assert all(r["interpreting"]["within_target_pct"] is None for r in rows)
    lines = table(rows)
    assert len(lines) == 1 + len(rows)
    assert "SL 1st ring" in lines[0] and "SL queue" in lines[0]  # both clocks, the first ring's first
    for r, line in zip(rows, lines[1:], strict=True):
        cells = line.split()
        assert cells[0] == r["strategy"]
        assert cells[1] == str(r["sl_over_offered"]) == cells[2]  # no IVR: the two clocks agree
        assert cells[8:12] == ["0", "-", str(r["own_language"]), "worst"]  # requests, within target, no minority
    # a row without any answered call (every figure None) still prints
    empty = dict(rows[0], sl_over_offered=None, sl_queue_entry=None, abandon_rate=None, ivr_hangups=None,
                 avg_wait=None, p95_wait=None, occupancy=None, per_language={"ko": {"sl_over_offered": None}})
    assert table([empty])[1].split()[1:8] == ["-"] * 7
