"""What the queue side reads of the calls in progress (issue 15): the callers waiting now.

The live floor's call registry (``hotline.floor.calls.CallRegistry``) keeps one record per call,
fed by the state pump; the service level and the router read it through these protocols, so
``queue/`` never imports the floor. The registry satisfies them structurally.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class WaitingCall(Protocol):
    """A caller waiting in a queue."""

    @property
    def uniqueid(self) -> str: ...
    @property
    def queue(self) -> str: ...
    @property
    def joined_at(self) -> float: ...
    @property
    def arrived_at(self) -> float:
        """The first ring (arrival at the IVR); 0.0 when not known (the clock starts at joined_at)."""
    @property
    def urgent(self) -> bool:
        """Marked at entry for overflow at once (nobody with the skill free, or 0 pressed)."""


class WaitingCalls(Protocol):
    def waiting(self) -> Sequence[WaitingCall]:
        """Every caller waiting now, oldest first."""
    def waiting_in(self, queue: str) -> Sequence[WaitingCall]:
        """The callers waiting in ``queue``, oldest first."""
