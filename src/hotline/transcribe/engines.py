"""Which engine transcribes which language, from the settings (``[transcription.engines]``: Vosk where
``[transcription.models]`` or HOTLINE_VOSK_MODEL_<LANG> gives a folder, else Whisper with ``whisper_model``;
Whisper's one model is shared by its languages). The drivers (vosk, faster-whisper) are imported here, lazily,
and nowhere in the pipeline or the registry: they are given the factories."""

from __future__ import annotations

import functools
from concurrent.futures import Executor
from pathlib import Path

from hotline.config.media import Transcription
from hotline.transcribe.engine import Engine, ModelError
from hotline.transcribe.models import Factory, ModelRegistry


def vosk(folder: Path) -> Engine:
    from hotline.transcribe.vosk_engine import VoskEngine
    return VoskEngine(folder)


def whisper(folder: Path, language: str, threads: int, workers: int) -> Engine:
    try:
        from hotline.transcribe.whisper_engine import WhisperEngine
    except ImportError as exc:  # faster-whisper not installed: transcription off, the calls go on
        raise ModelError(f"Whisper is not installed ({exc.name}): pip install -e .") from None
    return WhisperEngine(folder, language, threads=threads, workers=workers)


def registry_for(settings: Transcription, executor: Executor) -> ModelRegistry:
    """The registry the settings describe: each language's folder and engine factory."""
    folders: dict[str, Path] = {}
    factories: dict[str, Factory] = {}
    engines = settings.engines or dict.fromkeys(settings.models, "vosk")
    for language, engine in engines.items():
        if engine == "whisper":
            folders[language] = settings.whisper_model
            factories[language] = functools.partial(whisper, language=language, threads=settings.whisper_threads,
                                                    workers=settings.workers)
        elif engine == "vosk" and language in settings.models:
            folders[language] = settings.models[language]
    return ModelRegistry(folders, executor, factory=vosk, factories=factories)
