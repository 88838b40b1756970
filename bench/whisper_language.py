"""What Whisper's language detection costs, and what it says, on the test speech.

The Whisper engine reports the spoken language on the finals of a leg's first utterances
(docs/transcription.md, "The language the caller speaks"): the language head run on the encoder
output the decode computes anyway. This decodes each utterance on a Mandarin engine twice, with
and without the detection, and prints the CPU time of both and the language heard with its
probability: the six synthetic Mandarin sentences (tests/data/whisper/zh) and some of Asterisk's
English prompts (a human voice), long and short.

    .venv/bin/python bench/whisper_language.py [--model DIR] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt

from hotline.config.media import default_whisper_model
from hotline.transcribe.whisper_engine import Upsampler, WhisperEngine

ROOT = Path(__file__).resolve().parents[1]
SOUNDS = ROOT / "var/asterisk/root/usr/share/asterisk/sounds/en_US_f_Allison"
PROMPTS = ("agent-pass", "vm-intro", "conf-onlyperson", "pbx-invalid", "vm-nobodyavail", "vm-goodbye",
           "vm-password", "auth-thankyou")


def audio(path: Path) -> npt.NDArray[np.float32]:
    raw = subprocess.run(["sox", str(path), "-t", "raw", "-r", "8000", "-c", "1", "-b", "16", "-e", "signed", "-"],
                         capture_output=True, check=True).stdout
    return Upsampler()(np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=default_whisper_model())
    ap.add_argument("--rounds", type=int, default=3, help="decodes of each utterance (the fastest counts)")
    args = ap.parse_args()
    engine = WhisperEngine(args.model, "zh", threads=1)
    files = sorted((ROOT / "tests/data/whisper/zh").glob("*.wav")) + [SOUNDS / f"{p}.gsm" for p in PROMPTS]
    plain: list[float] = []
    extra: list[float] = []
    print(f"{'utterance':<22}{'s':>5}{'heard':>7}{'p':>7}{'decode ms':>11}{'detect ms':>11}")
    for f in files:
        if not f.is_file():
            print(f"{f.name}: missing (hotline asterisk install puts the English prompts there)")
            continue
        a = audio(f)
        best, best_detect = float("inf"), float("inf")
        for _ in range(args.rounds):
            t = time.process_time()
            engine.decode(a)
            best = min(best, time.process_time() - t)
            t = time.process_time()
            _, _, language, p = engine.decode_detect(a)
            best_detect = min(best_detect, time.process_time() - t)
        plain.append(best)
        extra.append(max(0.0, best_detect - best))
        print(f"{f.name:<22}{len(a) / 16000:>5.1f}{language:>7}{p:>7.3f}{best * 1000:>11.0f}{extra[-1] * 1000:>11.0f}")
    if plain:
        print(f"decode: median {statistics.median(plain) * 1000:.0f} ms, max {max(plain) * 1000:.0f} ms of CPU; "
              f"the detection adds median {statistics.median(extra) * 1000:.0f} ms, max {max(extra) * 1000:.0f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
