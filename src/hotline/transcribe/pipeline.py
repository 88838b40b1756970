"""From a connected call to transcript events.

When an operator answers (AgentConnected), two spies are originated (ChanSpy with "o": only the
audio coming from that channel) into AudioSocket channels, one on the caller's channel and one
on the operator's. Each leg's PCM is queued, batched (0.2 s) and fed to that leg's recognizer
in a worker thread, one batch at a time per leg; the results are published as TranscriptText
events with times in seconds since the call was answered. EOF ends the leg and flushes it.

Each leg has its own language: the caller's is the language chosen in the IVR; the operator's is
the same when they speak it, else the hotline's own language (the operator of an interpreted call
speaks Mandarin); an interpreter joining the call's room (InterpreterJoined) is a third leg,
transcribed with the caller's language (what they say to the caller). A leg whose language has no
model is reported "off" and the others go on. The spies follow their channels through the move
into a conference room (an audiohook stays on its channel).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid as uuidlib
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Protocol

from hotline import events as ev
from hotline.transcribe.audiosocket import SAMPLE_RATE
from hotline.transcribe.engine import Engine, Result, Stream
from hotline.transcribe.models import ModelRegistry

log = logging.getLogger(__name__)

BATCH_BYTES = SAMPLE_RATE * 2 // 5  # 0.2 s of 16-bit audio
MAX_QUEUED = 1500  # 30 s of 20 ms frames; beyond that the leg is behind and frames are dropped


class SpyControl(Protocol):
    async def spy_to_audiosocket(self, channel: str, leg_id: str, host: str, port: int) -> None: ...


@dataclass
class Leg:
    leg_id: str
    uniqueid: str
    speaker: str
    language: str
    answered_at: float
    engine: Engine
    publish: Callable[[ev.Event], None]
    executor: Executor
    started_at: float = 0.0
    queue: asyncio.Queue[bytes | None] = field(default_factory=lambda: asyncio.Queue(MAX_QUEUED))
    task: asyncio.Task[None] | None = None
    dropped: int = 0
    bytes_in: int = 0
    bytes_queued: int = 0  # audio received and not yet recognised

    @property
    def lag_seconds(self) -> float:
        """How far the recognizer is behind this leg's audio: the seconds queued for it."""
        return self.bytes_queued / (2 * SAMPLE_RATE)

    def feed(self, pcm: bytes) -> None:
        try:
            self.queue.put_nowait(pcm)
            self.bytes_queued += len(pcm)
        except asyncio.QueueFull:
            self.dropped += 1
            if self.dropped in (1, 100, 1000):
                log.warning("transcription behind: uniqueid=%s speaker=%s dropped %d frames", self.uniqueid,
                            self.speaker, self.dropped)

    def close(self, reason: str) -> None:
        try:
            self.queue.put_nowait(None)
        except asyncio.QueueFull:  # the worker drains it and finds the end marker after
            asyncio.get_running_loop().call_later(0.5, self.close, reason)
            return
        log.info("leg ended: uniqueid=%s speaker=%s (%s), %.1f s of audio", self.uniqueid, self.speaker, reason,
                 self.bytes_in / (2 * SAMPLE_RATE))

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        self.started_at = time.time()
        offset = self.started_at - self.answered_at
        stream: Stream = await loop.run_in_executor(self.executor, self.engine.stream, SAMPLE_RATE)
        self.publish(ev.TranscriptionStatus(self.uniqueid, self.speaker, self.language, "on", self.engine.name,
                                            time.time()))
        ended = False
        while not ended:
            chunk = await self.queue.get()
            parts: list[bytes] = []
            size = 0
            while chunk is not None:
                parts.append(chunk)
                size += len(chunk)
                if size >= BATCH_BYTES or self.queue.empty():
                    break
                chunk = self.queue.get_nowait()
            ended = chunk is None
            if parts:
                pcm = b"".join(parts)
                self.bytes_in += len(pcm)
                results = await loop.run_in_executor(self.executor, stream.accept, pcm)
                self.bytes_queued = max(0, self.bytes_queued - len(pcm))  # recognised now
                self._emit(results, offset)
        self._emit(await loop.run_in_executor(self.executor, stream.finish), offset)
        self.publish(ev.TranscriptionStatus(self.uniqueid, self.speaker, self.language, "ended", "",
                                            time.time()))

    def _emit(self, results: list[Result], offset: float) -> None:
        for r in results:
            self.publish(ev.TranscriptText(
                uniqueid=self.uniqueid, speaker=self.speaker, language=self.language, kind=r.kind, text=r.text,
                start=round(offset + r.start, 2), end=round(offset + r.end, 2), confidence=r.confidence,
                at=time.time(), engine=self.engine.name, detected_language=r.language,
                detected_probability=r.language_probability))


class TranscriptionService:
    def __init__(self, registry: ModelRegistry, executor: Executor, publish: Callable[[ev.Event], None],
                 spies: SpyControl, host: str, port: int,
                 operator_language: Callable[[str, str], str] = lambda extension, language: language) -> None:
        self.operator_language = operator_language  # (operator extension, caller's language) -> theirs
        self.registry = registry
        self.executor = executor
        self.publish = publish
        self.spies = spies
        self.host = host
        self.port = port
        self.pending: dict[str, Leg] = {}  # leg id -> leg waiting for its AudioSocket connection
        self.active: dict[str, Leg] = {}

    async def handle(self, event: ev.Event) -> None:
        if isinstance(event, ev.AgentConnected) and event.channel and event.agent_channel:
            op_language = self.operator_language(event.member_name or event.interface.split("/")[-1], event.language)
            await self._start(event.uniqueid, "caller", event.channel, event.language, event.at)
            await self._start(event.uniqueid, "operator", event.agent_channel, op_language, event.at)
        elif isinstance(event, ev.InterpreterJoined) and event.channel:
            await self._start(event.uniqueid, "interpreter", event.channel, event.language, event.answered_at)
        elif isinstance(event, ev.ChannelHangup):
            # spies that never connected (the call ended first) are forgotten
            for leg_id, leg in list(self.pending.items()):
                if leg.uniqueid == event.uniqueid:
                    del self.pending[leg_id]

    async def _start(self, uniqueid: str, speaker: str, channel: str, language: str, answered_at: float) -> None:
        engine = await self.registry.engine(language)
        if engine is None:
            why = self.registry.status(language)
            self.publish(ev.TranscriptionStatus(uniqueid, speaker, language, "off", why, time.time()))
            log.info("transcription off: uniqueid=%s speaker=%s lang=%s: %s", uniqueid, speaker, language, why)
            return
        leg_id = str(uuidlib.uuid4())
        self.pending[leg_id] = Leg(leg_id, uniqueid, speaker, language, answered_at, engine, self.publish,
                                   self.executor)
        try:
            await self.spies.spy_to_audiosocket(channel, leg_id, self.host, self.port)
        except Exception as exc:
            self.pending.pop(leg_id, None)
            self.publish(ev.TranscriptionStatus(uniqueid, speaker, language, "error", str(exc), time.time()))
            log.error("transcription spy failed: uniqueid=%s speaker=%s channel=%s: %s", uniqueid, speaker,
                      channel, exc)
        else:
            log.info("transcription started: uniqueid=%s speaker=%s channel=%s lang=%s", uniqueid, speaker,
                     channel, language)

    def lag_seconds(self) -> float:
        """The transcription lag: the most audio any leg in progress has queued, in seconds (0
        with no leg)."""
        return max((leg.lag_seconds for leg in self.active.values()), default=0.0)

    def open_leg(self, leg_id: str) -> Leg | None:
        leg = self.pending.pop(leg_id, None)
        if leg is None:
            return None
        self.active[leg_id] = leg
        leg.task = asyncio.get_running_loop().create_task(self._run(leg), name=f"leg-{leg.speaker}-{leg.uniqueid}")
        return leg

    async def _run(self, leg: Leg) -> None:
        try:
            await leg.run()
        except Exception as exc:
            log.exception("transcription failed: uniqueid=%s speaker=%s", leg.uniqueid, leg.speaker)
            self.publish(ev.TranscriptionStatus(leg.uniqueid, leg.speaker, leg.language, "error", str(exc),
                                                time.time()))
        finally:
            self.active.pop(leg.leg_id, None)

    async def close(self) -> None:
        for leg in list(self.active.values()):
            leg.close("shutdown")
        tasks = [leg.task for leg in self.active.values() if leg.task]
        if tasks:
            await asyncio.wait(tasks, timeout=5)
