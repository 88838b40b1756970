"""Surge announcements in SQLite (migration 0014): one row per message, its end and its counts."""

from __future__ import annotations

import json
from typing import Any

import sqlite_utils

from hotline.storage.database import Database

COUNTS = ("played", "informed", "opted_out")


def _row(r: dict[str, Any]) -> dict[str, Any]:
    return {**r, "texts": json.loads(r["texts"] or "{}"), "recorded": bool(r["recorded"])}


class SurgeStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, row: dict[str, Any]) -> int:
        """A new message; returns its id."""
        values = {**row, "texts": json.dumps(row.get("texts") or {}, ensure_ascii=False),
                  "recorded": 1 if row.get("recorded") else 0}

        def write(db: sqlite_utils.Database) -> int:
            cur = db.execute(
                "insert into surges (scope, target, texts, recorded, starts_at, ends_at, created_by, created_at)"
                " values (:scope, :target, :texts, :recorded, :starts_at, :ends_at, :created_by, :created_at)",
                values)
            return int(cur.lastrowid or 0)
        return await self.db.run(write)

    async def ended(self, surge_id: int, by: str, at: float) -> bool:
        """End a message early; False when there is none such still on."""
        def write(db: sqlite_utils.Database) -> bool:
            cur = db.execute("update surges set ended_at = ?, ended_by = ? where id = ? and ended_at is null",
                             [at, by, surge_id])
            return bool(cur.rowcount)
        return await self.db.run(write)

    async def count(self, surge_id: int, what: str) -> None:
        if what not in COUNTS:
            raise ValueError(f"no surge count {what!r}")
        await self.db.run(lambda db: db.execute(f"update surges set {what} = {what} + 1 where id = ?", [surge_id]))

    async def current(self, now: float) -> list[dict[str, Any]]:
        """The messages not over at ``now`` (not ended, end still ahead), oldest first."""
        return await self.db.read(lambda db: [_row(r) for r in db["surges"].rows_where(
            "ended_at is null and ends_at > ?", [now], order_by="id")])
