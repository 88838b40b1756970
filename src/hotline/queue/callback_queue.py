"""Queued call back ("keep my place", issue 16): the coordinator over ``VirtualQueue``.

``request`` keeps a caller's place (the key pressed while waiting). ``tick`` looks at each queue
with kept places: when a place's turn has come (no live caller rang before it) and an operator
is free, the operator is reserved (paused with reason ``call-back``, so app_queue rings them no
more), then the citizen is called (``originate_queued_callback``: answered, the dialplan connects
them to that operator). ``outcome`` closes the attempt: unanswered, the operator is unpaused and
the place goes back in its turn; answered, the request is done and the operator stays reserved
until ``finished`` (the call ended). Its records feed ``virtual_queue.callback_figures``.

Not wired into the service yet (no dialplan key, no FastAGI request, no case link): see
docs/ivr.md. The PBX, the live callers and the free operators are the caller's (Protocols).
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from hotline.queue.virtual_queue import Reservation, VirtualPlace, VirtualQueue, callback_figures
from hotline.queue.waiting import WaitingCalls

log = logging.getLogger(__name__)

PAUSE_REASON = "call-back"


class QueuedCallbackPbx(Protocol):
    async def queue_pause(self, interface: str, paused: bool, reason: str) -> None: ...
    async def originate_queued_callback(self, dial: str, operator: str, channel_id: str,
                                        variables: dict[str, str]) -> None: ...


@dataclass
class Request:
    place: VirtualPlace
    channel_id: str = ""
    answered_at: float | None = None
    dropped: bool = False


class QueuedCallbacks:
    def __init__(self, pbx: QueuedCallbackPbx, calls: WaitingCalls,
                 free_operators: Callable[[str], Sequence[str]], dial: str, *, max_attempts: int = 3,
                 clock: Callable[[], float] = time.time) -> None:
        if "{number}" not in dial:
            raise ValueError(f"dial must contain {{number}}, got {dial!r}")
        self.pbx, self.calls, self.free_operators, self.dial = pbx, calls, free_operators, dial
        self.clock = clock
        self.vq = VirtualQueue(max_attempts)
        self.requests: dict[int, Request] = {}
        self._connected: dict[int, str] = {}  # answered call backs: request -> the operator still reserved
        self._next_id = 1

    def request(self, uniqueid: str, queue: str, number: str, arrived_at: float) -> int:
        rid = self._next_id
        self._next_id += 1
        place = VirtualPlace(rid, queue, number, uniqueid, arrived_at, self.clock())
        self.vq.add(place)
        self.requests[rid] = Request(place)
        log.info("call back %d keeps the place of uniqueid=%s in %s (arrived %.1f)", rid, uniqueid, queue, arrived_at)
        return rid

    async def tick(self) -> list[Reservation]:
        placed = []
        for queue in sorted({p.queue for p in self.vq.waiting()}):
            live = [c.arrived_at for c in self.calls.waiting_in(queue)]
            res = self.vq.reserve(queue, live, self.free_operators(queue), self.clock())
            if res is None:
                continue
            req = self.requests[res.place.request_id]
            req.channel_id = f"hl-qcb-{res.place.request_id}-{secrets.token_hex(4)}"
            interface = f"PJSIP/{res.operator}"
            try:
                await self.pbx.queue_pause(interface, True, PAUSE_REASON)
                await self.pbx.originate_queued_callback(
                    self.dial.replace("{number}", res.place.number), interface, req.channel_id,
                    {"HL_QCB": str(res.place.request_id), "HL_QCB_OF": res.place.uniqueid,
                     "HL_ARRIVED": f"{res.place.arrived_at:.3f}"})
            except Exception as exc:  # the PBX refused or is away: the place keeps its turn
                log.error("call back %d not placed: %s", res.place.request_id, exc)
                await self.outcome(res.place.request_id, answered=False)
                continue
            log.info("call back %d: %s reserved, calling %s", res.place.request_id, res.operator, res.place.number)
            placed.append(res)
        return placed

    async def outcome(self, request_id: int, answered: bool) -> None:
        req = self.requests.get(request_id)
        operator = self.vq.reserved_operator(request_id)
        if req is None or operator is None:
            return
        if answered:
            self.vq.answered(request_id)
            req.answered_at = self.clock()
            self._connected[request_id] = operator
            return
        await self._unpause(operator)
        if self.vq.release(request_id) is None:
            req.dropped = True
            log.warning("call back %d given up after %d attempts", request_id, self.vq.max_attempts)

    async def finished(self, request_id: int) -> None:
        """The answered call back's call ended: the operator's reservation ends."""
        operator = self._connected.pop(request_id, None)
        if operator:
            await self._unpause(operator)

    async def _unpause(self, operator: str) -> None:
        try:
            await self.pbx.queue_pause(f"PJSIP/{operator}", False, PAUSE_REASON)
        except Exception as exc:
            log.error("operator %s still paused for a call back: %s", operator, exc)

    def figures(self, within_minutes: float) -> dict[str, Any]:
        return callback_figures(({"requested_at": r.place.requested_at, "answered_at": r.answered_at}
                                 for r in self.requests.values()), within_minutes)
