"""Recordings after the call: archive, verify, remove the originals, retention, the disk guard.

The dialplan starts MixMonitor before the queue (``HL_RECORD`` from the router says whether).
When the caller's channel hangs up the row becomes ``pending`` and a cheap settle check (a stat
and the 44-byte WAV header, never behind an archive job) waits for Asterisk to close the two
files: Asterisk writes the RIFF sizes into the header when it closes a WAV file, so a header
whose sizes match the file, unchanged over two looks, is closed (a file that stays unchanged for
20 looks counts as closed too). Closed files go to a bounded queue; the archive's own worker pool
(``archive_workers`` threads at ``archive_nice``, so Asterisk's calls come first) makes the
stereo copy with pydub and verifies it; only a verified copy lets the originals be deleted.

A recording fails only when its files are really unusable: missing ``settle_timeout`` s after the
hang-up, or not decodable; an encoder or verification failure is retried with backoff
(``archive_retries`` attempts), and a failed copy keeps its originals (the hourly sweep retries
it). Both files closed with no audio at all (a call that carried no media, e.g. DTMF only):
``silent``, not failed. Rows still ``pending`` after a restart are picked up when the service
starts. Free space is checked every few seconds: below ``min_free_mb`` new calls are not
recorded (the router tells the dialplan) and the wallboard shows an alert; calls are never
refused for it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, Protocol

from hotline import events as ev
from hotline.config import Settings
from hotline.recordings.errors import ArchiveError
from hotline.recordings.pool import ArchivePool, archive_worker_count
from hotline.recordings.wav import WAV_HEADER, look

log = logging.getLogger(__name__)

ArchiveFn = Callable[[Path, Path, Path, str, str], dict[str, Any]]  # blocking, run in an executor
FreeFn = Callable[[Path], int]  # free bytes on the file system of a folder (blocking)
RunFn = Callable[[Callable[[], Any]], Awaitable[Any]]
RETRY_DELAYS = (5.0, 30.0, 120.0, 600.0)  # seconds before attempt 2, 3, 4, 5...


class RecordingRepository(Protocol):
    async def save_recording(self, row: dict[str, Any]) -> None: ...
    async def recording(self, uniqueid: str) -> dict[str, Any] | None: ...
    async def recordings_in(self, statuses: tuple[str, ...], before: float | None = None) -> list[dict[str, Any]]: ...


class RecordingService:
    def __init__(self, settings: Settings, raw_dir: Path, repo: RecordingRepository, archive: ArchiveFn,
                 free_bytes: FreeFn, run: RunFn, clock: Callable[[], float] = time.time,
                 archive_run: RunFn | None = None) -> None:
        """run: quick file work (stat, unlink, free space); archive_run: the archive jobs
        (default: this service's own pool of archive_workers low-priority threads)."""
        self.cfg = settings.recordings
        self.raw_dir = raw_dir
        self.repo = repo
        self.archive = archive
        self.free_bytes = free_bytes
        self.run_blocking = run
        self.clock = clock
        self.allowed = True
        self.free_mb: dict[str, float] = {}
        self.on_alert: Callable[[], None] | None = None
        self.workers = archive_worker_count(self.cfg.archive_workers)
        self._pool = ArchivePool(self.workers, self.cfg.archive_nice)
        self.run_archive = archive_run or self._pool.run
        self._recording: set[str] = set()  # calls being recorded now: a hang-up of any other channel costs nothing
        self._inflight: set[str] = set()  # settling, queued, being archived or waiting for a retry
        self._queue: asyncio.Queue[str] = asyncio.Queue(maxsize=1000)
        self._overflow = False  # the queue was full: pending rows wait in the store
        self._closed = False
        self._worker_tasks: list[asyncio.Task[None]] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self.settle_seconds = 0.5  # between two looks at the files
        self.stable_looks = 20  # unchanged this many looks: closed even if the header never said so
        self.retry_delays = RETRY_DELAYS

    def raw_files(self, uniqueid: str) -> tuple[Path, Path, Path]:
        return (self.raw_dir / f"{uniqueid}-caller.wav", self.raw_dir / f"{uniqueid}-operator.wav",
                self.raw_dir / f"{uniqueid}-mix.wav")

    def record_this_call(self) -> bool:
        """Asked by the router for each call entering the queue."""
        return self.cfg.enabled and self.allowed

    def alerts(self) -> list[dict[str, Any]]:
        if self.allowed or not self.cfg.enabled:
            return []
        where = ", ".join(f"{k} {v:.0f} MB free" for k, v in sorted(self.free_mb.items()))
        return [{"id": "recordings:disk", "kind": "recordings_stopped", "severity": "critical", "since": None,
                 "target": "recordings", "text": f"disk nearly full ({where}; minimum {self.cfg.min_free_mb} MB): "
                                                 "new calls are NOT being recorded"}]

    def backlog(self) -> int:
        """Recordings settling, queued, being archived or waiting for a retry."""
        return len(self._inflight)

    # -- events ------------------------------------------------------------------------------------

    async def handle(self, event: ev.Event) -> None:
        if isinstance(event, ev.AgentConnected) and self.cfg.enabled:
            await self.repo.save_recording({"case_uniqueid": event.uniqueid, "started_at": event.at,
                                            "status": "recording"})
            self._recording.add(event.uniqueid)
        elif isinstance(event, ev.ChannelHangup) and event.uniqueid in self._recording:
            await self.repo.save_recording({"case_uniqueid": event.uniqueid, "status": "pending",
                                            "ended_at": event.at})  # a StoreError: the pump retries the event
            self._recording.discard(event.uniqueid)
            self._start(event.uniqueid)

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        task: asyncio.Task[Any] = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _start(self, uniqueid: str) -> None:
        """Settle, then queue for the archive (unless already on its way)."""
        if uniqueid in self._inflight:
            return
        self._inflight.add(uniqueid)
        self._spawn(self._settle_then_queue(uniqueid), f"rec-settle-{uniqueid}")

    async def _settle_then_queue(self, uniqueid: str) -> None:
        try:
            if await self._settle(uniqueid) == "closed":
                self._enqueue(uniqueid)
                return
        except Exception:
            log.exception("recording of uniqueid=%s: the settle check failed; the sweep retries it", uniqueid)
        self._inflight.discard(uniqueid)

    def _enqueue(self, uniqueid: str) -> None:
        if self._closed:
            return  # shutting down: the row stays pending and the next start resumes it
        if self._queue.full():
            self._overflow = True  # the row stays pending in the store; read again once the queue drains
            self._inflight.discard(uniqueid)
            log.warning("recordings: archive queue full; uniqueid=%s waits in the store", uniqueid)
            return
        self._queue.put_nowait(uniqueid)
        self._inflight.add(uniqueid)
        while len(self._worker_tasks) < self.workers:
            self._worker_tasks.append(asyncio.get_running_loop().create_task(
                self._worker(), name=f"rec-archive-{len(self._worker_tasks)}"))

    async def _worker(self) -> None:
        while True:
            uniqueid = await self._queue.get()
            try:
                if await self._archive(uniqueid) != "retry":
                    self._inflight.discard(uniqueid)
            except Exception:
                self._inflight.discard(uniqueid)
                log.exception("recording of uniqueid=%s: archive job failed; the sweep retries it", uniqueid)
            finally:
                self._queue.task_done()
            if self._queue.empty() and self._overflow:
                self._overflow = False
                try:
                    await self.resume()
                except Exception:
                    log.exception("recordings: reading the pending ones failed; the sweep retries")

    # -- archiving ----------------------------------------------------------------------------------

    def archive_path(self, uniqueid: str, started_at: float) -> Path:
        day = dt.datetime.fromtimestamp(started_at).astimezone()
        return self.cfg.folder / f"{day:%Y/%m/%d}" / f"{uniqueid}.{self.cfg.format}"

    async def _settle(self, uniqueid: str) -> str:
        """Wait for Asterisk to close the call's two files: "closed" (queued next), or the row is
        final ("silent", "none", "failed": missing), or "open" (still written at the deadline:
        left pending for the sweep)."""
        row = await self.repo.recording(uniqueid)
        if row is None or row["status"] not in ("recording", "pending", "failed"):
            return "gone"
        caller, heard, mix = self.raw_files(uniqueid)
        paths = (caller, heard)
        deadline = self.clock() + self.cfg.settle_timeout  # from now: after a restart the hang-up is long past
        last: tuple[int, ...] | None = None
        same = 0
        seen: tuple[tuple[int, int | None], ...] = ()
        while True:
            seen = tuple(await self.run_blocking(lambda: [look(p) for p in paths]))
            sizes = tuple(size for size, _ in seen)
            same = same + 1 if sizes == last else 0
            last = sizes
            exist = all(size >= 0 for size in sizes)
            if exist and same >= 1 and (all(data is not None for _, data in seen) or same >= self.stable_looks):
                break
            if self.clock() >= deadline:
                break
            await asyncio.sleep(self.settle_seconds)
        base = {"case_uniqueid": uniqueid, "raw_caller": str(caller), "raw_operator": str(heard),
                "raw_mix": str(mix)}
        if not exist:
            if all(size < 0 for size, _ in seen):
                await self.repo.save_recording({"case_uniqueid": uniqueid, "status": "none",
                                                "error": "not recorded (recordings were stopped, e.g. the disk "
                                                         "guard)"})
                log.warning("call uniqueid=%s was not recorded", uniqueid)
                return "none"
            missing = ", ".join(p.name for p, (size, _) in zip(paths, seen, strict=True) if size < 0)
            await self.repo.save_recording({**base, "status": "failed", "error": f"{missing} missing "
                                            f"{self.cfg.settle_timeout:.0f} s after the call ended"})
            log.error("recording of uniqueid=%s failed: %s missing in %s", uniqueid, missing, self.raw_dir)
            return "failed"
        if same < 1 or not (all(data is not None for _, data in seen) or same >= self.stable_looks):
            await self.repo.save_recording({"case_uniqueid": uniqueid, "status": "pending",
                                            "error": f"still being written {self.cfg.settle_timeout:.0f} s after "
                                                     "the hang-up; the sweep tries again"})
            log.warning("recording of uniqueid=%s: files still growing %.0f s after the hang-up", uniqueid,
                        self.cfg.settle_timeout)
            return "open"
        if all(size <= WAV_HEADER for size in sizes):  # closed, and not one frame of audio either way
            await self.repo.save_recording({**base, "status": "silent", "closed_at": self.clock(),
                                            "raw_caller": "", "raw_operator": "", "raw_mix": "", "seconds": 0.0,
                                            "error": "no audio either way (the call carried no media)"})

            def remove() -> None:
                for p in (caller, heard, mix):
                    p.unlink(missing_ok=True)
            await self.run_blocking(remove)
            log.info("recording of uniqueid=%s: silent (no audio in either direction)", uniqueid)
            return "silent"
        await self.repo.save_recording({"case_uniqueid": uniqueid, "status": "pending", "closed_at": self.clock()})
        return "closed"

    async def process(self, uniqueid: str) -> None:
        """Settle and archive one recording now (the archive job still runs in the bounded pool)."""
        if uniqueid in self._inflight:
            return
        self._inflight.add(uniqueid)
        retry = False
        try:
            if await self._settle(uniqueid) == "closed":
                retry = await self._archive(uniqueid) == "retry"
        finally:
            if not retry:
                self._inflight.discard(uniqueid)

    async def _archive(self, uniqueid: str) -> str:
        """One attempt: "archived", "failed", "retry" (scheduled) or "gone"."""
        row = await self.repo.recording(uniqueid)
        if row is None or row["status"] not in ("recording", "pending", "failed"):
            return "gone"
        caller, heard, mix = self.raw_files(uniqueid)
        attempt = int(row.get("attempts") or 0) + 1
        dest = self.archive_path(uniqueid, row["started_at"])
        began = time.monotonic()
        try:
            info = await self.run_archive(lambda: self.archive(caller, heard, dest, self.cfg.format,
                                                               self.cfg.bitrate))
        except Exception as exc:
            transient = not isinstance(exc, ArchiveError) or exc.transient
            base = {"case_uniqueid": uniqueid, "attempts": attempt, "raw_caller": str(caller),
                    "raw_operator": str(heard), "raw_mix": str(mix)}
            if transient and attempt < self.cfg.archive_retries:
                delay = self.retry_delays[min(attempt, len(self.retry_delays)) - 1]
                await self.repo.save_recording({**base, "status": "pending",
                                                "error": f"attempt {attempt} failed, next in {delay:.0f} s: {exc}"})
                log.warning("recording of uniqueid=%s: archive attempt %d failed, retrying in %.0f s: %s",
                            uniqueid, attempt, delay, exc)
                asyncio.get_running_loop().call_later(delay, self._enqueue, uniqueid)
                return "retry"
            why = str(exc) if not transient else f"{attempt} attempt(s) failed, the last: {exc}"
            await self.repo.save_recording({**base, "status": "failed", "error": why})
            log.error("recording of uniqueid=%s not archived, originals kept: %s", uniqueid, why)
            return "failed"
        await self.repo.save_recording({**row, **info, "status": "archived", "archive": str(dest),
                                        "attempts": attempt, "verified_at": self.clock(), "raw_caller": "",
                                        "raw_operator": "", "raw_mix": "", "error": ""})

        def remove() -> None:
            for p in (caller, heard, mix):
                p.unlink(missing_ok=True)
        await self.run_blocking(remove)
        log.info("recording of uniqueid=%s archived: %s (%.1f s, %d bytes, verified, %.2f s); originals removed",
                 uniqueid, dest, info["seconds"], info["bytes"], time.monotonic() - began)
        return "archived"

    async def resume(self) -> None:
        """Pending rows not on their way (a restart, a full queue): settled again, then queued."""
        for row in await self.repo.recordings_in(("pending",)):
            uid = row["case_uniqueid"]
            if uid not in self._inflight and uid not in self._recording:
                self._start(uid)

    def close(self) -> None:
        self._closed = True
        for task in [*self._worker_tasks, *self._tasks]:
            task.cancel()
        self._pool.shutdown()

    # -- housekeeping ------------------------------------------------------------------------------

    async def check_disk(self) -> None:
        folders = {"recordings": self.cfg.folder, "spool": self.raw_dir}

        def measure() -> dict[str, float]:
            out = {}
            for name, folder in folders.items():
                folder.mkdir(parents=True, exist_ok=True)
                out[name] = self.free_bytes(folder) / 1e6
            return out
        self.free_mb = await self.run_blocking(measure)
        allowed = min(self.free_mb.values()) >= self.cfg.min_free_mb
        if allowed != self.allowed:
            self.allowed = allowed
            if allowed:
                log.warning("recordings resumed: %s", self.free_mb)
            else:
                log.error("disk nearly full (%s MB free, minimum %d): new calls are not recorded",
                          {k: round(v) for k, v in self.free_mb.items()}, self.cfg.min_free_mb)
            if self.on_alert is not None:
                self.on_alert()

    async def purge(self) -> int:
        """Delete archive copies older than the retention; the row keeps that it was purged."""
        cutoff = self.clock() - self.cfg.retention_days * 86400
        purged = 0
        for row in await self.repo.recordings_in(("archived",), before=cutoff):
            path = Path(row["archive"])
            await self.run_blocking(lambda p=path: p.unlink(missing_ok=True))  # type: ignore[misc]
            await self.repo.save_recording({**row, "status": "purged", "purged_at": self.clock(), "archive": ""})
            purged += 1
        if purged:
            log.info("recordings: %d archive copies older than %d days deleted", purged, self.cfg.retention_days)
        return purged

    async def retry_failed(self) -> None:
        """Failed copies whose originals are there, and calls whose hang-up was missed (the
        service was down) an hour after they started: archived again."""
        stale = self.clock() - 3600
        for row in await self.repo.recordings_in(("recording",), before=stale):
            if row["case_uniqueid"] not in self._recording:
                self._start(row["case_uniqueid"])
        await self.resume()
        for row in await self.repo.recordings_in(("failed",)):
            uid = row["case_uniqueid"]
            caller, heard, _mix = self.raw_files(uid)
            def both(c: Path = caller, h: Path = heard) -> bool:
                return c.exists() and h.exists()
            if uid not in self._inflight and await self.run_blocking(both):
                await self.repo.save_recording({"case_uniqueid": uid, "status": "pending", "attempts": 0})
                self._start(uid)

    async def run(self, disk_every: float = 5.0, purge_every: float = 3600.0) -> None:
        last_purge = 0.0
        try:
            await self.resume()  # left pending by the last run
        except Exception:
            log.exception("recordings: resuming the pending ones failed; the hourly sweep retries")
        while True:
            try:
                await self.check_disk()
                if self.clock() - last_purge > purge_every:
                    last_purge = self.clock()
                    await self.purge()
                    await self.retry_failed()
            except Exception:
                log.exception("recordings housekeeping failed; retrying")
            await asyncio.sleep(disk_every)
