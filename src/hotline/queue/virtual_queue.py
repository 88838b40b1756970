"""Queued call back ("keep my place", issue 16): the virtual places and their reservations (pure).

A caller who waits longer than a threshold may press a key, hang up and be called back in their
turn. Their place is kept as a ``VirtualPlace``: ordered by the original call's first ring
(``arrived_at``), then by the request's time, so the call back keeps the place the call had.

A place comes up when no live caller in its queue arrived before it; it is only called when an
operator is *reserved* for it (``VirtualQueue.reserve``), so the citizen's phone never rings
without somebody to talk to. A reservation that fails (no answer, the PBX refused) gives the
place back with its original order (``release``), up to ``max_attempts``.

Its own figure (``callback_figures``): the share of requests answered within N minutes of the
request, apart from the 15-second figure.

Nothing here talks to Asterisk or the database: the wiring (the dialplan key, the Originate,
the case row's link to the first call) is the caller's. Not wired yet: see docs/ivr.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any


@dataclass(frozen=True)
class VirtualPlace:
    request_id: int
    queue: str
    number: str
    uniqueid: str  # the first call's, which the call back's case links to
    arrived_at: float  # the first call's first ring: the place's order
    requested_at: float  # when the caller pressed the key
    attempts: int = 0


@dataclass(frozen=True)
class Reservation:
    place: VirtualPlace
    operator: str
    reserved_at: float


def place_order(p: VirtualPlace) -> tuple[float, float, int]:
    return (p.arrived_at, p.requested_at, p.request_id)


def offer_callback(predicted_wait: float | None, threshold_seconds: float) -> bool:
    """Whether the caller is offered the call back: the predicted wait passes the threshold
    (no prediction: no offer)."""
    return predicted_wait is not None and threshold_seconds > 0 and predicted_wait > threshold_seconds


class VirtualQueue:
    def __init__(self, max_attempts: int = 3) -> None:
        self.max_attempts = max_attempts
        self._places: dict[int, VirtualPlace] = {}
        self._reserved: dict[int, Reservation] = {}

    def add(self, place: VirtualPlace) -> None:
        if place.request_id in self._places or place.request_id in self._reserved:
            raise ValueError(f"call back request {place.request_id} already kept")
        self._places[place.request_id] = place

    def cancel(self, request_id: int) -> VirtualPlace | None:
        self._reserved.pop(request_id, None)
        return self._places.pop(request_id, None)

    def waiting(self, queue: str | None = None) -> list[VirtualPlace]:
        """The places not yet reserved, in their turn."""
        out = [p for p in self._places.values()
               if p.request_id not in self._reserved and (queue is None or p.queue == queue)]
        return sorted(out, key=place_order)

    def reservations(self) -> list[Reservation]:
        return sorted(self._reserved.values(), key=lambda r: place_order(r.place))

    def due(self, queue: str, live_arrivals: Iterable[float]) -> VirtualPlace | None:
        """The queue's first place when it is its turn: no live caller waiting in the queue
        arrived before it."""
        places = self.waiting(queue)
        if not places:
            return None
        head = places[0]
        earliest_live = min(live_arrivals, default=None)
        if earliest_live is not None and earliest_live < head.arrived_at:
            return None
        return head

    def reserve(self, queue: str, live_arrivals: Iterable[float], free_operators: Sequence[str],
                now: float, eligible: Callable[[str, str], bool] = lambda _op, _q: True) -> Reservation | None:
        """Reserve the first free operator (in the order given: the router's) not already
        reserved and able to take ``queue`` for the due place, if any."""
        place = self.due(queue, live_arrivals)
        if place is None:
            return None
        taken = {r.operator for r in self._reserved.values()}
        for op in free_operators:
            if op not in taken and eligible(op, queue):
                res = Reservation(place, op, now)
                self._reserved[place.request_id] = res
                return res
        return None

    def reserved_operator(self, request_id: int) -> str | None:
        res = self._reserved.get(request_id)
        return res.operator if res else None

    def release(self, request_id: int) -> VirtualPlace | None:
        """The call back was not answered: the operator is free again; the place goes back in its
        original turn, or is dropped after ``max_attempts`` (returns None then)."""
        res = self._reserved.pop(request_id, None)
        place = self._places.get(request_id)
        if res is None or place is None:
            return None
        place = replace(place, attempts=place.attempts + 1)
        if place.attempts >= self.max_attempts:
            del self._places[request_id]
            return None
        self._places[request_id] = place
        return place

    def answered(self, request_id: int) -> Reservation | None:
        """The citizen answered and is with the reserved operator: the place is done."""
        res = self._reserved.pop(request_id, None)
        self._places.pop(request_id, None)
        return res


def callback_figures(requests: Iterable[dict[str, Any]], within_minutes: float) -> dict[str, Any]:
    """The queued call back's own figure, apart from the 15-second one. Each request is a mapping
    with ``requested_at`` and ``answered_at`` (None while not answered)."""
    rows = list(requests)
    answered = [r for r in rows if r.get("answered_at") is not None]
    in_target = [r for r in answered
                 if float(r["answered_at"]) - float(r["requested_at"]) <= within_minutes * 60]
    return {"requested": len(rows), "answered": len(answered), "answered_in_target": len(in_target),
            "within_minutes": within_minutes,
            "pct_in_target": round(100.0 * len(in_target) / len(rows), 1) if rows else None}
