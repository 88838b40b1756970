"""'Add interpreter' is offered only for the languages some configured interpreter speaks, and a
request for a language nobody interprets is refused at once (409 no-interpreter), before the call
is moved into a conference room where the caller would wait for nobody."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from hotline import config
from hotline import events as ev
from hotline.auth.users import Principal
from hotline.cases.store import CaseStore
from hotline.config import Interpreter
from hotline.floor.calls import CallRegistry
from hotline.floor.desktop import DesktopService
from hotline.floor.interpreters import InterpreterService, interpretable
from hotline.queue.agents import AgentError
from hotline.queue.roster import Roster
from hotline.queue.skills import SkillBook
from hotline.queue.wrapup import WrapUp
from hotline.web.hub import Hub

SITE = Path(__file__).resolve().parents[1] / "etc/site.example.toml"


def site(*interpreters: Interpreter) -> config.Settings:
    return replace(config.load(SITE, {}), interpreters=interpreters)


class RecordingPbx:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    async def move_to_conference(self, *a: Any) -> None:
        self.calls.append(("move", *a))

    async def originate_to_conference(self, *a: Any) -> None:
        self.calls.append(("originate", *a))

    async def hangup(self, *a: Any) -> None:
        self.calls.append(("hangup", *a))

    async def queue_pause(self, *a: Any) -> None:
        pass


class NoCases:
    async def interpreting(self, row: dict[str, Any]) -> None:
        pass

    async def get(self, uniqueid: str) -> dict[str, Any] | None:
        return None


def service(settings: config.Settings, pbx: RecordingPbx, caller_language: str = "zh") -> InterpreterService:
    calls = CallRegistry()  # the one call the request reads: 1001 answered it
    calls.apply(ev.AgentConnected("9.1", "hl-zh-general", "PJSIP/1001", "1001", 4, 100.0, "PJSIP/citizens-00000001",
                                  "PJSIP/1001-00000002", caller_language, "139"))
    return InterpreterService(settings, calls, SkillBook(settings), pbx, NoCases(), NoCases(), lambda e: None)


@pytest.mark.parametrize(("interpreters", "languages"), [
    ((), []),
    ((Interpreter("2001", "Li", {"en": 5, "ja": 3}), Interpreter("2002", "Kim", {"ko": 4})), ["en", "ja", "ko"]),
])
async def test_the_snapshot_says_which_languages_can_be_interpreted(tmp_path: Path, interpreters: Any,
                                                                    languages: list[str]) -> None:
    settings = site(*interpreters)
    roster = Roster(settings)
    store = CaseStore(tmp_path / "c.db")
    try:
        desk = DesktopService(settings, roster, CallRegistry(), WrapUp(5, roster, RecordingPbx()), store, Hub())
        snap = await desk.snapshot(Principal("op1", "operator", "", "1001"))
    finally:
        await store.close()
    assert [x["code"] for x in snap["interpreting"]["languages"]] == languages
    assert all(x["name"] for x in snap["interpreting"]["languages"])


async def test_a_language_nobody_interprets_is_refused_at_once() -> None:
    settings = site(Interpreter("2001", "Li", {"en": 5}))
    pbx = RecordingPbx()
    interp = service(settings, pbx, caller_language="zh")
    for asked in ("", "zh"):  # the caller's own language (the default) or chosen
        with pytest.raises(AgentError) as err:
            await interp.request("1001", "op1", asked)
        assert (err.value.error_id, err.value.status) == ("no-interpreter", 409)
        assert "Mandarin" in str(err.value)
    assert pbx.calls == [] and interp.requests == {}  # the call was never moved into a room
    interp.pool["2001"].logged_in = True
    req = await interp.request("1001", "op1", "en")  # a covered language goes ahead
    assert req.state == "ringing" and [c[0] for c in pbx.calls] == ["move", "originate"]


async def test_no_interpreter_configured_at_all() -> None:
    settings = site()
    assert interpretable(settings) == []
    with pytest.raises(AgentError) as err:
        await service(settings, RecordingPbx()).request("1001", "op1", "en")
    assert err.value.error_id == "no-interpreter"
