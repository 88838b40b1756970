"""After the call: departments that receive cases, the dispatch rules, deadlines and the call back."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from hotline.config import checks
from hotline.config.base import CODE, ConfigError, dates, require, section, str_list, unique, unknown_keys


@dataclass(frozen=True)
class Department:
    """A department (or district office) that receives cases."""

    code: str
    name: str


@dataclass(frozen=True)
class DispatchRule:
    """Suggests ``department`` for cases of these topics (form category or IVR topic) in these
    districts; an empty list matches any. The most specific matching rule wins (topic and
    district over one of them over neither), then the first in the file."""

    department: str
    topics: tuple[str, ...] = ()
    districts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Deadlines:
    """How long a department has: ``days`` from dispatch, calendar or working days."""

    days: int = 7
    working_days: bool = False  # count only working days (Monday-Friday, not holidays)
    holidays: tuple[str, ...] = ()  # YYYY-MM-DD: not working days
    working_weekends: tuple[str, ...] = ()  # YYYY-MM-DD: a Saturday or Sunday worked in exchange
    warn_day: int = 5  # a warning when this many days (of ``days``) have passed
    extension_days: int = 7  # what a supervisor grants when approving an extension without a number


@dataclass(frozen=True)
class Callback:
    """The call back that asks the citizen whether the reply resolved their appeal."""

    # how Asterisk reaches a citizen; {number} is the caller's number, e.g. PJSIP/{number}@carrier
    # or PJSIP/citizens/sip:{number}@192.0.2.10:5060. Empty: no automatic call, operators call back
    dial: str = ""
    caller_id: str = ""  # what the citizen sees; empty: the hotline number
    delay_minutes: float = 0.0  # after the department's reply
    ring_seconds: int = 30
    retry_minutes: tuple[float, ...] = (30.0, 120.0)  # after each unanswered attempt; then an operator task
    hours_start: str = "08:00"  # calls are placed only between these local times
    hours_end: str = "21:00"


def parse_departments(data: Mapping[str, Any]) -> tuple[Department, ...]:
    out = []
    for i, item in enumerate(data.get("departments", [])):
        where = f"departments[{i}]."
        code = require(item, "code", where, str)
        if not CODE.match(code):
            raise ConfigError(where + "code", f"must be a short lowercase code, got {code!r}")
        unknown_keys(item, {"code", "name"}, where)
        out.append(Department(code, require(item, "name", where, str)))
    unique([d.code for d in out], "departments", "code")
    return tuple(out)


def parse_dispatch_rules(data: Mapping[str, Any], departments: tuple[Department, ...], topic_codes: set[str],
                         districts: list[str]) -> tuple[DispatchRule, ...]:
    out = []
    codes = {d.code for d in departments}
    for i, item in enumerate(data.get("dispatch_rules", [])):
        where = f"dispatch_rules[{i}]."
        dept = require(item, "department", where, str)
        checks.department_code(dept, where, codes)
        unknown_keys(item, {"department", "topics", "districts"}, where)
        topics = str_list(item, "topics", where)
        checks.rule_topics(topics, where, topic_codes)
        dists = str_list(item, "districts", where)
        checks.rule_districts(dists, where, districts)
        out.append(DispatchRule(dept, topics, dists))
    return tuple(out)


def parse_deadlines(data: Mapping[str, Any]) -> Deadlines:
    raw = dict(data.get("deadlines", {}))
    holidays = dates(str_list(raw, "holidays", "deadlines."), "deadlines.holidays")
    weekends = dates(str_list(raw, "working_weekends", "deadlines."), "deadlines.working_weekends")
    raw.pop("holidays", None)
    raw.pop("working_weekends", None)
    d: Deadlines = replace(section(Deadlines, raw, "deadlines"), holidays=holidays, working_weekends=weekends)
    if not 1 <= d.days <= 365 or not 0 <= d.warn_day < d.days + 1 or not 1 <= d.extension_days <= 365:
        raise ConfigError("deadlines", "days and extension_days must be 1-365, warn_day at most days")
    return d


def parse_callback(data: Mapping[str, Any]) -> Callback:
    raw = dict(data.get("callback", {}))
    retries = raw.pop("retry_minutes", [30.0, 120.0])
    if not isinstance(retries, list) or not all(
            isinstance(r, (int, float)) and not isinstance(r, bool) and r > 0 for r in retries) or len(retries) > 10:
        raise ConfigError("callback.retry_minutes", "must be a list of at most 10 positive numbers of minutes")
    cb: Callback = replace(section(Callback, raw, "callback"), retry_minutes=tuple(float(r) for r in retries))
    if cb.dial and ("{number}" not in cb.dial or not re.match(r"^PJSIP/[\w+.@:/{}\-]+$", cb.dial)):
        raise ConfigError("callback.dial", f"must be a PJSIP dial string with {{number}}, got {cb.dial!r}")
    for key in ("hours_start", "hours_end"):
        if not re.match(r"^([01]\d|2[0-4]):[0-5]\d$", getattr(cb, key)):
            raise ConfigError(f"callback.{key}", f"must be HH:MM, got {getattr(cb, key)!r}")
    if not 5 <= cb.ring_seconds <= 120 or cb.delay_minutes < 0:
        raise ConfigError("callback", "ring_seconds must be 5-120 and delay_minutes >= 0")
    return cb
