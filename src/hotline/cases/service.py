"""Cases from call events: every queued call becomes a case row, completed as the call goes.

Created at queue entry (CallerJoined, which carries language, topic, IVR path and the first ring
from the channel variables), answered on AgentConnected, abandoned on CallerAbandoned, ended on
AgentCompleted or the caller's hang-up. A caller who hung up before any queue (IvrHangup, the
dialplan's hangup handler) leaves a row of its own: state ``abandoned-ivr``, ``ended_in`` 'ivr',
``queued_at`` = its arrival (it never queued); the case lists and worklists never show it as a
case to work (no status, no form). Every finished row says where it ended (``ended_in``: 'ivr',
'queue', 'operator') and keeps ``arrived_at``, the first ring (null for rows before migration
0010, whose clock starts at queued_at). After an AMI (re)connect the Resynced snapshot
closes cases whose channels are gone and opens cases for calls that queued while we were
away, so no case is lost and none is doubled (one row per uniqueid).
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from hotline import events as ev
from hotline.cases.caller_key import mask_number  # no full number in the journal
from hotline.queue.service_level import IVR_STATE  # the row of a caller who hung up in the IVR
from hotline.queue.skills import extension_of, parse_queue

log = logging.getLogger(__name__)

# where a call ended (the cases' ended_in; migration 0010 backfilled the finished rows with these)
ENDED_IN = {"ivr": "ivr", "queue": "queue", "operator": "operator"}


class CaseRepository(Protocol):
    async def create(self, row: dict[str, Any]) -> bool: ...
    async def update(self, uniqueid: str, changes: dict[str, Any], only_states: tuple[str, ...] = ()) -> bool: ...
    async def get(self, uniqueid: str) -> dict[str, Any] | None: ...
    async def open_cases(self) -> list[dict[str, Any]]: ...
    async def add_segment(self, row: dict[str, Any]) -> int: ...


class CaseService:
    def __init__(self, repo: CaseRepository) -> None:
        self.repo = repo

    async def handle(self, event: ev.Event) -> None:
        if isinstance(event, ev.CallerJoined):
            await self._joined(event)
        elif isinstance(event, ev.AgentConnected):
            ok = await self.repo.update(event.uniqueid, {
                "state": "answered", "operator": extension_of(event.interface), "answered_at": event.at,
                "wait_seconds": float(event.hold_seconds), "queue": event.queue}, only_states=("queued",))
            if ok:
                log.info("case answered: uniqueid=%s queue=%s agent=%s wait=%ss", event.uniqueid, event.queue,
                         extension_of(event.interface), event.hold_seconds)
        elif isinstance(event, ev.CallerAbandoned):
            if await self.repo.update(event.uniqueid, {
                    "state": "abandoned", "abandoned": 1, "ended_at": event.at, "ended_in": ENDED_IN["queue"],
                    "wait_seconds": float(event.hold_seconds)}, only_states=("queued",)):
                log.info("case abandoned: uniqueid=%s queue=%s wait=%ss", event.uniqueid, event.queue,
                         event.hold_seconds)
        elif isinstance(event, ev.AgentCompleted):
            await self.repo.update(event.uniqueid, {
                "state": "ended", "ended_at": event.at, "talk_seconds": float(event.talk_seconds),
                "ended_in": ENDED_IN["operator"]}, only_states=("answered",))
        elif isinstance(event, ev.ChannelHangup):
            await self._hangup(event)
        elif isinstance(event, ev.IvrHangup):
            await self._ivr_hangup(event)
        elif isinstance(event, ev.Resynced):
            await self._resync(event)
        elif isinstance(event, ev.TranscriptText) and event.kind == "final":
            await self.repo.add_segment({
                "case_uniqueid": event.uniqueid, "speaker": event.speaker, "language": event.language,
                "start": event.start, "end": event.end, "text": event.text, "confidence": event.confidence,
                "engine": event.engine, "created_at": event.at})

    async def _joined(self, e: ev.CallerJoined) -> None:
        lang, topic = e.language, e.topic
        parsed = parse_queue(e.queue)
        if parsed and not lang:
            lang, topic = parsed
        created = await self.repo.create({
            "uniqueid": e.uniqueid, "linkedid": e.linkedid, "caller_number": e.caller_number,
            "language": lang, "topic": topic, "ivr_path": e.ivr_path, "queue": e.queue, "queued_at": e.at,
            "arrived_at": e.arrived_at or None})
        if created:
            log.info("case opened: uniqueid=%s caller=%s queue=%s lang=%s topic=%s", e.uniqueid,
                     mask_number(e.caller_number), e.queue, lang, topic)
        elif e.ivr_path and await self.repo.update(e.uniqueid, {
                "language": lang, "topic": topic, "ivr_path": e.ivr_path, "queue": e.queue}, only_states=("queued",)):
            # the caller chose another language while waiting (the queue's exit context): the same
            # case in its new queue, its queued_at (and arrival) kept
            log.info("case moved: uniqueid=%s queue=%s lang=%s topic=%s", e.uniqueid, e.queue, lang, topic)

    async def _ivr_hangup(self, e: ev.IvrHangup) -> None:
        """An offered call that never reached a queue: its row (none if a case exists already)."""
        arrived = e.arrived_at or e.at
        created = await self.repo.create({
            "uniqueid": e.uniqueid, "linkedid": e.uniqueid, "caller_number": e.caller_number,
            "language": e.language, "topic": "", "ivr_path": e.ivr_path, "queue": "", "queued_at": arrived,
            "arrived_at": arrived, "state": IVR_STATE, "abandoned": 1, "ended_at": e.at,
            "ended_in": ENDED_IN["ivr"]})
        if created:
            log.info("call ended in the IVR: uniqueid=%s caller=%s after %.1fs path=%s", e.uniqueid,
                     mask_number(e.caller_number), e.at - arrived, e.ivr_path or "-")

    async def _hangup(self, e: ev.ChannelHangup) -> None:
        case = await self.repo.get(e.uniqueid)
        if case is None:
            return
        if case["state"] == "queued":
            # left the queue without QueueCallerAbandon (e.g. hung up during the move): abandoned
            await self.repo.update(e.uniqueid, {
                "state": "abandoned", "abandoned": 1, "ended_at": e.at, "ended_in": ENDED_IN["queue"],
                "wait_seconds": round(e.at - case["queued_at"], 3)}, only_states=("queued",))
        elif case["state"] == "answered":
            talk = e.at - (case["answered_at"] or e.at)
            await self.repo.update(e.uniqueid, {"state": "ended", "ended_at": e.at, "ended_in": ENDED_IN["operator"],
                                                "talk_seconds": round(talk, 3)}, only_states=("answered",))

    async def _resync(self, snap: ev.Resynced) -> None:
        live = {c.uniqueid: c for c in snap.channels}
        for case in await self.repo.open_cases():
            uid = case["uniqueid"]
            channel = live.get(uid)
            if channel is None:
                state = "abandoned" if case["state"] == "queued" else "ended"
                await self.repo.update(uid, {"state": state, "ended_at": snap.at,
                                             "abandoned": int(state == "abandoned"),
                                             "ended_in": ENDED_IN["queue" if state == "abandoned" else "operator"],
                                             "note": (case["note"] or "") + "closed at resync: channel gone;"},
                                       only_states=(case["state"],))
                log.warning("case %s closed at resync (channel gone), uniqueid=%s", case["id"], uid)
            elif case["state"] == "queued" and channel.bridged:
                await self.repo.update(uid, {"state": "answered", "operator": channel.connected_number,
                                             "answered_at": snap.at,
                                             "note": (case["note"] or "") + "answered while AMI was down;"},
                                       only_states=("queued",))
        for c in snap.channels:
            # a caller who queued and was answered while we were away (e.g. the fallback path)
            if c.application == "Queue" and c.bridged:
                queue = c.application_data.split(",", 1)[0]
                lang, topic = parse_queue(queue) or ("", "")
                if await self.repo.create({"uniqueid": c.uniqueid, "linkedid": c.linkedid,
                                           "caller_number": c.caller_number, "language": lang, "topic": topic,
                                           "ivr_path": "", "queue": queue, "queued_at": snap.at, "state": "answered",
                                           "operator": c.connected_number, "answered_at": snap.at,
                                           "source": "resync", "note": "answered while the service was down;"}):
                    log.warning("case opened at resync for a call already answered: uniqueid=%s queue=%s agent=%s",
                                c.uniqueid, queue, c.connected_number)
        for w in snap.waiting:
            lang, topic = parse_queue(w.queue) or ("", "")
            if await self.repo.create({"uniqueid": w.uniqueid, "caller_number": w.caller_number, "language": lang,
                                       "topic": topic, "ivr_path": "", "queue": w.queue,
                                       "queued_at": snap.at - w.wait_seconds, "source": "resync"}):
                log.warning("case opened at resync for a caller already waiting: uniqueid=%s queue=%s",
                            w.uniqueid, w.queue)
