"""Small persistent values by key (the kv table: the queue_log replay offset, the audit head)."""

from __future__ import annotations

import sqlite_utils

from hotline.storage.database import Database


class ValueStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def set_value(self, key: str, value: str) -> None:
        await self.db.run(lambda d: d.table("kv").upsert({"key": key, "value": value}, pk="key"))

    async def get_value(self, key: str) -> str | None:
        def get(d: sqlite_utils.Database) -> str | None:
            row = d.execute("select value from kv where key = ?", [key]).fetchone()
            return None if row is None else str(row[0])
        return await self.db.run(get)
