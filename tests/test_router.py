"""Routing decisions and the deadline watcher, with a recording stand-in for the PBX."""

from pathlib import Path

from hotline import config
from hotline import events as ev
from hotline.floor.calls import CallRegistry
from hotline.queue.roster import Roster
from hotline.queue.router import Router

SITE = Path(__file__).resolve().parents[1] / "etc/site.example.toml"


class RecordingPbx:
    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []

    async def queue_add(self, queue: str, interface: str, penalty: int, member_name: str) -> None:
        self.calls.append(("add", queue, interface, str(penalty)))

    async def queue_remove(self, queue: str, interface: str) -> None:
        self.calls.append(("remove", queue, interface))

    async def queue_pause(self, interface: str, paused: bool, reason: str) -> None:
        self.calls.append(("pause", interface, str(paused)))


class Clock:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


def member(queue: str, ext: str, status: int = 1) -> ev.MemberStatus:
    return ev.MemberStatus(queue, f"PJSIP/{ext}", ext, status, False, "", status != 1, 0.0)


def setup() -> tuple[Router, Roster, CallRegistry, RecordingPbx, Clock]:
    from hotline.queue.skills import memberships
    settings = config.load(SITE, {})
    clock = Clock()
    roster = Roster(settings, clock)
    calls = CallRegistry(clock=clock)  # what the state pump keeps; the router reads the waiting callers
    pbx = RecordingPbx()
    for op in settings.operators:
        for q in memberships(op):
            roster.apply(member(q, op.extension))
    return Router(settings, roster, calls, pbx, clock), roster, calls, pbx, clock


def test_entry_decision_follows_free_skills() -> None:
    router, roster, calls, *_ = setup()
    d = router.decide("u1", "ru", "papers", "lang:ru/topic:papers/")
    assert (d.queue, d.max_penalty, d.rule) == ("hl-ru-papers", 1, "hl-widen")  # 1003: ru native, papers
    d = router.decide("u2", "xx", "weather", "")
    assert d.queue == "hl-zh-general", "unknown language and topic fall back to the default language, general"
    roster.apply(member("hl-ru-papers", "1003", status=2))  # 1003 busy
    d = router.decide("u3", "ru", "papers", "")
    u3 = calls.get("u3")
    assert d.max_penalty == 4 and u3 is not None and u3.urgent and u3.decision == d


async def test_watcher_overflows_same_language_then_anyone_and_releases() -> None:
    router, roster, calls, pbx, clock = setup()
    # 1005 speaks English but handles no housing; 1001 (en=3, housing) is busy
    roster.apply(member("hl-en-housing", "1001", status=2))
    roster.apply(member("hl-en-housing", "1003", status=2))  # ru/en/zh, papers only: not a member; busy anyway
    router.decide("u1", "en", "housing", "")
    calls.apply(ev.CallerJoined("u1", "u1", "hl-en-housing", "139", "en", "housing", "", 1, clock.now))
    await router.tick()
    assert ("add", "hl-en-housing", "PJSIP/1005", "4") in pbx.calls, "same-language overflow at once (urgent)"
    assert not any(c[2] == "PJSIP/1002" for c in pbx.calls if c[0] == "add"), "no other language yet"
    roster.apply(member("hl-en-housing", "1005", status=2))  # 1005 took another call meanwhile
    clock.now += 9.5
    await router.tick()
    assert ("add", "hl-en-housing", "PJSIP/1002", "4") in pbx.calls, "anyone after overflow_any_after"
    calls.apply(ev.AgentConnected("u1", "hl-en-housing", "PJSIP/1002", "x", 10, clock.now))
    await router.tick()
    assert ("remove", "hl-en-housing", "PJSIP/1002") in pbx.calls
    assert ("remove", "hl-en-housing", "PJSIP/1005") in pbx.calls
    assert router.overflow == {}


def english_speakers_busy(roster: Roster) -> None:
    for ext in ("1001", "1003", "1005"):
        op = roster.get(ext)
        assert op is not None
        roster.apply(member(sorted(op.queues)[0], ext, status=2))


async def test_the_deadline_runs_from_the_first_ring() -> None:
    """A caller who spent 6 s in the IVR has 9 s of 15 left: 3 s after queue entry it is 9 s from the
    first ring (overflow_any_after), and any free operator is added; a caller who arrived just now
    only gets the same-language stage at that point."""
    router, roster, calls, pbx, clock = setup()
    english_speakers_busy(roster)  # only the anyone stage adds someone (1002)
    arrived = clock.now
    clock.now += 6.0  # six seconds of IVR
    d = router.decide("u1", "en", "housing", "", arrived_at=arrived)
    u1 = calls.get("u1")
    assert u1 is not None and u1.arrived_at == arrived
    calls.apply(ev.CallerJoined("u1", "u1", d.queue, "139", "en", "housing", "", 1, clock.now))
    await router.tick()
    assert not any(c[2] == "PJSIP/1002" for c in pbx.calls if c[0] == "add"), "6 s from the first ring: not yet"
    clock.now += 3.0  # 3 s in the queue, 9 s from the first ring
    await router.tick()
    assert ("add", "hl-en-housing", "PJSIP/1002", "4") in pbx.calls, "overflow_any_after counted from arrival"


async def test_without_an_arrival_the_deadline_runs_from_queue_entry() -> None:
    router, roster, calls, pbx, clock = setup()
    english_speakers_busy(roster)
    d = router.decide("u1", "en", "housing", "")  # an old dialplan: no HL_ARRIVED
    calls.apply(ev.CallerJoined("u1", "u1", d.queue, "139", "en", "housing", "", 1, clock.now))
    clock.now += 3.0
    await router.tick()
    assert not any(c[2] == "PJSIP/1002" for c in pbx.calls if c[0] == "add")
    clock.now += 6.0
    await router.tick()
    assert ("add", "hl-en-housing", "PJSIP/1002", "4") in pbx.calls
