"""Wrap-up after a call: the operator is paused with the reason "wrap-up" when a call ends,
and resumed when they save the case form (the case desk's ``CaseSaved``) or when
``routing.wrapup_seconds`` run out.

The queues see the same state the desktop shows (a paused member is not rung). A pause the
operator chose in the meantime (a break) is never ended by the timer. After a restart, members
Asterisk still shows in wrap-up get a fresh timer, so nobody stays in wrap-up for good.
"""

from __future__ import annotations

import asyncio
import logging

from hotline import events as ev
from hotline.queue.roster import WRAPUP_REASON, Roster
from hotline.queue.router import QueueControl
from hotline.queue.skills import extension_of, interface

log = logging.getLogger(__name__)


class WrapUp:
    def __init__(self, seconds: float, roster: Roster, pbx: QueueControl) -> None:
        self.seconds = seconds
        self.roster = roster
        self.pbx = pbx
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[bool]] = set()

    async def handle(self, event: ev.Event) -> None:
        if isinstance(event, ev.AgentCompleted):
            ext = extension_of(event.interface)
            op = self.roster.get(ext)
            if op is None or not op.queues or (op.paused and op.pause_reason != WRAPUP_REASON):
                return
            if self.seconds <= 0:
                return
            try:
                await self.pbx.queue_pause(interface(ext), True, WRAPUP_REASON)
            except Exception as exc:
                log.error("wrap-up pause failed: agent=%s uniqueid=%s: %s", ext, event.uniqueid, exc)
                return
            self._schedule(ext)
            log.info("wrap-up started: agent=%s uniqueid=%s for %ss", ext, event.uniqueid, self.seconds)
        elif isinstance(event, ev.CaseSaved):  # the case desk saved the operator's form
            if event.extension:
                await self.end(event.extension, "form saved")
        elif isinstance(event, ev.Resynced):
            for m in event.members:
                ext = extension_of(m.interface)
                if m.paused and m.pause_reason == WRAPUP_REASON and ext not in self._timers:
                    self._schedule(ext)

    def remaining(self, extension: str) -> float | None:
        handle = self._timers.get(extension)
        if handle is None:
            return None
        return max(0.0, handle.when() - asyncio.get_running_loop().time())

    def _schedule(self, ext: str) -> None:
        old = self._timers.pop(ext, None)
        if old:
            old.cancel()
        loop = asyncio.get_running_loop()

        def fire() -> None:
            self._timers.pop(ext, None)
            task = loop.create_task(self.end(ext, "timer"))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        self._timers[ext] = loop.call_later(self.seconds, fire)

    async def end(self, extension: str, why: str) -> bool:
        """End the wrap-up (form saved, or the timer); False when the operator is not in wrap-up."""
        handle = self._timers.pop(extension, None)
        if handle:
            handle.cancel()
        op = self.roster.get(extension)
        if op is None or not op.paused or op.pause_reason != WRAPUP_REASON:
            return False
        try:
            await self.pbx.queue_pause(interface(extension), False, "")
        except Exception as exc:
            log.error("wrap-up end failed: agent=%s (%s): %s", extension, why, exc)
            if why == "timer":
                self._schedule(extension)  # try again rather than leave them paused
            return False
        log.info("wrap-up ended: agent=%s by %s", extension, why)
        return True
