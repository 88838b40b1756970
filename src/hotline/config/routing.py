"""Who answers when: the routing thresholds, the rota and the busier days the planner expects."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hotline.config import checks
from hotline.config.base import ConfigError, require, section

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Routing:
    target_seconds: int = 15
    goal_percent: float = 96.0
    # exact skill and best proficiency first: member penalty = 5 - proficiency
    initial_max_penalty: int = 1
    widen_penalty_after: int = 3  # seconds; queuerule raises the ceiling to 4 (any proficiency)
    overflow_same_language_after: float = 5.0  # router adds same-language operators
    overflow_any_after: float = 9.0  # router adds any free operator
    ring_seconds: int = 12
    wrapup_seconds: int = 5
    menu_timeout: int = 5  # seconds the IVR waits for a digit after each menu prompt
    # abandons (in the IVR or the queue) shorter than this from the first ring are shown apart as
    # short abandons; never dropped from offered (0: none shown apart)
    short_abandon_seconds: float = 0.0


@dataclass(frozen=True)
class HotspotDay:
    """A day expected busier than its weekday (an event, the weather): the forecast x factor."""

    date: str  # YYYY-MM-DD
    factor: float
    reason: str = ""


@dataclass(frozen=True)
class RotaEntry:
    """An operator scheduled on some weekdays from start to end (HH:MM; an end before the start
    runs past midnight)."""

    extension: str
    start: str
    end: str
    days: tuple[str, ...] = WEEKDAYS

    def minutes(self) -> tuple[int, int]:
        h1, m1 = (int(x) for x in self.start.split(":"))
        h2, m2 = (int(x) for x in self.end.split(":"))
        return h1 * 60 + m1, h2 * 60 + m2


def parse_routing(data: Mapping[str, Any]) -> Routing:
    routing: Routing = section(Routing, data.get("routing", {}), "routing")
    if not 0 <= routing.initial_max_penalty <= 4:
        raise ConfigError("routing.initial_max_penalty", "must be 0-4 (penalty = 5 - proficiency)")
    if not (routing.widen_penalty_after < routing.overflow_same_language_after
            <= routing.overflow_any_after < routing.target_seconds):
        raise ConfigError("routing", "need widen_penalty_after < overflow_same_language_after <= "
                          "overflow_any_after < target_seconds")
    if not 0 <= routing.short_abandon_seconds <= 60:
        raise ConfigError("routing.short_abandon_seconds", "must be 0-60 seconds")
    return routing


def parse_hotspot_days(data: Mapping[str, Any]) -> tuple[HotspotDay, ...]:
    hotspots = []
    for i, item in enumerate(data.get("hotspot_days", [])):
        where = f"hotspot_days[{i}]."
        day = require(item, "date", where, str)
        if not re.match(r"^\d{4}-\d{2}-\d{2}$", day):
            raise ConfigError(where + "date", f"must be YYYY-MM-DD, got {day!r}")
        factor = item.get("factor")
        if not isinstance(factor, (int, float)) or isinstance(factor, bool) or not 0 < factor <= 10:
            raise ConfigError(where + "factor", f"must be a number in (0, 10], got {factor!r}")
        hotspots.append(HotspotDay(day, float(factor), str(item.get("reason", ""))))
    return tuple(hotspots)


def parse_rota(data: Mapping[str, Any], operators: set[str]) -> tuple[RotaEntry, ...]:
    """``operators``: their extensions (a shift is an operator's)."""
    rota: list[RotaEntry] = []
    for i, item in enumerate(data.get("rota", [])):
        where = f"rota[{i}]."
        ext = require(item, "extension", where, str)
        checks.rota_extension(ext, where, operators)
        times = []
        for key in ("start", "end"):
            value = require(item, key, where, str)
            if not re.match(r"^([01]\d|2[0-3]):[0-5]\d$", value):
                raise ConfigError(where + key, f"must be HH:MM, got {value!r}")
            times.append(value)
        days = item.get("days", list(WEEKDAYS))
        if not isinstance(days, list) or not days or any(d not in WEEKDAYS for d in days):
            raise ConfigError(where + "days", f"must be a list of {', '.join(WEEKDAYS)}")
        if times[0] == times[1]:
            raise ConfigError(where + "end", "a shift needs an end different from its start")
        rota.append(RotaEntry(ext, times[0], times[1], tuple(days)))
    return tuple(rota)
