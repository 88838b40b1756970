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

Attempts are counted *before* the password is verified: ``begin`` refuses once the failures
so far plus the attempts still in flight reach a limit (so 40 wrong passwords sent at once get
``max_failures`` verifications, not 40), and at most ``address_concurrency`` attempts of one
address are verified at a time; ``end`` closes the attempt. IPv6 addresses count per /64 (one
host holds a whole /64). A success clears its pair. Memory is bounded: past ``max_keys`` entries
the expired ones go first, then the least recently touched (a spray of random names cannot grow
it, nor reset the sprayer's own counters, which it keeps touching).
"""

from __future__ import annotations

import ipaddress
import time
from collections import OrderedDict, deque
from collections.abc import Callable

MAX_KEYS = 100_000


def bucket(remote: str) -> str:
    """The address a counter is kept for: an IPv6 address's /64, an IPv4(-mapped) address itself."""
    try:
        ip = ipaddress.ip_address(remote)
    except ValueError:
        return remote
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


class LoginThrottle:
    def __init__(self, max_failures: int = 5, window: float = 900.0, delay: float = 30.0, max_delay: float = 900.0,
                 address_limit: int = 100, lockout: float = 900.0, user_free: int = 20, user_delay: float = 2.0,
                 clock: Callable[[], float] = time.monotonic, address_concurrency: int = 4,
                 max_keys: int = MAX_KEYS) -> None:
        self.max_failures = max_failures
        self.window = window
        self.delay = delay
        self.max_delay = max_delay
        self.address_limit = address_limit
        self.lockout = lockout
        self.user_free = user_free
        self.user_delay = user_delay
        self.address_concurrency = address_concurrency
        self.max_keys = max_keys
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()  # least recently touched first
        self._until: OrderedDict[str, float] = OrderedDict()
        self._inflight: dict[str, int] = {}

    @staticmethod
    def _pair(username: str, remote: str) -> str:
        return f"pair:{username.lower()}\0{bucket(remote)}"

    @staticmethod
    def _addr(remote: str) -> str:
        return f"addr:{bucket(remote)}"

    def _recent(self, key: str, now: float) -> deque[float]:
        q = self._failures.get(key)
        if q is None:
            return deque()
        while q and q[0] < now - self.window:
            q.popleft()
        return q

    def _evict(self, now: float) -> None:
        """Past ``max_keys``: drop what has expired, then the least recently touched, to 90%."""
        keep = self.max_keys * 9 // 10
        if len(self._failures) > self.max_keys:
            for key in [k for k, q in self._failures.items() if not q or q[-1] < now - self.window]:
                del self._failures[key]
            while len(self._failures) > keep:
                self._failures.popitem(last=False)
        if len(self._until) > self.max_keys:
            for key in [k for k, until in self._until.items() if until <= now]:
                del self._until[key]
            while len(self._until) > keep:
                self._until.popitem(last=False)

    def retry_after(self, username: str, remote: str) -> float:
        """Seconds until this user name may be tried from this address (0: now)."""
        now = self._clock()
        return max(0.0, self._until.get(self._pair(username, remote), 0.0) - now,
                   self._until.get(self._addr(remote), 0.0) - now)

    def begin(self, username: str, remote: str) -> float:
        """Before verifying a password: seconds to wait (refused: nothing is counted), or 0 (the
        attempt is in flight until ``end``). Refused when the pair's failures plus its attempts in
        flight reach ``max_failures``, the address's reach ``address_limit``, or the address has
        ``address_concurrency`` attempts in flight."""
        wait = self.retry_after(username, remote)
        if wait > 0:
            return wait
        now = self._clock()
        pair, addr = self._pair(username, remote), self._addr(remote)
        if len(self._recent(pair, now)) + self._inflight.get(pair, 0) >= self.max_failures:
            return 1.0  # the attempts in flight decide: failed, the pair waits; a success clears it
        in_flight = self._inflight.get(addr, 0)
        if len(self._recent(addr, now)) + in_flight >= self.address_limit or in_flight >= self.address_concurrency:
            return 1.0
        self._inflight[pair] = self._inflight.get(pair, 0) + 1
        self._inflight[addr] = in_flight + 1
        return 0.0

    def end(self, username: str, remote: str) -> None:
        """The attempt ``begin`` let through is over (after ``failed``/``succeeded``, or an error)."""
        for key in (self._pair(username, remote), self._addr(remote)):
            n = self._inflight.get(key, 0) - 1
            if n > 0:
                self._inflight[key] = n
            else:
                self._inflight.pop(key, None)

    def in_flight(self) -> int:
        return sum(n for k, n in self._inflight.items() if k.startswith("addr:"))

    def slowdown(self, username: str) -> float:
        """Seconds to hold this attempt's answer: the name is under a guess from many addresses."""
        return self.user_delay if len(self._recent(f"user:{username.lower()}", self._clock())) >= self.user_free \
            else 0.0

    def failed(self, username: str, remote: str) -> bool:
        """Record a failure; True when the pair or the address must now wait."""
        now = self._clock()
        waits = False
        pair, addr, user = self._pair(username, remote), self._addr(remote), f"user:{username.lower()}"
        for key in (pair, addr, user):
            q = self._recent(key, now)
            q.append(now)
            self._failures[key] = q
            self._failures.move_to_end(key)
        over = len(self._failures[pair]) - self.max_failures
        if over >= 0:
            self._until[pair] = now + min(self.max_delay, self.delay * 2 ** min(over, 20))
            self._until.move_to_end(pair)
            waits = True
        if len(self._failures[addr]) >= self.address_limit:
            self._until[addr] = now + self.lockout
            self._until.move_to_end(addr)
            self._failures[addr].clear()
            waits = True
        self._evict(now)
        return waits

    def succeeded(self, username: str, remote: str) -> None:
        pair = self._pair(username, remote)
        self._failures.pop(pair, None)
        self._until.pop(pair, None)
