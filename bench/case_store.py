"""The case store at city scale: insert rate, and search and trend query times over up to a
year of cases (65,000 a day: 23.7 million rows).

1. Insert rate through the service's own path (CaseStore.create + save_form: the row, the
   FTS5 text, the bundle check; one transaction each, on the writer thread), against a baseline
   in the same process: the same rows with create only. Transcript segments (add_segment, which
   also indexes the text) are timed the same way.
2. For each size, a file is bulk-loaded with generated cases (the same schema and FTS index,
   written in large transactions; bundles are not computed in bulk) spread over the year before
   now, then the queries the pages run are timed (median of 3, warm cache): full-text search
   (an English word, a Mandarin word with a district filter, over 30 days and over the year),
   counts by topic per day over the year and per week, a keyword per day over 30 days, today's
   hotspot counts (today against 28 days), a department's list, the overdue list, the rates.
   Ratios are against the smallest size.

    .venv/bin/python bench/case_store.py [--inserts 20000] [--sizes 100000,1000000,4000000]
        [--folder /var/tmp/hotline-bench] [--keep]

The files go to --folder (several GB at millions of rows); they are deleted afterwards unless --keep.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import functools
import shutil
import sqlite3
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from hotline.cases.caller_key import caller_key  # noqa: E402
from hotline.cases.search import SearchStore  # noqa: E402
from hotline.cases.store import CaseStore  # noqa: E402
from hotline.cases.text_index import address_key, index_text  # noqa: E402
from hotline.cases.workflow_store import WorkflowStore  # noqa: E402
from hotline.sim import casegen  # noqa: E402

PER_DAY = 65_000
DEPARTMENTS = ("housing_bureau", "transport_bureau", "services_office", "chaoyang_office")
STATUSES = ("closed",) * 14 + ("dispatched", "accepted", "replied", "reopened", "new", "returned")


async def insert_rate(folder: Path, n: int) -> None:
    rows = list(casegen.cases(1, n, seed=1))
    for label, full in (("create only (baseline)", False), ("create + save_form (FTS, bundle)", True)):
        store = CaseStore(folder / f"insert-{int(full)}.db")
        await store.open()
        t0 = time.perf_counter()
        for row, form in rows:
            await store.create(row)
            if full:
                await store.save_form(row["uniqueid"], form, "bench", row["queued_at"], 3)
        elapsed = time.perf_counter() - t0
        rate = n / elapsed
        if not full:
            base = rate
        print(f"  {label:<36} {rate:>9,.0f} cases/s  ({elapsed:.1f} s for {n:,}; ratio {rate / base:.2f})")
        if full:
            t0 = time.perf_counter()
            for i, (row, _form) in enumerate(rows[: n // 2]):
                await store.add_segment({"case_uniqueid": row["uniqueid"], "speaker": "caller", "language": "zh",
                                         "start": 0.0, "end": 2.0, "text": "楼道漏水严重 water leak " + str(i),
                                         "confidence": 0.9, "engine": "bench", "created_at": row["queued_at"]})
            seg = (n // 2) / (time.perf_counter() - t0)
            print(f"  {'add_segment (transcript, FTS)':<36} {seg:>9,.0f} segments/s")
        await store.close()
    need = PER_DAY / 86400 * 5  # a busy hour runs at about 5x the day's mean rate
    print(f"  the city needs ~{PER_DAY / 86400:.2f} cases/s on average, ~{need:.1f}/s at peak")


def bulk_load(path: Path, size: int) -> float:
    """Fill a fresh case file with ``size`` cases over the year before now; returns seconds."""
    asyncio.run(_migrate(path))
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("pragma journal_mode=wal")
    con.execute("pragma synchronous=off")
    end = time.time()
    days = max(1, min(365, size // 1000))
    per_day = max(1, size // days)
    t0 = time.perf_counter()
    batch: list[tuple[Any, ...]] = []
    text: list[tuple[Any, ...]] = []
    key = functools.lru_cache(maxsize=200_000)(caller_key)  # the store keys each case; 100,000 callers here

    def flush() -> None:
        con.execute("begin")
        con.executemany(
            "insert into cases (id, uniqueid, linkedid, caller_number, language, topic, ivr_path, queue, state,"
            " queued_at, answered_at, wait_seconds, talk_seconds, abandoned, source, category, district, address,"
            " description, urgency, confidential, form_saved_at, status, department, dispatched_at, due_at,"
            " warn_at, replied_at, resolved, satisfied, address_key, caller_key)"
            " values (?, ?, '', ?, ?, ?, '', '', 'ended', ?, ?, 5, 180, 0, 'bench', ?, ?, ?, ?, 'normal', 0, ?, ?,"
            " ?, ?, ?, ?, ?, ?, ?, ?, ?)", batch)
        con.executemany("insert into case_text (rowid, case_id, kind, body) values (?, ?, 'form', ?)", text)
        con.execute("commit")
        batch.clear()
        text.clear()
    for n, (row, form) in enumerate(casegen.cases(days, per_day, end=end, seed=size), start=1):
        at = row["queued_at"]
        status = STATUSES[n % len(STATUSES)] if at > end - 30 * 86400 else "closed"  # older ones are closed
        dept = DEPARTMENTS[n % len(DEPARTMENTS)]
        due = at + 7 * 86400
        batch.append((n, row["uniqueid"], row["caller_number"], row["language"], row["topic"], at, at + 5,
                      form["category"], form["district"], form["address"], form["description"], at + 300, status,
                      dept, at + 300, due, due - 2 * 86400, at + 3 * 86400 if status == "closed" else None,
                      1 if status == "closed" and n % 10 else None, 1 if status == "closed" and n % 7 else None,
                      address_key(form["address"]), key(row["caller_number"])))
        text.append((n << 16, n, index_text(" ".join((form["category"], form["district"], form["address"],
                                             form["description"])))))
        if len(batch) >= 50_000:
            flush()
    if batch:
        flush()
    day = "date(queued_at, 'unixepoch', 'localtime')"
    topic = "coalesce(nullif(category, ''), topic, 'general')"
    con.execute(f"insert into daily_counts select {day}, 'topic', {topic}, count(*) from cases group by 1, 3")
    con.execute(f"insert into daily_counts select {day}, 'district', district, count(*) from cases group by 1, 3")
    con.execute(f"insert into daily_counts select {day}, 'address', address_key || '|' || {topic}, count(*)"
                " from cases group by 1, 3")
    con.execute("pragma wal_checkpoint(truncate)")
    con.close()
    return time.perf_counter() - t0


async def _migrate(path: Path) -> None:
    store = CaseStore(path)
    await store.open()
    await store.close()


async def timed(fn: Callable[[], Awaitable[Any]]) -> float:
    await fn()  # warm
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        await fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


async def queries(path: Path) -> dict[str, float]:
    store = CaseStore(path)
    await store.open()
    search, flows = SearchStore(store.db), WorkflowStore(store.db)
    now = time.time()
    month, year = now - 30 * 86400, now - 366 * 86400
    today = dt.date.today()
    out = {
        "search 'leak', 30 days": await timed(lambda: search.search("leak", month, now, {}, 50)),
        "search '漏水' + district, 30 days": await timed(
            lambda: search.search("漏水", month, now, {"district": "Chaoyang"}, 50)),
        "search 'streetlight', the year": await timed(lambda: search.search("streetlight", year, now, {}, 50)),
        "topic per day, the year": await timed(lambda: search.counts(year, now, "day", "topic")),
        "district per week, the year": await timed(lambda: search.counts(year, now, "week", "district")),
        "keyword '漏水' per day, 30 days": await timed(lambda: search.keyword_counts(["漏水"], month, now, "day")),
        "hotspot counts, today vs 28 days": await timed(lambda: search.hotspot_counts(today, 28, 5)),
        "a department's list (200)": await timed(lambda: flows.department_cases("housing_bureau", limit=200)),
        "overdue list (500)": await timed(lambda: flows.overdue(now, 500)),
        "rates, 30 days": await timed(lambda: flows.rates(month, now)),
    }
    await store.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--inserts", type=int, default=20_000)
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--folder", type=Path, default=Path("/var/tmp/hotline-bench"))
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    args.folder.mkdir(parents=True, exist_ok=True)
    print(f"SQLite {sqlite3.sqlite_version}; files in {args.folder}")
    print(f"1. insert rate ({args.inserts:,} cases, one transaction each, through the writer thread)")
    asyncio.run(insert_rate(args.folder, args.inserts))
    sizes = [int(s) for s in args.sizes.split(",") if s]
    results: dict[int, dict[str, float]] = {}
    print("2. queries (median of 3, seconds; ratio against the smallest size)")
    for size in sizes:
        path = args.folder / f"cases-{size}.db"
        path.unlink(missing_ok=True)
        for extra in ("-wal", "-shm"):
            Path(str(path) + extra).unlink(missing_ok=True)
        loaded = bulk_load(path, size)
        mb = path.stat().st_size / 1e6
        print(f"  {size:,} cases: bulk-loaded in {loaded:.0f} s ({size / loaded:,.0f}/s), file {mb:,.0f} MB"
              f" ({mb * 1e6 / size:.0f} bytes a case)")
        results[size] = asyncio.run(queries(path))
        base = results[sizes[0]]
        for name, secs in results[size].items():
            ratio = secs / base[name] if base[name] else 0
            print(f"    {name:<36} {secs * 1000:>10.1f} ms   x{ratio:.1f}")
        if not args.keep:
            path.unlink(missing_ok=True)
    if not args.keep:
        shutil.rmtree(args.folder, ignore_errors=True)


if __name__ == "__main__":
    main()
