"""Vosk (Kaldi) as a speech engine: one Model per language, loaded once from a folder."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from hotline.transcribe.engine import ModelError, Result

log = logging.getLogger(__name__)

# what a Vosk model folder must hold (the small models' layout)
REQUIRED = ("am/final.mdl", "conf/mfcc.conf", "conf/model.conf")
GRAPHS = (("graph/HCLG.fst",), ("graph/HCLr.fst", "graph/Gr.fst"))


def check_model_dir(path: Path) -> None:
    """Raise ModelError naming what is missing, before Kaldi gets a chance to abort on it."""
    if not path.is_dir():
        raise ModelError(f"Vosk model folder {path} does not exist")
    missing = [f for f in REQUIRED if not (path / f).is_file()]
    if not any(all((path / f).is_file() for f in graph) for graph in GRAPHS):
        missing.append("graph/HCLG.fst (or graph/HCLr.fst + graph/Gr.fst)")
    if not (path / "graph/words.txt").is_file() and not (path / "graph/phones/word_boundary.int").is_file():
        missing.append("graph/words.txt or graph/phones/word_boundary.int")
    if missing:
        raise ModelError(f"Vosk model folder {path} is incomplete: missing {', '.join(missing)}")


class VoskStream:
    def __init__(self, recognizer: Any) -> None:
        self.rec = recognizer
        self._last_partial = ""

    def accept(self, pcm: bytes) -> list[Result]:
        if self.rec.AcceptWaveform(pcm):
            return self._final(json.loads(self.rec.Result()))
        partial = json.loads(self.rec.PartialResult())
        text = str(partial.get("partial", "")).strip()
        if not text or text == self._last_partial:
            return []
        self._last_partial = text
        words = partial.get("partial_result") or []
        start = float(words[0]["start"]) if words else 0.0
        end = float(words[-1]["end"]) if words else 0.0
        return [Result("partial", text, start, end, 0.0)]

    def finish(self) -> list[Result]:
        return self._final(json.loads(self.rec.FinalResult()))

    def _final(self, result: dict[str, Any]) -> list[Result]:
        self._last_partial = ""
        text = str(result.get("text", "")).strip()
        if not text:
            return []
        words = result.get("result") or []
        if words:
            start, end = float(words[0]["start"]), float(words[-1]["end"])
            conf = sum(float(w.get("conf", 0.0)) for w in words) / len(words)
        else:
            start = end = conf = 0.0
        return [Result("final", text, start, end, round(conf, 3))]


class VoskEngine:
    name = "vosk"

    def __init__(self, folder: Path) -> None:
        check_model_dir(folder)
        import vosk  # imported here: only processes that transcribe pay for it
        vosk.SetLogLevel(-1)
        self.folder = folder
        try:
            self.model = vosk.Model(str(folder))
        except Exception as exc:  # vosk raises a bare Exception("Failed to create a model")
            raise ModelError(f"Vosk could not load the model in {folder}: {exc}") from None
        self._vosk = vosk

    def stream(self, sample_rate: int) -> VoskStream:
        rec = self._vosk.KaldiRecognizer(self.model, sample_rate)
        rec.SetWords(True)
        rec.SetPartialWords(True)
        return VoskStream(rec)
