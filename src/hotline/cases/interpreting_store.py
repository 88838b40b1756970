"""Interpreting sessions in SQLite: who interpreted which case, when they joined and left, the minutes."""

from __future__ import annotations

from typing import Any

from hotline.storage.database import Database


class InterpretingStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def interpreting(self, row: dict[str, Any]) -> None:
        await self.db.run(lambda db: db.table("interpreting").insert(row), str(row["case_uniqueid"]))

    async def interpreting_of(self, uniqueid: str) -> list[dict[str, Any]]:
        return await self.db.read(lambda db: list(db["interpreting"].rows_where(
            "case_uniqueid = ?", [uniqueid], order_by="joined_at")), after=uniqueid)

    async def interpreter_minutes(self, since: float, until: float) -> list[dict[str, Any]]:
        """Interpreter minutes by language (and sessions) for the report."""
        return await self.db.read(lambda db: [{"language": r[0], "sessions": r[1], "minutes": round(r[2] or 0, 2)}
                                              for r in db.execute(
            "select language, count(*), sum(minutes) from interpreting where joined_at >= ? and joined_at < ?"
            " group by language order by language", [since, until])])
