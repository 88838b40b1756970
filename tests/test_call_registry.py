"""The call registry (floor/calls.py): events in, typed views out; an ended call lingers; a resync
rebuilds it; today's cases from the store restore it."""

from __future__ import annotations

from hotline import events as ev
from hotline.floor.calls import CallRegistry
from hotline.queue.router import RouteDecision

Q, Q2 = "hl-zh-housing", "hl-en-papers"


class Clock:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


def joined(uid: str, at: float, queue: str = Q, caller: str = "13900001234") -> ev.CallerJoined:
    return ev.CallerJoined(uid, uid, queue, caller, "zh", "housing", "1-2", 1, at)


def rang(uid: str, ext: str, at: float, queue: str = Q) -> ev.AgentRinging:
    return ev.AgentRinging(uid, queue, f"PJSIP/{ext}", ext, "13900001234", "zh", "housing", at)


def connected(uid: str, ext: str, at: float, hold: int = 5, queue: str = Q) -> ev.AgentConnected:
    return ev.AgentConnected(uid, queue, f"PJSIP/{ext}", ext, hold, at, channel=f"PJSIP/citizens-{uid}",
                             agent_channel=f"PJSIP/{ext}-{uid}", language="zh", caller_number="13900001234")


def completed(uid: str, ext: str, at: float, queue: str = Q) -> ev.AgentCompleted:
    return ev.AgentCompleted(uid, queue, f"PJSIP/{ext}", 5, 60, "caller", at)


def hangup(uid: str, at: float) -> ev.ChannelHangup:
    return ev.ChannelHangup(uid, uid, f"PJSIP/citizens-{uid}", 16, at)


def apply(calls: CallRegistry, *events: ev.Event) -> None:
    for e in events:
        calls.apply(e)


def test_events_in_typed_views_out() -> None:
    clock = Clock()
    calls = CallRegistry(clock=clock)
    decision = RouteDecision(Q, 1, "hl-widen", "best free")
    calls.decided("a", decision, urgent=True)  # FastAGI, before the caller joins the queue
    assert calls.waiting() == [] and calls.get("a") is not None and calls.get("a").state == "entry"  # type: ignore[union-attr]
    apply(calls, joined("a", 990.0), joined("b", 980.0), joined("c", 995.0, queue=Q2))
    assert [c.uniqueid for c in calls.waiting()] == ["b", "a", "c"]  # oldest first, every queue
    assert [c.uniqueid for c in calls.waiting_in(Q)] == ["b", "a"]
    a = calls.waiting_in(Q)[1]
    assert (a.queue, a.joined_at, a.caller_number, a.language, a.topic) == (Q, 990.0, "13900001234", "zh", "housing")
    assert a.urgent and a.decision == decision and not calls.waiting_in(Q)[0].urgent

    apply(calls, rang("a", "1001", 996.0), ev.AgentNoAnswer("a", Q, "PJSIP/1001", 15000, 1011.0),
          rang("a", "1002", 1011.0), connected("a", "1002", 1012.0, hold=22), ev.CallerLeft("a", Q, 1012.0))
    a = calls.get("a")  # type: ignore[assignment]
    assert a is not None and (a.state, a.operator, a.answered_at, a.wait) == ("answered", "1002", 1012.0, 22.0)
    assert (a.channel, a.agent_channel) == ("PJSIP/citizens-a", "PJSIP/1002-a")
    assert a.desktops() == ["1002", "1001"]  # who answered, then whom it rang
    assert calls.of_operator("1002") is a and calls.of_operator("1001") is None
    assert [c.uniqueid for c in calls.answered()] == ["a"] and calls.talking() == 1
    assert [c.uniqueid for c in calls.waiting_in(Q)] == ["b"]
    apply(calls, joined("a", 1013.0))  # replayed (queue_log after a reconnect): answered calls never wait again
    assert [c.uniqueid for c in calls.waiting_in(Q)] == ["b"]

    apply(calls, ev.InterpreterJoined("a", 1, "3001", "zh", "PJSIP/3001-1", 1012.0, 1020.0))
    assert calls.get("a").interpreters == {"3001"}  # type: ignore[union-attr]
    apply(calls, ev.InterpreterLeft("a", 1, "3001", 1030.0))
    assert calls.get("a").interpreters == set()  # type: ignore[union-attr]

    apply(calls, completed("a", "1002", 1072.0), hangup("a", 1072.1))
    assert calls.of_operator("1002") is None and calls.talking() == 0 and calls.live("a") is None
    ended = calls.get("a")  # still resolvable: whose call it was, when it ended
    assert ended is not None and (ended.state, ended.operator, ended.ended_at) == ("ended", "1002", 1072.0)

    apply(calls, ev.CallerAbandoned("b", Q, 40, 1020.0), ev.CallerLeft("c", Q2, 1021.0))
    assert calls.waiting() == []
    c = calls.get("c")
    assert c is not None and c.state == "entry" and c.live  # left the queue, not ended
    apply(calls, joined("c", 1022.0, queue=Q))  # joins another queue
    assert [w.uniqueid for w in calls.waiting_in(Q)] == ["c"]


def test_an_ended_call_lingers_then_is_forgotten() -> None:
    clock = Clock()
    calls = CallRegistry(linger=120.0, clock=clock)
    apply(calls, joined("x", 1000.0), ev.CallerAbandoned("x", Q, 3, 1003.0))  # nobody's call
    apply(calls, joined("y", 1000.0), connected("y", "1001", 1005.0), completed("y", "1001", 1065.0))
    clock.now = 1110.0
    apply(calls, joined("z", 1110.0))  # any event: the registry looks at the clock
    assert calls.get("x") is not None and calls.get("y") is not None  # within the linger
    clock.now = 1200.0
    apply(calls, ev.PbxConnected(1200.0))
    assert calls.get("x") is None  # forgotten
    assert calls.get("y") is not None  # past the linger, but still 1001's latest call
    apply(calls, connected("z", "1001", 1201.0))  # 1001's next call
    assert calls.get("y") is None and calls.of_operator("1001") is calls.get("z")


def test_a_resync_rebuilds_the_waiting_callers_and_ends_what_asterisk_no_longer_holds() -> None:
    calls = CallRegistry()
    apply(calls, joined("w1", 900.0), joined("w2", 905.0), joined("gone", 906.0),
          connected("talk", "1001", 910.0), connected("hungup", "1002", 911.0))
    snap = ev.Resynced(
        channels=(ev.ChannelSnapshot("talk", "talk", "PJSIP/citizens-talk", True, "1001", "Queue", "", "139"),
                  ev.ChannelSnapshot("w2", "w2", "PJSIP/citizens-w2", False, "", "AGI", "", "139")),
        waiting=(ev.WaitingCaller("w1", Q, "13900001234", 30), ev.WaitingCaller("new", Q2, "13800000000", 7)),
        members=(), at=1000.0)
    calls.apply(snap)
    assert [(c.uniqueid, c.queue, c.joined_at) for c in calls.waiting()] == [("w1", Q, 970.0), ("new", Q2, 993.0)]
    assert calls.get("w2").state == "entry"  # type: ignore[union-attr]  # Asterisk holds it, in no queue
    assert calls.live("gone") is None and calls.live("hungup") is None and calls.of_operator("1002") is None
    assert calls.of_operator("1001") is calls.get("talk")
    assert calls.get("new").caller_number == "13800000000"  # type: ignore[union-attr]


def test_todays_cases_restore_it_and_old_lines_are_not_taken_in() -> None:
    calls = CallRegistry(since=500.0)
    case = {"queue": Q, "caller_number": "139", "language": "zh", "topic": "housing", "queued_at": 600.0,
            "wait_seconds": None, "answered_at": None, "operator": None}
    calls.load([{**case, "uniqueid": "q1", "state": "queued"},
                {**case, "uniqueid": "a1", "state": "answered", "answered_at": 610.0, "wait_seconds": 10.0,
                 "operator": "1001"},
                {**case, "uniqueid": "e1", "state": "ended", "answered_at": 620.0, "operator": "1002"},
                {**case, "uniqueid": "ab1", "state": "abandoned"}])
    assert calls.waiting() == []  # waiting or not is the resync's to say
    assert calls.get("q1") is not None and calls.of_operator("1001") is calls.get("a1")
    assert calls.get("e1") is None and calls.get("ab1") is None
    apply(calls, joined("e1", 700.0), joined("ab1", 700.0), joined("old", 400.0))  # the queue_log replayed
    assert calls.waiting() == [] and calls.get("old") is None
    apply(calls, joined("q1", 700.0))
    assert [c.uniqueid for c in calls.waiting()] == ["q1"]
