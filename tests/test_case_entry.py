"""A case entered by hand (cases/desk.py ``CaseDesk.enter``, ``POST /api/cases``) over a real
SQLite file: the case row, its form, its day counts and the workflow's status change are one
transaction; a failing step midway leaves no case at all (the old handler's three store trips left
a case without a status behind)."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer, unused_port

from hotline import config
from hotline import events as ev
from hotline.bus import Bus
from hotline.cases.desk import CaseDesk, FormInvalid
from hotline.cases.desk_store import DeskStore
from hotline.cases.store import CaseStore, StoreError
from hotline.cases.workflow import Actor, Workflow, WorkflowError
from hotline.cases.workflow_store import WorkflowStore
from hotline.graph import build_services
from hotline.web.app import build_app
from hotline.web.security import COOKIE

SITE = Path(__file__).resolve().parents[1] / "etc/site.example.toml"
BOSS = Actor("boss", "supervisor")
FORM = {"category": "housing", "district": "Dongcheng", "address": "12 Chaoyangmen Street",
        "description": "The lift has been broken for a week", "urgency": "high", "department": "housing_bureau",
        "caller_number": "13900000001", "language": "zh"}


class Desk:
    def __init__(self, tmp_path: Path) -> None:
        site = config.load(SITE, {})
        self.settings = replace(site, districts=("Dongcheng", "Xicheng"))
        self.path = tmp_path / "cases.db"
        self.store = CaseStore(self.path)
        self.published: list[ev.Event] = []
        self.desk = CaseDesk(self.settings, DeskStore(self.store.db), Workflow(self.settings,
                                                                               WorkflowStore(self.store.db)),
                             self.published.append)

    def rows(self, sql: str) -> list[Any]:
        with sqlite3.connect(self.path) as conn:
            return [r[0] if len(r) == 1 else tuple(r) for r in conn.execute(sql)]

    def nothing_written(self) -> bool:
        return all(self.rows(f"select count(*) from {table}") == [0]
                   for table in ("cases", "daily_counts", "case_events", "case_text"))


@pytest.fixture
async def d(tmp_path: Path) -> Any:
    desk = Desk(tmp_path)
    await desk.store.open()
    yield desk
    await desk.store.close()


async def test_a_case_by_hand_is_recorded_dispatched_and_counted_in_one_go(d: Desk) -> None:
    entered = await d.desk.enter(BOSS, FORM)
    assert entered.uniqueid.startswith("manual-")
    assert entered.to_json() == {"ok": True, "uniqueid": entered.uniqueid, "case_id": entered.case_id,
                                 "status": "dispatched", "department": "housing_bureau"}
    case = await d.store.get(entered.uniqueid)
    assert case is not None
    assert (case["source"], case["state"], case["caller_number"], case["language"], case["topic"]) == (
        "manual", "ended", "13900000001", "zh", "housing")
    assert (case["status"], case["form_saved_by"], case["district"]) == ("dispatched", "boss", "Dongcheng")
    assert d.rows("select action from case_events order by id") == ["recorded", "dispatched"]
    assert d.rows("select kind, cases from daily_counts order by kind") == [("address", 1), ("district", 1),
                                                                            ("topic", 1)]
    assert d.rows("select count(*) from case_text") == [1]  # searchable
    assert d.published == []  # no call on a desktop, no wrap-up to end


async def test_without_a_department_the_case_is_new_and_auto_takes_the_rules_suggestion(d: Desk) -> None:
    plain = await d.desk.enter(BOSS, {**FORM, "department": ""})
    assert (plain.status, plain.department) == ("new", None)
    auto = await d.desk.enter(BOSS, {**FORM, "department": "auto"})
    assert auto.status == "dispatched" and auto.department  # the dispatch rules' choice for housing
    assert d.rows("select count(*) from cases") == [2]


async def test_a_failure_midway_leaves_no_case_at_all(d: Desk) -> None:
    """The dispatch's event row cannot be written (a real SQLite failure inside the transaction,
    after the row, the form and the "recorded" step): the case row goes with everything else."""
    await d.store.db.run(lambda db: db.execute(
        "create trigger no_dispatch before insert on case_events when new.action = 'dispatched'"
        " begin select raise(abort, 'the event row failed'); end"))
    with pytest.raises(StoreError, match="the event row failed"):
        await d.desk.enter(BOSS, FORM)
    assert d.nothing_written()


async def test_an_unknown_department_leaves_no_case_without_a_status(d: Desk) -> None:
    with pytest.raises(WorkflowError) as unknown:
        await d.desk.enter(BOSS, {**FORM, "department": "ministry_of_magic"})
    assert unknown.value.error_id == "department-unknown"
    assert d.nothing_written()


async def test_bad_input_is_refused_before_the_store(d: Desk) -> None:
    with pytest.raises(WorkflowError) as number:
        await d.desk.enter(BOSS, {**FORM, "caller_number": "call me"})
    assert (number.value.error_id, number.value.status) == ("bad-request", 400)
    with pytest.raises(WorkflowError) as language:
        await d.desk.enter(BOSS, {**FORM, "language": "tlh"})
    assert language.value.error_id == "bad-request" and "tlh" in str(language.value)
    with pytest.raises(FormInvalid) as bad:
        await d.desk.enter(BOSS, {**FORM, "district": "Atlantis", "description": "no"})
    assert (bad.value.status, set(bad.value.details["fields"])) == (422, {"district", "description"})
    assert d.nothing_written()


async def test_a_department_may_not_enter_a_case_and_nothing_is_left(d: Desk) -> None:
    with pytest.raises(WorkflowError) as refused:
        await d.desk.enter(Actor("tb", "department", department="transport_bureau"), FORM)
    assert refused.value.error_id == "forbidden"
    assert d.nothing_written()


class NoPbx:
    def __getattr__(self, name: str) -> Any:
        async def action(*a: Any, **kw: Any) -> None: ...
        return action


async def test_the_route_answers_as_before_and_a_failure_leaves_nothing(tmp_path: Path) -> None:
    """POST /api/cases through the web app the graph serves: the answer's shape, the refusals'
    status codes and ids, and a store failure midway answered 503 store-error with no case written."""
    d = Desk(tmp_path)
    port = unused_port()  # the origin check compares with the configured origins only
    settings = replace(d.settings, http=replace(d.settings.http, port=port))
    g = build_services(settings, d.store, NoPbx(), Bus())  # type: ignore[arg-type]
    await d.store.open()
    await g.users.add("boss", "supervisor", "correct horse battery", settings=settings)
    token, csrf = await g.users.open_session("boss", "127.0.0.1")
    client: TestClient[Any, Any] = TestClient(TestServer(build_app(g.web("tok")), port=port))
    await client.start_server()
    origin = str(client.server.make_url("")).rstrip("/")
    session = aiohttp.ClientSession(base_url=origin, cookie_jar=aiohttp.CookieJar(unsafe=True))
    session.cookie_jar.update_cookies({COOKIE: token}, client.server.make_url("/"))

    async def post(body: dict[str, Any]) -> tuple[int, Any]:
        async with session.post("/api/cases", json=body, headers={"X-CSRF-Token": csrf, "Origin": origin}) as r:
            return r.status, await r.json()
    try:
        status, made = await post(FORM)
        assert status == 200 and made == {"ok": True, "uniqueid": made["uniqueid"], "case_id": made["case_id"],
                                          "status": "dispatched", "department": "housing_bureau"}
        status, bad = await post({**FORM, "district": "Atlantis"})
        assert (status, bad["error"], set(bad["fields"])) == (422, "invalid", {"district"})
        assert bad["message"] == "the form has errors"
        status, bad = await post({**FORM, "caller_number": "x"})
        assert (status, bad["error"]) == (400, "bad-request")
        status, bad = await post({**FORM, "department": "ministry_of_magic"})
        assert (status, bad["error"]) == (400, "department-unknown")
        await d.store.db.run(lambda db: db.execute(
            "create trigger no_dispatch before insert on case_events when new.action = 'dispatched'"
            " begin select raise(abort, 'the event row failed'); end"))
        status, failed = await post(FORM)
        assert (status, failed["error"]) == (503, "store-error")
        # only the first case: not the one refused for its department, nor the one that failed midway
        assert d.rows("select uniqueid from cases") == [made["uniqueid"]]
    finally:
        await session.close()
        await client.close()
        await d.store.close()
