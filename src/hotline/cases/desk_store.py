"""The case desk's repository (cases/desk.py ``DeskRepository``) in SQLite: a form save, its
workflow transitions with their event rows, its day counts and the end of the saver's draft (or a
case entered by hand: its row, form, counts and transitions), each in one transaction on the
database's writer (BEGIN IMMEDIATE ... COMMIT, ROLLBACK on any error)."""

from __future__ import annotations

from typing import Any

import sqlite_utils

from hotline.cases.desk import Plan
from hotline.cases.store import save_form_in
from hotline.cases.workflow import WorkflowError
from hotline.cases.workflow_store import apply_transition
from hotline.storage.database import Database


class DeskStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def save_case(self, uniqueid: str, form: dict[str, Any], by: str, at: float, bundle_days: int,
                        plan: Plan) -> dict[str, Any] | None:
        def save(db: sqlite_utils.Database) -> dict[str, Any] | None:
            case = save_form_in(db, uniqueid, form, by, at, bundle_days)
            if case is None:
                return None
            case = _apply(db, case, plan)
            db.execute("delete from drafts where username = ? and case_uniqueid = ?", [by, uniqueid])
            return case
        return await self.db.transaction(save, key=uniqueid)  # reads of this case wait for it

    async def enter_case(self, row: dict[str, Any], form: dict[str, Any], by: str, at: float, bundle_days: int,
                         plan: Plan) -> dict[str, Any] | None:
        uniqueid = str(row["uniqueid"])

        def enter(db: sqlite_utils.Database) -> dict[str, Any] | None:
            columns = ", ".join(row)
            values = ", ".join(f":{k}" for k in row)
            if not db.execute(f"insert or ignore into cases ({columns}) values ({values})", row).rowcount:
                return None  # a case with this id exists: nothing written
            case = save_form_in(db, uniqueid, form, by, at, bundle_days)
            assert case is not None  # inserted just above, in this transaction
            return _apply(db, case, plan)
        return await self.db.transaction(enter, key=uniqueid)


def _apply(db: sqlite_utils.Database, case: dict[str, Any], plan: Plan) -> dict[str, Any]:
    """``plan(case)``'s transitions with their event rows, decided on the case as it is inside the
    caller's transaction; a transition whose status no longer matches raises (all rolls back)."""
    for step in plan(case):
        if not apply_transition(db, case["uniqueid"], step.from_states, step.changes, step.event):
            raise WorkflowError("conflict", f"case {case['id']} changed meanwhile; reload it")
        case = {**case, **step.changes}
    return case
