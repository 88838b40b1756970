"""The simulator's IVR model (issue 16): the prompt timings before and after, both clocks, IVR
hang-ups offered, queued call backs under their own figure, the router's deadline from the
first ring."""

import random

import pytest

from hotline.config import ConfigError, Routing
from hotline.queue import policy
from hotline.sim import ivr
from hotline.sim.engine import Agent, Call, simulate
from hotline.sim.ivr import IvrModel

SITE = ["zh", "en", "ja", "ko", "ru", "fr", "de", "es"]
TOPICS = ["housing", "transport", "papers"]


def _intake(model: IvrModel, language: str, topic: str = "housing", pressed_any: bool = False) -> ivr.Intake:
    return ivr.intake(model, random.Random(1), language, topic, pressed_any, "zh", SITE, TOPICS)


def test_a_silent_caller_is_queued_right_after_the_greeting_after_and_after_83_s_before() -> None:
    after = ivr.model_of({}, "after")
    before = ivr.model_of({}, "before")
    silent_after = _intake(IvrModel("after", topic_menu=False, silent_share=1.0), "zh")
    assert silent_after.queued_after == pytest.approx(after.answer_seconds + after.greeting_seconds) == 3.5
    assert silent_after.queue_language == "zh" and silent_after.choose_after is None
    silent_before = _intake(IvrModel("before", silent_share=1.0), "ko")
    # Wait(0.5), the 26.31 s language menu twice with its 5 s timeout, the 14.18 s topic menu + 5 s
    assert silent_before.queued_after == pytest.approx(0.5 + 2 * (26.31 + 5) + 14.18 + 5)
    assert 80 < silent_before.queued_after < 85
    assert (silent_before.queue_language, silent_before.topic) == ("zh", "general")
    assert before.menu_timeout == 5 and before.topic_menu and not after.topic_menu


def test_callers_who_press_before_wait_for_their_offer_and_choose_while_queued_after() -> None:
    pressing = IvrModel("before", silent_share=0.0, barge_in_share=0.0, topic_silent_share=0.0)
    en = _intake(pressing, "en", "transport")
    # "For English, press 2" ends 11.08 s into the menu; "transport ... 2" 6.80 s into the English topic menu
    assert en.queued_after == pytest.approx(0.5 + 11.08 + 1 + 6.80 + 1)
    assert (en.queue_language, en.topic) == ("en", "transport")
    assert _intake(pressing, "en", pressed_any=True).pressed_any
    choosing = IvrModel("after", topic_menu=False, silent_share=0.0, barge_in_share=0.0, known_share=0.0)
    en_after = _intake(choosing, "en")
    assert en_after.queued_after == 3.5 and en_after.queue_language == "zh" and en_after.topic == "general"
    assert en_after.choose_after == pytest.approx(3.5 + 2 + 1)  # the first offer, then the key
    assert _intake(choosing, "es").choose_after == pytest.approx(3.5 + 7 * 2 + 1)  # the last of seven
    known = IvrModel("after", topic_menu=False, silent_share=0.0, barge_in_share=0.0, known_share=1.0)
    assert _intake(known, "es").choose_after == pytest.approx(3.5 + 2 + 1)  # their earlier language first
    barge = _intake(IvrModel("after", topic_menu=False, silent_share=0.0, barge_in_share=1.0), "ko")
    assert barge.queued_after == pytest.approx(0.5 + 1.5) and barge.queue_language == "ko"


def test_both_clocks_differ_by_the_ivr_time() -> None:
    agents = [Agent("a", {"zh": 5}, frozenset(), [(0.0, 1000.0)]), Agent("b", {"zh": 5}, frozenset(), [(0.0, 1000.0)])]
    calls = [Call(0, 0.0, "zh", "general", 1e9, 100.0, ivr_seconds=6.0),
             Call(1, 0.0, "zh", "general", 1e9, 100.0, ivr_seconds=20.0)]
    r = simulate(agents, calls, Routing(wrapup_seconds=0), "ours", ring_delay=1.0)
    first, second = r.calls
    assert first.answered_at == pytest.approx(7.0) and second.answered_at == pytest.approx(21.0)
    f = r.figures()
    assert f["avg_wait"] == pytest.approx(14.0) and f["avg_wait_queue"] == pytest.approx(1.0)
    assert f["sl_over_offered"] == 50.0  # 21 s after the first ring
    assert f["sl_queue_entry"] == f["sl_queue_entry_answered"] == 100.0  # 1 s after queue entry
    assert f["avg_ivr"] == pytest.approx(13.0)


def test_ivr_hang_ups_are_offered_not_answered_and_short_ones_shown_apart() -> None:
    agents = [Agent("a", {"zh": 5}, frozenset(), [(0.0, 1000.0)])]
    calls = [Call(0, 0.0, "zh", "general", 2.0, 100.0, ivr_seconds=3.5),  # hangs up in the greeting
             Call(1, 10.0, "zh", "general", 40.0, 100.0, ivr_seconds=82.3),  # in today's menus
             Call(2, 20.0, "zh", "general", 1e9, 100.0, ivr_seconds=3.5)]
    r = simulate(agents, calls, Routing(wrapup_seconds=0), "ours", ivr=IvrModel("after", topic_menu=False,
                                                                                 short_abandon_seconds=5.0))
    assert [c.ended_in for c in r.calls] == ["ivr", "ivr", "operator"]
    f = r.figures()
    assert (f["offered"], f["answered"], f["ivr_hangups"], f["abandoned"]) == (3, 1, 2, 0)
    assert f["sl_over_offered"] == pytest.approx(33.33) and f["abandon_rate"] == pytest.approx(66.67)
    assert f["sl_queue_entry"] == 100.0  # Asterisk never saw the two hang-ups
    assert f["short_abandoned"] == 1 and f["sl_short_apart"] == 50.0  # apart, still offered


def test_a_queued_call_back_counts_under_its_own_figure() -> None:
    agents = [Agent("a", {"zh": 5}, frozenset(), [(0.0, 5000.0)])]
    calls = [Call(0, 0.0, "zh", "general", 1e9, 500.0),
             Call(1, 1.0, "zh", "general", 5.0, 100.0, accepts_callback=True),  # would hang up after 5 s
             Call(2, 2.0, "zh", "general", 1e9, 100.0)]  # does not take the offer
    model = IvrModel("after", topic_menu=False, callback_threshold=60.0, callback_dial_seconds=10.0,
                     callback_target_minutes=10.0)
    r = simulate(agents, calls, Routing(wrapup_seconds=0), "ours", ivr=model)
    _, back, third = r.calls
    assert back.callback_at == pytest.approx(1.0)  # 1 caller ahead x 300 s AHT / 1 operator > 60 s
    # in its turn (before the third caller): the operator is reserved at 501, the citizen answers 11 s later
    assert back.answered_at == pytest.approx(501 + 1 + 10) and back.ended_in == "operator"
    assert third.answered_at is not None and third.answered_at > back.answered_at + 100
    f = r.figures()
    assert f["callbacks"] == 1 and f["callback_within_target"] == 100.0
    assert f["answered"] == 2 and f["abandoned"] == 0  # the call back is neither
    assert f["sl_over_offered"] == pytest.approx(33.33)  # never hidden in the 15-second figure


def test_the_routers_deadline_runs_from_the_first_ring() -> None:
    routing = Routing()
    assert policy.overflow_stage(routing, 3.0, False) == 0  # the live router's call, unchanged
    assert policy.overflow_stage(routing, 3.0, False, ivr_seconds=6.0) == 2  # 9 s after the first ring
    # an English caller 6 s in the IVR, only a Mandarin operator free: overflow 9 s after the first ring
    agents = [Agent("zh", {"zh": 5}, frozenset(), [(0.0, 1000.0)])]
    r = simulate(agents, [Call(0, 0.0, "en", "general", 1e9, 60.0, ivr_seconds=6.0)], routing, "ours")
    call = r.calls[0]
    assert call.agent == "zh" and call.answered_at is not None
    assert call.answered_at - call.arrival == pytest.approx(routing.overflow_any_after + 1.0)


def test_the_choice_while_waiting_moves_the_call_and_keeps_the_arrival() -> None:
    agents = [Agent("zh", {"zh": 5}, frozenset(), [(0.0, 1000.0)]),
              Agent("en", {"en": 5}, frozenset(), [(0.0, 1000.0)])]
    busy = Call(0, 0.0, "zh", "general", 1e9, 500.0)  # holds the Mandarin operator
    caller = Call(1, 1.0, "en", "general", 1e9, 60.0, ivr_seconds=3.5, queue_language="zh", choose_after=6.5)
    r = simulate(agents, [busy, caller], Routing(wrapup_seconds=0), "ours")
    moved = r.calls[1]
    assert moved.queue_language == "en" and moved.agent == "en" and moved.own_language
    assert moved.answered_at is not None and moved.answered_at - moved.arrival == pytest.approx(7.0, abs=1.0)


def test_an_announcement_informs_and_is_not_an_abandon() -> None:
    model = ivr.model_of({"ivr": {"announcement": {"topic": "housing", "seconds": 8, "optout_share": 0,
                                                    "hangup_share": 1.0}}}, "after")
    heard = _intake(model, "zh", "housing")
    assert heard.informed and heard.queued_after >= 3.5 + 8
    assert not _intake(model, "zh", "transport").informed
    call = Call(0, 0.0, "zh", "general", 1e9, 60.0, ivr_seconds=heard.queued_after, informed=True)
    r = simulate([Agent("a", {"zh": 5}, frozenset(), [(0.0, 100.0)])], [call], Routing(), "ours", ivr=model)
    f = r.figures()
    assert r.calls[0].ended_in == "informed"
    assert (f["informed"], f["abandoned"], f["ivr_hangups"], f["abandon_rate"]) == (1, 0, 0, None)


def test_bad_ivr_settings_are_named() -> None:
    with pytest.raises(ConfigError, match="ivr.preset"):
        ivr.model_of({"ivr": {"preset": "deep"}})
    with pytest.raises(ConfigError, match="ivr.greeting"):
        ivr.model_of({"ivr": {"greeting": 3}})
    with pytest.raises(ConfigError, match="ivr.topic_menu"):
        ivr.model_of({"ivr": {"preset": "after", "topic_menu": True}})
    assert not ivr.model_of({}).active  # no [ivr]: calls are queued on arrival, as before


def test_a_scenario_ivr_table_runs_through_make_calls() -> None:
    from hotline.sim import scenario

    data = {"traffic": {"calls": 2000, "hours": [8, 9], "languages": {"zh": 0.5, "en": 0.5},
                        "topics": {"housing": 1.0}, "patience_mean": 0},
            "ivr": {"preset": "after", "default_language": "zh", "silent_share": 0.0, "barge_in_share": 0.0}}
    calls = scenario.make_calls(data, seed=1)
    assert calls and all(c.ivr_seconds == pytest.approx(3.5) and c.queue_language == "zh" for c in calls)
    assert all((c.choose_after is None) == (c.language == "zh") for c in calls)
    before = scenario.make_calls(data, seed=1, model=ivr.model_of(data, "before"))
    assert [c.arrival for c in before] == [c.arrival for c in calls]  # the same callers, another IVR
    assert min(c.ivr_seconds for c in before) >= 14.99  # the menus alone take the 15 s
