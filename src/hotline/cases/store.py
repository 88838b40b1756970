"""The case store: SQLite through sqlite-utils, every statement on one writer thread.

The event loop never touches the database: each call hands a function to a single-thread
executor that owns the connection (so writes are serialised in submission order).
Schema changes are numbered migrations, applied once each and recorded in _migrations.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import sqlite_utils

log = logging.getLogger(__name__)
T = TypeVar("T")

OPEN_STATES = ("queued", "answered")


class StoreError(RuntimeError):
    error_id = "store-error"


def _m1_cases(db: sqlite_utils.Database) -> None:
    cases = db.table("cases")
    cases.create({
        "id": int, "uniqueid": str, "linkedid": str, "caller_number": str, "language": str, "topic": str,
        "ivr_path": str, "queue": str, "state": str, "operator": str, "queued_at": float,
        "answered_at": float, "ended_at": float, "wait_seconds": float, "talk_seconds": float,
        "abandoned": int, "source": str, "note": str,
    }, pk="id", not_null={"uniqueid", "state", "queued_at"}, defaults={"abandoned": 0, "source": "queue"})
    cases.create_index(["uniqueid"], unique=True)
    cases.create_index(["state"])
    cases.create_index(["queued_at"])
    cases.create_index(["caller_number"])


def _m2_settings_kv(db: sqlite_utils.Database) -> None:
    db.table("kv").create({"key": str, "value": str}, pk="key")


MIGRATIONS: list[tuple[str, Callable[[sqlite_utils.Database], None]]] = [
    ("0001_cases", _m1_cases),
    ("0002_kv", _m2_settings_kv),  # small persistent values (e.g. the queue_log replay offset)
]


def migrate(db: sqlite_utils.Database) -> list[str]:
    """Apply the migrations not yet applied; returns their names."""
    if "_migrations" not in db.table_names():
        db.table("_migrations").create({"name": str, "applied_at": str}, pk="name")
    done = {row["name"] for row in db["_migrations"].rows}
    applied = []
    for name, fn in MIGRATIONS:
        if name in done:
            continue
        with db.conn:
            fn(db)
            now = db.execute("select datetime('now')").fetchone()[0]
            db.table("_migrations").insert({"name": name, "applied_at": now})
        applied.append(name)
        log.info("case store migration applied: %s", name)
    return applied


class CaseStore:
    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="case-store")
        self._db: sqlite_utils.Database | None = None

    def _open(self) -> None:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        conn.execute("pragma journal_mode=wal")
        conn.execute("pragma synchronous=normal")
        conn.execute("pragma busy_timeout=5000")
        self._db = sqlite_utils.Database(conn)
        migrate(self._db)

    async def _run(self, fn: Callable[[sqlite_utils.Database], T]) -> T:
        def call() -> T:
            if self._db is None:
                self._open()
            assert self._db is not None
            return fn(self._db)
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, call)
        except sqlite3.Error as exc:
            raise StoreError(f"case store {self.path}: {exc}") from exc

    async def open(self) -> None:
        await self._run(lambda db: None)

    async def close(self) -> None:
        def close(db: sqlite_utils.Database) -> None:
            db.conn.close()
        if self._db is not None:
            await self._run(close)
            self._db = None
        self._executor.shutdown(wait=True)

    # -- writes --------------------------------------------------------------------------------

    async def create(self, row: dict[str, Any]) -> bool:
        """Insert a case unless one exists for the uniqueid; True when inserted."""
        def insert(db: sqlite_utils.Database) -> bool:
            cur = db.execute(
                "insert or ignore into cases (uniqueid, linkedid, caller_number, language, topic, ivr_path, queue,"
                " state, operator, queued_at, answered_at, wait_seconds, abandoned, source, note)"
                " values (:uniqueid, :linkedid, :caller_number, :language, :topic, :ivr_path, :queue, :state,"
                " :operator, :queued_at, :answered_at, :wait_seconds, 0, :source, :note)",
                {"linkedid": "", "operator": None, "answered_at": None, "wait_seconds": None, "note": "",
                 "state": "queued", "source": "queue", **row})
            return bool(cur.rowcount)
        return await self._run(insert)

    async def update(self, uniqueid: str, changes: dict[str, Any], only_states: tuple[str, ...] = ()) -> bool:
        """Update the case of ``uniqueid`` (only while in one of ``only_states`` when given)."""
        def upd(db: sqlite_utils.Database) -> bool:
            sets = ", ".join(f"{k} = :{k}" for k in changes)
            where = "uniqueid = :_uid"
            params = {**changes, "_uid": uniqueid}
            if only_states:
                where += " and state in ({})".format(", ".join(f":_s{i}" for i in range(len(only_states))))
                params.update({f"_s{i}": s for i, s in enumerate(only_states)})
            return bool(db.execute(f"update cases set {sets} where {where}", params).rowcount)
        return await self._run(upd)

    async def set_value(self, key: str, value: str) -> None:
        await self._run(lambda db: db.table("kv").upsert({"key": key, "value": value}, pk="key"))

    # -- reads ---------------------------------------------------------------------------------

    async def get_value(self, key: str) -> str | None:
        def get(db: sqlite_utils.Database) -> str | None:
            row = db.execute("select value from kv where key = ?", [key]).fetchone()
            return None if row is None else str(row[0])
        return await self._run(get)

    async def get(self, uniqueid: str) -> dict[str, Any] | None:
        def get(db: sqlite_utils.Database) -> dict[str, Any] | None:
            rows = list(db["cases"].rows_where("uniqueid = ?", [uniqueid]))
            return rows[0] if rows else None
        return await self._run(get)

    async def open_cases(self) -> list[dict[str, Any]]:
        return await self._run(lambda db: list(db["cases"].rows_where(
            "state in (?, ?)", list(OPEN_STATES), order_by="id")))

    async def recent(self, limit: int = 50) -> list[dict[str, Any]]:
        return await self._run(lambda db: list(db["cases"].rows_where(order_by="id desc", limit=limit)))

    async def half_hour_history(self, since: float, until: float) -> list[dict[str, Any]]:
        """Offered calls per local date, half-hour slot and language, with their talk time:
        aggregated in SQL, so a year of city-scale cases never loads into memory."""
        sql = ("select date(queued_at, 'unixepoch', 'localtime') as day,"
               " cast(strftime('%H', queued_at, 'unixepoch', 'localtime') as integer) * 2"
               " + cast(strftime('%M', queued_at, 'unixepoch', 'localtime') as integer) / 30 as slot,"
               " language, count(*) as calls, sum(coalesce(talk_seconds, 0)) as talk,"
               " sum(case when answered_at is not null then 1 else 0 end) as answered"
               " from cases where queued_at >= ? and queued_at < ? group by day, slot, language")
        return await self._run(lambda db: [dict(zip(("day", "slot", "language", "calls", "talk", "answered"), r,
                                                    strict=True)) for r in db.execute(sql, [since, until])])

    async def since(self, epoch: float) -> list[dict[str, Any]]:
        return await self._run(lambda db: list(db["cases"].rows_where("queued_at >= ?", [epoch], order_by="id")))
