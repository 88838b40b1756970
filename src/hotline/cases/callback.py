"""The call back: after a department replies, the hotline calls the citizen, says the case number
and the reply, and asks "resolved?" and "satisfied?" (1 yes, 2 no) on the keypad.

Attempts are rows (``callbacks``). A due attempt is placed with AMI Originate (a known ChannelId)
into the dialplan's ``hl-callback``, which reports each answer over FastAGI as it is pressed.
An attempt ends answered (both answers, or "not resolved": the case reopens), or unanswered
(OriginateResponse Failure, or a hang-up before the answers): the next attempt is scheduled
``retry_minutes`` later, within calling hours; after the last one the call back becomes an
operator's task, which an operator places from the desktop (their phone rings first) and
records by hand. Nothing here blocks: speech synthesis runs in an executor (``say``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from hotline import events as ev
from hotline.cases.workflow import Actor, Workflow, WorkflowError
from hotline.config import Settings

log = logging.getLogger(__name__)

OPEN = ("scheduled", "calling", "answered")


class CallbackPbx(Protocol):
    async def originate_callback(self, dial: str, caller_id: str, channel_id: str, ring_seconds: int,
                                 variables: dict[str, str]) -> None: ...
    async def originate_operator_callback(self, phone: str, dial: str, caller_id: str, channel_id: str) -> None: ...


class CallbackRepository(Protocol):
    async def add_callback(self, row: dict[str, Any]) -> int: ...
    async def update_callback(self, cb_id: int, changes: dict[str, Any],
                              only_status: tuple[str, ...] = ()) -> bool: ...
    async def callback(self, cb_id: int) -> dict[str, Any] | None: ...
    async def callbacks_in(self, statuses: tuple[str, ...],
                           due_before: float | None = None) -> list[dict[str, Any]]: ...


# text -> the sound file (path without extension, as the dialplan plays it) of the reply's summary
SayFn = Callable[[int, str, str], Awaitable[str]]


def within_hours(t: float, start: str, end: str) -> float:
    """``t``, or the next moment calls are allowed (between ``start`` and ``end`` local time)."""
    h1, m1 = (int(x) for x in start.split(":"))
    h2, m2 = (int(x) for x in end.split(":"))
    a, b = h1 * 60 + m1, h2 * 60 + m2
    if a == b or (a == 0 and b >= 24 * 60):
        return t
    local = dt.datetime.fromtimestamp(t).astimezone()
    minute = local.hour * 60 + local.minute
    inside = a <= minute < b if a < b else (minute >= a or minute < b)
    if inside:
        return t
    start_today = local.replace(hour=h1, minute=m1, second=0, microsecond=0)
    if start_today.timestamp() <= t:
        start_today += dt.timedelta(days=1)
    return start_today.timestamp()


class CallbackService:
    def __init__(self, settings: Settings, repo: CallbackRepository, workflow: Workflow, pbx: CallbackPbx,
                 say: SayFn, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.cfg = settings.callback
        self.repo = repo
        self.workflow = workflow
        self.pbx = pbx
        self.say = say
        self.clock = clock

    @property
    def automatic(self) -> bool:
        return bool(self.cfg.dial)

    async def schedule(self, case: dict[str, Any]) -> int:
        """The department replied: the first attempt (or an operator's task when there is no
        automatic dialling or no number to call)."""
        now = self.clock()
        number = str(case.get("caller_number") or "")
        if not self.automatic or not number.lstrip("+").isdigit():
            return await self._task(case["uniqueid"], 1, "no automatic call back" if number else "no number")
        due = within_hours(now + self.cfg.delay_minutes * 60, self.cfg.hours_start, self.cfg.hours_end)
        cb_id = await self.repo.add_callback({"case_uniqueid": case["uniqueid"], "attempt": 1, "kind": "auto",
                                             "status": "scheduled", "due_at": due, "detail": ""})
        log.info("call back %d scheduled for case %s at %s (uniqueid=%s)", cb_id, case["id"],
                 dt.datetime.fromtimestamp(due).isoformat(timespec="seconds"), case["uniqueid"])
        return cb_id

    async def _task(self, uniqueid: str, attempt: int, why: str) -> int:
        cb_id = await self.repo.add_callback({"case_uniqueid": uniqueid, "attempt": attempt, "kind": "operator",
                                             "status": "task", "due_at": self.clock(), "detail": why})
        log.warning("call back for uniqueid=%s handed to the operators (%s)", uniqueid, why)
        return cb_id

    # -- the clock -----------------------------------------------------------------------------

    async def run(self, interval: float = 1.0) -> None:
        while True:
            try:
                await self.tick()
            except Exception:
                log.exception("call back tick failed; retrying")
            await asyncio.sleep(interval)

    async def tick(self) -> None:
        now = self.clock()
        for cb in await self.repo.callbacks_in(("scheduled",), due_before=now):
            await self._place(cb)
        # an attempt whose outcome never came (an event lost while AMI was down): given up
        stale = now - (self.cfg.ring_seconds + 600)
        for cb in await self.repo.callbacks_in(("calling", "answered")):
            if cb["kind"] == "auto" and (cb["started_at"] or now) < stale:
                await self._unanswered(cb, "no outcome reported")

    async def _place(self, cb: dict[str, Any]) -> None:
        channel_id = f"hl-cb-{cb['id']}-{secrets.token_hex(4)}"
        if not await self.repo.update_callback(cb["id"], {"status": "calling", "started_at": self.clock(),
                                                          "channel_id": channel_id}, only_status=("scheduled",)):
            return
        await self.workflow.callback_started(cb["case_uniqueid"])
        lang = cb["language"] if self.settings.language(cb["language"] or "") else \
            self.settings.default_language.code
        try:
            summary = await self.say(cb["id"], str(cb["reply_summary"] or ""), lang)
            await self.pbx.originate_callback(
                self.cfg.dial.replace("{number}", str(cb["caller_number"])),
                self.cfg.caller_id or self.settings.number, channel_id, self.cfg.ring_seconds,
                {"HL_CB": str(cb["id"]), "HL_CB_LANG": lang, "HL_CASE": str(cb["case_id"]),
                 "HL_CB_SUMMARY": summary})
            log.info("call back %d (attempt %d) calling case %s uniqueid=%s channel=%s", cb["id"], cb["attempt"],
                     cb["case_id"], cb["case_uniqueid"], channel_id)
        except Exception as exc:  # the PBX refused or is away: counts as an unanswered attempt
            log.error("call back %d could not be placed: %s (uniqueid=%s)", cb["id"], exc, cb["case_uniqueid"])
            await self._unanswered(cb, f"not placed: {exc}")

    async def _unanswered(self, cb: dict[str, Any], why: str) -> None:
        if not await self.repo.update_callback(cb["id"], {"status": "unanswered", "ended_at": self.clock(),
                                                          "detail": why}, only_status=OPEN):
            return
        attempt = int(cb["attempt"])
        log.info("call back %d unanswered (%s), attempt %d, uniqueid=%s", cb["id"], why, attempt,
                 cb["case_uniqueid"])
        if attempt <= len(self.cfg.retry_minutes):
            due = within_hours(self.clock() + self.cfg.retry_minutes[attempt - 1] * 60, self.cfg.hours_start,
                               self.cfg.hours_end)
            await self.repo.add_callback({"case_uniqueid": cb["case_uniqueid"], "attempt": attempt + 1,
                                          "kind": "auto", "status": "scheduled", "due_at": due, "detail": ""})
        else:
            await self._task(cb["case_uniqueid"], attempt + 1, f"no answer after {attempt} automatic calls")

    # -- what Asterisk tells us ------------------------------------------------------------------

    async def handle(self, event: ev.Event) -> None:
        if isinstance(event, ev.OriginateResult) and event.channel_id.startswith("hl-cb-"):
            cb = await self._by_channel(event.channel_id)
            if cb is None:
                return
            if event.success:
                await self.repo.update_callback(cb["id"], {"status": "answered"}, only_status=("calling",))
            else:
                await self._unanswered(cb, f"no answer ({event.reason})")
        elif isinstance(event, ev.ChannelHangup) and event.uniqueid.startswith("hl-cb-"):
            cb = await self._by_channel(event.uniqueid)
            if cb is not None and cb["status"] in ("calling", "answered"):
                if cb["resolved"] == 0:  # "not resolved" alone is enough to reopen
                    await self._finish(cb, False, None)
                else:
                    await self._unanswered(cb, "hung up before answering")

    async def _by_channel(self, channel_id: str) -> dict[str, Any] | None:
        try:
            cb_id = int(channel_id.split("-")[2])
        except (IndexError, ValueError):
            return None
        cb = await self.repo.callback(cb_id)
        return cb if cb is not None and cb["channel_id"] == channel_id else None

    async def answer(self, cb_id: str, question: str, digit: str) -> dict[str, str]:
        """FastAGI ``callback``: the citizen pressed ``digit`` (1 yes, 2 no) for ``question``."""
        cb = await self.repo.callback(int(cb_id)) if cb_id.isdigit() else None
        if cb is None or question not in ("resolved", "satisfied") or digit not in ("1", "2"):
            log.error("call back answer refused: id=%r question=%r digit=%r", cb_id, question, digit)
            return {"HL_CB_OK": "0"}
        value = int(digit == "1")
        await self.repo.update_callback(cb["id"], {question: value, "status": "answered"},
                                        only_status=("calling", "answered"))
        log.info("call back %d: %s = %s (uniqueid=%s)", cb["id"], question, bool(value), cb["case_uniqueid"])
        cb[question] = value
        if question == "satisfied" and cb["resolved"] is not None:
            await self._finish(cb, bool(cb["resolved"]), bool(value))
        return {"HL_CB_OK": "1"}

    async def _finish(self, cb: dict[str, Any], resolved: bool, satisfied: bool | None,
                      actor: Actor | None = None, how: str = "automatic call") -> None:
        if not await self.repo.update_callback(cb["id"], {"status": "done", "ended_at": self.clock(),
                                                          "resolved": int(resolved),
                                                          "satisfied": None if satisfied is None else int(satisfied),
                                                          **({"operator": actor.username} if actor else {})},
                                               only_status=(*OPEN, "task", "operator-calling")):
            return
        try:
            await self.workflow.callback_answered(cb["case_uniqueid"], resolved, satisfied,
                                                  **({"actor": actor} if actor else {}), how=how)
        except WorkflowError as exc:
            log.error("call back %d answered but the case did not move: %s", cb["id"], exc)

    # -- operators -------------------------------------------------------------------------------

    async def tasks(self) -> list[dict[str, Any]]:
        return await self.repo.callbacks_in(("task", "operator-calling"))

    async def call_from_desktop(self, cb_id: int, actor: Actor, extension: str) -> str:
        """Ring the operator's phone; answered, it dials the citizen."""
        cb = await self._task_row(cb_id)
        number = str(cb.get("caller_number") or "")
        if not self.cfg.dial or not number.lstrip("+").isdigit():
            raise WorkflowError("no-call", "no number or no outside line (callback.dial): call from another phone"
                                " and record the answers")
        channel_id = f"hl-cbo-{cb_id}-{secrets.token_hex(4)}"
        await self.repo.update_callback(cb_id, {"status": "operator-calling", "operator": actor.username,
                                                "started_at": self.clock(), "channel_id": channel_id})
        await self.pbx.originate_operator_callback(f"PJSIP/{extension}", self.cfg.dial.replace("{number}", number),
                                                   self.cfg.caller_id or self.settings.number, channel_id)
        log.info("call back %d: operator %s (%s) calls uniqueid=%s", cb_id, actor.username, extension,
                 cb["case_uniqueid"])
        return channel_id

    async def record_from_desktop(self, cb_id: int, actor: Actor, outcome: str) -> None:
        """What the citizen told the operator: resolved-satisfied, resolved-unsatisfied,
        unresolved, or unreachable (closes the case unresolved)."""
        cb = await self._task_row(cb_id)
        answers = {"resolved-satisfied": (True, True), "resolved-unsatisfied": (True, False),
                   "unresolved": (False, False)}
        if outcome == "unreachable":
            if not await self.repo.update_callback(cb_id, {"status": "done", "ended_at": self.clock(),
                                                           "operator": actor.username, "detail": "unreachable"},
                                                   only_status=("task", "operator-calling")):
                raise WorkflowError("conflict", "this call back was already recorded")
            await self.workflow.callback_answered(cb["case_uniqueid"], None, None, actor, how="operator")
            return
        if outcome not in answers:
            raise WorkflowError("bad-request", f"outcome must be one of {', '.join([*answers, 'unreachable'])}")
        resolved, satisfied = answers[outcome]
        await self._finish(cb, resolved, satisfied, actor, how="operator")

    async def _task_row(self, cb_id: int) -> dict[str, Any]:
        rows = [r for r in await self.repo.callbacks_in(("task", "operator-calling")) if r["id"] == cb_id]
        if not rows:
            raise WorkflowError("case-unknown", f"no open call back task {cb_id}")
        return rows[0]
