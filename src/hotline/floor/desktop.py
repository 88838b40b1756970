"""What each operator's desktop shows, fed from domain events and pushed through the hub.

One CallView per operator extension: set when their phone rings (the screen pop, with the
caller's earlier cases), made live on AgentConnected, ended with the call, cleared when the
form is saved (the case desk's CaseSaved event) or the next call rings. A draft the page sends
for a call that has just left the desktop (saved, ended, replaced) is ignored quietly: the
page's typing and the save may cross. A tick (0.5 s) sends each connected operator their status
and live header when it changed. The snapshot is built from the same views plus the store
(stored transcript segments, the saved draft), so a reconnecting page shows the same state.
Which desktop a call is on is looked up in the call registry (floor/calls.py), which keeps an
ended call resolvable for a while: the state pump may have applied its end before this service
handles the events of that end (the case saved, the hang-up) in whatever order they come.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from hotline import events as ev
from hotline.auth.users import Principal
from hotline.cases import access
from hotline.cases import form as case_form
from hotline.cases.caller_key import mask_number
from hotline.config import Settings
from hotline.floor.calls import CallRegistry
from hotline.floor.interpreters import interpretable
from hotline.floor.messages import message
from hotline.floor.notify import ExtensionNotifier
from hotline.queue.roster import Roster
from hotline.queue.skills import extension_of
from hotline.queue.wrapup import WrapUp

log = logging.getLogger(__name__)


class DesktopStore(Protocol):
    """What the desktop reads and writes of the cases (the case store)."""

    async def get(self, uniqueid: str) -> dict[str, Any] | None: ...
    async def caller_history(self, caller_number: str, exclude: str, limit: int = 5) -> list[dict[str, Any]]: ...
    async def transcript(self, uniqueid: str) -> list[dict[str, Any]]: ...
    async def draft(self, username: str, uniqueid: str) -> dict[str, Any] | None: ...
    async def save_draft(self, username: str, uniqueid: str, data: str, at: float) -> None: ...


@dataclass
class CallView:
    uniqueid: str
    caller_number: str
    language: str
    topic: str
    queued_at: float
    ivr_path: str = ""
    case_id: int | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    phase: str = "ringing"  # ringing | live | ended | saved
    answered_at: float | None = None
    ended_at: float | None = None
    partials: dict[str, dict[str, Any]] = field(default_factory=dict)  # speaker -> last partial
    transcription: dict[str, dict[str, str]] = field(default_factory=dict)  # speaker -> status
    restored: bool = False  # made from an AgentConnected with no ring seen (a restart, the queue_log replay)

    def offer(self, settings: Settings) -> dict[str, Any]:
        lang = settings.language(self.language)
        return {"uniqueid": self.uniqueid, "case_id": self.case_id, "caller_number": self.caller_number,
                "language": self.language, "language_name": lang.name if lang else self.language,
                "topic": self.topic, "ivr_path": self.ivr_path, "queued_at": self.queued_at,
                "history": self.history}


class DesktopService:
    def __init__(self, settings: Settings, roster: Roster, calls: CallRegistry, wrapup: WrapUp,
                 store: DesktopStore, hub: ExtensionNotifier) -> None:
        self.settings = settings
        self.roster = roster
        self.calls = calls
        self.wrapup = wrapup
        self.store = store
        self.hub = hub
        self.views: dict[str, CallView] = {}  # extension -> the call on their desktop
        self._last_status: dict[str, dict[str, Any]] = {}
        self._interpreter: dict[str, dict[str, Any]] = {}  # extension -> their latest interpreter request
        # extension -> the calls that left their desktop lately (a late draft for one is no error)
        self._gone: dict[str, collections.deque[str]] = {}
        # what other floor services add to the snapshot's call, by field (graph.py: "knowledge")
        self.call_extras: dict[str, Callable[[str], Any]] = {}

    # -- events ----------------------------------------------------------------------------------

    async def handle(self, event: ev.Event) -> None:
        if isinstance(event, ev.AgentRinging):
            await self._ringing(event)
        elif isinstance(event, ev.AgentNoAnswer):
            ext = extension_of(event.interface)
            view = self.views.get(ext)
            if view and view.uniqueid == event.uniqueid and view.phase == "ringing":
                self._drop(ext)
                self.hub.to_extension(ext, message("offer_withdrawn", uniqueid=event.uniqueid))
        elif isinstance(event, ev.AgentConnected):
            ext = extension_of(event.interface)
            view = self.views.get(ext)
            if view is None or view.uniqueid != event.uniqueid:  # no ring seen (e.g. after a restart)
                if view is not None and view.phase in ("ringing", "live") and event.at < view.queued_at:
                    # the queue_log replay after an AMI reconnect: an older call never replaces this one
                    log.info("replayed connect ignored: agent=%s uniqueid=%s (on %s now)", ext, event.uniqueid,
                             view.uniqueid)
                    return
                view = await self._new_view(ext, event.uniqueid, event.caller_number, event.language, "",
                                            event.at - event.hold_seconds)
                view.restored = True
                self.hub.to_extension(ext, message("offer", **view.offer(self.settings)))  # a page already open
            view.phase, view.answered_at = "live", event.at
            self.hub.to_extension(ext, message("live", uniqueid=event.uniqueid, answered_at=event.at,
                                               wait_seconds=event.hold_seconds))
        elif isinstance(event, (ev.AgentCompleted, ev.ChannelHangup, ev.CallerAbandoned)):
            ext = self._desktop_of(event.uniqueid)
            view = self.views.get(ext)
            if view is None:
                return
            if view.phase == "ringing":
                self._drop(ext)
                self.hub.to_extension(ext, message("offer_withdrawn", uniqueid=event.uniqueid))
            elif view.phase == "live" and view.restored and not await self._still_to_save(ext, view):
                # a call seen again only through the replay (saved already, or not this operator's):
                # no panel for it after a restart
                self._drop(ext)
                self.hub.to_extension(ext, message("offer_withdrawn", uniqueid=event.uniqueid))
            elif view.phase == "live":
                view.phase, view.ended_at = "ended", event.at
                view.partials.clear()
                self.hub.to_extension(ext, message("call_ended", uniqueid=event.uniqueid, ended_at=event.at))
        elif isinstance(event, ev.TranscriptText):
            ext = self._desktop_of(event.uniqueid)
            view = self.views.get(ext)
            if view is None:
                return
            line = {"uniqueid": event.uniqueid, "speaker": event.speaker, "kind": event.kind, "text": event.text,
                    "start": event.start, "end": event.end, "confidence": event.confidence}
            if event.kind == "partial":
                view.partials[event.speaker] = line
            else:
                view.partials.pop(event.speaker, None)
            self.hub.to_extension(ext, message("transcript", **line))
        elif isinstance(event, ev.CaseSaved):
            self._saved(event)
        elif isinstance(event, ev.TranscriptionStatus):
            ext = self._desktop_of(event.uniqueid)
            view = self.views.get(ext)
            if view is None:
                return
            status = {"status": event.status, "detail": event.detail, "language": event.language}
            view.transcription[event.speaker] = status
            self.hub.to_extension(ext, message("transcription", uniqueid=event.uniqueid, speaker=event.speaker,
                                               **status))

    def desktop_of(self, uniqueid: str) -> str:
        """The extension whose desktop shows ``uniqueid`` now ("" for none), for the floor services
        that send to it (the suggestions)."""
        return self._desktop_of(uniqueid)

    def _desktop_of(self, uniqueid: str) -> str:
        """The extension whose desktop shows ``uniqueid`` now ("" for none): the call registry's
        operator or the phones it rang (an ended call is still known there for a while)."""
        call = self.calls.get(uniqueid)
        for ext in call.desktops() if call is not None else ():
            view = self.views.get(ext)
            if view is not None and view.uniqueid == uniqueid:
                return ext
        # not (or no longer) in the registry: a call seen only through the replay, or forgotten
        return next((ext for ext, view in self.views.items() if view.uniqueid == uniqueid), "")

    async def _ringing(self, e: ev.AgentRinging) -> None:
        ext = extension_of(e.interface)
        call = self.calls.get(e.uniqueid)
        queued_at = call.joined_at if call is not None and call.joined_at else e.at  # (the pump may be ahead)
        view = await self._new_view(ext, e.uniqueid, e.caller_number, e.language, e.topic, queued_at)
        self.hub.to_extension(ext, message("offer", **view.offer(self.settings)))
        log.info("screen pop: agent=%s uniqueid=%s caller=%s lang=%s history=%d", ext, e.uniqueid,
                 mask_number(e.caller_number), e.language, len(view.history))

    async def _new_view(self, ext: str, uniqueid: str, caller: str, language: str, topic: str,
                        queued_at: float) -> CallView:
        old = self.views.get(ext)
        if old is not None:
            self._left(ext, old.uniqueid)
        view = CallView(uniqueid, caller, language, topic, queued_at)
        self.views[ext] = view
        try:
            view.history = [self._history_row(ext, r) for r in await self.store.caller_history(caller, uniqueid)]
            case = await self.store.get(uniqueid)
            if case:
                view.case_id, view.ivr_path = case["id"], case["ivr_path"] or ""
                view.topic = view.topic or case["topic"] or ""
                view.caller_number = view.caller_number or case["caller_number"] or ""
                view.language = view.language or case["language"] or ""
        except Exception as exc:  # the pop goes on without history rather than not at all
            log.error("screen pop without history: agent=%s uniqueid=%s: %s", ext, uniqueid, exc)
        return view

    async def _still_to_save(self, ext: str, view: CallView) -> bool:
        """A restored call that has ended stays on the desktop only while it is this operator's
        case and its form has not been saved: the wrap-up is for saving it (docs/desktop.md)."""
        try:
            case = await self.store.get(view.uniqueid)
        except Exception as exc:
            log.error("restored call dropped (case not readable): agent=%s uniqueid=%s: %s", ext, view.uniqueid, exc)
            return False
        return case is not None and not case.get("form_saved_at") and str(case.get("operator") or "") == ext

    @staticmethod
    def _history_row(ext: str, row: dict[str, Any]) -> dict[str, Any]:
        """An earlier case of the caller as the screen pop shows it (cases/access.py): another
        operator's confidential case only as a line saying there was one."""
        seen = access.decide(access.Viewer("", "operator", ext), row)
        shown = access.redact(row, seen)
        out = {k: shown.get(k) for k in ("id", "queued_at", "state", "language", "topic", "category",
                                         "description")}
        if not seen.readable:
            out.update(topic="", category="", description=access.HIDDEN, confidential=True)
        return out

    def _drop(self, ext: str) -> None:
        view = self.views.pop(ext, None)
        if view:
            self._left(ext, view.uniqueid)

    def _left(self, ext: str, uniqueid: str) -> None:
        self._gone.setdefault(ext, collections.deque(maxlen=8)).append(uniqueid)

    def interpreter(self, extension: str, request: dict[str, Any]) -> None:
        """The operator's desktop follows their interpreter request: ringing whom, waiting, joined, left."""
        self._interpreter[extension] = request  # for a reload: the snapshot carries it
        self.hub.to_extension(extension, message("interpreter", **request))

    # -- commands from the desktop ---------------------------------------------------------------

    def view_for(self, principal: Principal, uniqueid: str) -> CallView | None:
        view = self.views.get(principal.extension)
        return view if view is not None and view.uniqueid == uniqueid else None

    def _saved(self, e: ev.CaseSaved) -> None:
        """The case desk saved the form (its draft is gone with it): an ended call leaves the
        desktop, a live one keeps going with its case number. The wrap-up ends on the same event
        (queue/wrapup.py)."""
        if not e.extension:  # saved by a supervisor: nobody's desktop changes
            return
        view = self.views.get(e.extension)
        if view is not None and view.uniqueid == e.uniqueid and view.phase in ("ended", "saved"):
            self._drop(e.extension)
        elif view is not None and view.uniqueid == e.uniqueid:
            view.case_id = e.case_id
        self.hub.to_extension(e.extension, message("case_saved", uniqueid=e.uniqueid, case_id=e.case_id,
                                                   status=e.status, department=e.department, saved_at=e.at))

    async def draft(self, principal: Principal, uniqueid: str, fields: dict[str, Any]) -> bool:
        """Keep the page's draft of the call on its desktop; False (nothing kept, no error) for a
        call that has just left it (saved, ended, the next call rang): the typing crossed the save."""
        if self.view_for(principal, uniqueid) is None:
            if uniqueid in self._gone.get(principal.extension, ()):
                log.debug("late draft ignored: agent=%s uniqueid=%s (no longer on the desktop)",
                          principal.extension, uniqueid)
                return False
            raise ValueError("no such call on your desktop")
        data = json.dumps({k: v for k, v in fields.items() if k in case_form.FIELDS})
        if len(data) > 20_000:
            raise ValueError("draft too large")
        await self.store.save_draft(principal.username, uniqueid, data, time.time())
        return True

    # -- status, header and snapshot -------------------------------------------------------------

    def _waiting_by_queue(self) -> dict[str, list[float]]:
        by_queue: dict[str, list[float]] = {}
        for call in self.calls.waiting():
            by_queue.setdefault(call.queue, []).append(call.joined_at)
        return by_queue

    def status(self, extension: str, waiting: dict[str, list[float]] | None = None) -> dict[str, Any]:
        now = time.time()
        waiting = self._waiting_by_queue() if waiting is None else waiting
        op = self.roster.get(extension)
        if op is None:
            return {"state": "offline", "since": None, "pause_reason": "", "wrapup_ends_at": None, "waiting": 0,
                    "oldest_waiting_since": None, "calls_today": 0}
        state = op.state(now)
        remaining = self.wrapup.remaining(extension) if state == "wrap-up" else None
        joined = [at for queue in op.queues for at in waiting.get(queue, ())]
        return {"state": state, "since": round(op.since, 1) if op.since else None,
                "pause_reason": op.pause_reason if state == "paused" else "",
                "wrapup_ends_at": round(now + remaining, 1) if remaining is not None else None,
                "waiting": len(joined), "oldest_waiting_since": min(joined) if joined else None,
                "calls_today": op.calls_today}

    async def tick_forever(self, interval: float = 0.5) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                self.tick()
            except Exception:
                log.exception("desktop tick failed")

    def tick(self) -> None:
        waiting = self._waiting_by_queue()  # once per tick, not once per operator
        for ext in self.hub.extensions():
            status = self.status(ext, waiting)
            if status != self._last_status.get(ext):
                self._last_status[ext] = status
                self.hub.to_extension(ext, message("status", **status))

    def forget_status(self, extension: str) -> None:
        """A (re)connected page gets the full status in its snapshot; send changes from there."""
        self._last_status.pop(extension, None)

    async def snapshot(self, principal: Principal) -> dict[str, Any]:
        call: dict[str, Any] | None = None
        view = self.views.get(principal.extension)
        if view is not None:
            draft = await self.store.draft(principal.username, view.uniqueid)
            segments = await self.store.transcript(view.uniqueid)
            call = {**view.offer(self.settings), "phase": view.phase, "answered_at": view.answered_at,
                    "ended_at": view.ended_at, "partials": list(view.partials.values()),
                    "transcription": view.transcription,
                    "transcript": [{"speaker": s["speaker"], "kind": "final", "text": s["text"], "start": s["start"],
                                    "end": s["end"], "confidence": s["confidence"]} for s in segments],
                    "draft": ({"fields": json.loads(draft["data"]), "updated_at": draft["updated_at"]}
                              if draft else None)}
            request = self._interpreter.get(principal.extension)
            call["interpreter"] = request if request and request.get("uniqueid") == view.uniqueid else None
            for name, extra in self.call_extras.items():
                call[name] = extra(view.uniqueid)
        return message("snapshot", me=principal.to_json(), status=self.status(principal.extension), call=call,
                       form={"categories": case_form.categories(self.settings),
                             "departments": [{"code": d.code, "name": d.name} for d in self.settings.departments],
                             "districts": list(self.settings.districts), "urgencies": list(case_form.URGENCIES)},
                       interpreting={"languages": interpretable(self.settings)}, server_time=time.time())
