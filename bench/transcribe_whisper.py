"""Whisper live transcription: real-time factor, latency of finals and first partials, memory.

Through the hotline's pipeline (AudioSocket frames over loopback TCP, per-leg queue, 0.2 s
batches, the `transcription.workers` thread pool) with the Whisper base model (int8, one CPU
thread per decode). Each call has two legs: the caller speaks Mandarin (the synthetic sentences
of tests/data/whisper/zh), the operator English (Asterisk's prompts), both all the time with
1.2 s pauses between sentences -- the worst case: on a real call the two sides take turns.

1. One leg as fast as it goes: the real-time factor (seconds of work per second of audio).
2. 1, 2 and 4 legs live (paced at real time): how long after an utterance's end its final
   arrives, how long after an utterance's start its first partial arrives, how far behind real
   time the legs end up, and the CPU they take.

    .venv/bin/python bench/transcribe_whisper.py [--seconds 40] [--legs 1,2,4] [--workers 2] [--model DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import os
import resource
import statistics
import subprocess
import time
import uuid
import wave
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from hotline import events as ev
from hotline.config.media import Transcription, default_whisper_model
from hotline.transcribe.audiosocket import KIND_AUDIO, KIND_HANGUP, KIND_UUID, AudioSocketServer
from hotline.transcribe.engines import registry_for
from hotline.transcribe.pipeline import TranscriptionService

ROOT = Path(__file__).resolve().parents[1]
PORT = 47598
SOUNDS = ROOT / "var/asterisk/root/usr/share/asterisk/sounds/en_US_f_Allison"
TEXTS = ROOT / "var/asterisk/root/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz"
GAP = b"\0\0" * int(8000 * 1.2)


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def english(seconds: float) -> bytes:
    names = [line.partition(":")[0] for line in gzip.decompress(TEXTS.read_bytes()).decode().splitlines()
             if ":" in line and "[" not in line and 3 <= len(line.split()) <= 14]
    out = b""
    for name in names:
        if (SOUNDS / f"{name}.gsm").is_file():
            out += subprocess.run(["sox", str(SOUNDS / f"{name}.gsm"), "-t", "raw", "-r", "8000", "-c", "1", "-b",
                                   "16", "-e", "signed", "-"], check=True, capture_output=True).stdout + GAP
        if len(out) >= seconds * 16000:
            break
    return out[:int(seconds * 16000) // 2 * 2]


def mandarin(seconds: float) -> bytes:
    one = b""
    for f in sorted((ROOT / "tests/data/whisper/zh").glob("*.wav")):
        with wave.open(str(f)) as w:
            one += w.readframes(w.getnframes()) + GAP
    return (one * (int(seconds * 16000) // len(one) + 1))[:int(seconds * 16000) // 2 * 2]


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def fast_rtf(settings: Transcription, pcm: bytes, language: str) -> dict[str, float]:
    """One leg alone, as fast as it goes: wall and CPU seconds per second of audio, and the CPU
    of each decode (a final's decode is what an utterance's end waits for, after the 0.5 s)."""
    from hotline.transcribe.whisper_engine import WhisperEngine
    engine = WhisperEngine(settings.whisper_model, language, threads=settings.whisper_threads,
                           workers=settings.workers)  # the model the live runs use (one per process)
    decodes: list[float] = []
    plain = engine.decode

    def timed(audio: Any) -> tuple[str, float]:
        c = cpu()
        try:
            return plain(audio)
        finally:
            decodes.append(cpu() - c)

    engine.decode = timed  # type: ignore[method-assign]
    s = engine.stream(8000)
    t, c = time.perf_counter(), cpu()
    finals = 0
    for i in range(0, len(pcm), 3200):
        finals += sum(r.kind == "final" for r in s.accept(pcm[i:i + 3200]))
    finals += sum(r.kind == "final" for r in s.finish())
    seconds = len(pcm) / 16000
    return {"wall": (time.perf_counter() - t) / seconds, "cpu": (cpu() - c) / seconds, "decodes": len(decodes),
            "finals": finals, "decode_p50": statistics.median(decodes),
            "decode_max": max(decodes)}


async def live(settings: Transcription, audio: dict[str, bytes], legs: int) -> dict[str, float]:
    pool = ThreadPoolExecutor(settings.workers, thread_name_prefix="speech")
    registry = registry_for(settings, pool)
    await registry.load_all()
    texts: list[ev.TranscriptText] = []
    ended: dict[str, float] = {}
    done = asyncio.Event()

    def publish(e: ev.Event) -> None:
        if isinstance(e, ev.TranscriptText):
            texts.append(e)
        elif isinstance(e, ev.TranscriptionStatus) and e.status == "ended":
            ended[f"{e.uniqueid}/{e.speaker}"] = time.time()
            if len(ended) == legs:
                done.set()

    spies: list[str] = []

    class Spies:
        async def spy_to_audiosocket(self, channel: str, leg_id: str, host: str, port: int) -> None:
            spies.append(leg_id)

    svc = TranscriptionService(registry, pool, publish, Spies(), "127.0.0.1", PORT,
                               operator_language=lambda extension, language: "en")
    server = AudioSocketServer(svc.open_leg, "127.0.0.1", PORT)
    await server.start()
    answered = time.time()
    for i in range((legs + 1) // 2):
        await svc.handle(ev.AgentConnected(f"call{i}", "q", "PJSIP/1", "1", 0, answered, channel="a",
                                           agent_channel="b", language="zh"))
    leg_ids = spies[:legs]

    async def send(leg_id: str, pcm: bytes) -> None:
        _r, w = await asyncio.open_connection("127.0.0.1", PORT)
        w.write(bytes([KIND_UUID, 0, 16]) + uuid.UUID(leg_id).bytes)
        start = time.time()
        for n, i in enumerate(range(0, len(pcm), 320)):  # 20 ms frames, at real time
            w.write(bytes([KIND_AUDIO]) + (320).to_bytes(2, "big") + pcm[i:i + 320])
            if n % 10 == 9:
                await w.drain()
                await asyncio.sleep(max(0.0, start + (n + 1) * 0.02 - time.time()))
        w.write(bytes([KIND_HANGUP, 0, 0]))
        await w.drain()
        w.close()

    cpu0 = cpu()
    t0 = time.time()
    await asyncio.gather(*(send(leg, audio["caller" if i % 2 == 0 else "operator"])
                           for i, leg in enumerate(leg_ids)))
    sent = time.time()
    await done.wait()
    cpu1 = cpu()
    wall = time.time() - t0
    rss = rss_mb()
    await server.close()
    pool.shutdown()
    finals = [e for e in texts if e.kind == "final"]
    final_lat = [e.at - (answered + e.end) for e in finals]
    first: dict[tuple[str, str, float], float] = {}
    for e in texts:
        if e.kind == "partial":
            first.setdefault((e.uniqueid, e.speaker, e.start), e.at - (answered + e.start))
    cores = (cpu1 - cpu0) / wall
    return {"finals": len(finals), "final_p50": statistics.median(final_lat),
            "final_p95": sorted(final_lat)[int(0.95 * (len(final_lat) - 1))], "final_max": max(final_lat),
            "partial_p50": statistics.median(first.values()) if first else float("nan"),
            "partial_max": max(first.values()) if first else float("nan"),
            "behind": max(ended.values()) - sent, "cpu_cores": cores, "rss": rss}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=40.0, help="seconds of speech per leg")
    ap.add_argument("--legs", default="1,2,4")
    ap.add_argument("--workers", type=int, default=2, help="transcription.workers")
    ap.add_argument("--threads", type=int, default=1, help="transcription.whisper_threads")
    ap.add_argument("--model", type=Path, default=default_whisper_model(), help="transcription.whisper_model")
    args = ap.parse_args()
    settings = Transcription(engines={"zh": "whisper", "en": "whisper"}, whisper_model=args.model,
                             workers=args.workers, whisper_threads=args.threads)
    audio = {"caller": mandarin(args.seconds), "operator": english(args.seconds)}
    base = rss_mb()
    t = time.perf_counter()
    from hotline.transcribe.whisper_engine import WhisperEngine
    WhisperEngine(settings.whisper_model, "zh", threads=args.threads, workers=args.workers)
    print(f"model load {time.perf_counter() - t:.1f} s; memory after load +{rss_mb() - base:.0f} MB "
          f"(RSS {rss_mb():.0f} MB); load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"\none leg alone, as fast as it goes ({args.seconds:.0f} s of speech):")
    print(f"{'lang':>4} {'RTF wall':>8} {'RTF CPU':>8} {'finals':>6} {'decodes':>7} {'decode CPU p50/max s':>21}")
    for lang, key in (("zh", "caller"), ("en", "operator")):
        f = fast_rtf(settings, audio[key], lang)
        print(f"{lang:>4} {f['wall']:>8.2f} {f['cpu']:>8.2f} {f['finals']:>6.0f} {f['decodes']:>7.0f} "
              f"{f['decode_p50']:>14.2f}/{f['decode_max']:.2f}")
    print("\nlive, paced at real time, the pipeline (latencies from the utterance's end / start):")
    print(f"\n{'legs':>4} {'finals':>6} {'final p50/p95/max s':>20} {'1st partial p50/max s':>22} "
          f"{'behind s':>8} {'CPU cores':>9} {'RSS MB':>7}")
    for legs in (int(n) for n in args.legs.split(",") if n):
        r = asyncio.run(live(settings, audio, legs))
        print(f"{legs:>4} {r['finals']:>6.0f} {r['final_p50']:>8.2f}/{r['final_p95']:.2f}/{r['final_max']:.2f} "
              f"{r['partial_p50']:>13.2f}/{r['partial_max']:.2f} {r['behind']:>8.2f} {r['cpu_cores']:>9.2f} "
              f"{r['rss']:>7.0f}")


if __name__ == "__main__":
    main()
