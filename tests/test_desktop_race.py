"""The desktop runs on a bus subscription of its own: the state pump may have applied a call's end
(and forgotten nothing) before the desktop handles the events of that end. Whatever order the case
save, the page's draft, app_queue's AgentComplete and the hang-up reach the desktop in, the operator
gets the outcome (the case saved, the call ended) and never "no such call" (issue 15)."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from hotline import config
from hotline import events as ev
from hotline.auth.users import Principal
from hotline.floor.calls import CallRegistry
from hotline.floor.desktop import DesktopService
from hotline.queue.roster import Roster
from hotline.queue.wrapup import WrapUp

SITE = Path(__file__).resolve().parents[1] / "etc/site.example.toml"
Q, UID = "hl-zh-housing", "1700000000.7"
OP1 = Principal("op1", "operator", "Op One", "1001")


class Pages:
    """The notifier port: what each extension's pages were sent."""

    def __init__(self) -> None:
        self.sent: dict[str, list[dict[str, Any]]] = {}

    def to_extension(self, extension: str, msg: dict[str, Any]) -> int:
        self.sent.setdefault(extension, []).append(msg)
        return 1

    def extensions(self) -> set[str]:
        return set(self.sent)

    def types(self, extension: str) -> list[str]:
        return [m["type"] for m in self.sent.get(extension, [])]


class Cases:
    """The desktop's store port, in memory."""

    def __init__(self) -> None:
        self.drafts: dict[tuple[str, str], str] = {}

    async def get(self, uniqueid: str) -> dict[str, Any] | None:
        return {"id": 42, "uniqueid": uniqueid, "ivr_path": "1-2", "topic": "housing", "caller_number": "139",
                "language": "zh", "operator": "1001", "form_saved_at": None}

    async def caller_history(self, caller_number: str, exclude: str, limit: int = 5) -> list[dict[str, Any]]:
        return []

    async def transcript(self, uniqueid: str) -> list[dict[str, Any]]:
        return []

    async def draft(self, username: str, uniqueid: str) -> dict[str, Any] | None:
        return None

    async def save_draft(self, username: str, uniqueid: str, data: str, at: float) -> None:
        self.drafts[(username, uniqueid)] = data


class NoPbx:
    async def queue_pause(self, *a: Any) -> None: ...


class Floor:
    def __init__(self) -> None:
        settings = config.load(SITE, {})
        roster = Roster(settings)
        self.calls = CallRegistry()
        self.pages = Pages()
        self.cases = Cases()
        pbx: Any = NoPbx()  # the wrap-up's pause is not at stake here
        self.desktop = DesktopService(settings, roster, self.calls, WrapUp(5, roster, pbx), self.cases, self.pages)

    def pump(self, *events: ev.Event) -> None:
        for e in events:
            self.calls.apply(e)


RING = ev.AgentRinging(UID, Q, "PJSIP/1001", "1001", "13900001234", "zh", "housing", 1000.0)
CONNECT = ev.AgentConnected(UID, Q, "PJSIP/1001", "1001", 4, 1004.0, channel="PJSIP/citizens-1",
                            agent_channel="PJSIP/1001-2", language="zh", caller_number="13900001234")
COMPLETE = ev.AgentCompleted(UID, Q, "PJSIP/1001", 4, 60, "caller", 1064.0)
HANGUP = ev.ChannelHangup(UID, UID, "PJSIP/citizens-1", 16, 1064.1)
SAVED = ev.CaseSaved(UID, 42, "new", "housing_bureau", "op1", "operator", "1001", 1065.0)
STEPS = ("saved", "draft", "complete", "hangup")
ENDS: dict[str, ev.Event] = {"saved": SAVED, "complete": COMPLETE, "hangup": HANGUP}


@pytest.mark.parametrize("order", list(itertools.permutations(STEPS)), ids="-".join)
async def test_the_end_of_a_call_in_any_order_after_the_pump(order: tuple[str, ...]) -> None:
    f = Floor()
    f.pump(ev.CallerJoined(UID, UID, Q, "13900001234", "zh", "housing", "1-2", 1, 990.0), RING)
    await f.desktop.handle(RING)
    f.pump(CONNECT)
    await f.desktop.handle(CONNECT)
    f.pump(COMPLETE, HANGUP, SAVED)  # the pump is ahead: the call has ended there
    kept: list[bool] = []
    for step in order:
        if step == "draft":  # the page's typing crossed the end and the save: no error, ever
            kept.append(await f.desktop.draft(OP1, UID, {"description": "the lift is broken"}))
        else:
            await f.desktop.handle(ENDS[step])
    types = f.pages.types("1001")
    assert types[:2] == ["offer", "live"]
    assert types.count("case_saved") == 1, types  # the operator is told the case was saved
    assert types.count("call_ended") == 1, types  # and that the call ended, once
    assert "offer_withdrawn" not in types
    # saved after it ended, the call leaves the desktop: a draft after that is dropped quietly (False)
    left = min(order.index("complete"), order.index("hangup")) < order.index("saved")
    late = left and order.index("draft") > order.index("saved")
    assert kept == [not late]
    assert (("op1", UID) in f.cases.drafts) is not late
    assert ("1001" in f.desktop.views) is not left


async def test_an_offer_is_withdrawn_from_whoever_it_rang_when_the_caller_hangs_up() -> None:
    f = Floor()
    ring2 = ev.AgentRinging(UID, Q, "PJSIP/1002", "1002", "13900001234", "zh", "housing", 1016.0)
    noanswer = ev.AgentNoAnswer(UID, Q, "PJSIP/1001", 15000, 1015.0)
    abandon = ev.CallerAbandoned(UID, Q, 20, 1020.0)
    f.pump(ev.CallerJoined(UID, UID, Q, "13900001234", "zh", "housing", "1-2", 1, 995.0), RING, noanswer, ring2,
           abandon, HANGUP)  # the pump has seen it all; the desktop now catches up
    for e in (RING, noanswer, ring2, abandon, HANGUP):
        await f.desktop.handle(e)
    assert f.pages.types("1001") == ["offer", "offer_withdrawn"]
    assert f.pages.types("1002") == ["offer", "offer_withdrawn"]
    assert f.desktop.views == {}
    offer = f.pages.sent["1002"][0]
    assert offer["queued_at"] == 995.0  # when the caller joined the queue (the registry's), not the ring


async def test_a_call_the_registry_forgot_is_still_ended_on_the_desktop() -> None:
    f = Floor()  # e.g. a call seen only through the queue_log replay (before the registry's day)
    await f.desktop.handle(RING)
    await f.desktop.handle(CONNECT)
    await f.desktop.handle(HANGUP)
    assert f.pages.types("1001")[-1] == "call_ended"
    assert await f.desktop.draft(OP1, UID, {"description": "x"}) is True
    with pytest.raises(ValueError, match="no such call"):
        await f.desktop.draft(OP1, "never-here", {"description": "x"})
