"""Tones for the phones' microphones and analysis of what the phones recorded (sox, numpy)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any


def make_tone(path: Path, freq: int, seconds: int = 60) -> Path:
    """A sine tone WAV, 8 kHz mono 16-bit (sox)."""
    if not path.exists():
        subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(path), "synth", str(seconds),
                        "sine", str(freq), "vol", "0.5"], check=True, capture_output=True)
    return path


def _read_wav(path: Path) -> tuple[Any, int]:
    """Samples (mono, float) and rate of a phone's recording."""
    import wave

    import numpy as np

    deadline = time.time() + 3.0
    while True:  # the phone closes its recording (writes the WAV header) just after the call's end
        try:
            with wave.open(str(path)) as w:
                rate = w.getframerate()
                data = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float64)
                if w.getnchannels() > 1:
                    data = data.reshape(-1, w.getnchannels()).mean(axis=1)
            return data, int(rate)
        except (wave.Error, EOFError):
            if time.time() > deadline:
                raise
            time.sleep(0.1)


def tone_share(path: Path, freq: float, start: float = 0.0, end: float | None = None) -> float:
    """Share of the signal's power within +-40 Hz of ``freq`` between start and end seconds."""
    import numpy as np

    data, rate = _read_wav(path)
    seg = data[int(start * rate): None if end is None else int(end * rate)]
    if len(seg) < rate // 4:
        return 0.0
    spec = np.abs(np.fft.rfft(seg * np.hanning(len(seg)))) ** 2
    freqs = np.fft.rfftfreq(len(seg), 1 / rate)
    total = spec[freqs > 50].sum()
    band = spec[(freqs > freq - 40) & (freqs < freq + 40)].sum()
    share: float = float(band) / float(total) if float(total) > 0 else 0.0
    return share


def signal_rms(path: Path, start: float = 0.0, end: float | None = None) -> float:
    """Loudness (RMS of 16-bit samples) of what a phone heard between start and end seconds."""
    import numpy as np

    data, rate = _read_wav(path)
    seg = data[int(start * rate): None if end is None else int(end * rate)]
    return float(np.sqrt(np.mean(seg * seg))) if len(seg) else 0.0


def wav_seconds(path: Path) -> float:
    import wave

    with wave.open(str(path)) as w:
        frames, rate = int(w.getnframes()), int(w.getframerate())
    return frames / rate


def pcm_of(path: Path) -> bytes:
    """A prompt's samples as the phones play them: 8 kHz mono 16-bit (a WAV read as it is, anything
    else, e.g. Asterisk's .gsm prompts, through sox)."""
    import wave

    if path.suffix == ".wav":
        with wave.open(str(path)) as w:
            assert (w.getframerate(), w.getsampwidth(), w.getnchannels()) == (8000, 2, 1), path
            return bytes(w.readframes(w.getnframes()))
    return subprocess.run(["sox", str(path), "-t", "raw", "-r", "8000", "-c", "1", "-b", "16", "-e", "signed", "-"],
                          check=True, capture_output=True).stdout


def speech_mic(dest: Path, parts: list[Path], gap: float = 1.2, lead: float = 0.5) -> Path:
    """A caller's microphone: ``lead`` s of silence, then each recording followed by ``gap`` s of
    silence (8 kHz mono 16-bit; the phone loops it)."""
    import wave

    pcm = b"\0\0" * int(8000 * lead)
    for part in parts:
        pcm += pcm_of(part) + b"\0\0" * int(8000 * gap)
    with wave.open(str(dest), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(pcm)
    return dest
