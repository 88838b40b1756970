"""Recording rows in the hotline's SQLite file (one per recorded call: the raw files, then the archive copy)."""

from __future__ import annotations

from typing import Any

import sqlite_utils

from hotline.storage.database import Database


class RecordingStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def save_recording(self, row: dict[str, Any]) -> None:
        """Upsert: a row with only some columns changes only those."""
        def save(db: sqlite_utils.Database) -> None:
            db.table("recordings").upsert(row, pk="case_uniqueid")
        await self.db.run(save)

    async def recording(self, uniqueid: str) -> dict[str, Any] | None:
        def get(db: sqlite_utils.Database) -> dict[str, Any] | None:
            rows = list(db["recordings"].rows_where("case_uniqueid = ?", [uniqueid]))
            return rows[0] if rows else None
        return await self.db.run(get)

    async def recordings_in(self, statuses: tuple[str, ...], before: float | None = None) -> list[dict[str, Any]]:
        marks = ", ".join("?" for _ in statuses)
        where = f"status in ({marks})" + (" and started_at < ?" if before is not None else "")
        params = [*statuses, *([before] if before is not None else [])]
        return await self.db.run(lambda db: list(db["recordings"].rows_where(where, params, order_by="started_at")))
