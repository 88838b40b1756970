"""Operators' records in SQLite: the skills a shift manager set (over the site file's, kept across
restarts) and the pause log (reason "wrap-up" for after-call work) the history report reads."""

from __future__ import annotations

import json

from hotline.storage.database import Database


class OperatorStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def save_skills(self, extension: str, languages: dict[str, int], topics: list[str], by: str,
                          at: float) -> None:
        await self.db.run(lambda db: db.table("operator_skills").upsert(
            {"extension": extension, "languages": json.dumps(languages), "topics": json.dumps(topics),
             "updated_at": at, "updated_by": by}, pk="extension"))

    async def skills(self) -> dict[str, tuple[dict[str, int], list[str]]]:
        """extension -> (languages, topics) as last set by a shift manager."""
        return await self.db.read(lambda db: {r["extension"]: (json.loads(r["languages"]), json.loads(r["topics"]))
                                              for r in db["operator_skills"].rows})

    async def open_pause(self, extension: str, reason: str, at: float) -> None:
        await self.db.run(lambda db: db.table("agent_pauses").insert(
            {"extension": extension, "reason": reason, "started_at": at, "ended_at": None}))

    async def close_pause(self, extension: str, at: float) -> None:
        await self.db.run(lambda db: db.execute(
            "update agent_pauses set ended_at = ? where extension = ? and ended_at is null", [at, extension]))
