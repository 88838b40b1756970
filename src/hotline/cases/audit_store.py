"""The audit log in SQLite: who changed what, who read which case, as a hash chain
(cases/audit_chain.py) whose rows are never updated nor deleted."""

from __future__ import annotations

import json
import logging
import sqlite3
from typing import Any

import sqlite_utils

from hotline.cases import audit_chain
from hotline.storage.database import Database, transaction

log = logging.getLogger("hotline.cases.store")  # the name the service log has always used


class AuditStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._head: tuple[int, str] | None = None  # the newest audit row (id, hash); writer thread only

    async def audit(self, actor: str, action: str, target: str, detail: dict[str, Any], at: float,
                    role: str = "") -> int:
        """One audit row, chained to the one before: one insert and the head in kv, in one
        transaction on the writer thread (so the chain is serial); the previous row's id and hash
        are kept in memory after the first write (read again when another writer, another
        process or another ``AuditStore``, wrote meanwhile). Returns the row's id."""
        # the values as SQLite gives them back (an int ``at`` is stored REAL), so verify's hash agrees
        base: dict[str, Any] = {"at": float(at), "actor": str(actor), "role": str(role), "action": str(action),
                                "target": str(target), "detail": json.dumps(detail, ensure_ascii=False, default=str)}

        def write(db: sqlite_utils.Database) -> int:
            for attempt in (1, 2):
                try:
                    with transaction(db):  # the row and the head in kv: both or neither
                        if self._head is None or attempt == 2:  # read inside: no writer slips in between
                            last = db.execute("select id, hash from audit order by id desc limit 1").fetchone()
                            self._head = (int(last[0]), str(last[1] or "")) if last else (0, "")
                        prev_id, prev_hash = self._head
                        row_id = prev_id + 1
                        row: dict[str, Any] = {"id": row_id, **base}
                        digest = audit_chain.row_hash(prev_hash, row)
                        db.execute("insert into audit (id, at, actor, role, action, target, detail, prev_hash,"
                                   " hash) values (:id, :at, :actor, :role, :action, :target, :detail, :prev, :hash)",
                                   {**row, "prev": prev_hash, "hash": digest})
                        db.execute("insert or replace into kv (key, value) values (?, ?)",
                                   [audit_chain.HEAD_KEY, audit_chain.head_value(row_id, digest)])
                except sqlite3.IntegrityError:
                    if attempt == 2:
                        raise
                    continue  # someone else wrote a row: read the head again
                self._head = (row_id, digest)
                # not the detail: a search's words are citizens' names and numbers
                log.info("audit row %d: %s %s hash=%s", row_id, action, target, digest)
                return row_id
            raise AssertionError("unreachable")
        return await self.db.run(write)

    async def audit_log(self, limit: int = 100, exclude: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        """The newest audit rows (without the actions in ``exclude``)."""
        where = f"action not in ({', '.join('?' for _ in exclude)})" if exclude else None
        return await self.db.read(lambda db: list(db["audit"].rows_where(where, list(exclude), order_by="id desc",
                                                                         limit=limit)))
