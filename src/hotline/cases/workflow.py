"""The case's life after the call: dispatch to a department, its deadline, accept, reply,
return, extensions, the call back's answers, reopen, close. Pure rules plus one repository.

Every change is one transition: the case's status moves only from the states the action
allows (checked in the same SQL statement that changes it, so two users cannot both win) and
an event row records who, when, from what to what, and the details. Departments see only their
own cases; a confidential case hides the caller's identity from them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from hotline.cases import access, deadlines
from hotline.config import DispatchRule, Settings
from hotline.errors import HotlineError, by_id

log = logging.getLogger(__name__)

STATUSES = ("new", "dispatched", "accepted", "extension_requested", "replied", "callback_due", "closed",
            "reopened", "returned")
# where a department still has to act (their deadline runs)
AT_DEPARTMENT = ("dispatched", "accepted", "extension_requested", "reopened")


class WorkflowError(HotlineError, ValueError):
    status = 400
    statuses = by_id({"bad-request": 400, "department-unknown": 400, "forbidden": 403, "case-unknown": 404,
                      "conflict": 409, "no-call": 409, "wrong-status": 409})

    def __init__(self, error_id: str, message: str) -> None:
        super().__init__(message, error_id=error_id)


@dataclass(frozen=True)
class Actor:
    username: str
    role: str
    department: str = ""
    extension: str = ""  # an operator's phone (the case desk's CaseSaved names it for the wrap-up)


@dataclass(frozen=True)
class Transition:
    """One status change, decided (pure) but not applied: ``changes`` (with the new status) apply
    only while the case is in one of ``from_states``, with ``event`` as its event row."""

    from_states: tuple[str, ...]
    changes: dict[str, Any]
    event: dict[str, Any]


def transition(case: dict[str, Any], actor: Actor, action: str, from_states: tuple[str, ...], to: str,
               changes: dict[str, Any], detail: dict[str, Any], now: float) -> Transition:
    """The transition ``action`` of ``case`` to ``to``; ``wrong-status`` when its status allows none."""
    status = case.get("status") or ""
    if status not in from_states:
        raise WorkflowError("wrong-status", f"cannot {action.replace('_', ' ')} case {case['id']}: it is "
                            f"{status or 'not recorded yet'} (allowed from {', '.join(from_states)})")
    event = {"case_id": case["id"], "case_uniqueid": case["uniqueid"], "at": now, "actor": actor.username,
             "role": actor.role, "action": action, "from_status": status, "to_status": to, "detail": detail}
    return Transition(from_states, {**changes, "status": to}, event)


SYSTEM = Actor("hotline", "system")


class WorkflowRepository(Protocol):
    async def get(self, uniqueid: str) -> dict[str, Any] | None: ...
    async def transition(self, uniqueid: str, from_states: tuple[str, ...], changes: dict[str, Any],
                         event: dict[str, Any]) -> bool: ...
    async def case_events(self, uniqueid: str) -> list[dict[str, Any]]: ...
    async def due_for_warning(self, now: float) -> list[dict[str, Any]]: ...
    async def due_for_escalation(self, now: float) -> list[dict[str, Any]]: ...


def suggest_department(rules: tuple[DispatchRule, ...], topic: str, district: str) -> str:
    """The department of the most specific rule matching the topic and district ("" if none)."""
    best: tuple[int, int] | None = None
    chosen = ""
    for i, rule in enumerate(rules):
        if rule.topics and topic not in rule.topics:
            continue
        if rule.districts and district not in rule.districts:
            continue
        score = (bool(rule.topics) + bool(rule.districts), -i)
        if best is None or score > best:
            best, chosen = score, rule.department
    return chosen


def topic_of(case: dict[str, Any]) -> str:
    return str(case.get("category") or case.get("topic") or "general")


def can_see(actor: Actor, case: dict[str, Any]) -> bool:
    """May ``actor`` act on the case at all: the hotline's staff (the web routes have already
    applied the access rule, cases/access.py, to operators), a department only on its own."""
    if actor.role == "department":
        return access.decide(access.Viewer(actor.username, actor.role, department=actor.department), case).readable
    return actor.role in ("operator", "supervisor", "admin", "system")


class Workflow:
    def __init__(self, settings: Settings, repo: WorkflowRepository,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.repo = repo
        self.clock = clock
        self.on_replied: Callable[[dict[str, Any]], Any] | None = None  # the call back's scheduler

    def suggest(self, case: dict[str, Any]) -> str:
        return suggest_department(self.settings.dispatch_rules, topic_of(case), str(case.get("district") or ""))

    async def _case(self, uniqueid: str, actor: Actor) -> dict[str, Any]:
        case = await self.repo.get(uniqueid)
        if case is None:
            raise WorkflowError("case-unknown", f"no case for call {uniqueid}")
        if not can_see(actor, case):
            raise WorkflowError("forbidden", "this case is not your department's")
        return case

    async def _apply(self, case: dict[str, Any], actor: Actor, t: Transition) -> dict[str, Any]:
        if not await self.repo.transition(case["uniqueid"], t.from_states, t.changes, t.event):
            raise WorkflowError("conflict", f"case {case['id']} changed meanwhile; reload it")
        log.info("case %s: %s by %s (%s -> %s) uniqueid=%s", case["id"], t.event["action"], actor.username,
                 t.event["from_status"], t.event["to_status"], case["uniqueid"])
        return {**case, **t.changes}

    async def _move(self, case: dict[str, Any], actor: Actor, action: str, from_states: tuple[str, ...],
                    to: str, changes: dict[str, Any], detail: dict[str, Any]) -> dict[str, Any]:
        return await self._apply(case, actor, transition(case, actor, action, from_states, to, changes, detail,
                                                         self.clock()))

    # -- the hotline side --------------------------------------------------------------------------

    def recorded_plan(self, case: dict[str, Any], actor: Actor, department: str = "") -> list[Transition]:
        """The transitions of a saved form (pure, on the case as the form left it): the appeal is
        a case ("new"); with a department it is dispatched at once (the operator confirmed or
        changed the suggestion). Nothing when it is past that (a second save of the same call)."""
        if not can_see(actor, case):
            raise WorkflowError("forbidden", "this case is not your department's")
        steps: list[Transition] = []
        now = self.clock()
        if not case.get("status"):
            steps.append(transition(case, actor, "recorded", ("",), "new", {}, {}, now))
            case = {**case, **steps[-1].changes}
        if department and case["status"] in ("new", "returned"):
            steps.append(self._dispatch(case, department, actor, "", now))
        return steps

    def _dispatch(self, case: dict[str, Any], department: str, actor: Actor, note: str, now: float) -> Transition:
        if self.settings.department(department) is None:
            raise WorkflowError("department-unknown", f"no department {department!r}")
        d = deadlines.due(now, self.settings.deadlines)
        return transition(case, actor, "dispatched", ("new", "returned"), "dispatched", {
            "department": department, "dispatched_at": now, "due_at": d.due_at, "warn_at": d.warn_at,
            "warned_at": None, "escalated_at": None}, {
            "department": department, "suggested": self.suggest(case), "note": note[:500]}, now)

    async def dispatch(self, uniqueid: str, department: str, actor: Actor, note: str = "") -> dict[str, Any]:
        if self.settings.department(department) is None:
            raise WorkflowError("department-unknown", f"no department {department!r}")
        case = await self._case(uniqueid, actor)
        return await self._apply(case, actor, self._dispatch(case, department, actor, note, self.clock()))

    # -- the department's side --------------------------------------------------------------------

    async def accept(self, uniqueid: str, actor: Actor) -> dict[str, Any]:
        case = await self._case(uniqueid, actor)
        return await self._move(case, actor, "accepted", ("dispatched", "reopened"), "accepted",
                                {"accepted_at": self.clock()}, {})

    async def reply(self, uniqueid: str, actor: Actor, text: str, summary: str = "") -> dict[str, Any]:
        text, summary = text.strip(), summary.strip()
        if len(text) < 5 or len(text) > 4000 or len(summary) > 500:
            raise WorkflowError("bad-request", "the reply needs 5-4000 characters (a summary at most 500)")
        case = await self._case(uniqueid, actor)
        case = await self._move(case, actor, "replied", AT_DEPARTMENT, "replied", {
            "reply": text, "reply_summary": summary or text[:500], "replied_at": self.clock(),
            "replied_by": actor.username}, {"reply": text[:500]})
        if self.on_replied is not None:
            await self.on_replied(case)
        return case

    async def return_case(self, uniqueid: str, actor: Actor, reason: str) -> dict[str, Any]:
        reason = reason.strip()
        if len(reason) < 5:
            raise WorkflowError("bad-request", "say why the case is returned (at least 5 characters)")
        case = await self._case(uniqueid, actor)
        return await self._move(case, actor, "returned", ("dispatched", "accepted", "reopened"), "returned", {
            "department": "", "returned_by": case.get("department"), "return_reason": reason[:1000],
            "due_at": None, "warn_at": None}, {"reason": reason[:1000], "department": case.get("department")})

    async def request_extension(self, uniqueid: str, actor: Actor, days: int, reason: str) -> dict[str, Any]:
        if not 1 <= days <= 60 or len(reason.strip()) < 5:
            raise WorkflowError("bad-request", "an extension needs 1-60 days and a reason")
        case = await self._case(uniqueid, actor)
        return await self._move(case, actor, "extension_requested", ("dispatched", "accepted", "reopened"),
                                "extension_requested", {"extension_days": days},
                                {"days": days, "reason": reason.strip()[:1000], "was": case["status"]})

    async def decide_extension(self, uniqueid: str, actor: Actor, approve: bool,
                               days: int | None = None) -> dict[str, Any]:
        case = await self._case(uniqueid, actor)
        if approve:
            granted = days or case.get("extension_days") or self.settings.deadlines.extension_days
            rules = self.settings.deadlines
            due_at = deadlines.add_days(float(case["due_at"] or self.clock()), int(granted), rules)
            warn_at = max(self.clock(), due_at - (rules.days - rules.warn_day) * 86400)  # as long before as usual
            return await self._move(case, actor, "extension_approved", ("extension_requested",), "accepted", {
                "due_at": due_at, "warn_at": warn_at, "warned_at": None, "escalated_at": None}, {"days": granted})
        return await self._move(case, actor, "extension_refused", ("extension_requested",), "accepted", {}, {})

    # -- the call back ----------------------------------------------------------------------------

    async def callback_started(self, uniqueid: str) -> None:
        case = await self.repo.get(uniqueid)
        if case is not None and case.get("status") == "replied":
            await self._move(case, SYSTEM, "callback_due", ("replied",), "callback_due", {}, {})

    async def callback_answered(self, uniqueid: str, resolved: bool | None, satisfied: bool | None,
                                actor: Actor = SYSTEM, how: str = "automatic call") -> dict[str, Any]:
        """The citizen's answers: resolved and satisfied close the case; anything else reopens it
        to the same department with a new deadline; None/None (unreachable) closes it unresolved."""
        case = await self.repo.get(uniqueid)
        if case is None:
            raise WorkflowError("case-unknown", f"no case for call {uniqueid}")
        answers = {"resolved": None if resolved is None else int(resolved),
                   "satisfied": None if satisfied is None else int(satisfied), "callback_at": self.clock()}
        detail = {"resolved": resolved, "satisfied": satisfied, "how": how}
        if resolved is None and satisfied is None:
            return await self._move(case, actor, "closed_unreachable", ("replied", "callback_due"), "closed",
                                    {**answers, "closed_at": self.clock()}, detail)
        if resolved and satisfied:
            return await self._move(case, actor, "closed", ("replied", "callback_due"), "closed",
                                    {**answers, "closed_at": self.clock()}, detail)
        now = self.clock()
        d = deadlines.due(now, self.settings.deadlines)
        return await self._move(case, actor, "reopened", ("replied", "callback_due"), "reopened", {
            **answers, "reopen_count": int(case.get("reopen_count") or 0) + 1, "dispatched_at": now,
            "due_at": d.due_at, "warn_at": d.warn_at, "warned_at": None, "escalated_at": None}, detail)

    # -- deadlines --------------------------------------------------------------------------------

    async def sweep(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Warn cases past their warning day and escalate overdue ones to the supervisors (each
        once per deadline); returns (warned, escalated)."""
        now = self.clock()

        async def mark(case: dict[str, Any], column: str, action: str) -> bool:
            return await self.repo.transition(case["uniqueid"], (case["status"],), {column: now}, {
                "case_id": case["id"], "case_uniqueid": case["uniqueid"], "at": now, "actor": SYSTEM.username,
                "role": "system", "action": action, "from_status": case["status"], "to_status": case["status"],
                "detail": {"due_at": case["due_at"], "department": case.get("department")}})
        warned = [c for c in await self.repo.due_for_warning(now) if await mark(c, "warned_at", "deadline_warning")]
        escalated = [c for c in await self.repo.due_for_escalation(now) if await mark(c, "escalated_at", "escalated")]
        for case in escalated:
            log.warning("case %s overdue at %s: escalated to the supervisors (uniqueid=%s)", case["id"],
                        case.get("department"), case["uniqueid"])
        return warned, escalated

    def standing(self, case: dict[str, Any]) -> str:
        if case.get("status") not in AT_DEPARTMENT:
            return ""
        return deadlines.standing(self.clock(), case.get("warn_at"), case.get("due_at"))
