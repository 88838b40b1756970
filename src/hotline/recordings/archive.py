"""The archive copy of one recorded call (pydub with ffmpeg; blocking: run it in an executor).

MixMonitor leaves two mono WAV files per call: what the caller said (``-caller.wav``) and what
the caller heard (``-operator.wav``: the operator, and an interpreter when one joined). The copy
puts them side by side as the left and right channels, each normalised, compressed (Opus in
Ogg, or MP3). It is verified by decoding it again: two channels, the same length, and each
channel loud where its source was loud; only then may the originals go.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from pydub import AudioSegment, effects

from hotline.recordings.errors import ArchiveError

__all__ = ["CODECS", "ArchiveError", "make_archive", "verify"]

CODECS = {"ogg": "libopus", "mp3": "libmp3lame"}


def _load(path: Path) -> AudioSegment:
    try:
        seg = AudioSegment.from_file(str(path))
    except Exception as exc:  # pydub raises CouldntDecodeError, IndexError, OSError...
        raise ArchiveError(f"cannot read {path.name}: {exc}") from exc
    return seg.set_channels(1).set_sample_width(2)


def _envelope(seg: AudioSegment, step_ms: int = 250) -> list[float]:
    return [float(seg[i:i + step_ms].rms) for i in range(0, len(seg), step_ms)]


def _agree(source: list[float], copy: list[float]) -> bool:
    """The copy's loudness follows the source's: loud windows of the source are not silent in
    the copy (normalisation scales, compression blurs, but speech stays where it was)."""
    n = min(len(source), len(copy))
    if n == 0:
        return True
    peak = max(source[:n]) or 1.0
    loud = [i for i in range(n) if source[i] > 0.2 * peak]
    if not loud:
        return True
    copy_peak = max(copy[:n]) or 1.0
    return sum(copy[i] > 0.05 * copy_peak for i in loud) >= 0.8 * len(loud)


def make_archive(caller: Path, heard: Path, dest: Path, fmt: str, bitrate: str) -> dict[str, Any]:
    """Write the stereo copy (left: caller, right: operator side) and verify it; returns seconds,
    bytes and sha256. Raises ArchiveError (the originals are untouched)."""
    left, right = _load(caller), _load(heard)
    rate = max(left.frame_rate, right.frame_rate)
    left, right = left.set_frame_rate(rate), right.set_frame_rate(rate)
    length = max(len(left), len(right))
    left = left + AudioSegment.silent(length - len(left), frame_rate=rate)
    right = right + AudioSegment.silent(length - len(right), frame_rate=rate)
    left_n = effects.normalize(left, headroom=1.0) if left.rms else left
    right_n = effects.normalize(right, headroom=1.0) if right.rms else right
    stereo = AudioSegment.from_mono_audiosegments(left_n, right_n)
    dest.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    try:
        try:
            stereo.export(str(tmp), format=fmt, codec=CODECS[fmt], bitrate=bitrate)
        except Exception as exc:  # ffmpeg failed or was killed, the disk is full...
            raise ArchiveError(f"the encoder failed on {caller.name}: {exc}", transient=True) from exc
        problem = verify(tmp, length / 1000.0, (_envelope(left), _envelope(right)), fmt)
        if problem:
            raise ArchiveError(f"the archive copy of {caller.name} failed verification: {problem}", transient=True)
        os.chmod(tmp, 0o600)  # a citizen's voice: its user's alone, whatever the umask
        tmp.replace(dest)
    finally:
        tmp.unlink(missing_ok=True)
    data = dest.read_bytes()
    return {"seconds": round(length / 1000.0, 2), "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def verify(path: Path, seconds: float, envelopes: tuple[list[float], list[float]] | None = None,
           fmt: str | None = None) -> str:
    """What is wrong with an archive copy ("" when it is fine)."""
    try:
        seg = AudioSegment.from_file(str(path), format=fmt)
    except Exception as exc:
        return f"does not decode: {exc}"
    if seg.channels != 2:
        return f"{seg.channels} channel(s), not 2"
    if abs(len(seg) / 1000.0 - seconds) > 0.3:
        return f"{len(seg) / 1000.0:.2f} s long, the call was {seconds:.2f} s"
    if envelopes is not None:
        left, right = seg.split_to_mono()
        for name, src, copy in (("caller", envelopes[0], left), ("operator", envelopes[1], right)):
            if not _agree(src, _envelope(copy)):
                return f"the {name} channel does not follow the original"
    return ""
