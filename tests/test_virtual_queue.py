"""Queued call back (issue 16): the kept places' order and the operator's reservation (pure)."""

from __future__ import annotations

import pytest

from hotline.queue.virtual_queue import VirtualPlace, VirtualQueue, callback_figures, offer_callback


def place(rid: int, arrived: float, requested: float, queue: str = "hl-en-housing") -> VirtualPlace:
    return VirtualPlace(rid, queue, f"1390000{rid:04d}", f"u{rid}", arrived, requested)


def test_the_offer_is_made_only_past_the_threshold() -> None:
    assert offer_callback(181.0, 180)
    assert not offer_callback(180.0, 180)
    assert not offer_callback(None, 180), "no prediction, no offer"
    assert not offer_callback(500.0, 0), "a threshold of 0 turns the offer off"


def test_places_keep_the_first_calls_turn_not_the_requests() -> None:
    vq = VirtualQueue()
    vq.add(place(1, arrived=100.0, requested=400.0))  # arrived first, asked late
    vq.add(place(2, arrived=200.0, requested=250.0))
    vq.add(place(3, arrived=100.0, requested=300.0))  # same first ring: the earlier request first
    vq.add(place(4, arrived=50.0, requested=60.0, queue="hl-zh-general"))
    assert [p.request_id for p in vq.waiting("hl-en-housing")] == [3, 1, 2]
    assert [p.request_id for p in vq.waiting()] == [4, 3, 1, 2]
    with pytest.raises(ValueError):
        vq.add(place(2, arrived=1.0, requested=2.0))


def test_a_place_comes_up_only_when_no_live_caller_arrived_before_it() -> None:
    vq = VirtualQueue()
    vq.add(place(1, arrived=100.0, requested=200.0))
    assert vq.due("hl-en-housing", [90.0, 300.0]) is None, "a live caller who rang earlier goes first"
    assert vq.due("hl-en-housing", [150.0, 300.0]) == place(1, 100.0, 200.0)
    assert vq.due("hl-en-housing", []) is not None
    assert vq.due("hl-zh-general", []) is None


def test_the_call_back_is_placed_only_with_a_reserved_operator() -> None:
    vq = VirtualQueue()
    vq.add(place(1, arrived=100.0, requested=200.0))
    vq.add(place(2, arrived=110.0, requested=210.0))
    assert vq.reserve("hl-en-housing", [], [], now=500.0) is None, "no free operator: nobody is called"
    first = vq.reserve("hl-en-housing", [], ["2001", "2003"], now=500.0,
                       eligible=lambda op, q: op != "2001")
    assert first and (first.place.request_id, first.operator, first.reserved_at) == (1, "2003", 500.0)
    assert vq.reserved_operator(1) == "2003"
    # the next place cannot take the operator already reserved
    assert vq.reserve("hl-en-housing", [], ["2003"], now=501.0) is None
    second = vq.reserve("hl-en-housing", [], ["2003", "2001"], now=501.0)
    assert second and (second.place.request_id, second.operator) == (2, "2001")
    assert [r.operator for r in vq.reservations()] == ["2003", "2001"]
    assert vq.waiting() == []


def test_an_unanswered_call_back_keeps_its_turn_then_gives_up() -> None:
    vq = VirtualQueue(max_attempts=2)
    vq.add(place(1, arrived=100.0, requested=200.0))
    vq.add(place(2, arrived=110.0, requested=210.0))
    assert vq.reserve("hl-en-housing", [], ["2001"], now=500.0)
    back = vq.release(1)
    assert back and back.attempts == 1
    assert [p.request_id for p in vq.waiting()] == [1, 2], "back in its original turn"
    assert vq.reserve("hl-en-housing", [], ["2001"], now=600.0)
    assert vq.release(1) is None, "dropped after the last attempt"
    assert [p.request_id for p in vq.waiting()] == [2]
    res = vq.reserve("hl-en-housing", [], ["2001"], now=700.0)
    assert res and vq.answered(2) == res
    assert vq.waiting() == [] and vq.reservations() == []
    assert vq.cancel(2) is None


def test_the_call_backs_own_figure_counts_within_n_minutes_of_the_request() -> None:
    rows = [{"requested_at": 0.0, "answered_at": 290.0},   # 4 min 50 s
            {"requested_at": 0.0, "answered_at": 301.0},   # just past 5 min
            {"requested_at": 0.0, "answered_at": None}]    # not yet answered
    figs = callback_figures(rows, 5)
    assert (figs["requested"], figs["answered"], figs["answered_in_target"]) == (3, 2, 1)
    assert figs["pct_in_target"] == 33.3
    assert callback_figures([], 5)["pct_in_target"] is None


# -- the coordinator (queue/callback_queue.py) with a fake PBX ---------------------------------

class FakeCall:
    def __init__(self, queue: str, arrived_at: float) -> None:
        self.uniqueid, self.queue, self.joined_at, self.arrived_at, self.urgent = "live", queue, arrived_at, \
            arrived_at, False


class FakeCalls:
    def __init__(self) -> None:
        self.live: list[FakeCall] = []

    def waiting(self) -> list[FakeCall]:
        return self.live

    def waiting_in(self, queue: str) -> list[FakeCall]:
        return [c for c in self.live if c.queue == queue]


class FakePbx:
    def __init__(self) -> None:
        self.log: list[tuple[str, ...]] = []
        self.refuse = False

    async def queue_pause(self, interface: str, paused: bool, reason: str) -> None:
        self.log.append(("pause" if paused else "unpause", interface, reason))

    async def originate_queued_callback(self, dial: str, operator: str, channel_id: str,
                                        variables: dict[str, str]) -> None:
        if self.refuse:
            raise RuntimeError("no trunk")
        self.log.append(("originate", dial, operator, variables["HL_QCB_OF"], variables["HL_ARRIVED"]))


async def test_the_citizen_is_rung_only_after_the_operator_is_reserved_in_the_places_turn() -> None:
    from hotline.queue.callback_queue import QueuedCallbacks

    now = [1000.0]
    pbx, calls = FakePbx(), FakeCalls()
    free: dict[str, list[str]] = {"hl-en-housing": []}
    qcb = QueuedCallbacks(pbx, calls, lambda q: free.get(q, []), "PJSIP/{number}@trunk", clock=lambda: now[0])
    rid = qcb.request("u-first", "hl-en-housing", "13900001699", arrived_at=900.0)
    calls.live.append(FakeCall("hl-en-housing", 880.0))  # rang before the kept place
    free["hl-en-housing"] = ["2001"]
    assert await qcb.tick() == [] and pbx.log == [], "the earlier live caller goes first"
    calls.live.clear()
    calls.live.append(FakeCall("hl-en-housing", 950.0))  # rang after it: the place goes first
    placed = await qcb.tick()
    assert [r.operator for r in placed] == ["2001"]
    assert pbx.log == [("pause", "PJSIP/2001", "call-back"),
                       ("originate", "PJSIP/13900001699@trunk", "PJSIP/2001", "u-first", "900.000")]
    assert await qcb.tick() == [], "one call back per reservation"
    now[0] = 1100.0
    await qcb.outcome(rid, answered=True)
    assert pbx.log[-1][0] == "originate", "the operator stays reserved while they talk"
    await qcb.finished(rid)
    assert pbx.log[-1] == ("unpause", "PJSIP/2001", "call-back")
    figs = qcb.figures(5)
    assert (figs["requested"], figs["answered_in_target"]) == (1, 1)


async def test_an_unanswered_or_refused_call_back_frees_the_operator_and_keeps_the_turn() -> None:
    from hotline.queue.callback_queue import QueuedCallbacks

    pbx, calls = FakePbx(), FakeCalls()
    qcb = QueuedCallbacks(pbx, calls, lambda q: ["2001"], "PJSIP/{number}@trunk", max_attempts=2,
                          clock=lambda: 1000.0)
    rid = qcb.request("u1", "hl-en-housing", "13900001698", arrived_at=900.0)
    assert await qcb.tick()
    await qcb.outcome(rid, answered=False)
    assert pbx.log[-1] == ("unpause", "PJSIP/2001", "call-back")
    assert [p.request_id for p in qcb.vq.waiting()] == [rid]
    pbx.refuse = True
    assert await qcb.tick() == []
    assert pbx.log[-1] == ("unpause", "PJSIP/2001", "call-back")
    assert qcb.vq.waiting() == [] and qcb.requests[rid].dropped, "given up after the last attempt"
    assert qcb.figures(5)["answered"] == 0
