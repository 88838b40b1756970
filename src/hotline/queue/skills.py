"""Skills as Asterisk queues: one queue per language x topic, penalty from proficiency.

``hl-<lang>-<topic>`` holds the operators who speak the language and handle the topic;
``hl-<lang>-general`` holds everyone who speaks the language (callers who chose no topic
or pressed 0); ``hl-all`` holds every logged-in operator and is the dialplan's fallback.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from hotline.config import Operator, Settings

FALLBACK_QUEUE = "hl-all"
GENERAL = "general"
MAX_PENALTY = 4  # proficiency 1


@dataclass(frozen=True)
class SkillQueue:
    name: str
    language: str
    topic: str


def queue_name(language: str, topic: str) -> str:
    return f"hl-{language}-{topic}"


def parse_queue(name: str) -> tuple[str, str] | None:
    """(language, topic) of a skill queue name, None for hl-all or anything else."""
    parts = name.split("-", 2)
    if len(parts) != 3 or parts[0] != "hl":
        return None
    return parts[1], parts[2]


def skill_queues(settings: Settings) -> list[SkillQueue]:
    topics = [GENERAL, *(t.code for t in settings.topics)]
    return [SkillQueue(queue_name(lang.code, t), lang.code, t) for lang in settings.languages for t in topics]


def penalty(proficiency: int) -> int:
    """Proficiency 5 -> penalty 0 (rung first) ... proficiency 1 -> penalty 4."""
    return 5 - max(1, min(5, proficiency))


def memberships(op: Operator) -> dict[str, int]:
    """The queues an operator joins at login, with their penalty (hl-all included)."""
    out = {FALLBACK_QUEUE: 0}
    for lang, prof in op.languages.items():
        out[queue_name(lang, GENERAL)] = penalty(prof)
        for topic in op.topics:
            out[queue_name(lang, topic)] = penalty(prof)
    return out


def interface(extension: str) -> str:
    return f"PJSIP/{extension}"


def extension_of(interface_name: str) -> str:
    return interface_name.split("/", 1)[-1]


class SkillBook:
    """Each operator's skills now: the site file's, with the changes shift managers made while
    running (kept in the store and applied again at start)."""

    def __init__(self, settings: Settings) -> None:
        self._ops = {op.extension: op for op in settings.operators}
        self._members = {op.extension: memberships(op) for op in settings.operators}  # computed once per change

    def get(self, extension: str) -> Operator | None:
        return self._ops.get(extension)

    def all(self) -> list[Operator]:
        return list(self._ops.values())

    def set(self, extension: str, languages: Mapping[str, int], topics: tuple[str, ...]) -> Operator:
        op = replace(self._ops[extension], languages=dict(languages), topics=tuple(topics))
        self._ops[extension] = op
        self._members[extension] = memberships(op)
        return op

    def memberships(self, extension: str) -> dict[str, int]:
        return self._members.get(extension, {})
