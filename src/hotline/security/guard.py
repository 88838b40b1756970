"""The SIP guard (pure): failed logins counted per source address, a block after too many in a
window, its expiry; and the per-source call limit of the citizens' trunk (a sliding window).

No I/O here: the SIP security service (security/service.py) feeds it Asterisk's security events
and applies its decisions (the ACL rows, the audit log, the wallboard). Every method takes the
time from the injected clock, so the tests use a fake one.
"""

from __future__ import annotations

import ipaddress
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hotline.config import SipSecurity


@dataclass
class Block:
    address: str
    failures: int
    since: float
    until: float
    accounts: tuple[str, ...] = ()
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"address": self.address, "failures": self.failures, "since": self.since, "until": self.until,
                "accounts": list(self.accounts), "reason": self.reason}


@dataclass
class _Source:
    failures: deque[float] = field(default_factory=deque)
    accounts: dict[str, None] = field(default_factory=dict)  # ordered set of the accounts tried


def parse_address(text: str) -> str | None:
    """The IP of an AMI address (``IPV4/UDP/127.0.0.5/5060``, ``IPV6/UDP/::1/5060``), a
    ``host:port`` (``127.0.0.5:5060``, ``[::1]:5060``) or a bare IP; None when it is none of them."""
    text = text.strip()
    parts = text.split("/")
    if len(parts) >= 3 and parts[0].upper() in ("IPV4", "IPV6"):
        text = parts[2]
    elif text.startswith("["):
        text = text[1:].split("]", 1)[0]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


class SipGuard:
    """Counts authentication failures per source and decides blocks and their expiry."""

    MAX_SOURCES = 10_000  # failure counters kept at most (the least recently failed go first)

    def __init__(self, settings: SipSecurity, clock: Callable[[], float]) -> None:
        self.settings = settings
        self.clock = clock
        # never blocked: the operators' own subnets, and the carriers (a failure "from" a carrier
        # can be one spoofed UDP packet; blocking it would refuse every citizen's call)
        self._trusted = [ipaddress.ip_network(n, strict=False)
                         for n in (*settings.trusted_networks, *settings.carrier_sources)]
        self._sources: dict[str, _Source] = {}  # least recently failed first (an LRU of MAX_SOURCES)
        self.blocks: dict[str, Block] = {}
        self.ignored_trusted = 0  # failures from trusted networks or carriers (counted, never blocked)

    def trusted(self, address: str) -> bool:
        """In trusted_networks or a carrier source; ``address`` may be a blocked /64."""
        net = ipaddress.ip_network(address, strict=False)
        return any(net.version == t.version and net.overlaps(t) for t in self._trusted)

    def key(self, address: str) -> str:
        """What is counted and blocked: an IPv4 address; for IPv6 its /64 (one subscriber's
        prefix, so an attacker cannot walk through its addresses), or the address alone when the
        /64 holds a trusted network or a carrier."""
        ip = ipaddress.ip_address(address)
        if ip.version == 6:
            net = ipaddress.ip_network((ip, 64), strict=False)
            if not self.trusted(str(net)):
                return str(net)
        return str(ip)

    def restore(self, blocks: list[Block]) -> list[Block]:
        """Blocks kept across a restart: the ones still running are taken back; the expired ones
        are returned (to be lifted)."""
        now = self.clock()
        expired = []
        for b in blocks:
            if b.until > now and not self.trusted(b.address):
                self.blocks[b.address] = b
            else:
                expired.append(b)
        return expired

    def failure(self, address: str, account: str = "") -> Block | None:
        """One failed authentication (or a request for an unknown account, or one the ACL
        refused) from ``address``; the new Block when this one reaches the limit."""
        s = self.settings
        if not s.enabled or address in self.blocks:
            return None
        if self.trusted(address):
            self.ignored_trusted += 1
            return None
        now = self.clock()
        address = self.key(address)
        if address in self.blocks:
            return None
        src = self._sources.pop(address, None) or _Source()
        self._sources[address] = src  # the most recent at the end
        while len(self._sources) > self.MAX_SOURCES:  # many sources (spoofed, say): forget the oldest
            del self._sources[next(iter(self._sources))]
        src.failures.append(now)
        while src.failures and src.failures[0] <= now - s.window_seconds:
            src.failures.popleft()
        if account:
            src.accounts.setdefault(account[:64], None)
            while len(src.accounts) > 20:
                del src.accounts[next(iter(src.accounts))]
        if len(src.failures) < s.max_failures:
            return None
        block = Block(address, len(src.failures), now, now + s.block_minutes * 60, tuple(src.accounts),
                      f"{len(src.failures)} failed SIP logins in {s.window_seconds:g} s")
        self.blocks[address] = block
        del self._sources[address]
        return block

    def expired(self) -> list[Block]:
        """Blocks whose time is up, removed from the guard (the caller lifts them)."""
        now = self.clock()
        done = [b for b in self.blocks.values() if b.until <= now]
        for b in done:
            del self.blocks[b.address]
        # forget counters whose window has passed, so a slow trickle of sources cannot grow them
        for addr in [a for a, src in self._sources.items() if not src.failures
                     or src.failures[-1] <= now - self.settings.window_seconds]:
            del self._sources[addr]
        return done

    def unblock(self, address: str) -> Block | None:
        """Lifted by hand (`hotline sip unblock`): ``address`` as blocked (an IPv6 /64)."""
        self._sources.pop(address, None)
        return self.blocks.pop(address, None)

    def next_expiry(self) -> float | None:
        return min((b.until for b in self.blocks.values()), default=None)


ANONYMOUS = "num-"  # the limit key of a carrier's calls with no (or a withheld) caller number


def limit_key(source: str) -> str:
    """What the call limit counts by: the dialplan's HL_KEY, a source address (``127.0.0.6``) or,
    for a carrier's calls, ``num-<caller number>``."""
    if source.startswith("num-"):
        return source[:40]
    return parse_address(source) or source[:64]


class CallLimiter:
    """At most ``calls_per_source`` calls admitted per key (source address, or caller number for
    a carrier's calls) in any ``calls_window_seconds`` (a sliding window; refused calls do not
    count against it)."""

    def __init__(self, settings: SipSecurity, clock: Callable[[], float]) -> None:
        self.settings = settings
        self.clock = clock
        self._admitted: dict[str, deque[float]] = {}
        self.refused: dict[str, int] = {}  # per source, since the last time it was admitted again
        self.refused_total = 0
        self.last_refused: dict[str, float] = {}

    def limit(self, key: str) -> int:
        """The calls admitted per window for ``key`` (0: no limit): a carrier's callers with no
        number share the key ``num-``, which has its own, higher limit."""
        s = self.settings
        return s.anonymous_calls_per_window if key == ANONYMOUS else s.calls_per_source

    def admit(self, address: str) -> bool:
        s = self.settings
        key = limit_key(address)
        limit = self.limit(key)
        if s.calls_per_source <= 0 or limit <= 0:
            return True
        now = self.clock()
        q = self._admitted.setdefault(key, deque())
        while q and q[0] <= now - s.calls_window_seconds:
            q.popleft()
        if len(q) >= limit:
            self.refused[key] = self.refused.get(key, 0) + 1
            self.refused_total += 1
            self.last_refused[key] = now
            return False
        q.append(now)
        if len(self._admitted) > 10_000:  # many sources: drop the idle ones
            for k in [k for k, v in self._admitted.items() if not v or v[-1] <= now - s.calls_window_seconds]:
                del self._admitted[k]
        return True

    def flooding(self, within: float) -> dict[str, int]:
        """Sources refused in the last ``within`` seconds, with their refused counts."""
        now = self.clock()
        for k in [k for k, t in self.last_refused.items() if t <= now - within]:
            del self.last_refused[k]
            self.refused.pop(k, None)
        return {k: self.refused.get(k, 0) for k in self.last_refused}

    def note_refused(self, address: str) -> int:
        """A call the dialplan refused itself (its concurrency limit); the count for its key."""
        key = limit_key(address)
        self.refused[key] = self.refused.get(key, 0) + 1
        self.refused_total += 1
        self.last_refused[key] = self.clock()
        return self.refused[key]
