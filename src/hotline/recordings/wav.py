"""Has Asterisk closed a recording? Asterisk writes the RIFF sizes into a WAV file's 44-byte header
when it closes the file: a header whose sizes match the file says it is closed."""

from __future__ import annotations

import os
from pathlib import Path

WAV_HEADER = 44


def look(path: Path) -> tuple[int, int | None]:
    """(file size or -1 when missing, the data size its WAV header claims or None when the
    header does not match the file: Asterisk has not closed it yet)."""
    try:
        with path.open("rb") as f:
            head = f.read(WAV_HEADER)
            size = os.fstat(f.fileno()).st_size
    except FileNotFoundError:
        return -1, None
    if len(head) < WAV_HEADER or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return size, None
    riff = int.from_bytes(head[4:8], "little")
    if riff + 8 not in (size, size - 1):  # a pad byte may follow an odd-sized data chunk
        return size, None
    return size, max(0, size - WAV_HEADER)
