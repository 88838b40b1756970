"""In-process event bus: a bounded queue per subscriber; publishing never blocks.

A subscriber that falls behind loses its oldest events and is told how many through
``Subscription.dropped`` so it can resync from a snapshot.
"""

from __future__ import annotations

import asyncio
import logging
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

    def subscribe(self, name: str, maxsize: int = 10_000) -> Subscription[T]:
        sub = Subscription(self, name, maxsize)
        self._subs.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription[T]) -> None:
        if sub in self._subs:
            self._subs.remove(sub)

    def publish(self, event: T) -> None:
        for sub in self._subs:
            sub.offer(event)
