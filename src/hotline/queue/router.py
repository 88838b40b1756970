"""Routing: the queue and penalty ceiling at entry, and the 15-second deadline of every caller.

At entry (the dialplan asks over FastAGI) the router picks the skill queue for the caller's
language and topic. If an operator with that skill and the best proficiency is free, the
caller starts with the narrow ceiling and the ``hl-widen`` penalty rule; if only lower
proficiency is free it starts at the widest ceiling; if nobody with the skill is free the
wait is predicted to be long and the caller is marked for overflow at once.

While callers wait, a watcher ticks and, for each caller with no free member in reach:
after ``overflow_same_language_after`` s from the first ring (the arrival at the IVR, when the
route request gave it or the queue events carry it; else from queue entry: a caller who spent 6 s
in the IVR has 9 s of 15 left), or at once when marked, it adds free operators who
speak the language as overflow members of that queue; after ``overflow_any_after`` s it adds
any free operator. Overflow members leave again when nobody waits in that queue.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from hotline.config import Settings
from hotline.queue import policy
from hotline.queue.roster import Roster
from hotline.queue.skills import (
    FALLBACK_QUEUE,
    GENERAL,
    MAX_PENALTY,
    SkillBook,
    extension_of,
    interface,
    parse_queue,
    queue_name,
)
from hotline.queue.waiting import WaitingCall, WaitingCalls

log = logging.getLogger(__name__)

WIDEN_RULE = policy.WIDEN_RULE


class QueueControl(Protocol):
    """What the router and the operator commands need from the PBX (hotline.pbx.actions)."""

    async def queue_add(self, queue: str, interface: str, penalty: int, member_name: str, paused: str = "") -> None:
        """member_name is the extension: app_queue writes it into queue_log for call events;
        paused: the reason when the member joins paused."""
    async def queue_remove(self, queue: str, interface: str) -> None: ...
    async def queue_pause(self, interface: str, paused: bool, reason: str) -> None: ...
    async def queue_penalty(self, queue: str, interface: str, penalty: int) -> None: ...


@dataclass(frozen=True)
class RouteDecision:
    queue: str
    max_penalty: int
    rule: str
    reason: str


class RoutedCalls(WaitingCalls, Protocol):
    """The calls in progress as the router sees them (the floor's call registry): the waiting
    callers, and where the entry decision is kept."""

    def decided(self, uniqueid: str, decision: RouteDecision, urgent: bool, arrived_at: float = 0.0) -> None: ...


class Router:
    def __init__(self, settings: Settings, roster: Roster, calls: RoutedCalls, pbx: QueueControl,
                 clock: Callable[[], float] = time.time, skills: SkillBook | None = None) -> None:
        self.settings = settings
        self.routing = settings.routing
        self.roster = roster
        self.calls = calls
        self.pbx = pbx
        self._clock = clock
        self.overflow: dict[str, dict[str, int]] = {}  # queue -> {extension: stage}
        # each operator's skills now (the site file's, changed by shift managers while running)
        self.skills = skills or SkillBook(settings)

    # -- at entry ------------------------------------------------------------------------------

    def _free_members(self, queue: str, max_penalty: int) -> list[str]:
        out = []
        for op_cfg in self.skills.all():
            ext = op_cfg.extension
            pen = self.skills.memberships(ext).get(queue)
            op = self.roster.get(ext)
            if pen is None or op is None or pen > max_penalty or queue not in op.queues:
                continue
            if self.roster.is_free(ext):
                out.append(ext)
        return out

    def decide(self, uniqueid: str, language: str, topic: str, path: str, arrived_at: float = 0.0) -> RouteDecision:
        """``arrived_at``: the first ring (HL_ARRIVED), from which the caller's deadline runs."""
        lang = language if self.settings.language(language) else self.settings.default_language.code
        topic = topic if any(t.code == topic for t in self.settings.topics) else GENERAL
        queue = queue_name(lang, topic)
        e = policy.entry(self.routing, best_free=bool(self._free_members(queue, self.routing.initial_max_penalty)),
                         any_member_free=bool(self._free_members(queue, MAX_PENALTY)), pressed_any="any/" in path)
        decision = RouteDecision(queue, e.max_penalty, e.rule, e.reason)
        self.calls.decided(uniqueid, decision, e.urgent, arrived_at)  # urgent: overflow at once
        log.info("route uniqueid=%s lang=%s topic=%s -> queue=%s max_penalty=%d rule=%s (%s)", uniqueid, lang,
                 topic, decision.queue, decision.max_penalty, decision.rule or "-", decision.reason)
        return decision

    # -- while waiting ---------------------------------------------------------------------------

    async def tick(self) -> None:
        now = self._clock()
        by_queue: dict[str, list[WaitingCall]] = {}
        for call in self.calls.waiting():  # oldest first
            by_queue.setdefault(call.queue, []).append(call)
        for queue, waiting in by_queue.items():
            if queue == FALLBACK_QUEUE:
                continue
            # the deadline runs from the first ring: the caller who arrived first, not who queued first
            first = min(waiting, key=lambda c: c.arrived_at or c.joined_at)
            uid = first.uniqueid
            elapsed = now - first.joined_at
            ivr_seconds = max(0.0, first.joined_at - first.arrived_at) if first.arrived_at else 0.0
            urgent = any(c.urgent for c in waiting)
            if self._free_members(queue, MAX_PENALTY) or self._ringing_for(uid):
                continue
            lang_topic = parse_queue(queue)
            if lang_topic is None:
                continue
            lang = lang_topic[0]
            stage = policy.overflow_stage(self.routing, elapsed, urgent, ivr_seconds)
            if stage >= 1:
                await self._add_overflow(queue, uid, lambda op, lang=lang: lang in op.languages, 1)
            if stage >= 2:
                await self._add_overflow(queue, uid, lambda op: True, 2)
        await self._release_overflow()

    def _ringing_for(self, uniqueid: str) -> bool:
        return any(op.ringing_for == uniqueid for op in self.roster.ops.values())

    async def _add_overflow(self, queue: str, uid: str, wanted: Callable[..., bool], stage: int) -> list[str]:
        added = []
        current = self.overflow.setdefault(queue, {})
        for op_cfg in self.skills.all():
            ext = op_cfg.extension
            op = self.roster.get(ext)
            if op is None or queue in op.queues or ext in current or not wanted(op_cfg):
                continue
            if not self.roster.is_free(ext):
                continue
            try:
                await self.pbx.queue_add(queue, interface(ext), MAX_PENALTY, ext)
            except Exception as exc:  # a PBX error must not stop the watcher
                log.error("overflow add failed: queue=%s agent=%s uniqueid=%s: %s", queue, ext, uid, exc)
                continue
            current[ext] = stage  # the roster learns it from Asterisk's QueueMemberAdded, not from here
            added.append(ext)
            log.info("overflow stage %d: queue=%s agent=%s for uniqueid=%s", stage, queue, ext, uid)
        return added

    async def _release_overflow(self) -> None:
        for queue, members in list(self.overflow.items()):
            if self.calls.waiting_in(queue):
                continue
            for ext in list(members):
                try:
                    await self.pbx.queue_remove(queue, interface(ext))
                except Exception as exc:
                    log.error("overflow remove failed: queue=%s agent=%s: %s", queue, ext, exc)
                    continue
                del members[ext]  # the roster learns it from QueueMemberRemoved
                log.info("overflow released: queue=%s agent=%s", queue, ext)
            if not members:
                del self.overflow[queue]

    async def run(self, interval: float = 0.5) -> None:
        while True:
            try:
                await self.tick()
            except Exception:
                log.exception("deadline watcher tick failed")
            await asyncio.sleep(interval)

    def is_overflow(self, queue: str, extension: str) -> bool:
        return extension in self.overflow.get(queue, {})

    def keep_member(self, queue: str, extension: str) -> None:
        self.overflow.get(queue, {}).pop(extension, None)

    def forget_overflow_of(self, extension: str) -> None:
        for members in self.overflow.values():
            members.pop(extension_of(extension), None)
