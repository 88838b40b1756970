"""The crisis words: a lexicon per language and category (self-harm, violence, threats) whose match
in a caller's line raises an alert on the operator's desk and the wallboard (floor/crisis.py).

    [crisis]
    keep_minutes = 15            # an alert stays on the wallboard this long after its call ended
    [crisis.categories]          # optional: the names the pages show (defaults below)
    self_harm = "self-harm"
    [crisis.words.zh]            # a language code of [[languages]]
    self_harm = ["不想活了", "自杀"]
    violence = ["杀人"]
    [crisis.words.en]
    self_harm = ["kill myself", "suicide"]

No ``[crisis.words]``: no lexicon, no alert. The words are matched as assist/crisis.py says
(case, width, spaces between Chinese characters and traditional characters do not matter; an
English word only as a whole word).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hotline.config import checks
from hotline.config.base import CODE, ConfigError

CATEGORY_NAMES = {"self_harm": "self-harm", "violence": "violence", "threat": "threat"}


@dataclass(frozen=True)
class CrisisWords:
    language: str
    category: str
    words: tuple[str, ...]


@dataclass(frozen=True)
class Crisis:
    lexicon: tuple[CrisisWords, ...] = ()
    categories: tuple[tuple[str, str], ...] = tuple(CATEGORY_NAMES.items())  # (code, the name pages show)
    keep_minutes: int = 15

    def category_name(self, code: str) -> str:
        return dict(self.categories).get(code, code.replace("_", "-"))


def parse_crisis(data: Mapping[str, Any], lang_codes: set[str]) -> Crisis:
    raw = data.get("crisis", {})
    if not isinstance(raw, dict):
        raise ConfigError("crisis", "must be a table")
    unknown = set(raw) - {"words", "categories", "keep_minutes"}
    if unknown:
        raise ConfigError(f"crisis.{sorted(unknown)[0]}", "unknown setting (known: categories, keep_minutes, words)")
    keep = raw.get("keep_minutes", 15)
    if not isinstance(keep, int) or isinstance(keep, bool) or not 1 <= keep <= 24 * 60:
        raise ConfigError("crisis.keep_minutes", f"must be 1-1440 minutes, got {keep!r}")
    names = dict(CATEGORY_NAMES)
    given = raw.get("categories", {})
    if not isinstance(given, dict):
        raise ConfigError("crisis.categories", "must be a table of category code = name")
    for code, name in given.items():
        if not CODE.match(code) or not isinstance(name, str) or not name.strip():
            raise ConfigError(f"crisis.categories.{code}", "a category code (a-z, 0-9, _) = its name")
        names[code] = name.strip()
    words = raw.get("words", {})
    if not isinstance(words, dict):
        raise ConfigError("crisis.words", "must be a table per language: [crisis.words.zh]")
    checks.known_languages(list(words), "crisis.words", lang_codes)
    lexicon: list[CrisisWords] = []
    for lang, table in words.items():
        if not isinstance(table, dict):
            raise ConfigError(f"crisis.words.{lang}", "must be a table of category = [words]")
        for category, items in table.items():
            where = f"crisis.words.{lang}.{category}"
            if not CODE.match(category):
                raise ConfigError(where, "a category is a code (a-z, 0-9, _), e.g. self_harm")
            if not isinstance(items, list) or not all(isinstance(w, str) and w.strip() for w in items):
                raise ConfigError(where, "must be a list of words (none empty)")
            if any(len(w) > 100 for w in items):
                raise ConfigError(where, "a word or phrase is at most 100 characters")
            lexicon.append(CrisisWords(lang, category, tuple(dict.fromkeys(w.strip() for w in items))))
    return Crisis(lexicon=tuple(lexicon), categories=tuple(names.items()), keep_minutes=keep)
