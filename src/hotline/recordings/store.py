"""Recording rows and the playback audit, in the case store's SQLite file."""

from __future__ import annotations

from typing import Any

import sqlite_utils

from hotline.cases.store import CaseStore

# columns added after migration 0007 (issue 14): the hang-up, when Asterisk had closed the files,
# the archive attempts; added here, once, when missing (no numbered migration needed for them)
LATER_COLUMNS = {"ended_at": float, "closed_at": float, "attempts": int}


class RecordingStore:
    def __init__(self, store: CaseStore) -> None:
        self.store = store
        self._columns_checked = False

    def _columns(self, db: sqlite_utils.Database) -> None:
        if self._columns_checked:
            return
        table = db.table("recordings")
        have = table.columns_dict
        for name, kind in LATER_COLUMNS.items():
            if name not in have:
                table.add_column(name, kind)
        self._columns_checked = True

    async def save_recording(self, row: dict[str, Any]) -> None:
        """Upsert: a row with only some columns changes only those."""
        def save(db: sqlite_utils.Database) -> None:
            self._columns(db)
            db.table("recordings").upsert(row, pk="case_uniqueid")
        await self.store.run(save)

    async def recording(self, uniqueid: str) -> dict[str, Any] | None:
        def get(db: sqlite_utils.Database) -> dict[str, Any] | None:
            rows = list(db["recordings"].rows_where("case_uniqueid = ?", [uniqueid]))
            return rows[0] if rows else None
        return await self.store.run(get)

    async def recordings_in(self, statuses: tuple[str, ...], before: float | None = None) -> list[dict[str, Any]]:
        marks = ", ".join("?" for _ in statuses)
        where = f"status in ({marks})" + (" and started_at < ?" if before is not None else "")
        params = [*statuses, *([before] if before is not None else [])]
        return await self.store.run(lambda db: list(db["recordings"].rows_where(where, params, order_by="started_at")))
