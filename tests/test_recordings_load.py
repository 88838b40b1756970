"""Recordings under load (issue 14), in process: the settle check, the archive's own bounded
pool, retries, silent calls and really broken files. Real pydub/ffmpeg on short tones, a real
SQLite case store; the archive function is wrapped only to block it, count it or fail it once."""

from __future__ import annotations

import asyncio
import os
import subprocess
import threading
import time
import wave
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from hotline import config
from hotline import events as ev
from hotline.cases.store import CaseStore
from hotline.recordings.archive import ArchiveError, make_archive
from hotline.recordings.service import RecordingService
from hotline.recordings.store import RecordingStore
from hotline.recordings.wav import look

SITE = Path(__file__).resolve().parents[1] / "etc/site.example.toml"
FINAL = ("archived", "failed", "silent", "none")


def tone(path: Path, freq: int, seconds: float) -> Path:
    subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(path), "synth", str(seconds), "sine",
                    str(freq), "vol", "0.3"], check=True, capture_output=True)
    return path


def empty_wav(path: Path) -> Path:
    """What MixMonitor leaves for a leg that carried no audio: a closed 44-byte WAV."""
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
    return path


@dataclass
class Rig:
    rec: RecordingService
    repo: RecordingStore
    raw: Path
    calls: list[str] = field(default_factory=list)  # uniqueids in the order the archive started them
    active: list[int] = field(default_factory=lambda: [0, 0])  # running now, most at once
    fail_first: set[str] = field(default_factory=set)  # these fail once, transiently
    gate: dict[str, threading.Event] = field(default_factory=dict)  # these wait for their event
    nice: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def archive(self, caller: Path, heard: Path, dest: Path, fmt: str, bitrate: str) -> dict[str, Any]:
        uid = caller.name.split("-")[0]
        with self.lock:
            self.calls.append(uid)
            self.active[0] += 1
            self.active[1] = max(self.active)
            self.nice.append(os.nice(0))
        try:
            if uid in self.gate:
                assert self.gate[uid].wait(20)
            if uid in self.fail_first:
                self.fail_first.discard(uid)
                raise ArchiveError("the encoder failed: ffmpeg killed by signal 9", transient=True)
            return make_archive(caller, heard, dest, fmt, bitrate)
        finally:
            with self.lock:
                self.active[0] -= 1

    def call(self, uid: str, seconds: float = 1.0) -> None:
        tone(self.raw / f"{uid}-caller.wav", 600, seconds)
        tone(self.raw / f"{uid}-operator.wav", 1000, seconds)

    async def connect_and_hang_up(self, uid: str) -> None:
        await self.rec.handle(ev.AgentConnected(uid, "Q", "PJSIP/1001", "1001", 3, time.time()))
        await self.rec.handle(ev.ChannelHangup(uid, uid, "PJSIP/citizens-1", 16, time.time()))

    async def row(self, uid: str) -> dict[str, Any]:
        row = await self.repo.recording(uid)
        assert row is not None
        return row

    async def until(self, uid: str, check: Callable[[dict[str, Any]], bool], timeout: float = 20.0) -> dict[str, Any]:
        end = time.monotonic() + timeout
        while True:
            row = await self.row(uid)
            if check(row) or time.monotonic() > end:
                return row
            await asyncio.sleep(0.02)


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    base = config.load(SITE, {})
    s = replace(base, recordings=replace(base.recordings, folder=tmp_path / "archive", archive_workers=1,
                                         settle_timeout=2.0))
    store = CaseStore(tmp_path / "c.db")
    raw = tmp_path / "spool"
    raw.mkdir()
    repo = RecordingStore(store.db)
    holder: list[Rig] = []

    def archive(*a: Any) -> dict[str, Any]:
        return holder[0].archive(*a)

    async def run(fn: Any) -> Any:
        return fn()
    rec = RecordingService(s, raw, repo, archive, lambda p: 10**10, run)
    rec.settle_seconds = 0.05
    rec.retry_delays = (0.1, 0.1, 0.1)
    holder.append(Rig(rec, repo, raw))
    try:
        yield holder[0]
    finally:
        for ev_ in holder[0].gate.values():
            ev_.set()
        rec.close()
        await store.close()


async def test_the_settle_check_does_not_wait_behind_a_busy_archive(rig: Rig) -> None:
    """The one archive worker is busy with a long job: the next call's files are still found
    closed at once (the issue's failure was the settle check queued behind ffmpeg)."""
    rig.call("busy")
    rig.call("next")
    rig.gate["busy"] = threading.Event()
    await rig.connect_and_hang_up("busy")
    await rig.until("busy", lambda r: rig.calls == ["busy"])
    assert rig.calls == ["busy"]  # the pool's only worker is now blocked in it
    t0 = time.monotonic()
    await rig.connect_and_hang_up("next")
    row = await rig.until("next", lambda r: bool(r["closed_at"]), timeout=3)
    assert row["closed_at"] and time.monotonic() - t0 < 1.0
    assert row["status"] == "pending" and rig.calls == ["busy"]  # queued, not failed, not started
    rig.gate["busy"].set()
    for uid in ("busy", "next"):
        assert (await rig.until(uid, lambda r: r["status"] in FINAL))["status"] == "archived"
    assert rig.nice and all(n >= 10 for n in rig.nice)  # the archive ran at low priority


async def test_a_backlog_is_archived_in_order_one_at_a_time(rig: Rig) -> None:
    uids = [f"b{i}" for i in range(8)]
    rig.gate["b0"] = threading.Event()  # a peak: eight hang-ups while the first copy is being made
    for uid in uids:
        rig.call(uid, 0.6)
    for uid in uids:
        await rig.connect_and_hang_up(uid)
    await rig.until("b7", lambda r: bool(r["closed_at"]))
    assert rig.rec.backlog() == 8 and [(await rig.row(u))["status"] for u in uids] == ["pending"] * 8
    rig.gate["b0"].set()
    rows = [await rig.until(uid, lambda r: r["status"] in FINAL) for uid in uids]
    assert [r["status"] for r in rows] == ["archived"] * 8
    assert rig.calls == uids and rig.active[1] == 1  # in hang-up order, never two at once
    assert all(Path(r["archive"]).is_file() for r in rows) and not list(rig.raw.iterdir())  # noqa: ASYNC240
    assert rig.rec.backlog() == 0


async def test_a_transient_failure_is_retried_then_archived(rig: Rig) -> None:
    rig.call("t1")
    rig.fail_first.add("t1")
    await rig.connect_and_hang_up("t1")
    row = await rig.until("t1", lambda r: r["status"] in FINAL)
    assert row["status"] == "archived" and row["attempts"] == 2 and row["error"] == ""
    assert rig.calls == ["t1", "t1"]


async def test_a_call_without_audio_is_silent_not_failed(rig: Rig) -> None:
    """A DTMF-only call (bench/load.py's callers): MixMonitor closes two header-only files."""
    empty_wav(rig.raw / "s1-caller.wav")
    empty_wav(rig.raw / "s1-operator.wav")
    empty_wav(rig.raw / "s1-mix.wav")
    await rig.connect_and_hang_up("s1")
    row = await rig.until("s1", lambda r: r["status"] in FINAL)
    assert row["status"] == "silent" and "no audio" in row["error"] and not list(rig.raw.iterdir())
    # one leg silent (the operator never spoke), the other with audio: a normal archive copy
    tone(rig.raw / "s2-caller.wav", 600, 1.0)
    empty_wav(rig.raw / "s2-operator.wav")
    await rig.connect_and_hang_up("s2")
    row = await rig.until("s2", lambda r: r["status"] in FINAL)
    assert row["status"] == "archived" and row["seconds"] == pytest.approx(1.0, abs=0.05)


async def test_really_broken_files_fail_with_their_reason(rig: Rig) -> None:
    (rig.raw / "x1-caller.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + os.urandom(2000))
    tone(rig.raw / "x1-operator.wav", 1000, 1.0)
    await rig.connect_and_hang_up("x1")
    row = await rig.until("x1", lambda r: r["status"] in FINAL)
    assert row["status"] == "failed" and "cannot read x1-caller.wav" in row["error"]
    assert row["attempts"] == 1 and (rig.raw / "x1-caller.wav").exists()  # not retried; originals kept
    # a leg that never appears: failed once the settle deadline has passed, saying which file
    tone(rig.raw / "x2-caller.wav", 600, 1.0)
    await rig.connect_and_hang_up("x2")
    await asyncio.sleep(0.5)
    assert (await rig.row("x2"))["status"] == "pending"  # within the deadline: still waiting
    row = await rig.until("x2", lambda r: r["status"] in FINAL, timeout=10)
    assert row["status"] == "failed" and row["error"] == "x2-operator.wav missing 2 s after the call ended"


async def test_files_still_written_are_not_taken_and_pending_ones_survive_a_restart(rig: Rig, tmp_path: Path) -> None:
    # a header as Asterisk writes it on opening (sizes 0), audio still being appended after the hang-up
    src = tone(tmp_path / "w.wav", 600, 1.0).read_bytes()
    open_header = src[:4] + b"\0\0\0\0" + src[8:40] + b"\0\0\0\0"
    for leg in ("caller", "operator"):
        (rig.raw / f"w1-{leg}.wav").write_bytes(open_header)
    assert look(rig.raw / "w1-caller.wav") == (44, None)
    await rig.connect_and_hang_up("w1")
    for i in range(10):  # Asterisk flushes the last frames
        await asyncio.sleep(0.05)
        for leg in ("caller", "operator"):
            with (rig.raw / f"w1-{leg}.wav").open("ab") as f:
                f.write(src[44 + i * 1600:44 + (i + 1) * 1600])
    assert (await rig.row("w1"))["closed_at"] is None
    closed = time.time()
    for leg in ("caller", "operator"):  # ... and closes the file: the header gets its sizes
        (rig.raw / f"w1-{leg}.wav").write_bytes(src)
    row = await rig.until("w1", lambda r: r["status"] in FINAL)
    assert row["status"] == "archived" and row["closed_at"] >= closed
    # a restart: a row left pending by the last run is archived by the next one
    rig.call("r1")
    await rig.repo.save_recording({"case_uniqueid": "r1", "started_at": time.time() - 60, "status": "pending",
                                   "ended_at": time.time() - 30})
    task = asyncio.create_task(rig.rec.run(disk_every=60))
    try:
        row = await rig.until("r1", lambda r: r["status"] in FINAL)
    finally:
        task.cancel()
    assert row["status"] == "archived"
