"""The routing policy as pure functions: shared by the live router (queue/router.py) and the
call-center simulator (sim/engine.py), so what the simulator proves is what routes calls.

- ``entry``: at queue entry, the penalty ceiling, the queuerule and whether to overflow at once.
- ``ceiling``: the ceiling a waiting caller has after ``elapsed`` seconds (the hl-widen rule).
- ``overflow_stage``: 0 none, 1 free operators of the caller's language, 2 any free operator
  (from the first ring when given the caller's seconds in the IVR).
- ``interpreter_needed``: the automatic offer of an interpreter when the answering operator
  does not speak the caller's language.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from hotline.config import Routing

MAX_PENALTY = 4  # proficiency 1
WIDEN_RULE = "hl-widen"


@dataclass(frozen=True)
class Entry:
    max_penalty: int
    rule: str
    urgent: bool  # overflow to the caller's language at once
    reason: str


def entry(routing: Routing, *, best_free: bool, any_member_free: bool, pressed_any: bool) -> Entry:
    """``best_free``: a member within ``initial_max_penalty`` is free; ``any_member_free``: any member is."""
    if pressed_any:
        return Entry(MAX_PENALTY, "", True, "any operator now")
    if best_free:
        return Entry(routing.initial_max_penalty, WIDEN_RULE, False, "best skill free")
    if any_member_free:
        return Entry(MAX_PENALTY, "", False, "lower proficiency free")
    return Entry(MAX_PENALTY, "", True, "no skilled operator free: overflow at once")


def ceiling(routing: Routing, decision: Entry, elapsed: float) -> int:
    """The hl-widen queuerule: after widen_penalty_after seconds any proficiency."""
    if decision.rule == WIDEN_RULE and elapsed < routing.widen_penalty_after:
        return decision.max_penalty
    return MAX_PENALTY


def overflow_stage(routing: Routing, elapsed: float, urgent: bool, ivr_seconds: float = 0.0) -> int:
    """``elapsed``: seconds in the queue; ``ivr_seconds``: the seconds the caller spent in the IVR
    before it (0, the default: the clock starts at queue entry). The deadline runs from the first
    ring: a caller who spent 6 s in the IVR has 9 s left of 15."""
    since_first_ring = elapsed + ivr_seconds
    if since_first_ring >= routing.overflow_any_after:
        return 2
    if urgent or since_first_ring >= routing.overflow_same_language_after:
        return 1
    return 0


def interpreter_needed(auto_offer: Collection[str], caller_language: str, operator_languages: Collection[str]) -> bool:
    """A caller of an automatically offered language answered by an operator who does not speak
    it (the overflow to any operator before the deadline) gets an interpreter at once."""
    return caller_language in auto_offer and caller_language not in operator_languages
