"""Operator commands: log in, pause with a reason, resume, log out.

Checks first (a known operator, a reason to pause), then the PBX actions; the operator's
state then comes back from Asterisk as events, never set here.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from hotline.config import Operator, Settings, languages_problem
from hotline.errors import HotlineError, by_id
from hotline.pbx.guard import check_text
from hotline.queue.roster import Roster
from hotline.queue.router import QueueControl, Router
from hotline.queue.skills import FALLBACK_QUEUE, interface, memberships

log = logging.getLogger(__name__)


class AgentError(HotlineError, ValueError):
    status = 400
    statuses = by_id({"bad-request": 400, "pause-reason-missing": 400, "forbidden": 403, "agent-unknown": 404,
                      "case-unknown": 404, "agent-offline": 409, "no-phone": 409, "no-call": 409,
                      "no-interpreter": 409})

    def __init__(self, error_id: str, message: str) -> None:
        super().__init__(message, error_id=error_id)


class AgentCommands:
    def __init__(self, settings: Settings, roster: Roster, router: Router, pbx: QueueControl) -> None:
        self.settings = settings
        self.roster = roster
        self.router = router
        self.pbx = pbx
        self.skills = router.skills

    def _operator(self, extension: str) -> Operator:
        op = self.skills.get(extension)
        if op is None:
            raise AgentError("agent-unknown", f"no operator with extension {extension!r} in the site file")
        return op

    async def login(self, extension: str) -> list[str]:
        op = self._operator(extension)
        state = self.roster.get(extension)
        queues = memberships(op)
        for queue, penalty in queues.items():
            if state is not None and queue in state.queues:
                continue
            await self.pbx.queue_add(queue, interface(extension), penalty, extension)
        log.info("agent=%s logged in to %d queues", extension, len(queues))
        return sorted(queues)

    async def pause(self, extension: str, reason: str) -> None:
        check_text("reason", reason, "pause")  # bound for AMI's QueuePause: 422 however the operator stands
        self._operator(extension)
        reason = reason.strip()
        if not reason:
            raise AgentError("pause-reason-missing", "a pause needs a reason (break, training, ...)")
        self._require_logged_in(extension)
        await self.pbx.queue_pause(interface(extension), True, reason[:80])
        log.info("agent=%s paused: %s", extension, reason)

    async def unpause(self, extension: str) -> None:
        self._operator(extension)
        self._require_logged_in(extension)
        await self.pbx.queue_pause(interface(extension), False, "")
        log.info("agent=%s ready", extension)

    async def logout(self, extension: str) -> None:
        op = self._operator(extension)
        state = self.roster.get(extension)
        queues = set(memberships(op)) | (state.queues if state else set())
        for queue in sorted(queues):
            try:
                await self.pbx.queue_remove(queue, interface(extension))
            except Exception as exc:  # not a member of that queue any more: fine
                log.debug("agent=%s remove from %s: %s", extension, queue, exc)
        self.router.forget_overflow_of(extension)
        log.info("agent=%s logged out", extension)

    async def set_skills(self, extension: str, languages: dict[str, int], topics: list[str]) -> dict[str, Any]:
        """Check the skills, then move a logged-in operator's queue memberships to them at once
        (added, removed, penalties changed); the skills hold from now on, logged in or not."""
        old = self._operator(extension)
        for code in [*languages, *topics]:  # queue names are made of these: no control characters, ever
            check_text("skill", str(code), "skills")
        problem = languages_problem(languages, {lang.code for lang in self.settings.languages})
        if problem is not None:
            raise AgentError("bad-request", f"{problem[0]}: {problem[1]}" if problem[0] else problem[1])
        topic_codes = {t.code for t in self.settings.topics}
        for t in topics:
            if t not in topic_codes:
                raise AgentError("bad-request", f"unknown topic {t!r}")
        before = memberships(old)
        after = memberships(replace(old, languages=dict(languages), topics=tuple(topics)))
        state = self.roster.get(extension)
        changes: dict[str, Any] = {"added": [], "removed": [], "penalty": []}
        if state is not None and state.queues:
            for queue, pen in sorted(after.items()):
                if queue not in state.queues:  # joins paused if they are paused (for a break, or wrap-up)
                    await self.pbx.queue_add(queue, interface(extension), pen, extension,
                                             (state.pause_reason or "paused") if state.paused else "")
                    changes["added"].append(queue)
                elif before.get(queue) != pen or self.router.is_overflow(queue, extension):
                    await self.pbx.queue_penalty(queue, interface(extension), pen)
                    self.router.keep_member(queue, extension)  # a skill now, no longer a temporary overflow
                    changes["penalty"].append(queue)
            for queue in sorted(set(before) - set(after) - {FALLBACK_QUEUE}):
                if queue in state.queues and not self.router.is_overflow(queue, extension):
                    await self.pbx.queue_remove(queue, interface(extension))
                    changes["removed"].append(queue)
        self.skills.set(extension, languages, tuple(topics))
        log.info("agent=%s skills now %s topics %s (queues %s)", extension, languages, topics, changes)
        return changes

    def _require_logged_in(self, extension: str) -> None:
        state = self.roster.get(extension)
        if state is None or not state.queues:
            raise AgentError("agent-offline", f"operator {extension} is not logged in")
