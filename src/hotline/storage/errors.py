"""The database's errors: what a caller may catch (a pump retries on ``StoreError``)."""

from __future__ import annotations

import sqlite3

from hotline.errors import HotlineError


class StoreError(HotlineError, RuntimeError):
    error_id = "store-error"
    status = 503  # the database failed (disk full, locked); try again later


class StoreBusy(StoreError):
    """Another connection to the file (another process: the CLI, a second service) held the write
    lock for longer than the busy timeout; nothing of this write was applied, it may be retried."""

    error_id = "store-busy"


def store_error(path: str, exc: sqlite3.Error) -> StoreError:
    busy = (getattr(exc, "sqlite_errorcode", 0) & 0xFF) == sqlite3.SQLITE_BUSY
    return (StoreBusy if busy else StoreError)(f"case store {path}: {exc}")
