"""The case's life in SQLite: transitions with their event rows, the department's lists, the
deadline sweeps, the rates, and the call back attempts. Writes run on the database's writer
thread (a transition and its event row in one transaction), reads on its read pool."""

from __future__ import annotations

import json
from typing import Any

import sqlite_utils

from hotline.cases.workflow import AT_DEPARTMENT
from hotline.storage.database import Database, transaction

CASE_COLUMNS = ("id, uniqueid, caller_number, language, topic, category, district, address, description, urgency,"
                " citizen_name, confidential, queued_at, answered_at, operator, status, department, dispatched_at,"
                " due_at, warn_at, warned_at, escalated_at, accepted_at, reply, reply_summary, replied_at,"
                " replied_by, returned_by, return_reason, extension_days, callback_at, resolved, satisfied,"
                " closed_at, reopen_count, bundle_id, form_saved_at, form_saved_by, source")


def _rows(db: sqlite_utils.Database, sql: str, params: Any = ()) -> list[dict[str, Any]]:
    cur = db.execute(sql, params)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def _in(values: tuple[str, ...]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


def apply_transition(db: sqlite_utils.Database, uniqueid: str, from_states: tuple[str, ...],
                     changes: dict[str, Any], event: dict[str, Any]) -> bool:
    """A transition on the writer's connection, inside the caller's transaction: ``changes`` only
    while the case's status is one of ``from_states`` ("" = none yet), and its event row.
    False (nothing written) when the status is another."""
    sets = ", ".join(f"{k} = :{k}" for k in changes)
    marks = ", ".join(f":_s{i}" for i in range(len(from_states)))
    params = {**changes, "_uid": uniqueid, **{f"_s{i}": s for i, s in enumerate(from_states)}}
    cur = db.execute(f"update cases set {sets} where uniqueid = :_uid and coalesce(status, '') in ({marks})",
                     params)
    if not cur.rowcount:
        return False
    db.table("case_events").insert({**event, "detail": json.dumps(event.get("detail") or {}, ensure_ascii=False)})
    return True


class WorkflowStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, uniqueid: str) -> dict[str, Any] | None:
        def get(db: sqlite_utils.Database) -> dict[str, Any] | None:
            rows = list(db["cases"].rows_where("uniqueid = ?", [uniqueid]))
            return rows[0] if rows else None
        return await self.db.read(get, after=uniqueid)

    async def get_by_id(self, case_id: int) -> dict[str, Any] | None:
        def get(db: sqlite_utils.Database) -> dict[str, Any] | None:
            rows = list(db["cases"].rows_where("id = ?", [case_id]))
            return rows[0] if rows else None
        return await self.db.read(get)

    async def transition(self, uniqueid: str, from_states: tuple[str, ...], changes: dict[str, Any],
                         event: dict[str, Any]) -> bool:
        """Apply ``changes`` only while the case's status is one of ``from_states`` ("" = none
        yet) and write the event row, in one transaction."""
        def run(db: sqlite_utils.Database) -> bool:
            with transaction(db):
                return apply_transition(db, uniqueid, from_states, changes, event)
        return await self.db.run(run)

    async def case_events(self, uniqueid: str) -> list[dict[str, Any]]:
        return await self.db.read(lambda db: [
            {**r, "detail": json.loads(r["detail"] or "{}")} for r in db["case_events"].rows_where(
                "case_uniqueid = ?", [uniqueid], order_by="at, id")])

    async def due_for_warning(self, now: float) -> list[dict[str, Any]]:
        return await self.db.read(lambda db: _rows(db, (
            f"select id, uniqueid, status, department, due_at from cases where status in ({_in(AT_DEPARTMENT)})"
            " and warn_at <= ? and warned_at is null and due_at > ?"), [now, now]))

    async def due_for_escalation(self, now: float) -> list[dict[str, Any]]:
        return await self.db.read(lambda db: _rows(db, (
            f"select id, uniqueid, status, department, due_at from cases where status in ({_in(AT_DEPARTMENT)})"
            " and due_at <= ? and escalated_at is null"), [now]))

    async def department_cases(self, department: str, statuses: tuple[str, ...] = (),
                               limit: int = 200) -> list[dict[str, Any]]:
        """A department's cases: those still to act on (or waiting for the call back), the most
        urgent deadline first, then the latest others; each part read through the (department,
        status) index, so a department with millions of closed cases lists as fast as a new one."""
        open_states = statuses or (*AT_DEPARTMENT, "replied", "callback_due")

        def run(db: sqlite_utils.Database) -> list[dict[str, Any]]:
            out = _rows(db, f"select {CASE_COLUMNS} from cases where department = ? and status in"
                            f" ({_in(open_states)}) order by coalesce(due_at, 9e18), id limit ?", [department, limit])
            if not statuses and len(out) < limit:
                out += _rows(db, f"select {CASE_COLUMNS} from cases where department = ? and status = 'closed'"
                                 " order by id desc limit ?", [department, limit - len(out)])
            return out
        return await self.db.read(run)

    async def bundle_cases(self, bundle_id: int, department: str, statuses: tuple[str, ...]) -> list[dict[str, Any]]:
        """The department's cases of one bundle in these statuses (through the bundle_id index)."""
        return await self.db.read(lambda db: _rows(db, (
            f"select {CASE_COLUMNS} from cases where bundle_id = ? and department = ? and status in ({_in(statuses)})"
            " order by id"), [bundle_id, department]))

    async def by_status(self, statuses: tuple[str, ...], limit: int = 200) -> list[dict[str, Any]]:
        return await self.db.read(lambda db: _rows(db, (
            f"select {CASE_COLUMNS} from cases where status in ({_in(statuses)}) order by coalesce(due_at, 9e18),"
            " id limit ?"), [limit]))

    async def overdue(self, now: float, limit: int = 500) -> list[dict[str, Any]]:
        return await self.db.read(lambda db: _rows(db, (
            f"select {CASE_COLUMNS} from cases where status in ({_in(AT_DEPARTMENT)}) and due_at <= ?"
            " order by due_at limit ?"), [now, limit]))

    async def rates(self, since: float, until: float) -> dict[str, Any]:
        """Per department and overall, over cases dispatched in [since, until): dispatched, replied,
        replied on time, closed, call back answered, resolved, satisfied, and the rates."""
        sql = ("select coalesce(department, returned_by, '') as department, count(*) as dispatched,"
               " sum(replied_at is not null) as replied,"
               " sum(replied_at is not null and replied_at <= due_at) as on_time,"
               " sum(status = 'closed') as closed, sum(resolved is not null) as answered,"
               " sum(resolved = 1) as resolved, sum(satisfied = 1) as satisfied,"
               " sum(reopen_count > 0) as reopened"
               " from cases where dispatched_at >= ? and dispatched_at < ? group by 1 order by 1")

        def rates(db: sqlite_utils.Database) -> dict[str, Any]:
            rows = _rows(db, sql, [since, until])
            total = {k: sum(r[k] or 0 for r in rows) for k in ("dispatched", "replied", "on_time", "closed",
                                                               "answered", "resolved", "satisfied", "reopened")}
            for r in [*rows, total]:
                r["on_time_rate"] = round(100 * (r["on_time"] or 0) / r["replied"], 1) if r["replied"] else None
                r["resolution_rate"] = round(100 * (r["resolved"] or 0) / r["answered"], 1) if r["answered"] \
                    else None
                r["satisfaction_rate"] = round(100 * (r["satisfied"] or 0) / r["answered"], 1) if r["answered"] \
                    else None
            return {"departments": rows, "overall": total}
        return await self.db.read(rates)

    # -- call backs --------------------------------------------------------------------------------

    async def add_callback(self, row: dict[str, Any]) -> int:
        return await self.db.run(lambda db: int(db.table("callbacks").insert(row).last_pk or 0))

    async def update_callback(self, cb_id: int, changes: dict[str, Any], only_status: tuple[str, ...] = ()) -> bool:
        def upd(db: sqlite_utils.Database) -> bool:
            sets = ", ".join(f"{k} = :{k}" for k in changes)
            where = "id = :_id" + (f" and status in ({_in(only_status)})" if only_status else "")
            return bool(db.execute(f"update callbacks set {sets} where {where}", {**changes, "_id": cb_id}).rowcount)
        return await self.db.run(upd)

    async def callback(self, cb_id: int) -> dict[str, Any] | None:
        def get(db: sqlite_utils.Database) -> dict[str, Any] | None:
            rows = list(db["callbacks"].rows_where("id = ?", [cb_id]))
            return rows[0] if rows else None
        return await self.db.read(get)

    async def callbacks_of(self, uniqueid: str) -> list[dict[str, Any]]:
        return await self.db.read(lambda db: list(db["callbacks"].rows_where(
            "case_uniqueid = ?", [uniqueid], order_by="id")))

    async def callbacks_in(self, statuses: tuple[str, ...], due_before: float | None = None) -> list[dict[str, Any]]:
        def q(db: sqlite_utils.Database) -> list[dict[str, Any]]:
            where = f"b.status in ({_in(statuses)})" + (" and b.due_at <= :t" if due_before is not None else "")
            return _rows(db, (
                "select b.*, c.id as case_id, c.caller_number, c.language, c.reply_summary, c.department,"
                " c.category, c.topic, c.district, c.address, c.description, c.confidential, c.operator as taken_by,"
                " c.source, c.form_saved_by"
                f" from callbacks b join cases c on c.uniqueid = b.case_uniqueid where {where} order by b.due_at"),
                {"t": due_before})
        return await self.db.read(q)
