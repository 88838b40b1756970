"""The SIP phones: operators', shift managers' and interpreters'."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hotline.config import checks
from hotline.config.base import EXT, ConfigError, require, unique


@dataclass(frozen=True)
class Operator:
    extension: str
    name: str
    languages: Mapping[str, int]  # language code -> proficiency 1..5
    topics: tuple[str, ...]
    password: str | None = None  # None: generated into the state folder's secrets file
    contact: str | None = None  # "host:port" of a phone with a fixed address (no registration)


@dataclass(frozen=True)
class SupervisorPhone:
    """A shift manager's phone: listen, whisper and barge calls ring here."""

    extension: str
    name: str
    password: str | None = None
    contact: str | None = None


@dataclass(frozen=True)
class Interpreter:
    """An interpreter's phone and languages (proficiency 1-5). ``dial`` reaches one outside the
    PBX (a volunteer at a language centre) through a configured trunk, e.g. PJSIP/8613800000001@centre;
    empty: the extension's own registered phone."""

    extension: str
    name: str
    languages: Mapping[str, int]
    password: str | None = None
    contact: str | None = None
    dial: str = ""


def phone_access(item: Mapping[str, Any], where: str) -> tuple[str | None, str | None]:
    password = item.get("password")
    if password is not None and (not isinstance(password, str) or len(password) < 8):
        raise ConfigError(where + "password", "must be a string of at least 8 characters")
    contact = item.get("contact")
    if contact is not None and (not isinstance(contact, str) or not re.match(r"^[\w.\-]+:\d{1,5}$", contact)):
        raise ConfigError(where + "contact", f"must be host:port, got {contact!r}")
    return password, contact


def parse_operators(data: Mapping[str, Any], number: str, lang_codes: set[str],
                    topic_codes: set[str]) -> tuple[Operator, ...]:
    operators: list[Operator] = []
    for i, item in enumerate(data.get("operators", [])):
        where = f"operators[{i}]."
        ext = require(item, "extension", where, str)
        checks.phone_extension(ext, where, number)
        langs = checks.skills(item, where, lang_codes, "an operator")
        tops = item.get("topics", [])
        if not isinstance(tops, list):
            raise ConfigError(where + "topics", "expected a list of topic codes")
        checks.known_topics(tops, where + "topics", topic_codes)
        password, contact = phone_access(item, where)
        operators.append(Operator(ext, str(item.get("name", ext)), langs, tuple(tops), password, contact))
    unique([op.extension for op in operators], "operators", "extension")
    return tuple(operators)


def parse_supervisors(data: Mapping[str, Any], number: str,
                      operators: tuple[Operator, ...]) -> tuple[SupervisorPhone, ...]:
    supervisors: list[SupervisorPhone] = []
    for i, item in enumerate(data.get("supervisors", [])):
        where = f"supervisors[{i}]."
        ext = require(item, "extension", where, str)
        checks.phone_extension(ext, where, number)
        if any(op.extension == ext for op in operators):
            raise ConfigError(where + "extension", f"extension {ext!r} is an operator's")
        password, contact = phone_access(item, where)
        supervisors.append(SupervisorPhone(ext, str(item.get("name", ext)), password, contact))
    unique([p.extension for p in supervisors], "supervisors", "extension")
    return tuple(supervisors)


def parse_interpreters(data: Mapping[str, Any], number: str, lang_codes: set[str],
                       taken: set[str]) -> tuple[Interpreter, ...]:
    """``taken``: the operators' and supervisors' extensions."""
    interpreters: list[Interpreter] = []
    for i, item in enumerate(data.get("interpreters", [])):
        where = f"interpreters[{i}]."
        ext = require(item, "extension", where, str)
        if not EXT.match(ext) or ext == number or ext in taken:
            raise ConfigError(where + "extension", f"must be 2-8 digits, not the hotline number and not another "
                              f"phone's, got {ext!r}")
        langs = checks.skills(item, where, lang_codes, "an interpreter")
        dial = item.get("dial", "")
        if not isinstance(dial, str) or (dial and not re.match(r"^PJSIP/[\w+.@\-]+$", dial)):
            raise ConfigError(where + "dial", f"must look like PJSIP/number@trunk, got {dial!r}")
        password, contact = phone_access(item, where)
        interpreters.append(Interpreter(ext, str(item.get("name", ext)), langs, password, contact, dial))
    unique([p.extension for p in interpreters], "interpreters", "extension")
    return tuple(interpreters)
