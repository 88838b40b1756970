"""`hotline backup` on a large case file while a writer keeps writing, as the service does.

A case file is bulk-loaded with generated cases (bench/case_store.py's loader: the real schema
and FTS index) until it has about --mb megabytes. A writer thread then writes like a busy service
(a small transaction every 10 ms on its own WAL connection: BEGIN IMMEDIATE, an insert, COMMIT) and
records how long each write took, while:

1. the backup as `hotline backup` makes it (storage/backup.py: SQLite's backup API in one step,
   then integrity_check of the copy): seconds for the copy and the check, the writer's longest
   write during the copy against its longest before it, and how far the WAL grew meanwhile;
2. the same with quick_check in place of integrity_check;
3. for comparison, the backup API in steps of --pages pages (what a rollback-journal database would
   need so a writer gets in between): SQLite restarts a stepped backup whenever another
   connection writes the source, so it is given --step-limit seconds and its restarts are counted.

    .venv/bin/python bench/backup.py [--mb 300] [--folder /var/tmp/hotline-bench-backup] [--keep]
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from case_store import bulk_load  # noqa: E402

from hotline.storage import backup as backup_mod  # noqa: E402

ROWS_PER_MB = 1_200  # generated cases per MB of file (measured: ~850 bytes a case with its index)


class Writer(threading.Thread):
    """A write every ``interval`` s in its own transaction; each write's duration, with its time."""

    def __init__(self, path: Path, interval: float = 0.01) -> None:
        super().__init__(daemon=True)
        self.path, self.interval = path, interval
        self.samples: list[tuple[float, float]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        conn.execute("pragma synchronous=normal")
        conn.execute("pragma busy_timeout=30000")
        n = 0
        while not self.stop.is_set():
            n += 1
            t0 = time.perf_counter()
            conn.execute("begin immediate")
            conn.execute("insert or replace into kv (key, value) values (?, ?)", (f"bench-{n % 1000}", "x" * 200))
            conn.execute("commit")
            self.samples.append((time.perf_counter(), time.perf_counter() - t0))
            time.sleep(self.interval)
        conn.close()

    def longest(self, since: float, until: float) -> tuple[float, int]:
        inside = [d for at, d in self.samples if since <= at <= until]
        return (max(inside) if inside else 0.0), len(inside)


def wal_size(path: Path) -> int:
    wal = Path(f"{path}-wal")
    return wal.stat().st_size if wal.exists() else 0


def one_step(db: Path, folder: Path, quick: bool) -> None:
    writer = Writer(db)
    writer.start()
    time.sleep(2.0)
    t_before = time.perf_counter()
    wal0 = wal_size(db)
    t0 = time.perf_counter()
    result = backup_mod.backup(db, folder, keep=1, quick=quick)
    t1 = time.perf_counter()
    wal1 = wal_size(db)
    time.sleep(1.0)
    writer.stop.set()
    writer.join()
    base, n_base = writer.longest(t_before - 2.0, t_before)
    copying, n_copying = writer.longest(t0, t0 + result.copy_seconds)
    during, n_during = writer.longest(t0, t1)
    check = "quick_check" if quick else "integrity_check"
    print(f"  one step + {check:<15} copy {result.copy_seconds:6.1f} s, check {result.check_seconds:6.1f} s; "
          f"writer: longest write {copying * 1000:.1f} ms during the copy ({n_copying} writes), "
          f"{during * 1000:.1f} ms during copy + check ({n_during}), {base * 1000:.1f} ms in the 2 s before "
          f"({n_base}); WAL {wal0 / 1e6:.1f} -> {wal1 / 1e6:.1f} MB")


def stepped(db: Path, folder: Path, pages: int, limit: float) -> None:
    writer = Writer(db)
    writer.start()
    time.sleep(1.0)
    restarts, last = 0, None
    started = time.perf_counter()

    class Limit(Exception):
        pass

    def progress(_status: int, remaining: int, total: int) -> None:
        nonlocal restarts, last
        if last is not None and remaining > last:
            restarts += 1
        last = remaining
        if time.perf_counter() - started > limit:
            raise Limit

    dst_path = folder / "stepped.db"
    dst_path.unlink(missing_ok=True)
    src = sqlite3.connect(db, isolation_level=None)
    dst = sqlite3.connect(dst_path, isolation_level=None)
    finished = True
    try:
        src.backup(dst, pages=pages, progress=progress, sleep=0)
    except Limit:
        finished = False
    t1 = time.perf_counter()
    src.close()
    dst.close()
    writer.stop.set()
    writer.join()
    during, n = writer.longest(started, t1)
    outcome = "finished" if finished else "NOT finished"
    print(f"  steps of {pages} pages:          {outcome} after {t1 - started:.1f} s, "
          f"{restarts} restarts; writer: {n} writes, longest {during * 1000:.1f} ms")
    dst_path.unlink(missing_ok=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=300)
    ap.add_argument("--folder", default="/var/tmp/hotline-bench-backup")
    ap.add_argument("--pages", type=int, default=1024)
    ap.add_argument("--step-limit", type=float, default=60.0)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    folder = Path(args.folder)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    db = folder / "hotline.db"
    size = args.mb * ROWS_PER_MB
    seconds = bulk_load(db, size)
    print(f"case file: {size:,} generated cases, {db.stat().st_size / 1e6:,.0f} MB (loaded in {seconds:.0f} s)")
    copies = folder / "copies"
    one_step(db, copies, quick=False)
    one_step(db, copies, quick=True)
    stepped(db, folder, args.pages, args.step_limit)
    if not args.keep:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
