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
