"""Crisis alerts in SQLite (migration 0012): one row per call and category, its dismissal."""

from __future__ import annotations

import json
from typing import Any

import sqlite_utils

from hotline.storage.database import Database

COLUMNS = ("id", "uniqueid", "case_id", "category", "language", "words", "line", "operator", "raised_at",
           "dismissed_at", "dismissed_by", "reason")


def _row(r: dict[str, Any]) -> dict[str, Any]:
    return {**r, "words": json.loads(r["words"] or "[]")}


class CrisisStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def case_id(self, uniqueid: str) -> int | None:
        """The case of the call (after the case's own writes: the case row may be on its way)."""
        def read(db: sqlite_utils.Database) -> int | None:
            row = db.execute("select id from cases where uniqueid = ?", [uniqueid]).fetchone()
            return int(row[0]) if row else None
        return await self.db.read(read, after=uniqueid)

    async def raised(self, alert: dict[str, Any]) -> None:
        """A new alert (a second one of the same call and category is ignored: the first stays)."""
        row = {k: alert.get(k) for k in COLUMNS}
        row["words"] = json.dumps(list(alert.get("words") or []), ensure_ascii=False)
        await self.db.run(lambda db: db.table("crisis_alerts").insert(row, ignore=True), str(alert["uniqueid"]))

    async def dismissed(self, alert_id: str, by: str, reason: str, at: float) -> bool:
        """Dismiss an alert not dismissed yet; False when there is none such."""
        def write(db: sqlite_utils.Database) -> bool:
            cur = db.execute("update crisis_alerts set dismissed_at = ?, dismissed_by = ?, reason = ?"
                             " where id = ? and dismissed_at is null", [at, by, reason, alert_id])
            return bool(cur.rowcount)
        return await self.db.run(write)

    async def since(self, since: float) -> list[dict[str, Any]]:
        """The alerts raised since ``since`` (oldest first)."""
        return await self.db.read(lambda db: [_row(r) for r in db["crisis_alerts"].rows_where(
            "raised_at >= ?", [since], order_by="raised_at")])

    async def of_call(self, uniqueid: str) -> list[dict[str, Any]]:
        return await self.db.read(lambda db: [_row(r) for r in db["crisis_alerts"].rows_where(
            "uniqueid = ?", [uniqueid], order_by="raised_at")], after=uniqueid)
