"""The case store: SQLite through sqlite-utils, writes on one writer thread, reads on a small pool.

The event loop never touches the database: each write hands a function to a single-thread
executor that owns the writer connection (so writes are serialised in submission order); a write
of several statements runs in one real transaction (``transaction``: BEGIN IMMEDIATE ... COMMIT,
ROLLBACK on any exception). Reads that need no writer (``read``) run on their own WAL
connections (query_only, one per reader thread), so a long report or a burst of writes does not
delay a screen pop. A read waits only for the writes it depends on, by key: a write touching a
case hands over its uniqueid (``key``), and a read for that case (``after``) waits for the newest
such write not yet done, never for the other writes queued (transcript segments, audit rows).
Schema changes are numbered migrations, each applied with its _migrations row in one
transaction (all or nothing).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import sqlite_utils

from hotline.cases import audit_chain
from hotline.cases.text_index import address_key, index_text
from hotline.errors import HotlineError

log = logging.getLogger(__name__)
T = TypeVar("T")

OPEN_STATES = ("queued", "answered")


def _bundle(db: sqlite_utils.Database, case: dict[str, Any], window: float) -> None:
    """Join the case to the bundle of its address and topic (cases within ``window`` seconds of
    each other), or start one with the related cases not yet bundled."""
    key = case.get("address_key") or ""
    if not key or case.get("bundle_id"):
        return
    topic = case.get("category") or case.get("topic") or "general"
    at = float(case["queued_at"])
    row = db.execute("select id from bundles where address_key = ? and topic = ? and last_at >= ?"
                     " order by last_at desc limit 1", [key, topic, at - window]).fetchone()
    if row is None:
        related = [r[0] for r in db.execute(
            "select id from cases where address_key = ? and coalesce(nullif(category, ''), topic, 'general') = ?"
            " and queued_at >= ? and queued_at <= ? and bundle_id is null and id != ?",
            [key, topic, at - window, at + window, case["id"]])]
        if not related:
            return
        bundle_id = int(db.table("bundles").insert({
            "address_key": key, "topic": topic, "address": case.get("address") or "",
            "district": case.get("district") or "", "first_at": at, "last_at": at, "cases": 0}).last_pk or 0)
        ids = [*related, case["id"]]
    else:
        bundle_id, ids = int(row[0]), [case["id"]]
    marks = ", ".join("?" for _ in ids)
    db.execute(f"update cases set bundle_id = ? where id in ({marks})", [bundle_id, *ids])
    db.execute("update bundles set cases = (select count(*) from cases where bundle_id = :b),"
               " first_at = (select min(queued_at) from cases where bundle_id = :b),"
               " last_at = (select max(queued_at) from cases where bundle_id = :b) where id = :b", {"b": bundle_id})


def _count(db: sqlite_utils.Database, case: dict[str, Any], delta: int) -> None:
    """Add ``delta`` to the case's day counts: its topic, its district and its address with topic."""
    day = db.execute("select date(?, 'unixepoch', 'localtime')", [case["queued_at"]]).fetchone()[0]
    topic = case.get("category") or case.get("topic") or "general"
    keys = [("topic", topic), ("district", case.get("district") or "(none)")]
    if case.get("address_key"):
        keys.append(("address", f"{case['address_key']}|{topic}"))
    for kind, key in keys:
        db.execute("insert into daily_counts (day, kind, key, cases) values (?, ?, ?, ?) on conflict (day, kind, key)"
                   " do update set cases = cases + excluded.cases", [day, kind, key, delta])


class StoreError(HotlineError, RuntimeError):
    error_id = "store-error"
    status = 503  # the database failed (disk full, locked); try again later


class StoreBusy(StoreError):
    """Another connection to the file (another process: the CLI, a second service) held the write
    lock for longer than the busy timeout; nothing of this write was applied, it may be retried."""

    error_id = "store-busy"


@contextlib.contextmanager
def transaction(db: sqlite_utils.Database) -> Iterator[sqlite_utils.Database]:
    """One real transaction on the writer's connection (which is in autocommit, so ``with
    db.conn:`` would open none): BEGIN IMMEDIATE takes the write lock at the start (a concurrent
    writer waits up to the busy timeout, then fails before anything is applied, never half-way),
    COMMIT at the end, ROLLBACK on any exception. Inside an open transaction: a savepoint
    (sqlite-utils' ``atomic()``), rolled back alone on an exception."""
    conn = db.conn
    if conn.in_transaction:
        with db.atomic():
            yield db
        return
    conn.execute("begin immediate")
    try:
        yield db
    except BaseException:
        if conn.in_transaction:  # an error may have ended the transaction already
            conn.execute("rollback")
        raise
    try:
        conn.execute("commit")
    except BaseException:
        if conn.in_transaction:
            conn.execute("rollback")
        raise


def save_form_in(db: sqlite_utils.Database, uniqueid: str, form: dict[str, Any], by: str, at: float,
                 bundle_days: int = 3) -> dict[str, Any] | None:
    """The form saved on the writer's connection, inside the caller's transaction: the case's
    columns, its day counts (moved when saved before), its search text and its bundle. Returns
    the case as saved (None: no case for ``uniqueid``, nothing written)."""
    changes = {**form, "form_saved_at": at, "form_saved_by": by,
               "address_key": address_key(str(form.get("address") or ""))}
    before = list(db["cases"].rows_where("uniqueid = ?", [uniqueid]))
    if not before:
        return None
    if before[0]["form_saved_at"] is not None:
        _count(db, before[0], -1)
    sets = ", ".join(f"{k} = :{k}" for k in changes)
    db.execute(f"update cases set {sets} where uniqueid = :_uid", {**changes, "_uid": uniqueid})
    case = {**before[0], **changes}
    _count(db, case, +1)
    db.execute("delete from case_text where rowid = ?", [case["id"] << 16])
    text = " ".join(str(case.get(k) or "") for k in ("category", "district", "address", "description", "notes"))
    db.execute("insert into case_text (rowid, case_id, kind, body) values (?, ?, 'form', ?)",
               [case["id"] << 16, case["id"], index_text(text)])
    _bundle(db, case, bundle_days * 86400.0)
    return case


def _store_error(path: str, exc: sqlite3.Error) -> StoreError:
    busy = (getattr(exc, "sqlite_errorcode", 0) & 0xFF) == sqlite3.SQLITE_BUSY
    return (StoreBusy if busy else StoreError)(f"case store {path}: {exc}")


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


def _m3_users_sessions(db: sqlite_utils.Database) -> None:
    db.table("users").create({
        "username": str, "role": str, "name": str, "extension": str, "password_hash": str, "disabled": int,
        "created_at": float, "updated_at": float}, pk="username", not_null={"role"}, defaults={"disabled": 0})
    db.table("users").create_index(["extension"])
    # server-side sessions: the cookie holds a random token, the table only its SHA-256
    db.table("sessions").create({
        "token_hash": str, "username": str, "csrf": str, "created_at": float, "expires_at": float,
        "last_seen": float, "remote": str}, pk="token_hash", not_null={"username"})
    db.table("sessions").create_index(["username"])
    db.table("auth_log").create({
        "id": int, "at": float, "username": str, "remote": str, "outcome": str}, pk="id")


def _m4_case_form_transcript(db: sqlite_utils.Database) -> None:
    cases = db.table("cases")
    for column, kind in (("category", str), ("district", str), ("address", str), ("description", str),
                         ("urgency", str), ("citizen_name", str), ("confidential", int), ("notes", str),
                         ("form_saved_at", float), ("form_saved_by", str)):
        cases.add_column(column, kind)
    db.table("transcript").create({
        "id": int, "case_uniqueid": str, "speaker": str, "language": str, "start": float, "end": float,
        "text": str, "confidence": float, "engine": str, "created_at": float},
        pk="id", not_null={"case_uniqueid", "speaker", "text"})
    db.table("transcript").create_index(["case_uniqueid", "start"])
    db.table("drafts").create({
        "username": str, "case_uniqueid": str, "data": str, "updated_at": float},
        pk=("username", "case_uniqueid"))


def _m5_supervision(db: sqlite_utils.Database) -> None:
    # skills changed by shift managers (over the site file's), kept across restarts
    db.table("operator_skills").create({"extension": str, "languages": str, "topics": str, "updated_at": float,
                                        "updated_by": str}, pk="extension")
    # who changed what, who listened to which call: never updated, never deleted
    db.table("audit").create({"id": int, "at": float, "actor": str, "action": str, "target": str, "detail": str},
                             pk="id", not_null={"at", "actor", "action"})
    db.table("audit").create_index(["at"])
    # operators' pauses (reason "wrap-up" for after-call work), for the per-operator history
    db.table("agent_pauses").create({"id": int, "extension": str, "reason": str, "started_at": float,
                                     "ended_at": float}, pk="id", not_null={"extension", "started_at"})
    db.table("agent_pauses").create_index(["started_at"])
    db.table("cases").create_index(["operator", "answered_at"])


def _m6_interpreting(db: sqlite_utils.Database) -> None:
    # who interpreted which case, when they joined and left, the minutes
    db.table("interpreting").create({"id": int, "case_uniqueid": str, "interpreter": str, "language": str,
                                     "requested_at": float, "joined_at": float, "left_at": float,
                                     "minutes": float, "requested_by": str}, pk="id",
                                    not_null={"case_uniqueid", "interpreter"})
    db.table("interpreting").create_index(["case_uniqueid"])
    db.table("interpreting").create_index(["joined_at"])


def _m7_after_the_call(db: sqlite_utils.Database) -> None:
    cases = db.table("cases")
    for column, kind in (("status", str), ("department", str), ("dispatched_at", float), ("due_at", float),
                         ("warn_at", float), ("warned_at", float), ("escalated_at", float), ("accepted_at", float),
                         ("reply", str), ("reply_summary", str), ("replied_at", float), ("replied_by", str),
                         ("returned_by", str), ("return_reason", str), ("extension_days", int),
                         ("callback_at", float), ("resolved", int), ("satisfied", int), ("closed_at", float),
                         ("reopen_count", int), ("address_key", str), ("bundle_id", int)):
        cases.add_column(column, kind)
    cases.create_index(["department", "status", "due_at"])
    cases.create_index(["status", "due_at"])
    cases.create_index(["address_key", "queued_at"])
    cases.create_index(["bundle_id"])
    db.table("users").add_column("department", str)
    # every change of a case's life: who, when, from what to what (never updated, never deleted)
    db.table("case_events").create({
        "id": int, "case_id": int, "case_uniqueid": str, "at": float, "actor": str, "role": str, "action": str,
        "from_status": str, "to_status": str, "detail": str}, pk="id", not_null={"case_uniqueid", "at", "action"})
    db.table("case_events").create_index(["case_uniqueid", "at"])
    # call back attempts (automatic calls and operators' tasks)
    db.table("callbacks").create({
        "id": int, "case_uniqueid": str, "attempt": int, "kind": str, "status": str, "due_at": float,
        "started_at": float, "ended_at": float, "channel_id": str, "resolved": int, "satisfied": int,
        "detail": str, "operator": str}, pk="id", not_null={"case_uniqueid", "status", "kind"})
    db.table("callbacks").create_index(["status", "due_at"])
    db.table("callbacks").create_index(["case_uniqueid"])
    # one row per recorded call: the raw MixMonitor files, then the verified archive copy
    db.table("recordings").create({
        "case_uniqueid": str, "started_at": float, "status": str, "raw_caller": str, "raw_operator": str,
        "raw_mix": str, "archive": str, "seconds": float, "bytes": int, "sha256": str, "verified_at": float,
        "purged_at": float, "error": str}, pk="case_uniqueid", not_null={"status"})
    db.table("recordings").create_index(["status"])
    db.table("bundles").create({
        "id": int, "address_key": str, "topic": str, "address": str, "district": str, "first_at": float,
        "last_at": float, "cases": int}, pk="id")
    db.table("bundles").create_index(["address_key", "topic", "last_at"])
    # the rates read only this index (dispatched in a period, per department), not the rows
    db.execute("create index cases_rates on cases (dispatched_at, department, returned_by, status, replied_at,"
               " due_at, resolved, satisfied, reopen_count)")
    # full-text search over the form's text and the transcripts (CJK and Hangul indexed as bigrams);
    # rowid = case id << 16 (+ n for the case's nth transcript segment): a case's rows are found by
    # rowid, and a date range becomes a rowid range FTS5 seeks to
    db.execute("create virtual table case_text using fts5(case_id unindexed, kind unindexed, body,"
               " tokenize = 'unicode61 remove_diacritics 2')")
    # cases per local day by topic, district and address+topic (kept by save_form): a year of
    # trends reads 365 x keys rows, not 24 million cases
    db.execute("create table daily_counts (day text not null, kind text not null, key text not null,"
               " cases integer not null, primary key (day, kind, key)) without rowid")
    db.execute("create index daily_counts_key on daily_counts (kind, key, day)")
    # the cases already in the file: their address keys, search text and day counts
    for case in list(db.query("select * from cases where form_saved_at is not null")):
        case["address_key"] = address_key(str(case.get("address") or ""))
        db.execute("update cases set address_key = ? where id = ?", [case["address_key"], case["id"]])
        _count(db, case, +1)
        text = " ".join(str(case.get(k) or "") for k in ("category", "district", "address", "description", "notes"))
        db.execute("insert into case_text (rowid, case_id, kind, body) values (?, ?, 'form', ?)",
                   [case["id"] << 16, case["id"], index_text(text)])
    seen: dict[int, int] = {}
    for case_id, body in list(db.execute(
            "select c.id, t.text from transcript t join cases c on c.uniqueid = t.case_uniqueid order by t.id")):
        seen[case_id] = n = seen.get(case_id, 0) + 1
        if n < 65536:
            db.execute("insert into case_text (rowid, case_id, kind, body) values (?, ?, 'transcript', ?)",
                       [(case_id << 16) + n, case_id, index_text(str(body or ""))])


def _m8_audit_chain(db: sqlite_utils.Database) -> None:
    # the audit log becomes a hash chain (cases/audit_chain.py): the rows already there are chained
    # in id order, and the head is kept in kv
    audit = db.table("audit")
    for column in ("role", "prev_hash", "hash"):
        audit.add_column(column, str)
    db.execute("update audit set role = '' where role is null")
    prev = ""
    last = 0
    for row in list(db.query("select id, at, actor, role, action, target, detail from audit order by id")):
        digest = audit_chain.row_hash(prev, row)
        db.execute("update audit set prev_hash = ?, hash = ? where id = ?", [prev, digest, row["id"]])
        prev, last = digest, int(row["id"])
    if last:
        db.execute("insert or replace into kv (key, value) values (?, ?)",
                   [audit_chain.HEAD_KEY, audit_chain.head_value(last, prev)])


def _m9_recording_attempts(db: sqlite_utils.Database) -> None:
    # the archive's queue (issue 14): when the call hung up, when Asterisk had closed the files, attempts
    recordings = db.table("recordings")
    have = recordings.columns_dict
    for column, kind in (("ended_at", float), ("closed_at", float), ("attempts", int)):
        if column not in have:
            recordings.add_column(column, kind)


MIGRATIONS: list[tuple[str, Callable[[sqlite_utils.Database], None]]] = [
    ("0001_cases", _m1_cases),
    ("0002_kv", _m2_settings_kv),  # small persistent values (e.g. the queue_log replay offset)
    ("0003_users_sessions", _m3_users_sessions),
    ("0004_case_form_transcript", _m4_case_form_transcript),
    ("0005_supervision", _m5_supervision),
    ("0006_interpreting", _m6_interpreting),
    ("0007_after_the_call", _m7_after_the_call),
    ("0008_audit_chain", _m8_audit_chain),
    ("0009_recording_attempts", _m9_recording_attempts),
]


def migrate(db: sqlite_utils.Database,
            migrations: Sequence[tuple[str, Callable[[sqlite_utils.Database], None]]] = MIGRATIONS) -> list[str]:
    """Apply the migrations not yet applied; returns their names. Each migration and its
    _migrations row commit together or not at all (one transaction each); one that raises
    leaves the file as the migration before it left it."""
    if "_migrations" not in db.table_names():
        db.execute("create table if not exists _migrations (name text primary key, applied_at text)")
    done = {str(row[0]) for row in db.execute("select name from _migrations")}
    applied = []
    for name, fn in migrations:
        if name in done:
            continue
        with transaction(db):
            # read under the write lock: another process may have applied it meanwhile
            if db.execute("select 1 from _migrations where name = ?", [name]).fetchone():
                continue
            fn(db)
            now = db.execute("select datetime('now')").fetchone()[0]
            db.execute("insert into _migrations (name, applied_at) values (?, ?)", [name, now])
        applied.append(name)
        log.info("case store migration applied: %s", name)
    return applied


class CaseStore:
    def __init__(self, path: Path | str, readers: int = 3, busy_timeout: float = 5.0) -> None:
        self.path = str(path)
        self.busy_timeout = busy_timeout
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="case-store")
        self._db: sqlite_utils.Database | None = None
        self._audit_head: tuple[int, str] | None = None  # the newest audit row (id, hash); writer thread only
        # the read pool: one query_only WAL connection per reader thread (an in-memory database
        # is one connection's own, so there every read runs on the writer)
        self._readers = (ThreadPoolExecutor(max_workers=readers, thread_name_prefix="case-store-read")
                         if readers > 0 and self.path != ":memory:" else None)
        self._reader_local = threading.local()
        self._reader_conns: list[sqlite3.Connection] = []
        self._reader_lock = threading.Lock()
        # per key (a case's uniqueid, "sessions"): the writer's newest job touching it, until done;
        # the writer runs jobs in order, so the newest one done means all of the key's are
        self._pending: dict[str, asyncio.Future[Any]] = {}

    def _open(self) -> None:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            # citizens' data: the file is 0600 from its first byte (SQLite gives its -wal and -shm
            # the database file's mode)
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
        # autocommit at the driver: a transaction is only ever the explicit one of ``transaction``
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        conn.execute("pragma journal_mode=wal")
        conn.execute("pragma synchronous=normal")
        conn.execute(f"pragma busy_timeout={int(self.busy_timeout * 1000)}")
        db = sqlite_utils.Database(conn)
        try:
            migrate(db)
        except BaseException:
            conn.close()
            raise
        self._db = db

    async def run(self, fn: Callable[[sqlite_utils.Database], T], key: str | None = None) -> T:
        """Run ``fn(db)`` on the writer thread (for the other stores sharing this file). Each
        statement commits on its own; several that must hold together go through ``transaction``.
        ``key``: what it touches (a case's uniqueid), so a ``read(..., after=key)`` waits for it."""
        return await self._run(fn, key)

    async def transaction(self, fn: Callable[[sqlite_utils.Database], T], key: str | None = None) -> T:
        """Run ``fn(db)`` on the writer thread inside one transaction (BEGIN IMMEDIATE ... COMMIT);
        any exception rolls all of it back and is raised. Another process holding the write lock
        past the busy timeout: ``StoreBusy``, with nothing applied. ``key`` as for ``run``."""
        def call(db: sqlite_utils.Database) -> T:
            with transaction(db):
                return fn(db)
        return await self._run(call, key)

    def submit(self, fn: Callable[[sqlite_utils.Database], Any], what: str, key: str | None = None) -> None:
        """Hand ``fn(db)`` to the writer and return at once (fire and forget: a session's
        last_seen); a failure is logged with ``what``, never raised to anyone."""
        def failed(job: asyncio.Future[Any]) -> None:
            if not job.cancelled() and job.exception() is not None:
                log.error("case store: background write %s failed: %s", what, job.exception())
        self._submit(fn, key).add_done_callback(failed)

    def _reader(self) -> sqlite_utils.Database:
        db: sqlite_utils.Database | None = getattr(self._reader_local, "db", None)
        if db is None:
            conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            conn.execute(f"pragma busy_timeout={int(self.busy_timeout * 1000)}")
            conn.execute("pragma query_only=1")  # a read connection never writes, whatever fn does
            db = sqlite_utils.Database(conn, recursive_triggers=False)
            self._reader_local.db = db
            with self._reader_lock:
                self._reader_conns.append(conn)
        return db

    async def read(self, fn: Callable[[sqlite_utils.Database], T], after: str | None = None) -> T:
        """Run ``fn(db)`` on a reader thread's own WAL connection (it cannot write). With
        ``after`` (a key: a case's uniqueid) it first waits for the writes of that key already
        handed to the writer, so it sees them as when one thread ran both (the case service
        writes a new case while the desktop, another consumer of the same events, reads it for
        the screen pop); it never waits for the other writes queued (a burst of transcript
        segments or audit rows), for writes handed over after it, for other reads or for
        password hashing. Without ``after`` it reads what is committed."""
        if self._readers is None:
            return await self._run(fn)
        if self._db is None:
            await self.open()  # the migrations first
        if after is not None:
            pending = self._pending.get(after)
            if pending is not None and not pending.done() and pending.get_loop() is asyncio.get_running_loop():
                await asyncio.wait([pending])  # its outcome is its caller's business

        def call() -> T:
            return fn(self._reader())
        try:
            return await asyncio.get_running_loop().run_in_executor(self._readers, call)
        except sqlite3.Error as exc:
            raise _store_error(self.path, exc) from exc

    def _submit(self, fn: Callable[[sqlite_utils.Database], T], key: str | None) -> asyncio.Future[T]:
        def call() -> T:
            if self._db is None:
                self._open()
            assert self._db is not None
            return fn(self._db)
        job = asyncio.get_running_loop().run_in_executor(self._executor, call)
        job.add_done_callback(lambda f: f.cancelled() or f.exception())  # retrieved here for a cancelled caller
        if key is not None:
            self._pending[key] = job

            def done(f: asyncio.Future[T]) -> None:
                if self._pending.get(key) is f:
                    del self._pending[key]
            job.add_done_callback(done)
        return job

    async def _run(self, fn: Callable[[sqlite_utils.Database], T], key: str | None = None) -> T:
        job = self._submit(fn, key)
        # shielded: a caller cancelled while the job waits or runs must not end the future early,
        # or a read would stop waiting for a write still to come
        try:
            return await asyncio.shield(job)
        except sqlite3.Error as exc:
            raise _store_error(self.path, exc) from exc

    async def open(self) -> None:
        await self._run(lambda db: None)

    async def close(self) -> None:
        def close(db: sqlite_utils.Database) -> None:
            db.conn.close()
        if self._db is not None:
            await self._run(close)
            self._db = None
        self._executor.shutdown(wait=True)
        if self._readers is not None:
            self._readers.shutdown(wait=True)
            with self._reader_lock:
                for conn in self._reader_conns:
                    conn.close()
                self._reader_conns.clear()

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
        return await self._run(insert, str(row["uniqueid"]))

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
        return await self._run(upd, uniqueid)

    async def save_form(self, uniqueid: str, form: dict[str, Any], by: str, at: float,
                        bundle_days: int = 3) -> bool:
        """Save the form, index its text for search, and group the case with related ones (same
        address and topic within ``bundle_days``) into a bundle; one transaction."""
        def save(db: sqlite_utils.Database) -> bool:
            with transaction(db):
                return save_form_in(db, uniqueid, form, by, at, bundle_days) is not None
        return await self._run(save, uniqueid)

    async def add_segment(self, row: dict[str, Any]) -> int:
        def insert(db: sqlite_utils.Database) -> int:
            with transaction(db):
                pk = int(db.table("transcript").insert(row).last_pk or 0)
                found = db.execute("select id from cases where uniqueid = ?", [row["case_uniqueid"]]).fetchone()
                if found is not None:
                    n = db.execute("select count(*) from transcript where case_uniqueid = ?",
                                   [row["case_uniqueid"]]).fetchone()[0]
                    if n < 65536:  # a case's segments beyond 65,535 are kept but not searchable
                        db.execute("insert into case_text (rowid, case_id, kind, body) values (?, ?, 'transcript', ?)",
                                   [(found[0] << 16) + n, found[0], index_text(str(row.get("text") or ""))])
            return pk
        return await self._run(insert, str(row["case_uniqueid"]))

    async def save_draft(self, username: str, uniqueid: str, data: str, at: float) -> None:
        await self._run(lambda db: db.table("drafts").upsert(
            {"username": username, "case_uniqueid": uniqueid, "data": data, "updated_at": at},
            pk=("username", "case_uniqueid")), uniqueid)

    async def drop_draft(self, username: str, uniqueid: str) -> None:
        await self._run(lambda db: db.execute(
            "delete from drafts where username = ? and case_uniqueid = ?", [username, uniqueid]), uniqueid)

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
        return await self.read(get, after=uniqueid)

    async def transcript(self, uniqueid: str) -> list[dict[str, Any]]:
        return await self.read(lambda db: list(db["transcript"].rows_where(
            "case_uniqueid = ?", [uniqueid], order_by="start, id")), after=uniqueid)

    async def draft(self, username: str, uniqueid: str) -> dict[str, Any] | None:
        def get(db: sqlite_utils.Database) -> dict[str, Any] | None:
            rows = list(db["drafts"].rows_where("username = ? and case_uniqueid = ?", [username, uniqueid]))
            return rows[0] if rows else None
        return await self.read(get, after=uniqueid)

    async def caller_history(self, caller_number: str, exclude: str, limit: int = 5) -> list[dict[str, Any]]:
        """The caller's earlier cases, newest first (for the screen pop)."""
        if not caller_number:
            return []
        return await self.read(lambda db: [dict(r) for r in db.query(
            "select id, uniqueid, queued_at, state, language, topic, category, description, operator,"
            " confidential, form_saved_by, source from cases where caller_number = ? and uniqueid != ?"
            " order by queued_at desc limit ?",
            [caller_number, exclude, limit])])

    async def answered_today(self, since: float) -> list[tuple[str, str]]:
        """(operator, uniqueid) of the calls answered since ``since``."""
        return await self.read(lambda db: [(str(r[0]), str(r[1])) for r in db.execute(
            "select operator, uniqueid from cases where answered_at >= ? and operator is not null", [since])])

    async def open_cases(self) -> list[dict[str, Any]]:
        return await self.read(lambda db: list(db["cases"].rows_where(
            "state in (?, ?)", list(OPEN_STATES), order_by="id")))

    async def recent(self, limit: int = 50) -> list[dict[str, Any]]:
        return await self.read(lambda db: list(db["cases"].rows_where(order_by="id desc", limit=limit)))

    async def half_hour_history(self, since: float, until: float) -> list[dict[str, Any]]:
        """Offered calls per local date, half-hour slot and language, with their talk time, the
        abandoned calls and the seconds all callers waited (for the callers' patience):
        aggregated in SQL, so a year of city-scale cases never loads into memory."""
        sql = ("select date(queued_at, 'unixepoch', 'localtime') as day,"
               " cast(strftime('%H', queued_at, 'unixepoch', 'localtime') as integer) * 2"
               " + cast(strftime('%M', queued_at, 'unixepoch', 'localtime') as integer) / 30 as slot,"
               " language, count(*) as calls, sum(coalesce(talk_seconds, 0)) as talk,"
               " sum(case when answered_at is not null then 1 else 0 end) as answered,"
               " sum(abandoned) as abandoned, sum(coalesce(wait_seconds, 0)) as waited"
               " from cases where queued_at >= ? and queued_at < ? group by day, slot, language")
        keys = ("day", "slot", "language", "calls", "talk", "answered", "abandoned", "waited")
        return await self.read(lambda db: [dict(zip(keys, r, strict=True)) for r in db.execute(sql, [since, until])])

    async def since(self, epoch: float) -> list[dict[str, Any]]:
        return await self.read(lambda db: list(db["cases"].rows_where("queued_at >= ?", [epoch], order_by="id")))

    # -- supervision: skills, audit, pauses, history ------------------------------------------------

    async def save_skills(self, extension: str, languages: dict[str, int], topics: list[str], by: str,
                          at: float) -> None:
        await self._run(lambda db: db.table("operator_skills").upsert(
            {"extension": extension, "languages": json.dumps(languages), "topics": json.dumps(topics),
             "updated_at": at, "updated_by": by}, pk="extension"))

    async def skills(self) -> dict[str, tuple[dict[str, int], list[str]]]:
        """extension -> (languages, topics) as last set by a shift manager."""
        return await self.read(lambda db: {r["extension"]: (json.loads(r["languages"]), json.loads(r["topics"]))
                                           for r in db["operator_skills"].rows})

    async def audit(self, actor: str, action: str, target: str, detail: dict[str, Any], at: float,
                    role: str = "") -> int:
        """One audit row, chained to the one before (cases/audit_chain.py): one insert and the head
        in kv, in one transaction on the writer thread (so the chain is serial); the previous
        row's id and hash are kept in memory after the first write. Returns the row's id."""
        # the values as SQLite gives them back (an int ``at`` is stored REAL), so verify's hash agrees
        base: dict[str, Any] = {"at": float(at), "actor": str(actor), "role": str(role), "action": str(action),
                                "target": str(target), "detail": json.dumps(detail, ensure_ascii=False, default=str)}

        def write(db: sqlite_utils.Database) -> int:
            for attempt in (1, 2):
                try:
                    with transaction(db):  # the row and the head in kv: both or neither
                        if self._audit_head is None or attempt == 2:  # read inside: no writer slips in between
                            last = db.execute("select id, hash from audit order by id desc limit 1").fetchone()
                            self._audit_head = (int(last[0]), str(last[1] or "")) if last else (0, "")
                        prev_id, prev_hash = self._audit_head
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
                self._audit_head = (row_id, digest)
                # not the detail: a search's words are citizens' names and numbers
                log.info("audit row %d: %s %s hash=%s", row_id, action, target, digest)
                return row_id
            raise AssertionError("unreachable")
        return await self._run(write)

    async def audit_log(self, limit: int = 100, exclude: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        """The newest audit rows (without the actions in ``exclude``)."""
        where = f"action not in ({', '.join('?' for _ in exclude)})" if exclude else None
        return await self.read(lambda db: list(db["audit"].rows_where(where, list(exclude), order_by="id desc",
                                                                      limit=limit)))

    async def open_pause(self, extension: str, reason: str, at: float) -> None:
        await self._run(lambda db: db.table("agent_pauses").insert(
            {"extension": extension, "reason": reason, "started_at": at, "ended_at": None}))

    async def close_pause(self, extension: str, at: float) -> None:
        await self._run(lambda db: db.execute(
            "update agent_pauses set ended_at = ? where extension = ? and ended_at is null", [at, extension]))

    async def history(self, since: float, until: float, target: int) -> dict[str, list[dict[str, Any]]]:
        """Per local day and per half hour: offered, answered, abandoned, answered within ``target``,
        average speed of answer, average handling time; per operator: calls, talk, pause and
        wrap-up seconds. Aggregated in SQL from the case rows and the pause log."""
        def slot_sql(bucket: str) -> str:
            return (f"select {bucket} as bucket, count(*) as offered,"
                    " sum(answered_at is not null) as answered, sum(abandoned) as abandoned,"
                    " coalesce(sum(answered_at is not null and wait_seconds <= :t), 0) as answered_in_target,"
                    " avg(case when answered_at is not null then wait_seconds end) as asa,"
                    " avg(case when state = 'ended' then talk_seconds end) as aht"
                    " from cases where queued_at >= :a and queued_at < :b and state != 'queued'"
                    " group by bucket order by bucket")
        day = "date(queued_at, 'unixepoch', 'localtime')"
        half = ("strftime('%Y-%m-%d %H:', queued_at, 'unixepoch', 'localtime') || "
                "case when cast(strftime('%M', queued_at, 'unixepoch', 'localtime') as integer) < 30 "
                "then '00' else '30' end")
        ops_sql = ("select operator, count(*) as calls, coalesce(sum(talk_seconds), 0) as talk from cases"
                   " where answered_at >= :a and answered_at < :b and operator is not null group by operator")
        pause_sql = ("select extension, reason = 'wrap-up' as wrapup,"
                     " sum(min(coalesce(ended_at, :now), :b) - max(started_at, :a)) as seconds from agent_pauses"
                     " where started_at < :b and coalesce(ended_at, :now) > :a group by extension, wrapup")

        def run(db: sqlite_utils.Database) -> dict[str, list[dict[str, Any]]]:
            params = {"a": since, "b": until, "t": target, "now": time.time()}

            def rows(sql: str) -> list[dict[str, Any]]:
                cur = db.execute(sql, params)
                names = [d[0] for d in cur.description]
                return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
            ops: dict[str, dict[str, Any]] = {}
            for r in rows(ops_sql):
                ops[r["operator"]] = {"operator": r["operator"], "calls": r["calls"], "talk": r["talk"],
                                      "pause": 0.0, "wrapup": 0.0}
            for r in rows(pause_sql):
                o = ops.setdefault(r["extension"], {"operator": r["extension"], "calls": 0, "talk": 0.0,
                                                    "pause": 0.0, "wrapup": 0.0})
                o["wrapup" if r["wrapup"] else "pause"] += max(0.0, r["seconds"] or 0.0)
            return {"days": rows(slot_sql(day)), "half_hours": rows(slot_sql(half)),
                    "operators": sorted(ops.values(), key=lambda o: o["operator"])}
        return await self.read(run)

    async def cases_in_progress(self, since: float) -> int:
        """Cases of today's calls not yet finished (waiting, in a call, or the form not saved)."""
        return await self.read(lambda db: int(db.execute(
            "select count(*) from cases where queued_at >= ? and (state in ('queued', 'answered')"
            " or (state = 'ended' and form_saved_at is null))", [since]).fetchone()[0]))

    async def top_topics(self, since: float, limit: int = 5) -> list[dict[str, Any]]:
        return await self.read(lambda db: [{"topic": r[0] or "general", "calls": r[1]} for r in db.execute(
            "select coalesce(nullif(category, ''), topic) as t, count(*) as n from cases where queued_at >= ?"
            " group by t order by n desc limit ?", [since, limit])])

    # -- interpreting -------------------------------------------------------------------------------

    async def interpreting(self, row: dict[str, Any]) -> None:
        await self._run(lambda db: db.table("interpreting").insert(row), str(row["case_uniqueid"]))

    async def interpreting_of(self, uniqueid: str) -> list[dict[str, Any]]:
        return await self.read(lambda db: list(db["interpreting"].rows_where(
            "case_uniqueid = ?", [uniqueid], order_by="joined_at")), after=uniqueid)

    async def interpreter_minutes(self, since: float, until: float) -> list[dict[str, Any]]:
        """Interpreter minutes by language (and sessions) for the report."""
        return await self.read(lambda db: [{"language": r[0], "sessions": r[1], "minutes": round(r[2] or 0, 2)}
                                           for r in db.execute(
            "select language, count(*), sum(minutes) from interpreting where joined_at >= ? and joined_at < ?"
            " group by language order by language", [since, until])])
