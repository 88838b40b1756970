"""The interpreter's page: while they are in a call's room, the case summary (case number,
language, topic, the IVR path, the operator, what the form holds so far) and the live transcript
of every leg; nothing when they are not. Fed by InterpreterJoined/Left and TranscriptText from
the bus; one socket per page (/ws/interpreter) through the shared hub. Who is in a call's room is
the call registry's (floor/calls.py)."""

from __future__ import annotations

import logging
from typing import Any, Protocol

from hotline import events as ev
from hotline.cases import access
from hotline.config import Settings
from hotline.floor.calls import CallRegistry
from hotline.floor.messages import desk_message
from hotline.floor.notify import ExtensionNotifier

log = logging.getLogger(__name__)


class InterpreterPageStore(Protocol):
    """What the interpreter's page reads of the cases (the case store)."""

    async def get(self, uniqueid: str) -> dict[str, Any] | None: ...
    async def transcript(self, uniqueid: str) -> list[dict[str, Any]]: ...


class InterpreterDesk:
    def __init__(self, settings: Settings, calls: CallRegistry, store: InterpreterPageStore,
                 hub: ExtensionNotifier) -> None:
        self.settings = settings
        self.calls = calls
        self.store = store
        self.hub = hub
        self.assignments: dict[str, dict[str, Any]] = {}  # interpreter extension -> what their page shows

    async def handle(self, event: ev.Event) -> None:
        if isinstance(event, ev.InterpreterJoined):
            assignment = await self._summary(event)
            self.assignments[event.interpreter] = assignment
            self.hub.to_extension(event.interpreter, desk_message("assignment", **assignment))
            log.info("interpreter page: interpreter=%s uniqueid=%s case=%s", event.interpreter, event.uniqueid,
                     assignment.get("case_id"))
        elif isinstance(event, ev.InterpreterLeft):
            current = self.assignments.get(event.interpreter)
            if current is not None and current["uniqueid"] == event.uniqueid:
                del self.assignments[event.interpreter]
            self.hub.to_extension(event.interpreter, desk_message("assignment_ended", uniqueid=event.uniqueid,
                                                                  left_at=event.at))
        elif isinstance(event, ev.TranscriptText):
            line = {"uniqueid": event.uniqueid, "speaker": event.speaker, "kind": event.kind, "text": event.text,
                    "start": event.start, "end": event.end, "confidence": event.confidence}
            call = self.calls.get(event.uniqueid)
            for ext in sorted(call.interpreters) if call is not None else ():  # in the room now
                shown = self.assignments.get(ext)
                if shown is not None and event.kind == "final":
                    shown["transcript"].append({k: v for k, v in line.items() if k != "uniqueid"})
                self.hub.to_extension(ext, desk_message("transcript", **line))

    async def _summary(self, e: ev.InterpreterJoined) -> dict[str, Any]:
        case: dict[str, Any] = {}
        transcript: list[dict[str, Any]] = []
        try:
            case = await self.store.get(e.uniqueid) or {}
            transcript = [{k: r[k] for k in ("speaker", "kind", "text", "start", "end", "confidence") if k in r}
                          for r in await self.store.transcript(e.uniqueid)]
        except Exception as exc:  # the page shows what the event carries
            log.error("interpreter page: case of uniqueid=%s unreadable: %s", e.uniqueid, exc)
        # what the access rule shows the interpreter of the call they are in (cases/access.py): the
        # form, the transcript; not the caller's number (not even partly), the name or the recording
        seen = access.decide(access.Viewer("", "interpreter", e.interpreter), case, handling=True)
        if not seen.transcript:
            transcript = []
        shown = access.redact(case, seen)
        operator = str(case.get("operator") or "")
        op = self.settings.operator(operator)
        lang = self.settings.language(e.language)
        return {"uniqueid": e.uniqueid, "request": e.request, "case_id": case.get("id"), "language": e.language,
                "language_name": lang.name if lang else e.language, "topic": case.get("topic") or "",
                "ivr_path": case.get("ivr_path") or "", "operator": operator,
                "operator_name": op.name if op else operator,
                "caller": "not shown to interpreters" if shown.get("caller_number") == access.HIDDEN else
                          str(shown.get("caller_number") or ""), "queued_at": case.get("queued_at"),
                "answered_at": e.answered_at, "joined_at": e.at, "category": shown.get("category") or "",
                "description": shown.get("description") or "", "transcript": transcript}
