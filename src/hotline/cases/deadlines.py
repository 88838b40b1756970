"""A department's deadline: N calendar days from dispatch, or N working days (Monday to Friday,
less holidays, plus weekend days worked in exchange). Pure: dates in, dates out.

Calendar days end at the same time of day N days later; working days end at midnight after the
Nth working day after the day of dispatch (a case dispatched on Friday afternoon with 7 working
days is due at the end of the second Tuesday after, not 7 x 24 h later)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from hotline.config import Deadlines


@dataclass(frozen=True)
class Due:
    warn_at: float  # epoch seconds: the warning (day ``warn_day``)
    due_at: float  # epoch seconds: the deadline


def is_working_day(day: dt.date, rules: Deadlines) -> bool:
    iso = day.isoformat()
    if iso in rules.holidays:
        return False
    if iso in rules.working_weekends:
        return True
    return day.weekday() < 5


def add_days(start: float, days: int, rules: Deadlines) -> float:
    """``start`` (epoch) plus ``days`` calendar or working days, in local time."""
    t = dt.datetime.fromtimestamp(start).astimezone()
    if not rules.working_days:
        return (t + dt.timedelta(days=days)).timestamp()
    day, counted = t.date(), 0
    while counted < days:
        day += dt.timedelta(days=1)
        if is_working_day(day, rules):
            counted += 1
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=t.tzinfo)
    return end.timestamp()


def due(start: float, rules: Deadlines, days: int | None = None) -> Due:
    """The deadline and warning for a case dispatched at ``start`` (``days`` overrides the default)."""
    total = rules.days if days is None else days
    warn = min(rules.warn_day, total) if days is None else max(0, total - (rules.days - rules.warn_day))
    return Due(add_days(start, warn, rules), add_days(start, total, rules))


def standing(now: float, warn_at: float | None, due_at: float | None) -> str:
    """on-time | warning (past day 5) | overdue | "" (no deadline)."""
    if due_at is None:
        return ""
    if now >= due_at:
        return "overdue"
    if warn_at is not None and now >= warn_at:
        return "warning"
    return "on-time"
