"""The cross-checks: what one section may name of another (extensions, languages and skills,
topics, departments, districts). The section parsers call these at the point the file is read,
so the first problem in a file is still the one reported."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from hotline.config.base import EXT, ConfigError, require


def languages_problem(langs: Mapping[str, Any], codes: set[str]) -> tuple[str, str] | None:
    """(the language code at fault or "", what is wrong) for a table of language -> proficiency
    1-5; None when it is fine. Shared by the site file and skill changes made while running."""
    if not langs:
        return "", "at least one language is needed"
    for code, prof in langs.items():
        if code not in codes:
            return code, f"unknown language {code!r}"
        if not isinstance(prof, int) or isinstance(prof, bool) or not 1 <= prof <= 5:
            return code, f"proficiency must be 1-5, got {prof!r}"
    return None


def skills(item: Mapping[str, Any], where: str, codes: set[str], who: str) -> dict[str, int]:
    """A phone's ``languages`` table: known languages, proficiency 1-5."""
    langs = require(item, "languages", where, dict)
    problem = languages_problem(langs, codes)
    if problem is not None:
        code, text = problem
        raise ConfigError(f"{where}languages" + (f".{code}" if code else ""),
                          text if code else f"{who} needs at least one language")
    return dict(langs)


def phone_extension(ext: str, where: str, number: str) -> None:
    if not EXT.match(ext) or ext == number:
        raise ConfigError(where + "extension", f"must be 2-8 digits and not the hotline number, got {ext!r}")


def known_topics(tops: Iterable[str], key: str, codes: set[str]) -> None:
    for t in tops:
        if t not in codes:
            raise ConfigError(key, f"unknown topic {t!r}")


def known_languages(codes: Iterable[str], key: str, known: set[str]) -> None:
    for code in codes:
        if code not in known:
            raise ConfigError(key, f"unknown language {code!r}")


def user_links(item: Mapping[str, Any], where: str, role: str, phones: Mapping[str, set[str]]) -> tuple[str, str]:
    """A web user's extension (one of the phones of their role) and department, as written."""
    ext = str(item.get("extension", ""))
    if role == "operator" and ext not in phones["operator"]:
        raise ConfigError(where + "extension", f"an operator user needs the extension of one of the "
                          f"[[operators]], got {ext!r}")
    if role == "interpreter" and ext and ext not in phones["interpreter"]:
        raise ConfigError(where + "extension", f"an interpreter's extension must be one of the "
                          f"[[interpreters]], got {ext!r}")
    if role == "supervisor" and ext and ext not in phones["supervisor"]:
        raise ConfigError(where + "extension", f"a supervisor's extension must be one of the "
                          f"[[supervisors]] phones, got {ext!r}")
    return ext, str(item.get("department", ""))


def user_department(dept: str, role: str, where: str, departments: set[str]) -> None:
    if (role == "department") != bool(dept) or (dept and dept not in departments):
        raise ConfigError(where + "department", "a department user needs the code of one of the "
                          f"[[departments]] (and only they have one), got {dept!r}")


def rota_extension(ext: str, where: str, operators: set[str]) -> None:
    if ext not in operators:
        raise ConfigError(where + "extension", f"no operator with extension {ext!r}")


def department_code(dept: str, where: str, codes: set[str]) -> None:
    if dept not in codes:
        raise ConfigError(where + "department", f"no [[departments]] with code {dept!r}")


def rule_topics(topics: Iterable[str], where: str, topic_codes: set[str]) -> None:
    for t in topics:
        if t not in topic_codes | {"other", "general"}:
            raise ConfigError(where + "topics", f"unknown topic {t!r}")


def rule_districts(dists: Iterable[str], where: str, districts: list[str]) -> None:
    for d in dists:
        if districts and d not in districts:
            raise ConfigError(where + "districts", f"not one of the districts: {d!r}")
