"""Recordings after the call: archive, verify, remove the originals, retention, the disk guard.

The dialplan starts MixMonitor before the queue (``HL_RECORD`` from the router says whether);
when the caller's channel hangs up, its two files are closed by Asterisk within a moment: we
wait until they stop growing, then the archiver (pydub, in an executor) makes the stereo copy
and verifies it; only a verified copy lets the originals be deleted. A failed copy keeps the
originals and is retried. Free space is checked every few seconds: below ``min_free_mb`` new
calls are not recorded (the router tells the dialplan) and the wallboard shows an alert; calls
are never refused for it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

from hotline import events as ev
from hotline.config import Settings

log = logging.getLogger(__name__)

ArchiveFn = Callable[[Path, Path, Path, str, str], dict[str, Any]]  # blocking, run in an executor
FreeFn = Callable[[Path], int]  # free bytes on the file system of a folder (blocking)
RunFn = Callable[[Callable[[], Any]], Awaitable[Any]]


class RecordingRepository(Protocol):
    async def save_recording(self, row: dict[str, Any]) -> None: ...
    async def recording(self, uniqueid: str) -> dict[str, Any] | None: ...
    async def recordings_in(self, statuses: tuple[str, ...], before: float | None = None) -> list[dict[str, Any]]: ...


class RecordingService:
    def __init__(self, settings: Settings, raw_dir: Path, repo: RecordingRepository, archive: ArchiveFn,
                 free_bytes: FreeFn, run: RunFn, clock: Callable[[], float] = time.time) -> None:
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
        self._busy: set[str] = set()
        self._recording: set[str] = set()  # calls being recorded now: a hang-up of any other channel costs nothing
        self.settle_seconds = 0.5

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

    # -- events ------------------------------------------------------------------------------------

    async def handle(self, event: ev.Event) -> None:
        if isinstance(event, ev.AgentConnected) and self.cfg.enabled:
            await self.repo.save_recording({"case_uniqueid": event.uniqueid, "started_at": event.at,
                                            "status": "recording"})
            self._recording.add(event.uniqueid)
        elif isinstance(event, ev.ChannelHangup) and event.uniqueid in self._recording:
            self._recording.discard(event.uniqueid)
            asyncio.get_running_loop().create_task(self.process(event.uniqueid), name=f"rec-{event.uniqueid}")

    # -- archiving ----------------------------------------------------------------------------------

    def archive_path(self, uniqueid: str, started_at: float) -> Path:
        day = dt.datetime.fromtimestamp(started_at).astimezone()
        return self.cfg.folder / f"{day:%Y/%m/%d}" / f"{uniqueid}.{self.cfg.format}"

    async def _settled(self, paths: tuple[Path, ...], timeout: float = 10.0) -> bool:
        """The files exist and stopped growing (Asterisk closed them)."""
        def sizes() -> tuple[int, ...]:
            return tuple(p.stat().st_size if p.exists() else -1 for p in paths)
        deadline = self.clock() + timeout
        last: tuple[int, ...] | None = None
        while self.clock() < deadline:
            now = await self.run_blocking(sizes)
            if last == now and all(s > 44 for s in now):
                return True
            last = now
            await asyncio.sleep(self.settle_seconds)
        return False

    async def process(self, uniqueid: str) -> None:
        if uniqueid in self._busy:
            return
        self._busy.add(uniqueid)
        try:
            await self._process(uniqueid)
        finally:
            self._busy.discard(uniqueid)

    async def _process(self, uniqueid: str) -> None:
        row = await self.repo.recording(uniqueid)
        if row is None:
            return
        caller, heard, mix = self.raw_files(uniqueid)
        if not await self._settled((caller, heard)):
            if not await self.run_blocking(lambda: caller.exists() or heard.exists()):
                await self.repo.save_recording({**row, "status": "none", "error": "not recorded (recordings were "
                                                "stopped, e.g. the disk guard)"})
                log.warning("call uniqueid=%s was not recorded", uniqueid)
                return
            await self.repo.save_recording({**row, "status": "failed", "raw_caller": str(caller),
                                            "raw_operator": str(heard), "error": "the recording files are missing "
                                            "or still growing"})
            log.error("recording of uniqueid=%s: files missing or not closed in %s", uniqueid, self.raw_dir)
            return
        dest = self.archive_path(uniqueid, row["started_at"])
        try:
            info = await self.run_blocking(lambda: self.archive(caller, heard, dest, self.cfg.format,
                                                                self.cfg.bitrate))
        except Exception as exc:
            await self.repo.save_recording({**row, "status": "failed", "raw_caller": str(caller),
                                            "raw_operator": str(heard), "raw_mix": str(mix), "error": str(exc)})
            log.error("recording of uniqueid=%s not archived, originals kept: %s", uniqueid, exc)
            return
        await self.repo.save_recording({**row, **info, "status": "archived", "archive": str(dest),
                                        "verified_at": self.clock(), "raw_caller": "", "raw_operator": "",
                                        "raw_mix": "", "error": ""})
        def remove() -> None:
            for p in (caller, heard, mix):
                p.unlink(missing_ok=True)
        await self.run_blocking(remove)
        log.info("recording of uniqueid=%s archived: %s (%.1f s, %d bytes, verified); originals removed",
                 uniqueid, dest, info["seconds"], info["bytes"])

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
                await self.process(row["case_uniqueid"])
        for row in await self.repo.recordings_in(("failed",)):
            caller, heard, _mix = self.raw_files(row["case_uniqueid"])
            if caller.exists() and heard.exists():
                await self.repo.save_recording({**row, "status": "recording"})
                await self.process(row["case_uniqueid"])

    async def run(self, disk_every: float = 5.0, purge_every: float = 3600.0) -> None:
        last_purge = 0.0
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
