"""Text for SQLite's FTS5 index and queries against it (pure).

FTS5's unicode61 tokenizer splits on spaces and punctuation, which Chinese and Japanese do
not use (and Korean attaches particles to words): a whole sentence would be one token. So
runs of CJK, kana and Hangul characters are indexed as overlapping two-character tokens
("漏水严重" -> "漏水 水严 严重") and a query is turned into the same bigrams as a phrase, which
finds any substring of two or more characters. Latin words stay words (prefix with ``*``).
"""

from __future__ import annotations

import re

# CJK ideographs, kana, Hangul syllables and jamo, CJK compatibility
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\u1100-\u11ff\u3130-\u318f\uf900-\ufaff"
_RUN = re.compile(f"[{_CJK}]+")
_WORD = re.compile(f"[{_CJK}]+|[^\\W_]+\\*?", re.UNICODE)


def _bigrams(run: str) -> list[str]:
    if len(run) == 1:
        return [run]
    return [run[i:i + 2] for i in range(len(run) - 1)]


def index_text(text: str) -> str:
    """The text as the index should see it: CJK runs as bigrams, everything else unchanged."""
    return _RUN.sub(lambda m: " " + " ".join(_bigrams(m.group(0))) + " ", text or "")


def match_query(query: str) -> str:
    """A user's search words as an FTS5 MATCH expression: every word must appear (AND); a CJK
    word must appear as written (a phrase of its bigrams); ``word*`` is a prefix. Quotes and
    FTS5 operators in the input are taken as plain text. Empty when there is nothing to find."""
    terms = []
    for token in _WORD.findall(query or ""):
        if _RUN.fullmatch(token):
            grams = _bigrams(token)
            terms.append('"' + " ".join(grams) + '"')
        elif token.endswith("*"):
            word = token[:-1]
            if word:
                terms.append(f'"{word}" *')
        else:
            terms.append(f'"{token}"')
    return " AND ".join(terms)


def address_key(address: str) -> str:
    """An address reduced for grouping: lower case, no spaces or punctuation ("No. 5, Elm St." and
    "no 5 elm st" are one place)."""
    return re.sub(r"[\W_]+", "", (address or "").lower())
