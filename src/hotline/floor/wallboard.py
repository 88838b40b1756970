"""Pushes the wallboard to every supervisor page: one computation per change for all pages.

Events update the Board; a flush follows at most ``min_interval`` later and sends only the rows
and sections that changed (serialised once for every page). Every second a tick sends what
changes with time alone (the 5/30-minute windows, alerts, wrap-ups that ran out); every five
seconds it reads the store's figures for the big screen (cases in progress, top topics): one
query for all pages, not one per page.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from hotline import events as ev
from hotline.auth.users import Principal
from hotline.cases import audit_chain
from hotline.config import Settings
from hotline.floor.board import Board
from hotline.floor.messages import board_message
from hotline.floor.notify import BoardNotifier
from hotline.floor.supervision import Supervision

log = logging.getLogger(__name__)


class WallboardStore(Protocol):
    """The big screen's figures from the case rows (cases/store.py)."""

    async def cases_in_progress(self, since: float) -> int: ...
    async def top_topics(self, since: float, limit: int = 5) -> list[dict[str, Any]]: ...


class AuditRows(Protocol):
    """The floor's audit rows (cases/audit_store.py)."""

    async def audit_log(self, limit: int = 100, exclude: tuple[str, ...] = ()) -> list[dict[str, Any]]: ...


class PauseLog(Protocol):
    """Each operator's pauses, for the history report (storage/operator_store.py)."""

    async def open_pause(self, extension: str, reason: str, at: float) -> None: ...
    async def close_pause(self, extension: str, at: float) -> None: ...


class WallboardService:
    def __init__(self, settings: Settings, board: Board, supervision: Supervision, hub: BoardNotifier,
                 store: WallboardStore, audits: AuditRows, pauses: PauseLog, since_day: Callable[[], float],
                 min_interval: float = 0.05,
                 clock: Callable[[], float] = time.time,
                 interpreting: Callable[[], dict[str, Any]] | None = None) -> None:
        self.settings = settings
        self.board = board
        self.supervision = supervision
        self.hub = hub
        self.store = store
        self.audits = audits
        self.pauses = pauses
        self.since_day = since_day
        self.min_interval = min_interval
        self._clock = clock
        self._sent: dict[str, Any] = {"queues": {}, "agents": {}}
        self._last_flush = 0.0
        self._pending: asyncio.TimerHandle | None = None
        self.summary: dict[str, Any] = {"cases_in_progress": 0, "top_topics": []}
        self._audit: list[dict[str, Any]] = []
        self._audit_stale = True
        self._audit_task: asyncio.Task[None] | None = None
        self.interpreting = interpreting  # the interpreter pool's section (None: no interpreters section)
        self.sections: dict[str, Callable[[], Any]] = {}  # other services' sections (the crisis alerts' counts)

    # -- events -------------------------------------------------------------------------------------

    async def handle(self, event: ev.Event) -> None:
        """The board itself is updated with the roster (same event, same step: runtime's state
        pump); here the supervision sessions, and a flush."""
        await self.supervision.handle(event)
        self.changed()
        if self.board.pause_log:
            log_, self.board.pause_log = self.board.pause_log, []
            for ext, paused, reason, at in log_:
                try:
                    await self.pauses.close_pause(ext, at)
                    if paused:
                        await self.pauses.open_pause(ext, reason, at)
                except Exception as exc:  # the board goes on; the history misses this pause
                    log.error("pause log not written: agent=%s paused=%s reason=%s: %s", ext, paused, reason, exc)

    def changed(self) -> None:
        """Something changed: flush now, or at the end of the current interval."""
        if self._pending is not None:
            return
        loop = asyncio.get_running_loop()
        delay = max(0.0, self._last_flush + self.min_interval - loop.time())
        self._pending = loop.call_later(delay, self._flush_soon)

    def audit_changed(self) -> None:
        self._audit_stale = True
        with contextlib.suppress(RuntimeError):  # no loop: nothing to flush yet
            self.changed()

    def _flush_soon(self) -> None:
        self._pending = None
        self._last_flush = asyncio.get_running_loop().time()
        try:
            dirty = self.board.take_dirty()
            if self.hub.boards():  # nobody watching: a page that opens gets a snapshot
                self.flush(dirty)
        except Exception:
            log.exception("wallboard flush failed")
        if self._audit_stale and (self._audit_task is None or self._audit_task.done()):
            # one refresh at a time (a burst of refusals marks it stale on every tick), kept to be cancelled
            self._audit_task = asyncio.get_running_loop().create_task(self._refresh_audit())

    # -- building messages ---------------------------------------------------------------------------

    def _sections(self) -> dict[str, Any]:
        totals = self.board.totals()
        return {"waiting": self.board.waiting(), "alerts": self.board.alerts(), "totals": totals,
                # the big screen: the citizen's calls and clock first (the IVR hang-ups offered), and
                # Asterisk's (from queue entry) beside it
                "summary": {**self.summary, "calls_today": totals["first_ring_offered"],
                            "sl_today": totals["sl_over_offered"],
                            "sl_today_first_ring": totals["first_ring_sl_over_offered"]},
                "sessions": [s.to_json() for s in self.supervision.sessions.values()],
                "interpreting": self.interpreting() if self.interpreting is not None else None,
                **{name: section() for name, section in self.sections.items()}}

    def flush(self, agents: list[dict[str, Any]]) -> dict[str, Any] | None:
        """Send what changed; ``agents`` are the operator rows to compare with what was sent."""
        update: dict[str, Any] = {}
        rows = [q for q in self.board.queues() if self._sent["queues"].get(q["queue"]) != q]
        if rows:
            update["queues"] = rows
            self._sent["queues"].update({q["queue"]: q for q in rows})
        changed = [a for a in agents if self._sent["agents"].get(a["extension"]) != a]
        if changed:
            update["agents"] = changed
            self._sent["agents"].update({a["extension"]: a for a in changed})
        for name, value in self._sections().items():
            if self._sent.get(name) != value:
                update[name] = self._sent[name] = value
        if not update:
            return None
        msg = board_message("wallboard_update", **update, server_time=self._clock())
        self.hub.to_boards(msg)
        return msg

    async def snapshot(self, principal: Principal) -> dict[str, Any]:
        if self._audit_stale:
            await self._refresh_audit()
        s = self.settings
        return board_message(
            "wallboard_snapshot", me=principal.to_json(), target_seconds=s.routing.target_seconds,
            goal_percent=s.routing.goal_percent, languages=[{"code": lang.code, "name": lang.name}
                                                             for lang in s.languages],
            topics=[{"code": t.code, "name": t.name} for t in s.topics], queues=self.board.queues(),
            agents=self.board.agents(), audit=self._audit, server_time=self._clock(), **self._sections())

    async def _refresh_audit(self) -> None:
        self._audit_stale = False
        try:
            rows = await self.audits.audit_log(20, exclude=audit_chain.DATA_ACTIONS)  # the floor's actions
        except Exception as exc:
            log.error("wallboard: audit log unreadable: %s", exc)
            return
        audit = [{**r, "detail": json.loads(r["detail"] or "{}")} for r in rows]
        if audit != self._audit:
            self._audit = audit
            self.hub.to_boards(board_message("wallboard_update", audit=audit, server_time=self._clock()))

    # -- time ---------------------------------------------------------------------------------------

    async def tick_forever(self, interval: float = 1.0, store_every: int = 5) -> None:
        n = 0
        while True:
            await asyncio.sleep(interval)
            try:
                if self.since_day() != self.board.since_day:
                    self.board.new_day(self.since_day())
                if n % store_every == 0:
                    await self._refresh_summary()
                n += 1
                if self.hub.boards():
                    self.flush(self.board.agents())
            except Exception:
                log.exception("wallboard tick failed")

    async def _refresh_summary(self) -> None:
        since = self.since_day()
        try:
            self.summary = {"cases_in_progress": await self.store.cases_in_progress(since),
                            "top_topics": await self.store.top_topics(since)}
        except Exception as exc:  # the board goes on with the last figures
            log.error("wallboard: store figures unavailable: %s", exc)
