"""Crisis words in a caller's line (pure): which categories of the site's lexicon (config/crisis.py)
the line contains, the words, and where they are in the line.

Both the line and the words are normalised character by character, so a span found in the
normalised text maps back to the line as it was said:
- Unicode compatibility forms (NFKC: full-width Latin letters, the ideographic space) and case
  (casefold), curly quotes as straight ones;
- traditional Chinese characters as simplified ones (OpenCC t2s: 自殺 is 自杀);
- between two Chinese characters anything that is not a letter or digit may come (spaces the
  recogniser put between words, punctuation: ``不想 活了``, ``不想, 活了``);
- a Latin word matches only as a whole word (``kill myself`` is not in ``skill myself``), and
  the spaces between its words may be any run of spaces or punctuation (``kill-myself``); a word
  ending in ``*`` is a prefix (``suicid*``: suicide, suicidal).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u00a0": " "})
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af]")
_LATIN = r"a-z0-9\u00c0-\u024f"  # after casefold: where a Latin word may not continue
_GAP_HAN = r"[\W_]*"  # between two Chinese characters: any spaces and punctuation, or none
_GAP_WORDS = r"[\W_]+"  # where the lexicon's phrase has a space: at least one space or punctuation


@dataclass(frozen=True)
class Hit:
    category: str
    language: str  # the lexicon's language the word is from
    word: str  # as the lexicon writes it
    start: int  # the span in the line as given (line[start:end] is what was said)
    end: int
    said: str

    def to_json(self) -> dict[str, Any]:
        return {"category": self.category, "language": self.language, "word": self.word, "start": self.start,
                "end": self.end, "said": self.said}


@lru_cache(maxsize=1)
def _simplifier() -> Any:
    from opencc import OpenCC  # type: ignore[import-untyped]
    return OpenCC("t2s")


def _simplify(text: str) -> str:
    """Traditional characters as simplified, one for one (a conversion changing the length is not
    taken: the spans must stay where they are)."""
    if not _HAN.search(text):
        return text
    out = str(_simplifier().convert(text))
    return out if len(out) == len(text) else text


def normalise(text: str) -> tuple[str, list[int]]:
    """The text as the matcher compares it, and for each of its characters the index of the
    character of ``text`` it came from."""
    chars: list[str] = []
    origin: list[int] = []
    for i, c in enumerate(text):
        n = unicodedata.normalize("NFKC", c).casefold().translate(_QUOTES)
        chars.append(n)
        origin += [i] * len(n)
    return _simplify("".join(chars)), origin


def _is_han(c: str) -> bool:
    return bool(_HAN.match(c))


def pattern(word: str) -> re.Pattern[str] | None:
    """The regular expression of one lexicon word (None for a word with nothing to match)."""
    w = " ".join(normalise(word)[0].split())
    prefix = w.endswith("*")  # "suicid*": suicide, suicidal
    w = w.rstrip("*").rstrip()
    if not w:
        return None
    parts: list[str] = []
    for i, c in enumerate(w):
        if c == " ":
            parts.append(_GAP_WORDS)
            continue
        if i > 0 and w[i - 1] != " " and (_is_han(c) or _is_han(w[i - 1])):
            parts.append(_GAP_HAN)
        parts.append(re.escape(c))
    head = "" if _is_han(w[0]) or not w[0].isalnum() else f"(?<![{_LATIN}])"
    tail = "" if _is_han(w[-1]) or not w[-1].isalnum() else f"[{_LATIN}]*" if prefix else f"(?![{_LATIN}])"
    return re.compile(head + "".join(parts) + tail)


class Lexicon:
    """The site's crisis words, compiled once: ``find(line)`` gives every hit, in line order."""

    def __init__(self, entries: Iterable[tuple[str, str, str]]) -> None:
        """``entries``: (language, category, word)."""
        self._patterns: list[tuple[str, str, str, re.Pattern[str]]] = []
        for language, category, word in entries:
            p = pattern(word)
            if p is not None:
                self._patterns.append((language, category, word, p))

    def __len__(self) -> int:
        return len(self._patterns)

    def find(self, line: str, languages: Iterable[str] | None = None) -> list[Hit]:
        """The hits of every word in ``line`` (of the lexicons of ``languages``; None: all). A word
        found twice is one hit (its first place)."""
        if not line or not self._patterns:
            return []
        wanted = None if languages is None else set(languages)
        text, origin = normalise(line)
        hits: list[Hit] = []
        for language, category, word, p in self._patterns:
            if wanted is not None and language not in wanted:
                continue
            m = p.search(text)
            if m is None:
                continue
            start, end = origin[m.start()], origin[m.end() - 1] + 1
            hits.append(Hit(category, language, word, start, end, line[start:end]))
        hits.sort(key=lambda h: (h.start, h.end))
        return hits


def by_category(hits: Iterable[Hit]) -> dict[str, list[Hit]]:
    """The hits grouped by category, categories in the order of their first hit."""
    out: dict[str, list[Hit]] = {}
    for h in hits:
        out.setdefault(h.category, []).append(h)
    return out
