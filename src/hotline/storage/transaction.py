"""One real transaction on the writer's connection (BEGIN IMMEDIATE ... COMMIT, ROLLBACK on any
exception), or a savepoint inside one already open."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import sqlite_utils


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
