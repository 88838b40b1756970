"""The audit log's hash chain: each row carries the hash of the row before it, so an edited,
deleted or inserted row breaks the chain where it happened.

``hash = sha256(prev_hash + canonical JSON of the row's fields)``; the first row's prev_hash is
"". The newest row's id and hash (the head) are also kept in the kv table and written to the
service log with every row: deleting the last rows leaves a chain that is intact in itself, and
only a head recorded elsewhere (the kv row, the log, a copy an auditor wrote down) shows it.
Anyone who can write the file can also recompute every hash after an edit: the chain makes
tampering evident against a head kept outside the file, it does not prevent it.

``verify`` reads the SQLite file directly (no service needed), for ``hotline audit verify``.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FIELDS = ("id", "at", "actor", "role", "action", "target", "detail")
HEAD_KEY = "audit_head"
# what the data-access audit writes (the wallboard's audit panel shows the floor's actions, not these)
DATA_ACTIONS = ("case_read", "case_list", "search", "export", "recording_played")


def canonical(row: dict[str, Any]) -> str:
    return json.dumps({k: row.get(k) for k in FIELDS}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def row_hash(prev_hash: str, row: dict[str, Any]) -> str:
    return hashlib.sha256((prev_hash + canonical(row)).encode()).hexdigest()


def head_value(row_id: int, hash_: str) -> str:
    return json.dumps({"id": row_id, "hash": hash_})


@dataclass
class Report:
    rows: int
    ok: bool
    problem: str = ""
    row_id: int | None = None  # the first row found wrong (or after which rows are missing)
    head_id: int | None = None
    head_hash: str = ""

    def text(self) -> str:
        if self.ok:
            return (f"{self.rows} rows, chain intact" +
                    (f" (head id {self.head_id}, hash {self.head_hash})" if self.head_id is not None else ""))
        return f"audit chain broken: {self.problem}"


def verify_rows(rows: list[dict[str, Any]], head: dict[str, Any] | None = None) -> Report:
    """Walk ``rows`` (in id order) and report the first break; ``head`` ({id, hash}) is the newest
    row as recorded elsewhere (kv, log, an auditor's copy)."""
    prev_hash, prev_id = "", 0
    for n, row in enumerate(rows):
        rid = int(row["id"])
        if not row.get("hash"):
            return Report(n, False, f"row {rid} has no hash: it was inserted outside the hotline", rid)
        if row_hash(str(row.get("prev_hash") or ""), row) != row["hash"]:
            return Report(n, False, f"row {rid} was edited: its content does not match its hash", rid)
        if (row.get("prev_hash") or "") != prev_hash:
            if rid != prev_id + 1:
                what = (f"rows {prev_id + 1}..{rid - 1} were deleted" if rid > prev_id + 1
                        else f"row {rid} is out of order")
            else:
                what = f"row {rid} was inserted or the row before it replaced"
            return Report(n, False, f"{what}: row {rid}'s prev_hash does not match "
                          + (f"row {prev_id}'s hash" if prev_id else "the start of the chain"), rid)
        prev_hash, prev_id = str(row["hash"]), rid
    if head is not None and head.get("id") is not None:
        hid, hhash = int(head["id"]), str(head.get("hash") or "")
        if hid > prev_id:
            return Report(len(rows), False, f"rows after {prev_id} were deleted: the head records row {hid} "
                          f"(hash {hhash[:16]}...), the chain ends at row {prev_id}", prev_id)
        match = next((r for r in rows if int(r["id"]) == hid), None)
        if match is None or match["hash"] != hhash:
            return Report(len(rows), False, f"row {hid} does not match the recorded head (hash {hhash[:16]}...): "
                          "the chain was rewritten from there on", hid)
    return Report(len(rows), True, head_id=prev_id if rows else None, head_hash=prev_hash)


def read(path: Path | str) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """The audit rows and the stored head, read-only from the SQLite file."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"no case store at {p}")
    conn = sqlite3.connect(f"file:{p}?mode=ro", uri=True, isolation_level=None)
    try:
        conn.row_factory = sqlite3.Row
        conn.execute("begin")  # one snapshot: the rows and the head agree while the service writes on
        tables = {r[0] for r in conn.execute("select name from sqlite_master where type = 'table'")}
        if "audit" not in tables:
            return [], None
        cols = {r[1] for r in conn.execute("pragma table_info(audit)")}
        if "hash" not in cols:
            raise ValueError("the audit table has no hash chain yet: start the service once to migrate it")
        rows = [dict(r) for r in conn.execute(
            "select id, at, actor, role, action, target, detail, prev_hash, hash from audit order by id")]
        head = None
        if "kv" in tables:
            found = conn.execute("select value from kv where key = ?", [HEAD_KEY]).fetchone()
            head = json.loads(found[0]) if found else None
        return rows, head
    finally:
        conn.close()


def verify(path: Path | str, head: dict[str, Any] | None = None) -> Report:
    """Verify the file's chain against its stored head, or ``head`` when given (an outside copy)."""
    rows, stored = read(path)
    return verify_rows(rows, head if head is not None else stored)
