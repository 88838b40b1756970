"""The SIP security service: Asterisk's security events in, blocks out.

- ``handle``: a SipAuthFailed event (AMI security class) is counted by the guard; at the limit
  the address is blocked (a row the ACL reads: ``BlockList``), written to the audit log and the
  service log, and shown on the wallboard (``alerts``) until the block ends.
- ``run``: lifts blocks whose time is up (same trail: audit, log, wallboard).
- ``admit`` / ``refused``: the FastAGI scripts of the citizens' trunk's call limit (the dialplan's
  ``hl-admit``): the rate per source address, and the refusals of the dialplan's own concurrency
  limit, counted and logged.

Blocks are kept in the ACL file, so they survive a restart of the service and of Asterisk; at
start the service takes them back (``start``) and lifts the ones that ran out meanwhile.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from hotline import events as ev
from hotline.config import SipSecurity
from hotline.config.pbx import carriers_outside_trusted
from hotline.security.guard import ANONYMOUS, Block, CallLimiter, SipGuard, limit_key

log = logging.getLogger(__name__)
ACTOR = "sip-guard"


class BlockList(Protocol):
    """Where blocks take effect (pbx/sip_acl.py: realtime ACL rows Asterisk reads)."""

    async def block(self, block: Block) -> None: ...

    async def unblock(self, address: str) -> None: ...

    async def load(self) -> list[Block]: ...


class Auditor(Protocol):
    async def audit(self, actor: str, action: str, target: str, detail: dict[str, Any], at: float,
                    role: str = "") -> int: ...


class SipSecurityService:
    def __init__(self, settings: SipSecurity, blocks: BlockList, auditor: Auditor,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.blocklist = blocks
        self.auditor = auditor
        self.clock = clock
        self.guard = SipGuard(settings, clock)
        self.limiter = CallLimiter(settings, clock)
        self.on_change: Callable[[], None] = lambda: None
        self.failures_seen = 0
        self._lock = asyncio.Lock()
        self._written: set[str] = set()  # blocks in force in the file (the ones a hand unblock can lift)

    async def start(self) -> None:
        """Blocks from before a restart: still running ones kept, the others lifted."""
        outside = carriers_outside_trusted(self.settings)
        if outside:
            log.warning("SIP guard: carrier source(s) %s are not in sip_security.trusted_networks; they are never "
                        "blocked (a failed login from a carrier may be a spoofed packet), so check they are the "
                        "carrier's real addresses", ", ".join(outside))
        try:
            kept = await self.blocklist.load()
        except Exception:
            log.exception("SIP guard: could not read the blocked addresses; starting with none")
            return
        now = self.clock()
        for b in self.guard.restore(kept):
            await self._lift(b, "expired while the service was down" if b.until <= now else "in trusted_networks now")
        self._written = set(self.guard.blocks)
        if self.guard.blocks:
            log.warning("SIP guard: %d address(es) still blocked from before the restart: %s", len(self.guard.blocks),
                        ", ".join(f"{b.address} until {time.strftime('%H:%M:%S', time.localtime(b.until))}"
                                  for b in self.guard.blocks.values()))
            self.on_change()

    async def handle(self, event: ev.Event) -> None:
        if not isinstance(event, ev.SipAuthFailed):
            return
        if event.service.upper() != "PJSIP":
            # e.g. a failed AMI login (the service's own, with a stale secret): logged, never a SIP block
            log.warning("%s %s from %s (account %r): not SIP, not counted by the SIP guard", event.service,
                        event.kind, event.address, event.account)
            return
        self.failures_seen += 1
        async with self._lock:
            trusted = self.guard.trusted(event.address)
            block = self.guard.failure(event.address, event.account)
        if block is None:
            log.info("SIP %s from %s (account %r, %s)%s", event.kind, event.address, event.account, event.service,
                     " - trusted network or carrier, never blocked" if trusted else "")
            return
        log.warning("SIP guard: blocking %s for %g min after %d failed logins within %g s (accounts tried: %s; "
                    "last: %s)", block.address, self.settings.block_minutes, block.failures,
                    self.settings.window_seconds, ", ".join(block.accounts) or "-", event.kind)
        try:
            await self.blocklist.block(block)
        except Exception:
            log.exception("SIP guard: the block of %s could not be written; it is not in force", block.address)
            self.guard.unblock(block.address)
            return
        self._written.add(block.address)
        await self._audit("sip_block", block, {"last_event": event.kind})
        self.on_change()

    async def run(self, every: float = 1.0, reread_every: int = 3) -> None:
        tick = 0
        while True:
            try:
                for b in self.guard.expired():
                    await self._lift(b, "expired")
                tick += 1
                if tick % reread_every == 0 and self._written:
                    await self._reread()
            except Exception:
                log.exception("SIP guard: lifting expired blocks failed; retrying")
            await asyncio.sleep(every)

    async def _reread(self) -> None:
        """Blocks lifted by hand (`hotline sip unblock` removes the row and writes the audit row)
        leave the guard too, so the wallboard's alert ends."""
        # only the blocks written before the load: one written while it ran (handle() does not
        # wait for it) is not in this snapshot and must not be taken for one lifted by hand
        written = set(self._written)
        in_file = {b.address for b in await self.blocklist.load()}
        for address in [a for a in written if a not in in_file and a in self._written]:
            self._written.discard(address)
            if self.guard.unblock(address) is not None:
                log.warning("SIP guard: %s was unblocked by hand (hotline sip unblock)", address)
                self.on_change()

    async def unblock(self, address: str, by: str) -> bool:
        """Lift a block by hand; False when the address was not blocked."""
        b = self.guard.unblock(address)
        if b is None:
            return False
        await self._lift(b, f"lifted by {by}")
        return True

    async def _lift(self, b: Block, why: str) -> None:
        try:
            await self.blocklist.unblock(b.address)
        except Exception:
            log.exception("SIP guard: could not lift the block of %s; retried on the next tick", b.address)
            self.guard.blocks[b.address] = b
            return
        self._written.discard(b.address)
        log.warning("SIP guard: %s unblocked (%s; it was blocked at %s after %d failed logins)", b.address, why,
                    time.strftime("%H:%M:%S", time.localtime(b.since)), b.failures)
        await self._audit("sip_unblock", b, {"why": why})
        self.on_change()

    async def _audit(self, action: str, b: Block, extra: dict[str, Any]) -> None:
        try:
            await self.auditor.audit(ACTOR, action, b.address, {**b.to_json(), **extra}, self.clock(), role="system")
        except Exception:
            log.exception("SIP guard: the audit row for %s %s could not be written", action, b.address)

    # -- the citizens' trunk's call limit (FastAGI) ---------------------------------------

    async def admit(self, uniqueid: str, args: list[str]) -> dict[str, str]:
        source = args[0] if args else ""
        if not valid_key(source):
            # the dialplan sends an IP address or num-<digits>: anything else is a forged request
            log.error("call limit: refusing a call with a malformed limit key %r (uniqueid=%s)", source[:80], uniqueid)
            return {"HL_ADMIT": "0"}
        if self.limiter.admit(source):
            return {"HL_ADMIT": "1"}
        self._refused(uniqueid, source, "rate", f"more than {self.limiter.limit(limit_key(source))} calls in "
                                                f"{self.settings.calls_window_seconds:g} s")
        return {"HL_ADMIT": "0"}

    async def refused(self, uniqueid: str, args: list[str]) -> dict[str, str]:
        """The dialplan refused a call itself (more than concurrent_per_source at once)."""
        source = args[0] if args else ""
        self.limiter.note_refused(source)
        s = self.settings
        most = s.anonymous_concurrent if limit_key(source) == ANONYMOUS else s.concurrent_per_source
        self._refused(uniqueid, source, "concurrent", f"more than {most} calls at once")
        return {}

    def _refused(self, uniqueid: str, source: str, reason: str, text: str) -> None:
        n = self.limiter.refused.get(limit_key(source), 0)
        first = n == 1
        if first or n % 10 == 0:
            log.warning("call limit: call from %s refused (%s: %s; %d refused from it so far; uniqueid=%s)",
                        source, reason, text, n, uniqueid)
        if first:
            self.on_change()

    # -- the wallboard ------------------------------------------------------------------------

    def alerts(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for b in sorted(self.guard.blocks.values(), key=lambda b: b.since):
            accounts = ", ".join(b.accounts[:5]) + (" ..." if len(b.accounts) > 5 else "")
            out.append({"id": f"sip-attack:{b.address}", "kind": "sip_attack", "severity": "critical",
                        "since": b.since, "target": b.address, "address": b.address, "count": b.failures,
                        "text": f"SIP password guessing from {b.address}: {b.failures} failed logins"
                                + (f" ({accounts})" if accounts else "")
                                + f", blocked until {time.strftime('%H:%M', time.localtime(b.until))}"})
        for source, n in sorted(self.limiter.flooding(self.settings.alert_minutes * 60).items()):
            who = f"caller {source[4:] or '(no number)'} via the carrier" if source.startswith("num-") else source
            out.append({"id": f"call-flood:{source}", "kind": "call_flood", "severity": "warning", "since": None,
                        "target": source, "address": source, "count": n,
                        "text": f"call flood from {who}: {n} call(s) refused by the per-source limit"})
        return out


def valid_key(source: str) -> bool:
    """A limit key as the dialplan's hl-admit sends it: a source address or ``num-<digits>``."""
    if source.startswith(ANONYMOUS):
        number = source[len(ANONYMOUS):]
        return len(number) <= 32 and all(c in "0123456789+" for c in number)
    try:
        ipaddress.ip_address(source)
    except ValueError:
        return False
    return True
