"""The hotline itself: its number, languages (the IVR's first menu), topics and districts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hotline.config.base import CODE, DIGITS, ConfigError, require, unique


@dataclass(frozen=True)
class Language:
    code: str
    name: str
    digit: str
    voice: str  # espeak-ng voice used to synthesise the prompts


@dataclass(frozen=True)
class Topic:
    code: str
    name: str
    digit: str


def parse_number(data: Mapping[str, Any]) -> str:
    number = str(data.get("number", "12345"))
    if not number.isdigit():
        raise ConfigError("number", f"must be digits, got {number!r}")
    return number


def parse_phone_region(data: Mapping[str, Any]) -> str:
    """``phone_region``: the country a caller's number without a country code is read in (ISO
    3166 letters, as libphonenumber knows them; cases/caller_key.py)."""
    region = data.get("phone_region", "CN")
    if not isinstance(region, str) or not (len(region) == 2 and region.isascii() and region.isalpha()):
        raise ConfigError("phone_region", f"must be a two-letter country code such as CN, got {region!r}")
    return region.upper()


def parse_languages(data: Mapping[str, Any]) -> tuple[Language, ...]:
    languages: list[Language] = []
    raw_langs = data.get("languages")
    if not isinstance(raw_langs, list) or not raw_langs:
        raise ConfigError("languages", "at least one [[languages]] entry is required (the first is the default)")
    for i, item in enumerate(raw_langs):
        where = f"languages[{i}]."
        code = require(item, "code", where, str)
        if not CODE.match(code):
            raise ConfigError(where + "code", f"must be a short lowercase code, got {code!r}")
        digit = require(item, "digit", where, str)
        if digit not in DIGITS:
            raise ConfigError(where + "digit", f"must be one DTMF digit 1-9, got {digit!r}")
        languages.append(Language(code, require(item, "name", where, str), digit,
                                  require(item, "voice", where, str)))
    unique([lang.code for lang in languages], "languages", "code")
    unique([lang.digit for lang in languages], "languages", "digit")
    return tuple(languages)


def parse_topics(data: Mapping[str, Any]) -> tuple[Topic, ...]:
    topics: list[Topic] = []
    for i, item in enumerate(data.get("topics", [])):
        where = f"topics[{i}]."
        code = require(item, "code", where, str)
        if not CODE.match(code) or code == "general":
            raise ConfigError(where + "code", f"must be a short lowercase code other than 'general', got {code!r}")
        digit = require(item, "digit", where, str)
        if digit not in DIGITS:
            raise ConfigError(where + "digit", f"must be one DTMF digit 1-9 (0 is 'any operator'), got {digit!r}")
        topics.append(Topic(code, require(item, "name", where, str), digit))
    unique([t.code for t in topics], "topics", "code")
    unique([t.digit for t in topics], "topics", "digit")
    return tuple(topics)


def parse_districts(data: Mapping[str, Any]) -> list[str]:
    """The district names as written (a dispatch rule compares with these); Settings strips them."""
    districts = data.get("districts", [])
    if not isinstance(districts, list) or not all(isinstance(d, str) and d.strip() for d in districts):
        raise ConfigError("districts", "must be a list of district names")
    return districts
