"""Each language's engine, loaded once (in a worker thread) from its folder, never downloaded; why a
language has none. Which engine a language gets is transcribe/engines.py's (the adapters' side):
this module only calls the factories it is given."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from pathlib import Path

from hotline.transcribe.engine import Engine, ModelError

log = logging.getLogger(__name__)

Factory = Callable[[Path], Engine]


class ModelRegistry:
    def __init__(self, folders: Mapping[str, Path], executor: Executor,
                 factory: Factory, factories: Mapping[str, Factory] | None = None) -> None:
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
