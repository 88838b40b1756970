"""The case desk: saving a case's form is one command, not a handler's choreography.

``CaseDesk.save`` validates the form (cases/form.py), then in ONE store transaction saves it (the
case's columns, its day counts, its search text and bundle), applies the workflow's status change
(recorded, dispatched: each with its event row, cases/workflow.py) and drops the saver's draft;
a failure anywhere leaves none of it. After the commit it publishes ``CaseSaved`` on the bus: the
desktop marks the call saved and the wrap-up ends (they react to the event; the web handler only
parses, checks access and answers).

A case entered by hand (a letter, a web form, a walk-in: ``CaseDesk.enter``) is one command too:
the case row, its form, its day counts and the workflow's status change in one transaction; a
failure anywhere leaves no case at all.

A second save of the same case updates it (the day counts move, the status stays where the
first save put it): the plan is made inside the transaction from the case as it is then, so
two saves never conflict with each other. Access (who may fill this form) is the caller's
check (cases/access.py ``may_edit_form``), made before ``save``.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from hotline import events as ev
from hotline.cases import form as case_form
from hotline.cases.caller_key import caller_key
from hotline.cases.workflow import Actor, Transition, Workflow, WorkflowError
from hotline.config import Settings
from hotline.errors import HotlineError

log = logging.getLogger(__name__)

Plan = Callable[[dict[str, Any]], list[Transition]]


class FormInvalid(HotlineError, ValueError):
    """The form has errors; ``details["fields"]``: per field, what is wrong (nothing was saved)."""

    error_id = "invalid"
    status = 422

    def __init__(self, fields: Mapping[str, str]) -> None:
        super().__init__("the form has errors", details={"fields": dict(fields)})


class DeskRepository(Protocol):
    async def save_case(self, uniqueid: str, form: dict[str, Any], by: str, at: float, bundle_days: int,
                        plan: Plan) -> dict[str, Any] | None:
        """In one transaction: save ``form``, apply ``plan(case as saved)``'s transitions (any
        exception, or a transition whose status no longer matches, rolls everything back) and
        drop ``by``'s draft of the case. The case afterwards; None when there is no such case."""
        ...

    async def enter_case(self, row: dict[str, Any], form: dict[str, Any], by: str, at: float, bundle_days: int,
                         plan: Plan) -> dict[str, Any] | None:
        """In one transaction: insert the case ``row``, save ``form`` on it and apply
        ``plan(case as saved)``'s transitions (any exception rolls all of it back, the row too).
        The case afterwards; None when a case with the row's uniqueid exists (nothing written)."""
        ...


@dataclass(frozen=True)
class Saved:
    """What a save did: the case, and where the workflow put it."""

    uniqueid: str
    case_id: int
    status: str
    department: str

    def to_json(self) -> dict[str, Any]:
        return {"ok": True, "case_id": self.case_id, "status": self.status, "department": self.department}


@dataclass(frozen=True)
class Entered:
    """A case entered by hand: its call id (made up: there was no call) and where the workflow put it."""

    uniqueid: str
    case_id: int
    status: str
    department: str | None

    def to_json(self) -> dict[str, Any]:
        return {"ok": True, "uniqueid": self.uniqueid, "case_id": self.case_id, "status": self.status,
                "department": self.department}


class CaseDesk:
    def __init__(self, settings: Settings, repo: DeskRepository, workflow: Workflow | None,
                 publish: Callable[[ev.Event], None], clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.repo = repo
        self.workflow = workflow  # None: the form is saved without a status (a web app built without one)
        self.publish = publish
        self.clock = clock

    def _plan(self, actor: Actor, department: str) -> Plan:
        """The workflow's steps for the saved case, computed inside the store's transaction: to the chosen
        department ("auto": the dispatch rules' suggestion), none without a workflow."""
        workflow = self.workflow

        def plan(case: dict[str, Any]) -> list[Transition]:
            if workflow is None:
                return []
            chosen = workflow.suggest(case) if department == case_form.AUTO else department
            return workflow.recorded_plan(case, actor, chosen)
        return plan

    async def save(self, actor: Actor, uniqueid: str, fields: Mapping[str, Any]) -> Saved:
        clean, problems = case_form.validate(fields, self.settings)
        if problems:
            raise FormInvalid(problems)
        department = str(clean.pop("department", ""))
        plan = self._plan(actor, department)
        now = self.clock()
        case = await self.repo.save_case(uniqueid, clean, actor.username, now, self.settings.trends.bundle_days,
                                         plan)
        if case is None:
            raise WorkflowError("case-unknown", f"no case for call {uniqueid}")
        saved = Saved(uniqueid, int(case["id"]), str(case.get("status") or ""), str(case.get("department") or ""))
        log.info("case form saved: case=%s uniqueid=%s by=%s status=%s department=%s", saved.case_id, uniqueid,
                 actor.username, saved.status or "-", saved.department or "-")
        self.publish(ev.CaseSaved(uniqueid, saved.case_id, saved.status, saved.department, actor.username,
                                  actor.role, actor.extension if actor.role == "operator" else "", now))
        return saved

    async def enter(self, actor: Actor, fields: Mapping[str, Any]) -> Entered:
        """A case that did not come by phone: ``fields`` are the form's, with the caller's number
        and language (the site's default) and the department ("auto": the dispatch rules'
        suggestion). Checked first (400 for the number or language, 422 per field), then the case,
        its form and its status change in ONE transaction. No CaseSaved: no call is on anybody's
        desktop, no wrap-up is to end."""
        body = dict(fields)
        number = str(body.pop("caller_number", "") or "")
        language = str(body.pop("language", "") or self.settings.default_language.code)
        department = str(body.pop("department", "") or "")
        if number and not number.lstrip("+").isdigit():
            raise WorkflowError("bad-request", "caller_number must be digits")
        if self.settings.language(language) is None:
            raise WorkflowError("bad-request", f"unknown language {language!r}")
        clean, problems = case_form.validate(body, self.settings)
        if problems:
            raise FormInvalid(problems)
        clean.pop("department", None)
        plan = self._plan(actor, department)
        now = self.clock()
        uid = f"manual-{int(now)}-{secrets.token_hex(6)}"
        row = {"uniqueid": uid, "linkedid": "", "caller_number": number,
               "caller_key": caller_key(number, self.settings.phone_region), "language": language,
               "topic": clean["category"], "ivr_path": "", "queue": "", "state": "ended", "operator": None,
               "queued_at": now, "answered_at": None, "wait_seconds": None, "abandoned": 0, "source": "manual",
               "note": ""}
        case = await self.repo.enter_case(row, clean, actor.username, now, self.settings.trends.bundle_days, plan)
        if case is None:
            raise WorkflowError("conflict", "a case with this id exists; try again")
        entered = Entered(uid, int(case["id"]), str(case.get("status") or ""), case.get("department"))
        log.info("case entered by hand: case=%s uniqueid=%s by=%s status=%s department=%s", entered.case_id, uid,
                 actor.username, entered.status or "-", entered.department or "-")
        return entered
