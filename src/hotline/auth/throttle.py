"""Failed-login throttle: too many failures for one user name or one address lock it out a while."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


class LoginThrottle:
    def __init__(self, max_failures: int = 5, window: float = 300.0, lockout: float = 300.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_failures = max_failures
        self.window = window
        self.lockout = lockout
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._locked_until: dict[str, float] = {}

    def _keys(self, username: str, remote: str) -> tuple[str, str]:
        return f"user:{username.lower()}", f"addr:{remote}"

    def retry_after(self, username: str, remote: str) -> float:
        """Seconds until a login may be tried again (0: allowed now)."""
        now = self._clock()
        return max([0.0] + [self._locked_until.get(k, 0.0) - now for k in self._keys(username, remote)])

    def failed(self, username: str, remote: str) -> bool:
        """Record a failure; True when it locked the user name or the address."""
        now = self._clock()
        locked = False
        for key in self._keys(username, remote):
            q = self._failures.setdefault(key, deque())
            q.append(now)
            while q and q[0] < now - self.window:
                q.popleft()
            if len(q) >= self.max_failures:
                self._locked_until[key] = now + self.lockout
                q.clear()
                locked = True
        if len(self._failures) > 100_000:  # bounded memory under a spray of names
            self._failures.clear()
        return locked

    def succeeded(self, username: str, remote: str) -> None:
        self._failures.pop(self._keys(username, remote)[0], None)
