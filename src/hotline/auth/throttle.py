"""Failed-login throttle that slows guessing without locking the real user out.

Three counters, each over a sliding ``window``:

- per user name *and* address: after ``max_failures`` failures that pair waits, doubling from
  ``delay`` up to ``max_delay``. Someone hammering user X from address A delays only X-from-A;
  X logs in from B as usual.
- per address: ``address_limit`` failures (any user names) block that address for ``lockout``
  — a password spray from one machine. Behind a proxy or NAT the address is the client's own
  only when the proxy is named in ``[http] trusted_proxies`` (its X-Forwarded-For is believed);
  the limit is high enough that a floor's typos never reach it.
- per user name, from all addresses: past ``user_free`` failures each further attempt for that
  name is answered ``user_delay`` seconds late (an asyncio sleep, not a lock), so a guess spread
  over many addresses is slow while the real user still gets in.

A success clears its pair. Memory is bounded (a spray of random names cannot grow it forever).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

MAX_KEYS = 100_000


class LoginThrottle:
    def __init__(self, max_failures: int = 5, window: float = 900.0, delay: float = 30.0, max_delay: float = 900.0,
                 address_limit: int = 100, lockout: float = 900.0, user_free: int = 20, user_delay: float = 2.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_failures = max_failures
        self.window = window
        self.delay = delay
        self.max_delay = max_delay
        self.address_limit = address_limit
        self.lockout = lockout
        self.user_free = user_free
        self.user_delay = user_delay
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._until: dict[str, float] = {}

    @staticmethod
    def _pair(username: str, remote: str) -> str:
        return f"pair:{username.lower()}\0{remote}"

    def _recent(self, key: str, now: float) -> deque[float]:
        q = self._failures.get(key)
        if q is None:
            return deque()
        while q and q[0] < now - self.window:
            q.popleft()
        return q

    def retry_after(self, username: str, remote: str) -> float:
        """Seconds until this user name may be tried from this address (0: now)."""
        now = self._clock()
        return max(0.0, self._until.get(self._pair(username, remote), 0.0) - now,
                   self._until.get(f"addr:{remote}", 0.0) - now)

    def slowdown(self, username: str) -> float:
        """Seconds to hold this attempt's answer: the name is under a guess from many addresses."""
        return self.user_delay if len(self._recent(f"user:{username.lower()}", self._clock())) >= self.user_free \
            else 0.0

    def failed(self, username: str, remote: str) -> bool:
        """Record a failure; True when the pair or the address must now wait."""
        now = self._clock()
        if len(self._failures) > MAX_KEYS:  # bounded memory under a spray of names
            self._failures.clear()
            self._until = {k: v for k, v in self._until.items() if v > now}
        waits = False
        pair, addr, user = self._pair(username, remote), f"addr:{remote}", f"user:{username.lower()}"
        for key in (pair, addr, user):
            q = self._recent(key, now)
            q.append(now)
            self._failures[key] = q
        over = len(self._failures[pair]) - self.max_failures
        if over >= 0:
            self._until[pair] = now + min(self.max_delay, self.delay * 2 ** min(over, 20))
            waits = True
        if len(self._failures[addr]) >= self.address_limit:
            self._until[addr] = now + self.lockout
            self._failures[addr].clear()
            waits = True
        return waits

    def succeeded(self, username: str, remote: str) -> None:
        pair = self._pair(username, remote)
        self._failures.pop(pair, None)
        self._until.pop(pair, None)
