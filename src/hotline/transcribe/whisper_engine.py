"""Whisper (faster-whisper: CTranslate2, int8, CPU) as a streaming speech engine.

Whisper decodes whole utterances, so streaming is built on top: Silero voice-activity detection
(bundled with faster-whisper) runs on every 32 ms window and cuts utterances at 0.5 s of
silence; each utterance gives ONE final, and while it lasts it is re-decoded for a partial at
most every 2 s (the first after 1 s of speech). 8 kHz legs are upsampled to 16 kHz (a half-band
FIR), 16 kHz legs are used as they are. Decoding is capped: temperature 0 with no fallback, no
conditioning on earlier text, a token limit per second of audio, utterances cut at 20 s. The
language is fixed (the IVR choice, one engine per language); Chinese comes out in simplified
characters (OpenCC t2s). The finals of a stream's first utterances (``detect_utterances``) also say
which language Whisper hears: its language head on the encoder output the decode computes anyway
(one decoder step, 13-30 ms against 180-330 ms for the decode), so the desk can tell a caller who
chose Mandarin in the IVR and speaks English.

The model is loaded from a folder (never a size name, never a hub: offline flags set, the
tokenizer in the folder) once per process and shared by every language and leg; a stream is
used from one worker thread at a time, several streams decode at once (``workers``).
"""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from hotline.config.media import keep_model_hub_offline
from hotline.transcribe.engine import ModelError, Result

log = logging.getLogger(__name__)

RATE = 16_000  # what Whisper and the VAD take
WINDOW = 512  # samples per VAD window (32 ms)
REQUIRED = ("model.bin", "config.json", "tokenizer.json")
Audio = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Tuning:
    threshold: float = 0.5  # speech probability that starts (or keeps) an utterance
    neg_threshold: float = 0.35  # below this it is silence
    end_silence: float = 0.5  # seconds of silence that end an utterance
    pad: float = 0.2  # seconds kept before the speech started
    min_speech: float = 0.25  # shorter blips are dropped without decoding
    first_partial: float = 1.0  # seconds of utterance before the first partial
    partial_every: float = 2.0  # at most one partial decode per this many seconds of audio
    max_utterance: float = 20.0  # longer speech is cut here (a final, then a new utterance)
    beam_size: int = 1
    tokens_per_second: int = 16  # the token limit: this per second of audio, plus 32, at most 220
    # seconds of encoder window at least (else the utterance + 1 s; Whisper's own is 30 s). Measured on the
    # test speech: 30 s, 15, 12, 10 and 8 s all give 2-3% WER / 9-14% CER; 5 s and less break down (20%+ / 40%+)
    min_context: float = 10.0
    no_speech: float = 0.6  # Whisper's no-speech probability above which a decode ...
    min_logprob: float = -1.0  # ... with an average token log-probability below this is dropped
    detect_utterances: int = 3  # the finals of this many first utterances report the detected language (0: none)


def check_model_dir(path: Path) -> None:
    if not path.is_dir():
        raise ModelError(f"Whisper model folder {path} does not exist (scripts/whisper_model.py assembles it)")
    missing = [f for f in REQUIRED if not (path / f).is_file()]
    if not any(path.glob("vocabulary.*")):
        missing.append("vocabulary.txt")
    if missing:
        raise ModelError(f"Whisper model folder {path} is incomplete: missing {', '.join(missing)}")


_lock = threading.Lock()
_shared: dict[tuple[Path, int, int] | str, Any] = {}  # (folder, threads, workers) -> WhisperModel; "vad"


def _load(folder: Path, threads: int, workers: int) -> tuple[Any, Any]:
    """The process's WhisperModel for the folder and the Silero VAD, loaded once."""
    key = (folder.resolve(), threads, workers)
    with _lock:
        if key not in _shared:
            check_model_dir(folder)
            keep_model_hub_offline()  # before huggingface_hub is imported
            from faster_whisper import WhisperModel  # type: ignore[import-untyped]
            try:
                _shared[key] = WhisperModel(str(key[0]), device="cpu", compute_type="int8", cpu_threads=threads,
                                            num_workers=workers, local_files_only=True)
            except Exception as exc:  # CTranslate2 raises RuntimeError/ValueError on a bad model.bin
                raise ModelError(f"Whisper could not load the model in {folder}: {exc}") from None
        if "vad" not in _shared:
            from faster_whisper.vad import get_vad_model  # type: ignore[import-untyped]
            _shared["vad"] = get_vad_model()
        return _shared[key], _shared["vad"]


def halfband(taps: int = 63) -> Audio:
    """Low-pass at 4 kHz for 16 kHz output, gain 2 (the zero-stuffed samples): a Hann-windowed sinc."""
    n = np.arange(taps) - (taps - 1) / 2
    h = 0.5 * np.sinc(0.5 * n) * np.hanning(taps)
    out: Audio = (2 * h / h.sum()).astype(np.float32)
    return out


class Upsampler:
    """8 kHz -> 16 kHz across calls (the filter's tail carried over)."""

    def __init__(self) -> None:
        self.h = halfband()
        self.tail = np.zeros(len(self.h) - 1, dtype=np.float32)

    def __call__(self, x: Audio) -> Audio:
        stuffed = np.zeros(2 * len(x), dtype=np.float32)
        stuffed[0::2] = x
        buf = np.concatenate([self.tail, stuffed])
        self.tail = buf[-(len(self.h) - 1):]
        out: Audio = np.convolve(buf, self.h, mode="valid").astype(np.float32)
        return out


class WhisperStream:
    def __init__(self, engine: WhisperEngine, sample_rate: int) -> None:
        if sample_rate not in (8000, RATE):
            raise ValueError(f"Whisper streams take 8 or 16 kHz audio, not {sample_rate} Hz")
        self.engine = engine
        self.t = engine.tuning
        self.up = Upsampler() if sample_rate == 8000 else None
        self.pending = np.zeros(0, dtype=np.float32)  # 16 kHz samples short of a VAD window
        self.context = np.zeros(WINDOW, dtype=np.float32)  # the window before, for the VAD
        self.clock = 0  # 16 kHz samples seen by the VAD
        self.recent: list[Audio] = []  # the windows before an utterance (its pad)
        self.utt: list[Audio] = []
        self.utt_start = 0
        self.speech = 0  # samples of speech in the utterance
        self.speech_end = 0  # clock at its last speech window
        self.silence = 0  # samples of silence since then
        self.decoded_at = 0  # clock of the last partial decode
        self.last_partial = ""
        self.decodes = 0
        self.finals = 0  # utterances decoded to a final

    @property
    def in_utterance(self) -> bool:
        return bool(self.utt)

    def accept(self, pcm: bytes) -> list[Result]:
        x = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
        audio = self.up(x) if self.up is not None else x
        buf = np.concatenate([self.pending, audio])
        whole = len(buf) // WINDOW * WINDOW
        self.pending = buf[whole:]
        if not whole:
            return []
        windows = buf[:whole]
        probs = np.asarray(self.engine.vad(np.concatenate([self.context, windows]))).reshape(-1)[1:]
        self.context = windows[-WINDOW:]
        out: list[Result] = []
        for i, p in enumerate(probs):
            out += self._window(windows[i * WINDOW:(i + 1) * WINDOW], float(p))
        if (self.in_utterance and self.speech >= self.t.min_speech * RATE and self.silence < WINDOW * 8
                and self.clock - self.decoded_at >= self.t.partial_every * RATE):  # not when the final is near
            out += self._partial()
        return out

    def finish(self) -> list[Result]:
        out = self._final() if self.in_utterance else []
        self.pending = np.zeros(0, dtype=np.float32)
        return out

    def _window(self, w: Audio, p: float) -> list[Result]:
        t = self.t
        self.clock += WINDOW
        if not self.in_utterance:
            if p < t.threshold:
                self.recent = [*self.recent, w][-max(1, int(t.pad * RATE) // WINDOW):]
                return []
            self.utt = [*self.recent, w]
            self.recent = []
            self.utt_start = self.clock - WINDOW * len(self.utt)
            self.decoded_at = self.clock + int((t.first_partial - t.partial_every) * RATE)  # first partial due
            self.speech = WINDOW
            self.speech_end = self.clock
            self.silence = 0
            return []
        self.utt.append(w)
        if p >= t.threshold:
            self.speech += WINDOW + self.silence
            self.silence = 0
            self.speech_end = self.clock
        elif p < t.neg_threshold or self.silence:
            self.silence += WINDOW
        if self.silence >= t.end_silence * RATE or self.clock - self.utt_start >= t.max_utterance * RATE:
            return self._final()
        return []

    def _partial(self) -> list[Result]:
        self.decoded_at = self.clock
        text, _ = self._decode(np.concatenate(self.utt))
        if not text or text == self.last_partial:
            return []
        self.last_partial = text
        return [Result("partial", text, self.utt_start / RATE, self.clock / RATE, 0.0)]

    def _final(self) -> list[Result]:
        keep = self.speech_end - self.utt_start + int(self.t.pad * RATE)  # the speech and a little after
        audio = np.concatenate(self.utt)[:keep]
        start, end, speech = self.utt_start / RATE, self.speech_end / RATE, self.speech
        self.utt, self.last_partial, self.silence, self.speech = [], "", 0, 0
        if speech < self.t.min_speech * RATE:
            return []
        if self.finals < self.t.detect_utterances:
            self.decodes += 1
            text, confidence, language, probability = self.engine.decode_detect(audio)
        else:
            (text, confidence), language, probability = self._decode(audio), "", 0.0
        if not text:
            return []
        self.finals += 1
        return [Result("final", text, start, end, confidence, language, probability)]

    def _decode(self, audio: Audio) -> tuple[str, float]:
        self.decodes += 1
        return self.engine.decode(audio)


class WhisperEngine:
    name = "whisper"

    def __init__(self, folder: Path, language: str, threads: int = 1, workers: int = 2,
                 tuning: Tuning | None = None) -> None:
        self.folder = folder
        self.language = language
        self.tuning = tuning or Tuning()
        self.model, self.vad = _load(folder, threads, workers)
        if language not in self.model.supported_languages:
            raise ModelError(f"Whisper does not know the language {language!r}")
        from faster_whisper.audio import pad_or_trim  # type: ignore[import-untyped]
        from faster_whisper.tokenizer import Tokenizer  # type: ignore[import-untyped]
        from faster_whisper.transcribe import get_suppressed_tokens  # type: ignore[import-untyped]
        self._tokenizer = Tokenizer(self.model.hf_tokenizer, True, task="transcribe", language=language)
        self._suppress = get_suppressed_tokens(self._tokenizer, [-1])
        self._pad = pad_or_trim
        self._simplify: Any = None
        if language == "zh":
            from opencc import OpenCC  # type: ignore[import-untyped]
            self._simplify = OpenCC("t2s")

    def stream(self, sample_rate: int) -> WhisperStream:
        return WhisperStream(self, sample_rate)

    def decode(self, audio: Audio) -> tuple[str, float]:
        """One utterance (16 kHz float) -> (text, confidence 0..1). faster-whisper's transcribe()
        always encodes a 30 s window; CTranslate2's encoder takes a shorter one, so the utterance
        (plus 1 s, at least ``min_context``) is encoded: a third of the CPU of a 30 s window."""
        text, confidence, _, _ = self._run(audio, detect=False)
        return text, confidence

    def decode_detect(self, audio: Audio) -> tuple[str, float, str, float]:
        """``decode`` and the language Whisper hears in the utterance, with its probability (the
        language head on the same encoder output)."""
        return self._run(audio, detect=True)

    def _run(self, audio: Audio, detect: bool) -> tuple[str, float, str, float]:
        t = self.tuning
        features = self.model.feature_extractor(audio)
        frames = 100 * math.ceil(features.shape[-1] / 100 + 1)  # 100 frames a second
        features = self._pad(features, min(3000, max(frames, int(t.min_context * 100))))
        prompt = [*self._tokenizer.sot_sequence, self._tokenizer.no_timestamps]
        cap = min(220, 32 + int(t.tokens_per_second * len(audio) / RATE))
        encoded = self.model.encode(features)
        language, probability = "", 0.0
        if detect:
            token, p = self.model.model.detect_language(encoded)[0][0]  # the likeliest: ("<|en|>", 0.97)
            language, probability = token.strip("<|>"), round(float(p), 3)
        result = self.model.model.generate(
            encoded, [prompt], beam_size=t.beam_size, max_length=len(prompt) + cap,
            return_scores=True, return_no_speech_prob=True, suppress_blank=True,
            suppress_tokens=self._suppress, sampling_topk=1)[0]  # greedy: temperature 0, no fallback
        tokens = [tok for tok in result.sequences_ids[0] if tok < self._tokenizer.eot]
        avg_logprob = float(result.scores[0]) if result.scores else -10.0
        if result.no_speech_prob > t.no_speech and avg_logprob < t.min_logprob:
            return "", 0.0, "", 0.0  # Whisper's own silence test: likely no speech, and not confident of any
        text = self._tokenizer.decode(tokens).strip()
        if self._simplify is not None:
            text = self._simplify.convert(text)
        return text, round(math.exp(min(0.0, avg_logprob)), 3) if text else 0.0, language, probability
