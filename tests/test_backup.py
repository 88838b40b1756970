"""`hotline backup` and `hotline restore`: a copy taken while the service writes is verified, is a
complete case file (cases, transcripts, the full-text index: a search of the restored file finds
the same cases), old copies beyond --keep are removed, a damaged copy is refused, and restore
refuses while the service has the case file open."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hotline import cli
from hotline.cases.search import SearchStore
from hotline.cases.store import CaseStore
from hotline.sim import casegen
from hotline.storage import backup as backup_mod
from hotline.storage.database import Database

ROOT = Path(__file__).resolve().parents[1]
SITE_TEXT = (ROOT / "etc/site.example.toml").read_text()


def site(tmp_path: Path) -> Path:
    path = tmp_path / "site.toml"
    text = SITE_TEXT.replace('state_dir = "../var"', 'state_dir = "state"')
    assert text != SITE_TEXT
    path.write_text(text.replace("port = 8480", "port = 1"))  # nothing listens on port 1: "the service is stopped"
    return path


async def fill(db_path: Path, n: int = 40) -> None:
    store = CaseStore(db_path)
    # in time order, as the service writes them (the search bounds its index by case ids growing with time)
    for row, form in sorted(casegen.cases(2, n // 2, seed=3), key=lambda rf: float(rf[0]["queued_at"])):
        await store.create(row)
        await store.save_form(row["uniqueid"], form, "test", row["queued_at"], 3)
        await store.add_segment({"case_uniqueid": row["uniqueid"], "speaker": "caller", "language": "zh",
                                 "start": 0.0, "end": 2.0, "text": "楼道漏水严重 water leak in the ceiling",
                                 "confidence": 0.9, "engine": "test", "created_at": row["queued_at"]})
    await store.close()


async def found(db_path: Path, words: str) -> list[str]:
    db = Database(db_path)
    try:
        result = await SearchStore(db).search(words, 0.0, time.time() + 86400, {}, limit=500)
        return sorted(c["uniqueid"] for c in result["cases"])
    finally:
        await db.close()


def counts(db_path: Path) -> dict[str, int]:
    conn = sqlite3.connect(db_path)
    try:
        return {t: conn.execute(f"select count(*) from {t}").fetchone()[0] for t in ("cases", "transcript")}
    finally:
        conn.close()


async def test_backup_and_restore_round_trip_cases_transcripts_and_search(tmp_path: Path,
                                                                           capsys: pytest.CaptureFixture[str]) -> None:
    s = site(tmp_path)
    db_path = tmp_path / "state" / "hotline.db"
    await fill(db_path)
    before = {w: await found(db_path, w) for w in ("漏水", "leak", "passport")}
    assert before["漏水"] and before["leak"] and before["passport"]  # transcripts (all) and forms (some) are indexed
    assert len(before["passport"]) < len(before["leak"])

    # the backup is taken while a "service" keeps writing the case file
    store = CaseStore(db_path)
    started = asyncio.Event()
    writes = asyncio.create_task(_keep_writing(store, started))
    await asyncio.wait_for(started.wait(), 10)
    code = await asyncio.to_thread(cli.main, ["backup", "--site", str(s), "--json"])
    writes.cancel()
    await asyncio.gather(writes, return_exceptions=True)
    await store.close()
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    copy = Path(out["path"])
    assert copy.parent == tmp_path / "state" / "backups"
    check_copy(copy)
    lose(db_path)  # the service's file is lost; restore (the service is stopped: nothing holds the file)
    assert await asyncio.to_thread(cli.main, ["restore", str(copy), "--site", str(s)]) == 0
    assert "the previous file is" in capsys.readouterr().out
    restored = counts(db_path)
    assert restored["cases"] > 40 and restored["transcript"] == 40  # with the cases written during the backup
    for words, uniqueids in before.items():
        assert await found(db_path, words) == uniqueids, words


def check_copy(copy: Path) -> None:
    assert copy.stat().st_mode & 0o777 == 0o600  # citizens' data
    assert not Path(f"{copy}-wal").exists()  # self-contained
    backup_mod.verify(copy)


def lose(db_path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    sqlite3.connect(db_path).execute("create table junk (x)").connection.close()  # a wrong file in its place


async def _keep_writing(store: CaseStore, started: asyncio.Event) -> None:
    n = 0
    while True:
        n += 1
        await store.create({"uniqueid": f"live-{n}", "caller_number": "13900001234", "language": "zh",
                            "topic": "housing", "ivr_path": "", "queue": "hl-zh-housing", "queued_at": time.time()})
        if n == 3:
            started.set()  # the backup starts with the writes under way
        await asyncio.sleep(0.002)


def test_retention_keeps_the_newest_copies(tmp_path: Path) -> None:
    db_path = tmp_path / "hotline.db"
    asyncio.run(fill(db_path, 4))
    folder = tmp_path / "copies"
    clock = iter(float(1_790_000_000 + i * 3600) for i in range(10))
    made = [backup_mod.backup(db_path, folder, keep=3, clock=lambda: next(clock)) for _ in range(5)]
    assert [p.name for p in backup_mod.backups(folder)] == [m.path.name for m in made[-3:]]
    assert made[-1].removed == (made[1].path,) and made[2].removed == ()
    assert not list(folder.glob("*.partial"))


def test_a_damaged_copy_is_refused_by_verify_and_by_restore(tmp_path: Path) -> None:
    db_path = tmp_path / "hotline.db"
    asyncio.run(fill(db_path, 4))
    copy = backup_mod.backup(db_path, tmp_path / "copies", keep=0).path
    data = bytearray(copy.read_bytes())
    page = 4096
    data[page * 3:page * 3 + 200] = os.urandom(200)  # a b-tree page in the middle
    bad = tmp_path / "bad.db"
    bad.write_bytes(bytes(data))
    with pytest.raises(backup_mod.BackupError):
        backup_mod.verify(bad)
    not_sqlite = tmp_path / "notes.db"
    not_sqlite.write_text("not a database")
    target = tmp_path / "restored.db"
    for wrong in (bad, not_sqlite):
        with pytest.raises(backup_mod.BackupError):
            backup_mod.restore(wrong, target)
    assert not target.exists()


def test_restore_refuses_while_the_service_holds_the_case_file(tmp_path: Path) -> None:
    s = site(tmp_path)
    db_path = tmp_path / "state" / "hotline.db"
    asyncio.run(fill(db_path, 4))
    copy = backup_mod.backup(db_path, tmp_path / "copies").path
    holder = subprocess.Popen([sys.executable, "-c", "import sqlite3, sys, time; c = sqlite3.connect(sys.argv[1]); "
                               "c.execute('select 1 from cases').fetchall(); print('open', flush=True); "
                               "time.sleep(60)", str(db_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        out = subprocess.run([sys.executable, "-m", "hotline.cli", "restore", str(copy), "--site", str(s)],
                             capture_output=True, text=True, timeout=60, check=False)
        assert out.returncode == 1 and "restore refused: the service is running" in out.stderr, out.stderr
        assert f"process {holder.pid}" in out.stderr
    finally:
        holder.kill()
        holder.wait()
    assert not list(db_path.parent.glob("*.before-restore-*"))  # nothing was touched


@pytest.mark.skipif(os.geteuid() != 0, reason="root makes the copy for the case file's owner")
def test_a_copy_made_by_root_belongs_to_the_case_files_owner(tmp_path: Path) -> None:
    db_path = tmp_path / "hotline.db"
    asyncio.run(fill(db_path, 4))
    os.chown(db_path, 4321, 4321)  # the run user's file
    result = backup_mod.backup(db_path, tmp_path / "copies")
    for made in (result.path, result.path.parent):
        st = made.stat()
        assert (st.st_uid, st.st_gid) == (4321, 4321), made
