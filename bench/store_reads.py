"""A screen pop's store read while logins hash their passwords (issue 15).

Four argon2 logins at a time, repeated ``--rounds`` times, while a case is read (CaseStore.get)
every 2 ms; the read's latency is reported for two setups in the same process:

- "one thread": the verification runs on the store's writer thread and the read waits behind it
  (how the store worked before issue 15; rebuilt here with ``store.run`` for the comparison);
- "now": UserDirectory.authenticate (argon2 on its own 2-worker executor) and CaseStore.get
  (the read pool's own WAL connections).

Then a burst: 200 writes of 5 ms each queued on the writer (transcript segments, audit rows on a
busy disk), and during it a read of another case, a session check, and a read of a case with a
write queued after the burst; "every read waits for the newest write" (how the read pool first
worked) against "now" (a read waits only for the writes of its own case, the session check reads
on the pool and writes last_seen later).

    .venv/bin/python bench/store_reads.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from hotline.auth import passwords
from hotline.auth.user_store import UserStore
from hotline.auth.users import UserDirectory
from hotline.cases.store import CaseStore

PASSWORD = "correct horse battery staple"
CASE = {"uniqueid": "u1", "linkedid": "u1", "caller_number": "13900000001", "language": "en", "topic": "housing",
        "ivr_path": "", "queue": "hl-en-housing", "queued_at": 1_700_000_000.0}


async def measure(folder: Path, old: bool, rounds: int) -> list[float]:
    store = CaseStore(folder / ("old.db" if old else "new.db"))
    users = UserDirectory(UserStore(store.db))
    await users.add("ana", "operator", PASSWORD)
    await store.create(CASE)

    async def old_login() -> Any:
        return await store.db.run(lambda db: passwords.verify(
            next(db["users"].rows_where("username = 'ana'"))["password_hash"], PASSWORD))

    async def old_get() -> Any:
        return await store.db.run(lambda db: list(db["cases"].rows_where("uniqueid = 'u1'")))

    login: Callable[[], Awaitable[Any]] = old_login if old else (lambda: users.authenticate("ana", PASSWORD))
    get: Callable[[], Awaitable[Any]] = old_get if old else (lambda: store.get("u1"))
    for _ in range(3):
        await get()
    latencies: list[float] = []
    for _ in range(rounds):
        logins = [asyncio.ensure_future(login()) for _ in range(4)]
        await asyncio.sleep(0)
        while not all(t.done() for t in logins):
            started = time.perf_counter()
            await get()
            latencies.append(time.perf_counter() - started)
            await asyncio.sleep(0.002)
        await asyncio.gather(*logins)
    await store.close()
    return latencies


def slow_write(db: Any) -> None:
    time.sleep(0.005)
    db.execute("insert or replace into kv (key, value) values ('burst', 'x')")


async def burst(folder: Path, old: bool) -> dict[str, float]:
    store = CaseStore(folder / ("burst-old.db" if old else "burst-new.db"))
    users = UserDirectory(UserStore(store.db))
    await users.add("ana", "operator", PASSWORD)
    token, _ = await users.open_session("ana", "127.0.0.1")
    await store.create(CASE)
    await store.create({**CASE, "uniqueid": "u2", "linkedid": "u2"})
    await store.db.run(lambda db: db.execute("update sessions set last_seen = last_seen - 120"))  # last_seen due
    for _ in range(3):
        await store.get("u1")

    async def after_all() -> None:  # the first read pool's wait: for the newest write handed over
        await store.db.run(lambda db: None)
    took: dict[str, float] = {}
    for what in ("another case", "session check", "its own case"):
        writes = [asyncio.ensure_future(store.db.run(slow_write)) for _ in range(200)]
        noted = asyncio.ensure_future(store.update("u2", {"note": "after the burst"}))
        await asyncio.sleep(0)
        started = time.perf_counter()
        if old:
            await after_all()
        if what == "another case":
            assert await store.get("u1") is not None
        elif what == "session check":
            assert await users.session(token) is not None
        else:
            assert (await store.get("u2") or {}).get("note") == "after the burst"
        took[what] = time.perf_counter() - started
        await asyncio.gather(*writes, noted)
        await store.db.run(lambda db: db.execute("update cases set note = '' where uniqueid = 'u2'"))
    await store.close()
    return took


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        idle = CaseStore(Path(tmp) / "idle.db")
        await idle.create(CASE)
        quiet = []
        for _ in range(50):
            started = time.perf_counter()
            await idle.get("u1")
            quiet.append(time.perf_counter() - started)
        await idle.close()
        print(f"no logins: median {statistics.median(quiet) * 1000:.2f} ms")
        for label, old in (("one thread (before)", True), ("now", False)):
            lat = await measure(Path(tmp), old, args.rounds)
            p90 = statistics.quantiles(lat, n=10, method="inclusive")[-1] if len(lat) > 1 else lat[0]
            print(f"{label}: {len(lat)} reads during {args.rounds} x 4 logins: median"
                  f" {statistics.median(lat) * 1000:.2f} ms, p90 {p90 * 1000:.2f} ms, max {max(lat) * 1000:.1f} ms")
        for label, old in (("every read waits for the newest write (before)", True), ("now", False)):
            took = await burst(Path(tmp), old)
            print(f"during 200 x 5 ms writes, {label}: "
                  + ", ".join(f"{what} {t * 1000:.1f} ms" for what, t in took.items()))


if __name__ == "__main__":
    asyncio.run(main())
