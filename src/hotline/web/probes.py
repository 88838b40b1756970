"""What the health check and the metrics read from outside the service graph: the AMI session,
the transcription, the disk (runtime.py hands them over; an app built without them, in a test,
reports those checks as not monitored)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


def free_bytes(path: Path) -> int:
    """Free bytes on the file system holding ``path`` (its nearest existing folder)."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return shutil.disk_usage(path).free


@dataclass(frozen=True)
class Probes:
    ami_connected: Callable[[], bool] | None = None  # the AMI session is logged in now
    ami_reconnects: Callable[[], int] | None = None  # logins after the first since the service started
    transcription_lag: Callable[[], float] | None = None  # seconds of audio queued on the slowest leg; None: off
    free_bytes: Callable[[Path], int] = free_bytes
