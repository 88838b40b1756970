"""The speech engine interface. The pipeline only knows these types, so another engine (a
second library, a remote service) is one new module implementing ``Engine``.

A Stream is fed 16-bit mono PCM and answers with results; it is used from one worker thread
at a time (the pipeline guarantees that) and never from the event loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from hotline.errors import HotlineError


@dataclass(frozen=True)
class Result:
    kind: str  # partial | final
    text: str
    start: float  # seconds from the start of this stream
    end: float
    confidence: float  # 0..1; 0 for partials
    language: str = ""  # the spoken language the engine detected ("" when it does not tell)
    language_probability: float = 0.0


class Stream(Protocol):
    def accept(self, pcm: bytes) -> list[Result]: ...
    def finish(self) -> list[Result]: ...


class Engine(Protocol):
    name: str

    def stream(self, sample_rate: int) -> Stream: ...


class ModelError(HotlineError, RuntimeError):
    """A model folder is missing or incomplete; the message says what is missing."""

    error_id = "model-invalid"
    status = 503  # the service cannot transcribe until the model is installed
