"""The archive's own worker pool: ``archive_workers`` threads at ``archive_nice`` (so Asterisk's
calls come first), named in /proc, started at the first job."""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

log = logging.getLogger(__name__)

ARCHIVE_THREAD = "rec-archive"  # the workers' thread name, also in /proc (top -H, bench/load.py)


def archive_worker_count(configured: int) -> int:
    return configured if configured > 0 else max(1, (os.cpu_count() or 2) // 2)


def _low_priority(nice: int) -> None:
    """Archive worker thread start: lower this thread's priority (on Linux nice is per thread,
    and the ffmpeg it starts inherits it) and name it in /proc."""
    try:
        os.nice(nice)
    except OSError as exc:
        log.warning("archive worker: cannot lower its priority: %s", exc)
    try:
        ctypes.CDLL(None).prctl(15, ARCHIVE_THREAD.encode(), 0, 0, 0)  # PR_SET_NAME
    except (OSError, AttributeError):
        pass


class ArchivePool:
    def __init__(self, workers: int, nice: int) -> None:
        self.workers = workers
        self.nice = nice
        self._executor: ThreadPoolExecutor | None = None

    async def run(self, fn: Callable[[], Any]) -> Any:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix=ARCHIVE_THREAD,
                                                initializer=_low_priority, initargs=(self.nice,))
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    def shutdown(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
