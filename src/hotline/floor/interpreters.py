"""Interpreters: a routed pool, and the three-way call.

An operator asks for an interpreter for the caller's language. The caller and the operator move
into a ConfBridge room at once (one Redirect of both legs: they keep talking there); then the
longest-idle free interpreter with the language is rung (Originate into the room with a known
ChannelId). No answer within ``interpreting.ring_seconds``: the next one. Nobody free: the
request waits, with its own answer target, and is tried again as interpreters come free.

The operator can release the interpreter (hang up their leg: caller and operator stay in the
room) or cancel a request that waits. The caller hanging up ends the room (the caller is its
marked user). Moving a call out of app_queue makes app_queue report the call complete at once;
that report is held back (``keep``) and the real end is published when the caller hangs up, so
the case, the wrap-up, the desktop and the wallboard see one call that ended when it ended.

The automatic offer: for the languages in ``interpreting.auto_offer``, a call answered by an
operator who does not speak the caller's language (the router's overflow to any operator before
the 15 s deadline) gets an interpreter request at once, without the operator asking
(``policy.interpreter_needed``, the same test the simulator makes).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any, Protocol

from hotline import events as ev
from hotline.config import Settings
from hotline.floor.calls import CallRegistry
from hotline.floor.interpreter_requests import InterpreterState, Request, interpretable
from hotline.pbx.guard import check_text
from hotline.queue import policy
from hotline.queue.agents import AgentError
from hotline.queue.skills import SkillBook, interface

log = logging.getLogger(__name__)
__all__ = ["ConferenceControl", "InterpreterService", "InterpreterStore", "Request", "interpretable"]


class ConferenceControl(Protocol):
    async def move_to_conference(self, caller: str, operator: str, room: str) -> None: ...
    async def originate_to_conference(self, dial: str, room: str, caller_id: str, channel_id: str,
                                      ring_seconds: int, language: str = "", case: str = "") -> None: ...
    async def hangup(self, channel: str) -> None: ...


class InterpreterStore(Protocol):
    """The case rows (cases/store.py): the case the interpreter joins."""

    async def get(self, uniqueid: str) -> dict[str, Any] | None: ...


class InterpretingLog(Protocol):
    """Who interpreted which case, the minutes (cases/interpreting_store.py)."""

    async def interpreting(self, row: dict[str, Any]) -> None: ...


class InterpreterService:
    def __init__(self, settings: Settings, calls: CallRegistry, skills: SkillBook, pbx: ConferenceControl,
                 store: InterpreterStore, interpreting_log: InterpretingLog, publish: Callable[[ev.Event], None],
                 notify: Callable[[Request], None] = lambda r: None, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.calls = calls  # an operator's call, its channels (the call registry)
        self.skills = skills  # the operators' languages now (the automatic offer)
        self.pbx = pbx
        self.store = store
        self.interpreting_log = interpreting_log
        self.publish = publish
        self.notify = notify
        self._clock = clock
        self.pool = {i.extension: InterpreterState(i) for i in settings.interpreters}
        self.requests: dict[int, Request] = {}
        self._ids = itertools.count(1)
        self._moved: set[str] = set()  # uniqueids whose queue call moved into a room
        self._offer_checked: set[str] = set()  # answered calls the automatic offer looked at
        self.on_change: Callable[[], None] = lambda: None  # the wallboard flushes

    def _changed(self, req: Request) -> None:
        req.seq += 1
        self.notify(req)
        self.on_change()

    def board_section(self) -> dict[str, Any]:
        """The wallboard's interpreters: the pool's states and the open requests (their waits grow on
        the page from ``created_at``; ``late`` once past the answer target)."""
        now = self._clock()
        open_ = [r for r in self.requests.values() if r.state in ("moving", "ringing", "waiting", "connected")]
        return {
            "answer_target": self.settings.interpreting.answer_target_seconds,
            "interpreters": [self.state(ext) for ext in self.pool],
            "requests": [{"id": r.id, "language": r.language, "operator": r.operator, "state": r.state,
                          "ringing": r.ringing, "interpreter": r.interpreter, "created_at": r.created_at,
                          "joined_at": r.joined_at, "requested_by": r.requested_by,
                          "late": r.state != "connected" and now - r.created_at > r.answer_target}
                         for r in open_],
        }

    # -- the pool -----------------------------------------------------------------------------------

    def _interpreter(self, ext: str) -> InterpreterState:
        it = self.pool.get(ext)
        if it is None:
            raise AgentError("agent-unknown", f"no interpreter with extension {ext!r} in the site file")
        return it

    def set_state(self, ext: str, action: str) -> dict[str, Any]:
        it = self._interpreter(ext)
        if action == "login":
            it.logged_in, it.paused = True, False
            it.idle_since = it.idle_since or self._clock()
        elif action == "logout":
            it.logged_in = False
        elif action == "pause":
            it.paused = True
        elif action == "unpause":
            it.paused = False
        else:
            raise AgentError("bad-request", f"unknown action {action!r}")
        log.info("interpreter=%s %s", ext, action)
        self.on_change()
        return self.state(ext)

    def state(self, ext: str) -> dict[str, Any]:
        it = self._interpreter(ext)
        name = ("talking" if it.busy_with is not None else "offline" if not it.logged_in
                else "paused" if it.paused else "ready")
        return {"extension": ext, "name": it.cfg.name, "languages": dict(it.cfg.languages), "state": name,
                "idle_since": it.idle_since, "request": it.busy_with}

    def candidates(self, language: str, exclude: list[str]) -> list[InterpreterState]:
        """Free interpreters with the language, the longest idle first."""
        free = [i for i in self.pool.values() if i.free_for(language) and i.cfg.extension not in exclude]
        return sorted(free, key=lambda i: (i.idle_since, -i.cfg.languages[language]))

    # -- requests -----------------------------------------------------------------------------------

    def keep(self, event: ev.Event) -> bool:
        """The bus filter: app_queue's AgentComplete for a call moved into a room is not its end."""
        return not (isinstance(event, ev.AgentCompleted) and event.uniqueid in self._moved
                    and event.reason != "conference")

    def active(self, uniqueid: str) -> Request | None:
        return next((r for r in self.requests.values() if r.uniqueid == uniqueid
                     and r.state in ("moving", "ringing", "waiting", "connected")), None)

    async def request(self, operator: str, requested_by: str, language: str = "") -> Request:
        check_text("language", language, "interpreter request")  # bound for Originate's variables
        call = self.calls.of_operator(operator)
        language = language or (call.language if call is not None else "")
        lang = self.settings.language(language) if language else None
        if language and lang is None:
            raise AgentError("bad-request", f"unknown language {language!r}")
        if lang is not None and lang.code not in {x["code"] for x in interpretable(self.settings)}:
            # said at once, before the call is moved anywhere: nobody would ever answer
            log.info("interpreter request refused: agent=%s lang=%s (no interpreter configured)", operator,
                     language)
            raise AgentError("no-interpreter", f"no interpreter is set up for {lang.name} ({lang.code})")
        if call is None or not call.channel or not call.agent_channel:
            raise AgentError("no-call", f"operator {operator} is not on a call")
        if self.active(call.uniqueid):
            raise AgentError("bad-request", "an interpreter is already asked for on this call")
        rid = next(self._ids)
        room = f"{7000000 + rid}"
        req = Request(rid, call.uniqueid, language, operator, requested_by, room, self._clock(), call.queue,
                      call.wait or 0.0, call.answered_at or self._clock(),
                      answer_target=float(self.settings.interpreting.answer_target_seconds))
        self.requests[rid] = req
        if call.uniqueid not in self._moved:
            self._moved.add(call.uniqueid)
            try:
                await self.pbx.move_to_conference(call.channel, call.agent_channel, room)
            except Exception:
                self._moved.discard(call.uniqueid)
                req.state = "failed"
                self._changed(req)
                raise
        else:  # already in a room from an earlier request: the same room
            earlier = [r for r in self.requests.values() if r.uniqueid == call.uniqueid and r.id != rid]
            req.room = room = earlier[-1].room
        try:
            case = await self.store.get(call.uniqueid)
            req.case_id = int(case["id"]) if case else None
        except Exception as exc:  # the announcement goes without the number
            log.error("interpreter request: case of uniqueid=%s unreadable: %s", call.uniqueid, exc)
        log.info("interpreter requested: request=%d uniqueid=%s lang=%s agent=%s room=%s", rid, call.uniqueid,
                 language, operator, room)
        await self._next(req)
        return req

    async def _next(self, req: Request) -> None:
        """Ring the next candidate, or wait."""
        for it in self.candidates(req.language, req.tried):
            ext = it.cfg.extension
            req.tried.append(ext)
            req.ringing, req.channel_id, req.ring_started, req.state = ext, f"hl-int-{req.id}-{secrets.token_hex(3)}", \
                self._clock(), "ringing"
            it.busy_with = req.id
            lang = self.settings.language(req.language)
            try:
                await self.pbx.originate_to_conference(
                    it.cfg.dial or interface(ext), req.room, f'"{lang.name if lang else req.language} interpreting" '
                    f'<{req.operator}>', req.channel_id, self.settings.interpreting.ring_seconds,
                    req.language, str(req.case_id or ""))
            except Exception as exc:
                log.error("interpreter originate failed: request=%d interpreter=%s: %s", req.id, ext, exc)
                it.busy_with = None
                continue
            log.info("interpreter ringing: request=%d interpreter=%s", req.id, ext)
            self._changed(req)
            return
        req.state, req.ringing, req.channel_id = "waiting", "", ""
        log.info("interpreter request waiting: request=%d lang=%s (tried %s)", req.id, req.language, req.tried)
        self._changed(req)

    async def cancel(self, rid: int) -> Request:
        req = self._request(rid)
        if req.state not in ("ringing", "waiting"):
            raise AgentError("bad-request", f"request {rid} is {req.state}: nothing to cancel")
        await self._drop_attempt(req)
        req.state = "cancelled"
        log.info("interpreter request cancelled: request=%d", rid)
        self._changed(req)
        return req

    async def release(self, rid: int) -> Request:
        req = self._request(rid)
        if req.state != "connected":
            raise AgentError("bad-request", f"request {rid} is {req.state}: no interpreter to release")
        await self.pbx.hangup(req.channel_id)  # the ConfbridgeLeave/Hangup of that leg records the end
        return req

    def _request(self, rid: int) -> Request:
        req = self.requests.get(rid)
        if req is None:
            raise AgentError("bad-request", f"no interpreter request {rid}")
        return req

    async def _drop_attempt(self, req: Request) -> None:
        if req.ringing:
            it = self.pool.get(req.ringing)
            channel = req.channel_id
            req.ringing, req.channel_id = "", ""
            if it is not None and it.busy_with == req.id:
                it.busy_with = None
            if channel:
                await self.pbx.hangup(channel)

    # -- events and time ----------------------------------------------------------------------------

    async def handle(self, event: ev.Event) -> None:
        if isinstance(event, ev.ConferenceJoined):
            for req in self.requests.values():
                if req.state == "ringing" and event.uniqueid == req.channel_id:
                    req.state, req.interpreter, req.joined_at, req.ringing = "connected", req.tried[-1], event.at, ""
                    log.info("interpreter joined: request=%d interpreter=%s room=%s after %.1f s", req.id,
                             req.interpreter, req.room, event.at - req.created_at)
                    self._changed(req)
                    self.publish(ev.InterpreterJoined(req.uniqueid, req.id, req.interpreter, req.language,
                                                      event.channel, req.answered_at, event.at))
        elif isinstance(event, ev.ChannelHangup):
            for req in list(self.requests.values()):
                if event.uniqueid == req.channel_id and req.state == "ringing":
                    it = self.pool.get(req.ringing)
                    if it is not None:
                        it.busy_with = None
                    log.info("interpreter did not answer: request=%d interpreter=%s", req.id, req.ringing)
                    req.ringing, req.channel_id = "", ""
                    await self._next(req)
                elif event.uniqueid == req.channel_id and req.state == "connected":
                    await self._interpreter_left(req, event.at, "released")
            if event.uniqueid in self._moved:  # the caller hung up: the room ends
                await self._call_ended(event)

    async def _interpreter_left(self, req: Request, at: float, state: str) -> None:
        it = self.pool.get(req.interpreter)
        if it is not None:
            it.busy_with, it.idle_since = None, at
        req.state, req.left_at = state, at
        log.info("interpreter left: request=%d interpreter=%s after %.0f s", req.id, req.interpreter,
                 at - (req.joined_at or at))
        self._changed(req)
        self.publish(ev.InterpreterLeft(req.uniqueid, req.id, req.interpreter, at))
        try:
            await self.interpreting_log.interpreting({
                "case_uniqueid": req.uniqueid, "interpreter": req.interpreter, "language": req.language,
                "requested_at": req.created_at, "joined_at": req.joined_at, "left_at": at,
                "minutes": round((at - (req.joined_at or at)) / 60, 2), "requested_by": req.requested_by})
        except Exception as exc:
            log.error("interpreting not recorded: request=%d: %s", req.id, exc)

    async def _call_ended(self, event: ev.ChannelHangup) -> None:
        """The caller of a call moved into a room hung up: every request on it ends, and the queue
        call's real end is published now (whether an interpreter is still there, was released,
        or never came)."""
        self._moved.discard(event.uniqueid)
        reqs = [r for r in self.requests.values() if r.uniqueid == event.uniqueid]
        for req in reqs:
            if req.state == "connected":
                await self._interpreter_left(req, event.at, "ended")
            elif req.state in ("moving", "ringing", "waiting"):
                await self._drop_attempt(req)
                req.state = "ended"
                self._changed(req)
        last = reqs[-1]
        self.publish(ev.AgentCompleted(last.uniqueid, last.queue, interface(last.operator), int(last.wait),
                                       int(event.at - last.answered_at), "conference", event.at))

    async def auto_offer(self) -> list[Request]:
        """Answered calls of automatically offered languages whose operator does not speak the
        language get an interpreter request (once per call)."""
        auto = self.settings.interpreting.auto_offer
        answered = self.calls.answered()
        self._offer_checked &= {c.uniqueid for c in answered}
        made: list[Request] = []
        if not auto:
            return made
        for call in answered:
            uid = call.uniqueid
            if uid in self._offer_checked or not call.operator or call.answered_at is None or not call.agent_channel:
                continue
            self._offer_checked.add(uid)
            op = self.skills.get(call.operator)
            if not policy.interpreter_needed(auto, call.language, op.languages if op else {}) or self.active(uid):
                continue
            if call.language not in {x["code"] for x in interpretable(self.settings)}:
                log.info("no automatic interpreter offer: uniqueid=%s lang=%s (no interpreter configured)", uid,
                         call.language)
                continue
            log.info("automatic interpreter offer: uniqueid=%s lang=%s agent=%s", uid, call.language, call.operator)
            try:
                made.append(await self.request(call.operator, "auto", call.language))
            except Exception as exc:  # a PBX error must not stop the tick
                log.error("automatic interpreter offer failed: uniqueid=%s agent=%s: %s", uid, call.operator, exc)
        return made

    async def tick(self) -> None:
        """Waiting requests get the interpreters who came free; answered calls get the automatic offer."""
        await self.auto_offer()
        now = self._clock()
        for rid, req in list(self.requests.items()):  # finished requests are listed for an hour
            finished = req.state in ("released", "cancelled", "ended", "failed")
            if finished and now - (req.left_at or req.created_at) > 3600:
                del self.requests[rid]
        for req in list(self.requests.values()):
            # (ringing lasts until the interpreter joins the room: their phone's ring time, then
            # the announcement of a few seconds)
            if req.state == "ringing" and now - req.ring_started > self.settings.interpreting.ring_seconds + 30:
                # no Hangup came for the attempt (the phone was not even reachable): the next one
                log.info("interpreter unreachable: request=%d interpreter=%s", req.id, req.ringing)
                await self._drop_attempt(req)
                await self._next(req)
            elif req.state == "waiting" and self.candidates(req.language, []):
                req.tried = []  # everyone free now is tried again, longest idle first
                await self._next(req)

    async def run(self, interval: float = 0.5) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.tick()
            except Exception:
                log.exception("interpreter tick failed")
