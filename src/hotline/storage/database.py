"""The database: one SQLite file through sqlite-utils, writes on one writer thread, reads on a small pool.

The event loop never touches the database: each write hands a function to a single-thread
executor that owns the writer connection (so writes are serialised in submission order); a write
of several statements runs in one real transaction (``transaction``: BEGIN IMMEDIATE ... COMMIT,
ROLLBACK on any exception). Reads that need no writer (``read``) run on their own WAL
connections (query_only, one per reader thread), so a long report or a burst of writes does not
delay a screen pop. A read waits only for the writes it depends on, by key: a write touching a
case hands over its uniqueid (``key``), and a read for that case (``after``) waits for the newest
such write not yet done, never for the other writes queued (transcript segments, audit rows).
The schema's numbered migrations (storage/migrations.py) run when the file is first opened.

Nothing here knows an aggregate: each repository (cases/store.py ``CaseStore``,
auth/user_store.py ``UserStore``, ...) takes the one ``Database`` and holds its own SQL.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import sqlite_utils

from hotline.storage.errors import StoreBusy, StoreError, store_error
from hotline.storage.migrations import MIGRATIONS, Migration, migrate
from hotline.storage.transaction import transaction

__all__ = ["Database", "StoreBusy", "StoreError", "transaction"]

log = logging.getLogger("hotline.cases.store")  # the name the service log has always used
T = TypeVar("T")


class Database:
    def __init__(self, path: Path | str, readers: int = 3, busy_timeout: float = 5.0,
                 migrations: Sequence[Migration] = MIGRATIONS) -> None:
        self.path = str(path)
        self.busy_timeout = busy_timeout
        self.migrations = migrations
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="case-store")
        self._db: sqlite_utils.Database | None = None
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
        self._queued = 0  # writes handed to the writer and not finished (the health check's queue depth)

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
            migrate(db, self.migrations)
        except BaseException:
            conn.close()
            raise
        self._db = db

    async def run(self, fn: Callable[[sqlite_utils.Database], T], key: str | None = None) -> T:
        """Run ``fn(db)`` on the writer thread. Each statement commits on its own; several that
        must hold together go through ``transaction``. ``key``: what it touches (a case's
        uniqueid), so a ``read(..., after=key)`` waits for it."""
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
            raise store_error(self.path, exc) from exc

    def _submit(self, fn: Callable[[sqlite_utils.Database], T], key: str | None) -> asyncio.Future[T]:
        def call() -> T:
            if self._db is None:
                self._open()
            assert self._db is not None
            return fn(self._db)
        job = asyncio.get_running_loop().run_in_executor(self._executor, call)
        job.add_done_callback(lambda f: f.cancelled() or f.exception())  # retrieved here for a cancelled caller
        self._queued += 1
        job.add_done_callback(self._done)
        if key is not None:
            self._pending[key] = job

            def done(f: asyncio.Future[T]) -> None:
                if self._pending.get(key) is f:
                    del self._pending[key]
            job.add_done_callback(done)
        return job

    def _done(self, _job: asyncio.Future[Any]) -> None:
        self._queued -= 1

    @property
    def queued_writes(self) -> int:
        """Writes handed to the writer thread and not finished yet (running or waiting)."""
        return self._queued

    async def _run(self, fn: Callable[[sqlite_utils.Database], T], key: str | None = None) -> T:
        job = self._submit(fn, key)
        # shielded: a caller cancelled while the job waits or runs must not end the future early,
        # or a read would stop waiting for a write still to come
        try:
            return await asyncio.shield(job)
        except sqlite3.Error as exc:
            raise store_error(self.path, exc) from exc

    async def open(self) -> None:
        """Open the file and apply the migrations not yet applied (else done on first use)."""
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
