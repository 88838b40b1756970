"""After a restart the desktop shows no panel for a call that is not there: the queue_log replay
(pbx/queue_log.py) publishes the calls of the last run again, and the desktop rebuilt over the same
store keeps only this operator's ended call whose form is still to be saved (docs/desktop.md)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from hotline import config
from hotline.auth.users import Principal
from hotline.cases.service import CaseService
from hotline.cases.store import CaseStore
from hotline.floor.calls import CallRegistry
from hotline.floor.desktop import DesktopService
from hotline.pbx import queue_log
from hotline.queue.roster import Roster
from hotline.queue.wrapup import WrapUp
from hotline.web.hub import Hub

SITE = Path(__file__).resolve().parents[1] / "etc/site.example.toml"
OP1 = Principal("op1", "operator", "Op One", "1001")


class NoPbx:
    async def queue_pause(self, *a: Any) -> None:
        pass


def lines(uid: str, agent: str, at: float, end: bool = True, caller: str = "13912341234") -> list[str]:
    out = [f"{at}|{uid}|hl-zh-general|NONE|HLINFO|zh|housing|1-2",
           f"{at}|{uid}|hl-zh-general|NONE|ENTERQUEUE||{caller}|1",
           f"{at + 5}|{uid}|hl-zh-general|{agent}|CONNECT|5|{uid}.1|2"]
    if end:
        out.append(f"{at + 65}|{uid}|hl-zh-general|{agent}|COMPLETECALLER|5|60|1")
    return out


class Restarted:
    """A new service over the store the last run left behind: cases, drafts, and the replay."""

    def __init__(self, store: CaseStore) -> None:
        settings = config.load(SITE, {})
        roster = Roster(settings)
        self.store = store
        self.hub = Hub()
        self.cases = CaseService(store)
        self.calls = CallRegistry()
        self.desktop = DesktopService(settings, roster, self.calls, WrapUp(5, roster, NoPbx()), store, self.hub)

    async def replay(self, log_lines: list[str]) -> None:
        for e in queue_log.parse(log_lines):  # the runtime's order: the state pump, cases, the desktop
            self.calls.apply(e)
            await self.cases.handle(e)
            await self.desktop.handle(e)


@pytest.fixture
async def store(tmp_path: Path) -> Any:
    s = CaseStore(tmp_path / "c.db")
    yield s
    await s.close()


async def test_a_leftover_draft_shows_no_panel_after_a_restart(store: CaseStore) -> None:
    t = time.time() - 600
    first = Restarted(store)
    await first.replay(lines("1.1", "1001", t, end=False))
    await store.save_draft("op1", "1.1", json.dumps({"description": "lift broken"}), t + 10)
    await store.update("1.1", {"form_saved_at": t + 60, "form_saved_by": "op1", "state": "closed"})
    # the restart: nothing replayed yet (the page reloads first) and then the whole last run again
    again = Restarted(store)
    assert (await again.desktop.snapshot(OP1))["call"] is None
    await again.replay(lines("1.1", "1001", t))
    snap = await again.desktop.snapshot(OP1)
    assert snap["call"] is None, snap["call"]


async def test_the_operators_unsaved_ended_call_stays_to_be_saved(store: CaseStore) -> None:
    t = time.time() - 600
    again = Restarted(store)
    await again.replay(lines("2.1", "1001", t))
    call = (await again.desktop.snapshot(OP1))["call"]
    assert call is not None and call["uniqueid"] == "2.1" and call["phase"] == "ended"
    assert call["caller_number"] == "13912341234"  # from the case, not "unknown"
    other = Principal("op2", "operator", "Op Two", "1002")
    assert (await again.desktop.snapshot(other))["call"] is None


async def test_a_call_still_going_after_a_restart_is_live(store: CaseStore) -> None:
    t = time.time() - 60
    again = Restarted(store)
    await again.replay(lines("3.1", "1001", t - 700) + lines("3.2", "1001", t, end=False))
    call = (await again.desktop.snapshot(OP1))["call"]
    assert call is not None and call["uniqueid"] == "3.2" and call["phase"] == "live"


async def test_a_replay_after_an_ami_reconnect_never_replaces_the_live_call(store: CaseStore) -> None:
    t = time.time() - 60
    again = Restarted(store)
    await again.replay(lines("4.2", "1001", t, end=False))
    await again.replay(lines("4.1", "1001", t - 700))  # an older call, saved or not, comes again
    call = (await again.desktop.snapshot(OP1))["call"]
    assert call is not None and call["uniqueid"] == "4.2" and call["phase"] == "live"
