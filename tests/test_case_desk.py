"""The case desk (cases/desk.py): a form save as one command over a real SQLite file: the form,
the workflow's status change with its event rows, the day counts and the draft in one
transaction; CaseSaved afterwards; a second save updates; a failing step leaves nothing."""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from hotline import config
from hotline import events as ev
from hotline.cases.desk import CaseDesk, FormInvalid
from hotline.cases.desk_store import DeskStore
from hotline.cases.store import CaseStore, StoreError
from hotline.cases.workflow import Actor, Workflow, WorkflowError
from hotline.cases.workflow_store import WorkflowStore
from hotline.queue.roster import Roster
from hotline.queue.wrapup import WrapUp

SITE = Path(__file__).resolve().parents[1] / "etc/site.example.toml"
KIM = Actor("kim", "operator", extension="2001")
FORM = {"category": "housing", "district": "Dongcheng", "address": "12 Chaoyangmen Street",
        "description": "The lift has been broken for a week", "urgency": "high", "department": "housing_bureau"}


class Desk:
    def __init__(self, tmp_path: Path) -> None:
        site = config.load(SITE, {})
        self.settings = replace(site, districts=("Dongcheng", "Xicheng"))
        self.path = tmp_path / "cases.db"
        self.store = CaseStore(self.path)
        self.workflow = Workflow(self.settings, WorkflowStore(self.store.db))
        self.published: list[ev.Event] = []
        self.desk = CaseDesk(self.settings, DeskStore(self.store.db), self.workflow, self.published.append)

    async def call(self, uid: str = "u1") -> None:
        await self.store.create({"uniqueid": uid, "caller_number": "13900000001", "language": "zh",
                                 "topic": "housing", "ivr_path": "", "queue": "hl-zh-housing",
                                 "queued_at": 1_700_000_000.0, "operator": "2001", "state": "answered"})

    def rows(self, sql: str) -> list[Any]:
        with sqlite3.connect(self.path) as conn:
            return [r[0] if len(r) == 1 else tuple(r) for r in conn.execute(sql)]


@pytest.fixture
async def d(tmp_path: Path) -> Any:
    desk = Desk(tmp_path)
    await desk.call()
    yield desk
    await desk.store.close()


async def test_a_save_records_dispatches_counts_and_drops_the_draft_in_one_go(d: Desk) -> None:
    await d.store.save_draft("kim", "u1", '{"description": "The lift"}', 1.0)
    saved = await d.desk.save(KIM, "u1", FORM)
    assert (saved.status, saved.department) == ("dispatched", "housing_bureau")
    case = await d.store.get("u1")
    assert case is not None and (case["status"], case["department"], case["form_saved_by"]) == (
        "dispatched", "housing_bureau", "kim")
    assert d.rows("select action from case_events order by id") == ["recorded", "dispatched"]
    assert d.rows("select kind, key, cases from daily_counts order by kind") == [
        ("address", f"{case['address_key']}|housing", 1), ("district", "Dongcheng", 1), ("topic", "housing", 1)]
    assert await d.store.draft("kim", "u1") is None
    assert d.published == [ev.CaseSaved("u1", saved.case_id, "dispatched", "housing_bureau", "kim", "operator",
                                        "2001", d.published[0].at)]  # type: ignore[union-attr]


async def test_a_save_whose_workflow_step_fails_leaves_no_form_no_counts_no_event(d: Desk) -> None:
    """The dispatch's event row cannot be written (a real SQLite failure inside the transaction):
    the form saved before it in the same transaction is rolled back, with its day counts."""
    await d.store.save_draft("kim", "u1", '{"description": "The lift"}', 1.0)
    await d.store.db.run(lambda db: db.execute(
        "create trigger no_dispatch before insert on case_events when new.action = 'dispatched'"
        " begin select raise(abort, 'the event row failed'); end"))
    with pytest.raises(StoreError, match="the event row failed"):
        await d.desk.save(KIM, "u1", FORM)
    assert d.rows("select coalesce(status, ''), form_saved_at, category, district from cases") == [
        ("", None, None, None)]
    assert d.rows("select count(*) from daily_counts") == [0]
    assert d.rows("select count(*) from case_events") == [0]  # not even the "recorded" before it
    assert d.rows("select count(*) from case_text") == [0]
    assert await d.store.draft("kim", "u1") is not None  # what the operator typed is kept
    assert d.published == []  # nobody is told it was saved


async def test_a_refused_workflow_step_is_its_error_and_leaves_nothing(d: Desk) -> None:
    """A department's user may not record another department's case: the workflow refuses inside
    the transaction and the form it had saved there goes with it."""
    with pytest.raises(WorkflowError) as refused:
        await d.desk.save(Actor("tb", "department", department="transport_bureau"), "u1", FORM)
    assert (refused.value.error_id, refused.value.status) == ("forbidden", 403)
    assert d.rows("select form_saved_at from cases") == [None]
    assert d.rows("select count(*) from daily_counts") == [0] and d.published == []


async def test_two_saves_in_a_row_update_the_case_and_move_the_counts(d: Desk) -> None:
    first = await d.desk.save(KIM, "u1", FORM)
    second = await d.desk.save(KIM, "u1", {**FORM, "district": "Xicheng", "department": "transport_bureau"})
    assert (first.case_id, second.status, second.department) == (second.case_id, "dispatched", "housing_bureau")
    assert d.rows("select district from cases") == ["Xicheng"]
    assert d.rows("select key, cases from daily_counts where kind = 'district' order by key") == [
        ("Dongcheng", 0), ("Xicheng", 1)]
    assert d.rows("select action from case_events order by id") == ["recorded", "dispatched"]
    assert [type(e).__name__ for e in d.published] == ["CaseSaved", "CaseSaved"]


async def test_two_saves_at_once_both_succeed_and_record_once(d: Desk) -> None:
    """Two tabs (or a double click) save the same call at the same moment: each plan is made
    inside its own transaction, so neither is a conflict after its form was saved."""
    a, b = await asyncio.gather(d.desk.save(KIM, "u1", FORM), d.desk.save(KIM, "u1", {**FORM, "urgency": "low"}))
    assert a.status == b.status == "dispatched"
    assert d.rows("select action from case_events order by id") == ["recorded", "dispatched"]
    assert d.rows("select sum(cases) from daily_counts where kind = 'topic'") == [1]


async def test_concurrent_dispatches_stay_a_real_conflict(d: Desk) -> None:
    """Outside the desk, two people dispatching the same case at once: one wins, the other is told."""
    await d.desk.save(KIM, "u1", {**FORM, "department": ""})
    boss = Actor("boss", "supervisor")
    results = await asyncio.gather(d.workflow.dispatch("u1", "housing_bureau", boss),
                                   d.workflow.dispatch("u1", "transport_bureau", boss), return_exceptions=True)
    errors = [r for r in results if isinstance(r, WorkflowError)]
    assert len(errors) == 1 and errors[0].error_id in ("conflict", "wrong-status") and errors[0].status == 409
    assert d.rows("select count(*) from case_events where action = 'dispatched'") == [1]


async def test_an_invalid_form_saves_nothing_and_says_per_field(d: Desk) -> None:
    with pytest.raises(FormInvalid) as bad:
        await d.desk.save(KIM, "u1", {**FORM, "district": "Atlantis", "description": "no"})
    assert (bad.value.status, set(bad.value.details["fields"])) == (422, {"district", "description"})
    assert d.rows("select form_saved_at from cases") == [None] and d.published == []
    with pytest.raises(WorkflowError) as unknown:
        await d.desk.save(KIM, "nosuch", FORM)
    assert unknown.value.status == 404 and d.published == []


class Pbx:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    async def queue_add(self, *a: Any) -> None:
        self.calls.append(("add", *a))

    async def queue_remove(self, *a: Any) -> None:
        self.calls.append(("remove", *a))

    async def queue_pause(self, *a: Any) -> None:
        self.calls.append(("pause", *a))


async def test_the_case_saved_event_ends_the_wrap_up(d: Desk) -> None:
    roster = Roster(d.settings)
    pbx = Pbx()
    wrapup = WrapUp(60, roster, pbx)
    roster.apply(ev.MemberStatus("hl-all", "PJSIP/1001", "x", 1, True, "wrap-up", False, 1.0))
    saved = await d.desk.save(Actor("op1", "operator", extension="1001"), "u1", FORM)
    await wrapup.handle(d.published[-1])
    assert pbx.calls == [("pause", "PJSIP/1001", False, "")]
    # a supervisor's save names no extension: nobody's wrap-up ends
    pbx.calls.clear()
    await wrapup.handle(ev.CaseSaved("u1", saved.case_id, "dispatched", "", "boss", "supervisor", "", 2.0))
    assert pbx.calls == []
