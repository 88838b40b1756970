"""The interpreter's page: while they are in a call's room, the case summary (case number,
language, topic, the IVR path, the operator, what the form holds so far) and the live transcript
of every leg; nothing when they are not. Fed by InterpreterJoined/Left and TranscriptText from
the bus; one socket per page (/ws/interpreter) through the shared hub."""

from __future__ import annotations

import logging
from typing import Any

from hotline import events as ev
from hotline.cases import access
from hotline.cases.store import CaseStore
from hotline.config import Settings
from hotline.web.hub import Hub, desk_message

log = logging.getLogger(__name__)


class InterpreterDesk:
    def __init__(self, settings: Settings, store: CaseStore, hub: Hub) -> None:
        self.settings = settings
        self.store = store
        self.hub = hub
        self.assignments: dict[str, dict[str, Any]] = {}  # interpreter extension -> what their page shows
        self._by_call: dict[str, set[str]] = {}  # uniqueid -> interpreters in its room

    async def handle(self, event: ev.Event) -> None:
        if isinstance(event, ev.InterpreterJoined):
            assignment = await self._summary(event)
            self.assignments[event.interpreter] = assignment
            self._by_call.setdefault(event.uniqueid, set()).add(event.interpreter)
            self.hub.to_extension(event.interpreter, desk_message("assignment", **assignment))
            log.info("interpreter page: interpreter=%s uniqueid=%s case=%s", event.interpreter, event.uniqueid,
                     assignment.get("case_id"))
        elif isinstance(event, ev.InterpreterLeft):
            current = self.assignments.get(event.interpreter)
            if current is not None and current["uniqueid"] == event.uniqueid:
                del self.assignments[event.interpreter]
            self._by_call.get(event.uniqueid, set()).discard(event.interpreter)
            if not self._by_call.get(event.uniqueid):
                self._by_call.pop(event.uniqueid, None)
            self.hub.to_extension(event.interpreter, desk_message("assignment_ended", uniqueid=event.uniqueid,
                                                                  left_at=event.at))
        elif isinstance(event, ev.TranscriptText):
            line = {"uniqueid": event.uniqueid, "speaker": event.speaker, "kind": event.kind, "text": event.text,
                    "start": event.start, "end": event.end, "confidence": event.confidence}
            for ext in self._by_call.get(event.uniqueid, ()):
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
