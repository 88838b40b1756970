"""In-process event bus: a bounded queue per subscriber; publishing never blocks.

A subscriber that falls behind loses its oldest events and is told how many through
``Subscription.dropped`` so it can resync from a snapshot.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class Subscription(Generic[T]):
    def __init__(self, bus: Bus[T], name: str, maxsize: int) -> None:
        self.name = name
        self.queue: asyncio.Queue[T] = asyncio.Queue(maxsize)
        self.dropped = 0
        self._bus = bus

    def offer(self, event: T) -> None:
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning("subscriber %s is behind: %d events dropped", self.name, self.dropped)
        self.queue.put_nowait(event)

    async def get(self) -> T:
        return await self.queue.get()

    def close(self) -> None:
        self._bus.unsubscribe(self)


class Bus(Generic[T]):
    def __init__(self) -> None:
        self._subs: list[Subscription[T]] = []
        self._filters: list[Callable[[T], bool]] = []

    def add_filter(self, keep: Callable[[T], bool]) -> None:
        """``keep(event)`` False: the event is not delivered (e.g. app_queue's end of a call that
        moved on into a conference: the conference service reports its real end)."""
        self._filters.append(keep)

    def subscribe(self, name: str, maxsize: int = 10_000) -> Subscription[T]:
        sub = Subscription(self, name, maxsize)
        self._subs.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription[T]) -> None:
        if sub in self._subs:
            self._subs.remove(sub)

    def pending(self) -> int:
        """Events published but not yet taken by a subscriber."""
        return sum(sub.queue.qsize() for sub in self._subs)

    def publish(self, event: T) -> None:
        if self._filters and not all(keep(event) for keep in self._filters):
            return
        for sub in self._subs:
            sub.offer(event)


async def consume(sub: Subscription[T], handler: Callable[[T], Awaitable[None] | None], *,
                  retry: tuple[type[BaseException], ...] = (), backoff_max: float = 5.0) -> None:
    """Feed each event to ``handler`` in order. An error of a ``retry`` type (e.g. the case
    store's disk is full) keeps the event and retries it with backoff until it succeeds, so
    nothing is lost; any other error is logged and that event skipped."""
    while True:
        event = await sub.get()
        delay = 0.2
        while True:
            try:
                result = handler(event)
                if result is not None:
                    await result
                break
            except retry as exc:
                log.error("%s: %s; %s kept, retrying in %.1fs", sub.name, exc, type(event).__name__, delay)
                await asyncio.sleep(delay)
                delay = min(backoff_max, delay * 2)
            except Exception:
                log.exception("%s failed on %s; event skipped", sub.name, type(event).__name__)
                break
