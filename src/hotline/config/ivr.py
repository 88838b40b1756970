"""The IVR's intake (issue 16): how a caller gets from the first ring to a queue."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hotline.config.base import ConfigError, section

INTAKES = ("offers", "menu")


@dataclass(frozen=True)
class Ivr:
    # "offers": a short greeting in the default language (a digit acts at once), then the queue of
    # the default language; the other languages are offered while the call already rings operators
    # (a digit moves the caller). "menu": the language menu before the queue (before issue 16)
    intake: str = "offers"
    greeting_wait: float = 0.5  # seconds after the greeting a digit is still taken as the greeting's
    # offers intake: after a language key in the greeting, the topic menu (one attempt, barge-in);
    # a caller who presses nothing never hears it. The menu intake asks for a topic whenever there are topics
    topic_menu: bool = False
    known_caller: bool = True  # a caller who presses nothing is queued in their last case's language


def parse_ivr(data: Mapping[str, Any]) -> Ivr:
    ivr: Ivr = section(Ivr, data.get("ivr", {}), "ivr")
    if ivr.intake not in INTAKES:
        raise ConfigError("ivr.intake", f"one of {', '.join(INTAKES)}, got {ivr.intake!r}")
    if not 0 < ivr.greeting_wait <= 10:
        raise ConfigError("ivr.greeting_wait", f"must be in (0, 10] seconds, got {ivr.greeting_wait}")
    return ivr
