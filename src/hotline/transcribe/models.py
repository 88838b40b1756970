"""Which engine transcribes which language: the settings name one per language
(``[transcription.engines]``: Vosk where ``[transcription.models]`` or HOTLINE_VOSK_MODEL_<LANG>
gives a folder, else Whisper with ``whisper_model``); each language's model is loaded once (in a
worker thread; Whisper's one model is shared by its languages), never downloaded."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from pathlib import Path

from hotline.config.media import Transcription
from hotline.transcribe.engine import Engine, ModelError

log = logging.getLogger(__name__)

Factory = Callable[[Path], Engine]


def _vosk(folder: Path) -> Engine:
    from hotline.transcribe.vosk_engine import VoskEngine
    return VoskEngine(folder)


def _whisper(folder: Path, language: str, threads: int, workers: int) -> Engine:
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
            factories[language] = functools.partial(_whisper, language=language, threads=settings.whisper_threads,
                                                    workers=settings.workers)
        elif engine == "vosk" and language in settings.models:
            folders[language] = settings.models[language]
    return ModelRegistry(folders, executor, factories=factories)


class ModelRegistry:
    def __init__(self, folders: Mapping[str, Path], executor: Executor,
                 factory: Factory = _vosk, factories: Mapping[str, Factory] | None = None) -> None:
        """``factory`` makes a language's engine from its folder, unless ``factories`` has one for it."""
        self.folders = dict(folders)
        self.executor = executor
        self.factory = factory
        self.factories = dict(factories or {})
        self.engines: dict[str, Engine] = {}
        self.problems: dict[str, str] = {}
        self._loading: dict[str, asyncio.Future[Engine | None]] = {}

    def status(self, language: str) -> str:
        """"on", or why transcription is off for the language."""
        if language in self.engines:
            return "on"
        if language in self.problems:
            return self.problems[language]
        if language not in self.folders:
            return f"no speech model for {language!r}"
        return "loading"

    async def load_all(self) -> None:
        await asyncio.gather(*(self.engine(lang) for lang in self.folders))

    async def engine(self, language: str) -> Engine | None:
        if language in self.engines:
            return self.engines[language]
        if language not in self.folders or language in self.problems:
            return None
        if language not in self._loading:
            self._loading[language] = asyncio.ensure_future(self._load(language))
        return await asyncio.shield(self._loading[language])

    async def _load(self, language: str) -> Engine | None:
        folder = self.folders[language]
        try:
            factory = self.factories.get(language, self.factory)
            engine = await asyncio.get_running_loop().run_in_executor(self.executor, factory, folder)
        except ModelError as exc:
            self.problems[language] = str(exc)
            log.error("transcription off for %s: %s", language, exc)
            return None
        self.engines[language] = engine
        log.info("speech model for %s loaded from %s (%s)", language, folder, engine.name)
        return engine
