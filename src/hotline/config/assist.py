"""``[assist]``: what the desk suggests from the caller's words (slot filling, the spoken language).

Every key is optional::

    [assist]
    suggestions = true          # false: no slot suggestions on the desk
    language_threshold = 0.8    # the engine's probability a detected language needs to be said

    [assist.districts]          # other names a district is spoken by (the site's `districts` list)
    Chaoyang = ["朝阳区", "朝阳"]

    [assist.keywords]           # words that suggest a category (a topic code, or "other")
    housing = ["电梯", "暖气", "漏水", "lift", "heating"]

A district named in ``districts`` is always matched by its own name; Beijing's sixteen districts
are also matched by their Chinese names without any ``[assist.districts]`` entry
(``assist/slots.py`` holds that table).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hotline.config.base import ConfigError


@dataclass(frozen=True)
class Assist:
    suggestions: bool = True
    language_threshold: float = 0.8
    districts: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # district -> other spoken names
    keywords: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # category code -> words


def _words(raw: Any, key: str) -> dict[str, tuple[str, ...]]:
    if not isinstance(raw, dict):
        raise ConfigError(key, "must be a table: name = [words]")
    out: dict[str, tuple[str, ...]] = {}
    for name, words in raw.items():
        if not isinstance(words, list) or not all(isinstance(w, str) and w.strip() for w in words):
            raise ConfigError(f"{key}.{name}", "must be a list of words")
        out[str(name)] = tuple(w.strip() for w in words)
    return out


def parse_assist(data: Mapping[str, Any], districts: list[str], categories: set[str]) -> Assist:
    """``districts``: the site's list (an alias must name one of them, when there is a list);
    ``categories``: the topic codes and "other"."""
    raw = dict(data.get("assist", {}))
    if not isinstance(data.get("assist", {}), dict):
        raise ConfigError("assist", "must be a table")
    aliases = _words(raw.pop("districts", {}), "assist.districts")
    keywords = _words(raw.pop("keywords", {}), "assist.keywords")
    for key in raw:
        if key not in ("suggestions", "language_threshold"):
            raise ConfigError(f"assist.{key}", "unknown setting (known: districts, keywords, language_threshold, "
                                               "suggestions)")
    suggestions = raw.get("suggestions", True)
    if not isinstance(suggestions, bool):
        raise ConfigError("assist.suggestions", "must be true or false")
    threshold = raw.get("language_threshold", 0.8)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0.5 <= threshold <= 1.0:
        raise ConfigError("assist.language_threshold", f"must be a number from 0.5 to 1, got {threshold!r}")
    names = {d.strip() for d in districts}
    for name in aliases:
        if names and name not in names:
            raise ConfigError(f"assist.districts.{name}", "not one of the districts")
    for code in keywords:
        if code not in categories:
            raise ConfigError(f"assist.keywords.{code}", "not a topic code (or 'other')")
    return Assist(suggestions, float(threshold), aliases, keywords)
