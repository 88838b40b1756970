"""The service graph (src/hotline/graph.py): one function builds it for the runtime, the tests and
the benchmarks. Its cycles are closed once, the pumps feed every service from the bus in order,
and nobody else wires the floor by hand."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hotline import config
from hotline import events as ev
from hotline.bus import Bus
from hotline.cases.store import CaseStore
from hotline.cases.workflow import Actor
from hotline.graph import RecordingFiles, Services, build_services
from hotline.queue.roster import WRAPUP_REASON

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "etc/site.example.toml"
FORM = {"category": "housing", "district": "Dongcheng", "address": "12 Chaoyangmen Street",
        "description": "The lift has been broken for a week", "urgency": "high", "department": "housing_bureau"}


class AnyPbx:
    """Every PBX action any service may ask for: recorded, always succeeds."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def __getattr__(self, name: str) -> Any:
        async def action(*a: Any, **kw: Any) -> None:
            self.calls.append((name, *a))
        return action


class Blocks:
    async def load(self) -> list[Any]:
        return []

    async def block(self, *a: Any) -> None: ...
    async def unblock(self, *a: Any) -> None: ...


async def until(check: Callable[[], Any]) -> None:
    for _ in range(200):
        if check():
            return
        await asyncio.sleep(0.01)
    assert check()


def graph(tmp_path: Path, **kw: Any) -> tuple[Services, AnyPbx]:
    pbx = AnyPbx()
    return build_services(config.load(SITE, {}), CaseStore(tmp_path / "c.db"), pbx, Bus(), **kw), pbx  # type: ignore[arg-type]


def test_the_cycles_are_closed_once_and_the_optional_services_only_when_given(tmp_path: Path) -> None:
    g, _ = graph(tmp_path)
    assert g.supervision.on_change == g.wallboard.audit_changed  # an audit row: the wallboard re-reads
    assert g.interpreters.on_change == g.wallboard.changed
    assert g.wallboard.interpreting == g.interpreters.board_section
    assert g.workflow.on_replied == g.callbacks.schedule  # a department's reply schedules the call back
    assert g.board.extra_alerts == [g.overdue.alerts, g.crisis.board_alerts]
    assert g.overdue.on_change == g.wallboard.changed
    assert g.crisis.on_change == g.wallboard.audit_changed and g.wallboard.sections == {"crisis": g.crisis.counts}
    assert g.recordings is None and g.sip_security is None
    # one registry of calls, one roster, one hub: every service holds the same objects
    assert g.desktop.roster is g.roster and g.board.roster is g.roster and g.commands.roster is g.roster
    assert g.wallboard.board is g.board and g.supervision.board is g.board and g.wallboard.hub is g.hub
    web = g.web("token")
    assert (web.desk, web.desktop, web.wallboard, web.interpreters) == (g.desk, g.desktop, g.wallboard,
                                                                         g.interpreters)
    assert web.after_call is not None and web.after_call.callbacks is g.callbacks

    files = RecordingFiles(tmp_path, lambda *a: None, lambda p: 1 << 40, lambda fn: None)  # type: ignore[arg-type, return-value]
    full, _ = graph(tmp_path / "x", recording_files=files, sip_blocks=Blocks())
    assert full.recordings is not None and full.sip_security is not None
    assert full.recordings.on_alert == full.wallboard.changed and full.sip_security.on_change == full.wallboard.changed
    assert full.board.extra_alerts == [full.recordings.alerts, full.sip_security.alerts, full.overdue.alerts,
                                       full.crisis.board_alerts]
    assert {p.name for p in full.pumps} - {p.name for p in g.pumps} == {"recordings", "sip-security"}


async def test_the_pumps_feed_the_floor_and_the_desk_reaches_the_wrap_up(tmp_path: Path) -> None:
    g, pbx = graph(tmp_path)
    await g.store.open()
    try:
        tasks = g.start(clocks=False)
        assert {t.get_name() for t in tasks} == {f"{p.name}-pump" for p in g.pumps}
        g.bus.publish(ev.MemberStatus("hl-all", "PJSIP/1001", "1001", 1, False, "", False, 1.0))
        await until(lambda: "hl-all" in g.roster.get("1001").queues)  # type: ignore[union-attr]  # the state pump
        # the operator in wrap-up saves the form on the desk: its CaseSaved ends the wrap-up (the wrap-up pump)
        g.bus.publish(ev.MemberStatus("hl-all", "PJSIP/1001", "1001", 1, True, WRAPUP_REASON, False, 2.0))
        await g.store.create({"uniqueid": "u1", "caller_number": "13900000001", "language": "zh", "topic": "housing",
                              "ivr_path": "", "queue": "hl-zh-housing", "queued_at": 1.0, "operator": "1001",
                              "state": "ended"})
        await until(lambda: g.roster.get("1001").paused)  # type: ignore[union-attr]
        saved = await g.desk.save(Actor("op1", "operator", extension="1001"), "u1", FORM)
        assert saved.status == "dispatched"
        await until(lambda: ("queue_pause", "PJSIP/1001", False, "") in pbx.calls)
    finally:
        await g.stop()
        await g.store.close()
    assert g.tasks == [] and all(t.done() for t in tasks)


def test_nobody_else_builds_the_floor_by_hand() -> None:
    """The runtime, the web-app tests and the benchmark take the graph; only graph.py constructs the
    floor's services (a unit test of one service may build that one)."""
    built = re.compile(r"\b(Roster|Router|Board|DesktopService|Supervision|WallboardService|InterpreterService|"
                       r"InterpreterDesk|CaseDesk|AgentCommands)\(")
    places = [ROOT / "src/hotline/runtime.py", ROOT / "bench/wallboard.py"] + [
        ROOT / f"tests/{name}.py" for name in ("test_api", "test_fuzz", "test_after_call")]
    found = {str(p.relative_to(ROOT)): built.findall(p.read_text()) for p in places}
    assert {k: v for k, v in found.items() if v} == {}
