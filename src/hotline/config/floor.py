"""The live floor's thresholds: the wallboard's alerts, interpreting, and the trends page."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from hotline.config import checks
from hotline.config.base import ConfigError, section


@dataclass(frozen=True)
class Interpreting:
    ring_seconds: int = 15  # one interpreter's phone rings this long, then the next is tried
    answer_target_seconds: int = 30  # a request should be answered within this
    # the automatic offer: a caller of one of these languages answered by an operator who does
    # not speak it (the router's overflow before the 15 s deadline) gets an interpreter at once
    auto_offer: tuple[str, ...] = ()


@dataclass(frozen=True)
class Alerts:
    """When the wallboard warns a shift manager (seconds, percent)."""

    waiting_seconds: float = 10.0  # a caller waiting this long with no free skilled operator
    service_level_minutes: int = 15  # the window of the service-level alert (goal: routing.goal_percent)
    pause_seconds: float = 900.0  # a pause (not wrap-up) longer than this
    wrapup_seconds: float = 120.0  # a wrap-up longer than this


@dataclass(frozen=True)
class Trends:
    baseline_days: int = 28  # a topic's or address's own baseline: its mean count over these days
    hotspot_factor: float = 3.0  # today's count at least this many times the baseline
    hotspot_min_cases: int = 5  # and at least this many cases today
    bundle_days: int = 3  # cases with the same address and topic within this many days form a bundle
    keywords: tuple[str, ...] = ()  # words counted per day on the trends page (any word can be asked for)


def parse_interpreting(data: Mapping[str, Any], lang_codes: set[str]) -> Interpreting:
    raw = dict(data.get("interpreting", {}))
    auto_offer = raw.pop("auto_offer", [])
    if not isinstance(auto_offer, list) or not all(isinstance(c, str) for c in auto_offer):
        raise ConfigError("interpreting.auto_offer", "must be a list of language codes")
    checks.known_languages(auto_offer, "interpreting.auto_offer", lang_codes)
    interpreting: Interpreting = replace(section(Interpreting, raw, "interpreting"), auto_offer=tuple(auto_offer))
    if not 5 <= interpreting.ring_seconds <= 120 or not 5 <= interpreting.answer_target_seconds <= 600:
        raise ConfigError("interpreting", "ring_seconds must be 5-120 and answer_target_seconds 5-600")
    return interpreting


def parse_alerts(data: Mapping[str, Any]) -> Alerts:
    alerts: Alerts = section(Alerts, data.get("alerts", {}), "alerts")
    if alerts.waiting_seconds <= 0 or alerts.pause_seconds <= 0 or alerts.wrapup_seconds <= 0:
        raise ConfigError("alerts", "thresholds must be positive")
    if not 1 <= alerts.service_level_minutes <= 240:
        raise ConfigError("alerts.service_level_minutes", "must be 1-240")
    return alerts


def parse_trends(data: Mapping[str, Any]) -> Trends:
    raw = dict(data.get("trends", {}))
    keywords = raw.pop("keywords", [])
    if not isinstance(keywords, list) or not all(isinstance(k, str) and k.strip() for k in keywords):
        raise ConfigError("trends.keywords", "must be a list of words")
    trends: Trends = replace(section(Trends, raw, "trends"), keywords=tuple(k.strip() for k in keywords))
    if trends.baseline_days < 1 or trends.hotspot_factor <= 1 or trends.hotspot_min_cases < 1 \
            or trends.bundle_days < 1:
        raise ConfigError("trends", "baseline_days, hotspot_min_cases and bundle_days must be >= 1, "
                          "hotspot_factor > 1")
    return trends
