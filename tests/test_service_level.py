from hotline import events as ev
from hotline.floor.calls import CallRegistry
from hotline.queue.service_level import ServiceLevel


def joined(uid: str, at: float = 0.0) -> ev.CallerJoined:
    return ev.CallerJoined(uid, uid, "q", "139", "en", "housing", "", 1, at)


def test_each_call_counts_once_whatever_is_replayed() -> None:
    sl = ServiceLevel(15, clock=lambda: 100.0)
    sl.apply(joined("a"))
    connect = ev.AgentConnected("a", "q", "PJSIP/1", "x", 4, 4.0)
    sl.apply(connect)
    sl.apply(connect)  # replayed (e.g. after a resync)
    sl.apply(joined("b"))
    sl.apply(ev.AgentConnected("b", "q", "PJSIP/1", "x", 20, 20.0))
    sl.apply(joined("c"))
    sl.apply(ev.CallerAbandoned("c", "q", 30, 30.0))
    sl.apply(ev.CallerAbandoned("c", "q", 30, 30.0))
    r = sl.report()["queues"]["q"]
    assert (r["answered"], r["answered_in_target"], r["abandoned"]) == (2, 1, 1)
    assert r["sl_over_answered"] == 50.0
    assert r["sl_over_offered"] == 33.3
    assert r["waiting"] == 0


def test_waiting_and_longest_wait_and_reload_from_cases() -> None:
    calls = CallRegistry()  # who waits is the call registry's (the state pump applies the same events)
    sl = ServiceLevel(15, clock=lambda: 50.0, calls=calls)
    for e in (joined("a", at=40.0), joined("b", at=45.0)):
        calls.apply(e)
        sl.apply(e)
    r = sl.report()
    assert r["overall"]["waiting"] == 2 and r["overall"]["longest_wait"] == 10.0
    fresh = ServiceLevel(15)
    fresh.load([{"uniqueid": "x", "queue": "q", "state": "ended", "answered_at": 1.0, "wait_seconds": 3.0},
                {"uniqueid": "y", "queue": "q", "state": "abandoned", "answered_at": None, "wait_seconds": 9.0},
                {"uniqueid": "z", "queue": "q", "state": "queued", "answered_at": None, "wait_seconds": None}])
    fresh.apply(ev.AgentConnected("x", "q", "PJSIP/1", "x", 3, 3.0))  # already counted from the store
    assert fresh.report()["overall"]["answered"] == 1 and fresh.report()["overall"]["abandoned"] == 1


def test_two_clocks_the_first_ring_and_the_queue_entry() -> None:
    """From queue entry (Asterisk's, ServicelevelPerf) and from the first ring (the citizen's): a
    caller answered 10 s after joining but 20 s after arriving is within 15 s on Asterisk's clock
    only; a hang-up in the IVR is offered on the first-ring clock only."""
    sl = ServiceLevel(15, clock=lambda: 100.0, short_abandon=5.0)
    sl.apply(ev.AgentConnected("a", "q", "PJSIP/1", "x", 10, 1020.0, arrived_at=1000.0))  # 20 s from the ring
    sl.apply(ev.AgentConnected("b", "q", "PJSIP/1", "x", 4, 1008.0, arrived_at=1002.0))  # 6 s from the ring
    sl.apply(ev.AgentConnected("c", "q", "PJSIP/1", "x", 3, 1003.0))  # no arrival known: 3 s on both clocks
    sl.apply(ev.CallerAbandoned("d", "q", 2, 1012.0, arrived_at=1000.0))  # 12 s from the ring: not short
    sl.apply(ev.IvrHangup("e", "139", "", "", 1000.0, 1003.0))  # 3 s in the IVR: a short abandon
    sl.apply(ev.IvrHangup("e", "139", "", "", 1000.0, 1003.0))  # reported twice: counted once
    o = sl.report()["overall"]
    assert (o["answered"], o["abandoned"], o["answered_in_target"]) == (3, 1, 3)
    assert o["sl_over_answered"] == 100.0 and o["sl_over_offered"] == 75.0, "Asterisk's clock, as before"
    assert (o["first_ring_offered"], o["ivr_abandoned"], o["first_ring_answered_in_target"]) == (5, 1, 2)
    assert o["first_ring_sl_over_answered"] == 66.7 and o["first_ring_sl_over_offered"] == 40.0
    assert o["short_abandoned"] == 1, "shown apart, still offered"
    q = sl.report()["queues"]["q"]
    assert (q["first_ring_offered"], q["ivr_abandoned"], q["first_ring_sl_over_offered"]) == (4, 0, 50.0)
    sl.apply(ev.IvrHangup("a", "139", "", "", 1000.0, 1030.0))  # a queued call's hang-up is the queue's
    assert sl.report()["overall"]["ivr_abandoned"] == 1


def test_both_clocks_reload_from_the_case_rows() -> None:
    sl = ServiceLevel(15)
    sl.load([
        {"uniqueid": "a", "queue": "q", "state": "ended", "answered_at": 1020.0, "wait_seconds": 10.0,
         "arrived_at": 1000.0, "ended_at": 1100.0},
        {"uniqueid": "b", "queue": "q", "state": "ended", "answered_at": 1005.0, "wait_seconds": 5.0,
         "arrived_at": None, "ended_at": 1100.0},  # a row from before migration 0010
        {"uniqueid": "e", "queue": "", "state": "abandoned-ivr", "answered_at": None, "wait_seconds": None,
         "arrived_at": 1000.0, "ended_at": 1004.0}])
    o = sl.report()["overall"]
    assert (o["answered"], o["abandoned"], o["answered_in_target"]) == (2, 0, 2)
    assert (o["first_ring_offered"], o["first_ring_answered_in_target"], o["ivr_abandoned"]) == (3, 1, 1)
