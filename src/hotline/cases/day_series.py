"""Today's calls as time series for the wallboard's charts (issue 18): per bucket of ``step``
seconds the calls offered, answered, abandoned and answered within the target, on two clocks
(from queue entry, ``wait_seconds``; from the first ring, ``answered_at - arrived_at``, when the
case rows carry ``arrived_at``), and the callers waiting (the most at once in the bucket, and at
its end). A caller who hung up in the IVR (state ``abandoned-ivr``, queue/service_level.py's
IVR_STATE) is offered and abandoned on the first-ring clock only, as the board counts it.

``DaySeriesStore`` reads the few columns of the day's call rows on the read pool (the
``queued_at`` index keeps it to the day's rows); ``series`` buckets them (pure)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hotline.storage.database import Database

if TYPE_CHECKING:
    import sqlite_utils

__all__ = ["CallTimes", "DaySeriesStore", "series"]
IVR_STATE = "abandoned-ivr"  # queue/service_level.py's (cases/ does not import queue/)


@dataclass(frozen=True, slots=True)
class CallTimes:
    queued_at: float
    answered_at: float | None
    left_at: float | None  # when the caller stopped waiting (answered or gave up); None: waiting now
    wait_seconds: float | None
    abandoned: bool
    arrived_at: float | None  # the first ring (the first-ring clock), when the rows have it
    ivr: bool = False  # hung up in the IVR: never queued (counted on the first-ring clock only)


class DaySeriesStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def calls(self, since: float, until: float) -> tuple[list[CallTimes], bool]:
        """The calls queued in [since, until) (hand-entered cases are no calls), and whether the
        rows carry ``arrived_at`` (the first-ring clock)."""
        def run(db: sqlite_utils.Database) -> tuple[list[CallTimes], bool]:
            columns = {str(r[1]) for r in db.execute("pragma table_info(cases)")}
            first_ring = "arrived_at" in columns
            arrived = "arrived_at" if first_ring else "null"
            sql = ("select queued_at, answered_at, state, ended_at, wait_seconds, abandoned, " + arrived +
                   " from cases where queued_at >= ? and queued_at < ? and coalesce(source, 'queue') != 'manual'"
                   " order by queued_at")
            out = []
            for q, a, state, ended, wait, abandoned, arr in db.execute(sql, [since, until]):
                if a is not None:
                    left: float | None = float(a)
                elif state == "queued":
                    left = None
                else:
                    left = float(ended) if ended is not None else float(q) + float(wait or 0.0)
                ivr = state == IVR_STATE
                out.append(CallTimes(float(q), None if a is None else float(a), None if ivr else left,
                                     None if wait is None else float(wait), bool(abandoned),
                                     None if arr is None else float(arr), ivr))
            return out, first_ring
        return await self.db.read(run)


def _pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def series(calls: list[CallTimes], start: float, end: float, step: int, target: float, now: float,
           first_ring: bool) -> dict[str, Any]:
    """Buckets of ``step`` seconds from ``start`` up to the one holding ``min(now, end)``: the
    counts per bucket (by queue entry), the service level of each bucket and of the day so far
    (answered within ``target`` of answered + abandoned: "of offered"; and of answered), on the
    queue-entry clock and, with ``first_ring``, on the first-ring clock; the callers waiting."""
    last = min(now, end)
    n = max(1, math.ceil((last - start) / step)) if last > start else 1
    at = [start + i * step for i in range(n)]
    offered, answered, abandoned, ivr = [0] * n, [0] * n, [0] * n, [0] * n
    in_target, first_in_target = [0] * n, [0] * n
    moves: list[tuple[float, int]] = []
    for c in calls:
        i = int((c.queued_at - start) // step)
        if c.ivr:
            if 0 <= i < n:
                ivr[i] += 1
            continue
        if 0 <= i < n:
            offered[i] += 1
            if c.answered_at is not None:
                answered[i] += 1
                if c.wait_seconds is not None and c.wait_seconds <= target:
                    in_target[i] += 1
                since = c.arrived_at if c.arrived_at is not None else c.queued_at
                if c.answered_at - since <= target:
                    first_in_target[i] += 1
            elif c.abandoned:
                abandoned[i] += 1
        moves.append((c.queued_at, 1))
        if c.left_at is not None:
            moves.append((c.left_at, -1))
    moves.sort()
    waiting_max, waiting_end = [0] * n, [0] * n
    level, k = 0, 0
    for i in range(n):
        b_end = min(at[i] + step, last)
        while k < len(moves) and moves[k][0] < at[i]:
            level += moves[k][1]
            k += 1
        peak = level
        while k < len(moves) and moves[k][0] < b_end:
            level += moves[k][1]
            k += 1
            peak = max(peak, level)
        waiting_max[i], waiting_end[i] = peak, level

    def levels(hits: list[int], gave_up: list[int]) -> dict[str, list[float | None]]:
        done = [answered[i] + gave_up[i] for i in range(n)]
        run_hits, run_done, run_answered = 0, 0, 0
        day_offered: list[float | None] = []
        day_answered: list[float | None] = []
        for i in range(n):
            run_hits, run_done, run_answered = run_hits + hits[i], run_done + done[i], run_answered + answered[i]
            day_offered.append(_pct(run_hits, run_done))
            day_answered.append(_pct(run_hits, run_answered))
        return {"over_offered": [_pct(hits[i], done[i]) for i in range(n)],
                "over_answered": [_pct(hits[i], answered[i]) for i in range(n)],
                "day_over_offered": day_offered, "day_over_answered": day_answered}
    out: dict[str, Any] = {
        "start": start, "step": step, "target_seconds": target, "at": at,
        "offered": offered, "answered": answered, "abandoned": abandoned, "answered_in_target": in_target,
        "sl": levels(in_target, abandoned), "waiting_max": waiting_max, "waiting_end": waiting_end,
        "clocks": ["queue", "first_ring"] if first_ring else ["queue"]}
    if first_ring:
        out["answered_in_target_first_ring"] = first_in_target
        out["abandoned_in_ivr"] = ivr
        out["first_ring_sl"] = levels(first_in_target, [abandoned[i] + ivr[i] for i in range(n)])
    return out
