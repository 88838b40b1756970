"""A copy of the case file while the service runs (SQLite's online backup API), verified, with
retention; and putting a copy back while the service is stopped.

The copy is SQLite's own backup of the ``main`` database, taken in **one step** from a read
transaction. The file is in WAL mode, where a reader never blocks the writer: the service goes on
writing while the copy is made, and the copy is the database as it was when the step began. (A
backup in many small steps lets a rollback-journal writer in between steps, but SQLite restarts a
stepped backup from the first page whenever another connection writes the source: with the
service writing a transcript line every few seconds, a stepped copy of a large file would never
end. docs/install.md has the figures.) What the one step costs instead: the WAL cannot be
checkpointed past the copy's snapshot while it runs, so it grows by what the service writes
meanwhile, and is checkpointed after.

The copy is written beside its final name (``.partial``, mode 0600: citizens' data), opened and
checked (``pragma integrity_check``, or ``quick_check``), then renamed into place; only then are
the oldest copies beyond ``keep`` removed. Nothing here knows a table but ``_migrations``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import shutil
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hotline.errors import HotlineError

NAME = re.compile(r"^hotline-(\d{8}-\d{6})(-\d+)?\.db$")


class BackupError(HotlineError, RuntimeError):
    error_id = "backup-failed"
    status = 503


@dataclass(frozen=True)
class BackupResult:
    path: Path
    bytes: int
    copy_seconds: float
    check_seconds: float
    removed: tuple[Path, ...]


def _connect_ro(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)


def verify(path: Path, quick: bool = False) -> None:
    """Open ``path`` read-only and check it: SQLite's integrity check (or the quicker check, which
    skips matching the indexes to the tables) and the migrations table the service needs."""
    try:
        conn = _connect_ro(path)
    except sqlite3.Error as exc:
        raise BackupError(f"{path}: cannot open as SQLite ({exc})") from None
    try:
        rows = [r[0] for r in conn.execute("pragma quick_check" if quick else "pragma integrity_check")]
        if rows != ["ok"]:
            raise BackupError(f"{path}: integrity check failed: {'; '.join(map(str, rows[:5]))}")
        if conn.execute("select count(*) from sqlite_master where name = '_migrations'").fetchone()[0] != 1:
            raise BackupError(f"{path}: not a hotline case file (no _migrations table)")
    except sqlite3.Error as exc:
        raise BackupError(f"{path}: not a readable SQLite database ({exc})") from None
    finally:
        conn.close()


def backups(folder: Path) -> list[Path]:
    """The copies in ``folder`` (``hotline-YYYYmmdd-HHMMSS.db``), oldest first."""
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if NAME.match(p.name) and p.is_file()), key=lambda p: p.name)


def _target(folder: Path, now: float) -> Path:
    stamp = dt.datetime.fromtimestamp(now).strftime("%Y%m%d-%H%M%S")
    path, n = folder / f"hotline-{stamp}.db", 1
    while path.exists():
        n += 1
        path = folder / f"hotline-{stamp}-{n}.db"
    return path


def backup(database: Path, folder: Path, *, keep: int = 7, quick: bool = False,
           clock: Callable[[], float] = time.time) -> BackupResult:
    """Copy ``database`` into ``folder`` as ``hotline-<local time>.db``, verify the copy, then keep
    the ``keep`` newest copies (0: keep all). The source is never written."""
    try:
        return _backup(database, folder, keep, quick, clock)
    except OSError as exc:  # a folder we may not write, a full disk: one line, not a traceback
        raise BackupError(f"backup of {database} into {folder} failed: {exc.strerror or exc}") from None


def _backup(database: Path, folder: Path, keep: int, quick: bool, clock: Callable[[], float]) -> BackupResult:
    if not database.is_file():
        raise BackupError(f"{database}: no case file there")
    if keep < 0:
        raise BackupError("keep must be 0 (all) or more")
    created = not folder.exists()
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    # run as root (by hand), the copies are still the case file owner's (the run user's), so the
    # daily timer, which runs as that user, can add to the folder and prune it
    st = database.stat()
    owner = (st.st_uid, st.st_gid) if os.geteuid() == 0 and st.st_uid != 0 else None
    if owner is not None and created:
        os.chown(folder, *owner)
    final = _target(folder, clock())
    partial = final.with_name(final.name + ".partial")
    partial.unlink(missing_ok=True)
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))
    try:
        # not mode=ro: a WAL database's reader needs the -shm, which a read-only open cannot create
        src = sqlite3.connect(str(database), isolation_level=None, timeout=30)
        try:
            src.execute("pragma query_only=1")
            dst = sqlite3.connect(str(partial), isolation_level=None)
            try:
                t0 = time.monotonic()
                src.backup(dst, pages=-1)  # one step: one snapshot, the writer never waits for it (WAL)
                dst.execute("pragma journal_mode=delete")  # a self-contained file: no -wal to carry along
                copy_seconds = time.monotonic() - t0
            finally:
                dst.close()
        finally:
            src.close()
        t0 = time.monotonic()
        verify(partial, quick)
        check_seconds = time.monotonic() - t0
        if owner is not None:
            os.chown(partial, *owner)
        os.replace(partial, final)
    except sqlite3.Error as exc:
        partial.unlink(missing_ok=True)
        raise BackupError(f"backup of {database} failed: {exc}") from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    removed: list[Path] = []
    if keep:
        for old in backups(folder)[:-keep]:
            if old != final:
                old.unlink(missing_ok=True)
                removed.append(old)
    return BackupResult(final, final.stat().st_size, copy_seconds, check_seconds, tuple(removed))


def holders(database: Path) -> list[int]:
    """The processes that have the case file (or its -wal) open, from /proc (only those this user
    may inspect: as root, all of them)."""
    names = {str(database.resolve()), f"{database.resolve()}-wal"}
    found: list[int] = []
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        with contextlib.suppress(OSError):
            for fd in (entry / "fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) in names:
                        found.append(int(entry.name))
                        break
    return found


def restore(backup_file: Path, database: Path, *, clock: Callable[[], float] = time.time) -> Path:
    """Put ``backup_file`` in place of ``database`` (the service stopped: the caller checks).
    The backup is verified first; the current file (and its -wal, -shm) is kept beside it as
    ``<name>.before-restore-<time>``, whose path is returned (``database`` itself if there was none).
    The restored file gets the old file's owner and mode 0600."""
    if not backup_file.is_file():
        raise BackupError(f"{backup_file}: no such file")
    try:
        return _restore(backup_file, database, clock)
    except OSError as exc:
        raise BackupError(f"restore of {backup_file} into {database} failed: {exc.strerror or exc}") from None


def _restore(backup_file: Path, database: Path, clock: Callable[[], float]) -> Path:
    verify(backup_file)
    database.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    stamp = dt.datetime.fromtimestamp(clock()).strftime("%Y%m%d-%H%M%S")
    kept = database.with_name(f"{database.name}.before-restore-{stamp}")
    owner: tuple[int, int] | None = None
    incoming = database.with_name(database.name + ".restoring")
    incoming.unlink(missing_ok=True)
    fd = os.open(incoming, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "wb") as out, open(backup_file, "rb") as src:
            shutil.copyfileobj(src, out, 1 << 20)
            out.flush()
            os.fsync(out.fileno())
        verify(incoming, quick=True)  # the copy as written here (a short disk, a bad write)
    except BaseException:
        incoming.unlink(missing_ok=True)
        raise
    if database.exists():
        st = database.stat()
        owner = (st.st_uid, st.st_gid)
        for suffix in ("", "-wal", "-shm"):
            side = Path(f"{database}{suffix}")
            if side.exists():
                os.replace(side, Path(f"{kept}{suffix}"))
    if owner is not None and os.geteuid() == 0:
        os.chown(incoming, *owner)
    os.replace(incoming, database)
    return kept if owner is not None else database
