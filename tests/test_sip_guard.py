"""The SIP guard's counting, blocks and expiry, and the call limit, with a fake clock; the
service over a recording block list and auditor; the security events' translation; the ACL file
Asterisk reads (a real SQLite file)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from hotline import events as ev
from hotline.config import ConfigError, SipSecurity, parse
from hotline.pbx.agi import AgiServer
from hotline.pbx.sip_acl import SipAclBlockList, SipAclFile
from hotline.pbx.translate import MalformedAmi, translate
from hotline.security.guard import Block, CallLimiter, SipGuard, parse_address
from hotline.security.service import SipSecurityService


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def settings(**kw: Any) -> SipSecurity:
    base: dict[str, Any] = {"max_failures": 3, "window_seconds": 60.0, "block_minutes": 10.0,
                            "trusted_networks": ("10.1.0.0/16",)}
    return SipSecurity(**{**base, **kw})


def test_a_source_is_blocked_at_the_limit_within_the_window_and_only_then() -> None:
    clock = Clock()
    g = SipGuard(settings(), clock)
    assert g.failure("192.0.2.7", "2001") is None
    clock.now += 59
    assert g.failure("192.0.2.7", "2002") is None
    clock.now += 2  # the first failure left the 60 s window
    assert g.failure("192.0.2.7", "2001") is None
    block = g.failure("192.0.2.7", "2003")
    assert block is not None and block.failures == 3 and block.accounts == ("2001", "2002", "2003")
    assert block.until == clock.now + 600
    assert g.failure("192.0.2.7") is None, "already blocked: no second block"
    assert g.failure("192.0.2.8") is None, "another source has its own count"


def test_trusted_networks_are_never_blocked() -> None:
    g = SipGuard(settings(), Clock())
    for _ in range(50):
        assert g.failure("10.1.4.20", "2001") is None
    assert g.blocks == {} and g.ignored_trusted == 50


def test_a_block_expires_after_its_minutes_and_the_count_starts_again() -> None:
    clock = Clock()
    g = SipGuard(settings(block_minutes=1.0), clock)
    for _ in range(3):
        g.failure("198.51.100.1")
    clock.now += 59.9
    assert g.expired() == []
    clock.now += 0.2
    assert [b.address for b in g.expired()] == ["198.51.100.1"]
    assert g.blocks == {}
    assert g.failure("198.51.100.1") is None and g.failure("198.51.100.1") is None
    assert g.failure("198.51.100.1") is not None


def test_restore_keeps_running_blocks_and_hands_back_the_expired() -> None:
    clock = Clock()
    g = SipGuard(settings(), clock)
    running = Block("192.0.2.1", 5, clock.now - 10, clock.now + 100)
    done = Block("192.0.2.2", 5, clock.now - 700, clock.now - 100)
    trusted = Block("10.1.0.9", 5, clock.now - 10, clock.now + 100)
    assert g.restore([running, done, trusted]) == [done, trusted]
    assert list(g.blocks) == ["192.0.2.1"]


def test_disabled_guard_counts_nothing() -> None:
    g = SipGuard(settings(enabled=False, max_failures=1), Clock())
    assert g.failure("192.0.2.1") is None and g.blocks == {}


@pytest.mark.parametrize(("text", "ip"), [
    ("IPV4/UDP/127.0.0.5/5060", "127.0.0.5"), ("IPV6/UDP/2001:db8::1/5060", "2001:db8::1"),
    ("127.0.0.5:5070", "127.0.0.5"), ("[::1]:5060", "::1"), ("192.0.2.1", "192.0.2.1"),
    ("IPV4/UDP/nonsense/5060", None), ("", None)])
def test_addresses_from_ami_and_the_dialplan(text: str, ip: str | None) -> None:
    assert parse_address(text) == ip


def test_the_call_limit_is_a_sliding_window_per_source() -> None:
    clock = Clock()
    lim = CallLimiter(settings(calls_per_source=3, calls_window_seconds=10.0), clock)
    assert [lim.admit("127.0.0.6") for _ in range(5)] == [True, True, True, False, False]
    assert lim.admit("127.0.0.7"), "another source is not limited by the first"
    clock.now += 9.9
    assert not lim.admit("127.0.0.6")
    clock.now += 0.2
    assert lim.admit("127.0.0.6")
    assert lim.refused["127.0.0.6"] == 3 and lim.refused_total == 3
    # a carrier's calls are keyed by caller number: one number is limited, the others are not
    assert [lim.admit("num-13900000001") for _ in range(4)] == [True, True, True, False]
    assert all(lim.admit(f"num-1390000{i:04d}") for i in range(2, 50))
    del lim.last_refused["num-13900000001"]
    assert lim.flooding(60) == {"127.0.0.6": 3}
    clock.now += 61
    assert lim.flooding(60) == {}


def test_no_rate_limit_when_calls_per_source_is_zero() -> None:
    lim = CallLimiter(settings(calls_per_source=0), Clock())
    assert all(lim.admit("127.0.0.6") for _ in range(100))


class Blocks:
    def __init__(self, kept: list[Block] | None = None, fail: bool = False) -> None:
        self.kept = kept or []
        self.fail = fail
        self.calls: list[tuple[str, str]] = []

    async def block(self, block: Block) -> None:
        if self.fail:
            raise OSError("read-only file system")
        self.calls.append(("block", block.address))

    async def unblock(self, address: str) -> None:
        self.calls.append(("unblock", address))

    async def load(self) -> list[Block]:
        return self.kept


class Auditor:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, dict[str, Any]]] = []

    async def audit(self, actor: str, action: str, target: str, detail: dict[str, Any], at: float,
                    role: str = "") -> int:
        self.rows.append((actor, action, target, detail))
        return len(self.rows)


def failed(address: str, account: str = "2001") -> ev.SipAuthFailed:
    return ev.SipAuthFailed("ChallengeResponseFailed", "PJSIP", account, address, 0.0)


def test_the_service_blocks_audits_alerts_and_lifts() -> None:
    async def scenario() -> None:
        clock = Clock()
        blocks, auditor = Blocks(), Auditor()
        svc = SipSecurityService(settings(block_minutes=0.5), blocks, auditor, clock)
        changes: list[int] = []
        svc.on_change = lambda: changes.append(1)
        await svc.start()
        for _ in range(3):
            await svc.handle(failed("192.0.2.9"))
        await svc.handle(ev.PbxConnected(0.0))  # other events are not its business
        assert blocks.calls == [("block", "192.0.2.9")]
        assert auditor.rows[0][:3] == ("sip-guard", "sip_block", "192.0.2.9")
        assert auditor.rows[0][3]["failures"] == 3 and auditor.rows[0][3]["accounts"] == ["2001"]
        [alert] = svc.alerts()
        assert (alert["kind"], alert["address"], alert["count"], alert["severity"]) == \
            ("sip_attack", "192.0.2.9", 3, "critical")
        clock.now += 31
        task = asyncio.create_task(svc.run(every=0.01))
        await asyncio.sleep(0.05)
        task.cancel()
        assert blocks.calls[-1] == ("unblock", "192.0.2.9")
        assert auditor.rows[-1][1] == "sip_unblock" and auditor.rows[-1][3]["why"] == "expired"
        assert svc.alerts() == [] and len(changes) == 2
    asyncio.run(scenario())


def test_a_block_that_cannot_be_written_is_not_counted_as_in_force() -> None:
    async def scenario() -> None:
        svc = SipSecurityService(settings(), Blocks(fail=True), Auditor(), Clock())
        for _ in range(3):
            await svc.handle(failed("192.0.2.9"))
        assert svc.guard.blocks == {} and svc.alerts() == []
    asyncio.run(scenario())


def test_blocks_survive_a_restart_and_expired_ones_are_lifted_at_start() -> None:
    async def scenario() -> None:
        clock = Clock()
        kept = [Block("192.0.2.1", 5, clock.now - 10, clock.now + 100), Block("192.0.2.2", 5, 0.0, clock.now - 1)]
        blocks, auditor = Blocks(kept), Auditor()
        svc = SipSecurityService(settings(), blocks, auditor, clock)
        await svc.start()
        assert list(svc.guard.blocks) == ["192.0.2.1"]
        assert blocks.calls == [("unblock", "192.0.2.2")]
        assert auditor.rows[0][1:3] == ("sip_unblock", "192.0.2.2")
    asyncio.run(scenario())


def test_the_call_limit_over_fastagi() -> None:
    async def scenario() -> None:
        clock = Clock()
        svc = SipSecurityService(settings(calls_per_source=2), Blocks(), Auditor(), clock)
        answers = [await svc.admit("u", ["127.0.0.6"]) for _ in range(3)]
        assert answers == [{"HL_ADMIT": "1"}, {"HL_ADMIT": "1"}, {"HL_ADMIT": "0"}]
        assert await svc.refused("u", ["127.0.0.6", "concurrent"]) == {}
        [alert] = svc.alerts()
        assert (alert["kind"], alert["address"], alert["count"]) == ("call_flood", "127.0.0.6", 2)
    asyncio.run(scenario())


def test_security_events_are_translated_and_bad_addresses_refused() -> None:
    e = translate({"Event": "ChallengeResponseFailed", "Service": "PJSIP", "AccountID": "2001",
                   "RemoteAddress": "IPV4/UDP/127.0.0.5/5070", "Severity": "Error"}, 5.0)
    assert e == ev.SipAuthFailed("ChallengeResponseFailed", "PJSIP", "2001", "127.0.0.5", 5.0)
    for name in ("InvalidPassword", "InvalidAccountID", "FailedACL"):
        got = translate({"Event": name, "RemoteAddress": "IPV6/UDP/2001:db8::5/5060"}, 1.0)
        assert isinstance(got, ev.SipAuthFailed) and got.address == "2001:db8::5"
    assert translate({"Event": "ChallengeSent", "RemoteAddress": "IPV4/UDP/127.0.0.5/5070"}, 1.0) is None
    assert translate({"Event": "SuccessfulAuth", "RemoteAddress": "IPV4/UDP/127.0.0.5/5070"}, 1.0) is None
    with pytest.raises(MalformedAmi):
        translate({"Event": "InvalidAccountID", "RemoteAddress": "IPV4/UDP/bogus/1"}, 1.0)
    with pytest.raises(MalformedAmi):
        translate({"Event": "InvalidAccountID"}, 1.0)


def test_the_acl_file_holds_one_deny_row_per_block_and_keeps_them(tmp_path: Path) -> None:
    path = tmp_path / "lib" / "sip-blocks.sqlite3"
    SipAclFile(path).ensure()
    store = SipAclBlockList(path)

    async def scenario() -> list[Block]:
        await store.block(Block("192.0.2.1", 5, 1.0, 2.0, ("2001",), "5 failed"))
        await store.block(Block("2001:db8::7", 6, 1.0, 3.0))
        await store.unblock("192.0.2.9")  # not blocked: nothing happens
        return await store.load()

    loaded = asyncio.run(scenario())
    assert {(b.address, b.failures, b.accounts) for b in loaded} == {("192.0.2.1", 5, ("2001",)),
                                                                     ("2001:db8::7", 6, ())}
    con = sqlite3.connect(path)
    # exactly the columns the PJSIP acl object knows (an unknown one would void every row)
    assert [r[1] for r in con.execute("pragma table_info(hl_sip_acl)")] == ["id", "deny"]
    assert sorted(con.execute("select deny from hl_sip_acl")) == [("192.0.2.1/32",), ("2001:db8::7/128",)]
    con.close()
    asyncio.run(store.unblock("192.0.2.1"))
    con = sqlite3.connect(path)
    assert list(con.execute("select deny from hl_sip_acl")) == [("2001:db8::7/128",)]
    con.close()


def test_the_site_file_section_is_validated() -> None:
    base: dict[str, Any] = {"languages": [{"code": "en", "name": "English", "digit": "1", "voice": "en"}],
                            "operators": []}
    s = parse({**base, "sip_security": {"max_failures": 4, "trusted_networks": ["10.0.0.0/8"],
                                        "block_minutes": 0.5}}, Path("/tmp"), env={})
    assert (s.sip_security.max_failures, s.sip_security.trusted_networks) == (4, ("10.0.0.0/8",))
    with pytest.raises(ConfigError, match="sip_security.trusted_networks"):
        parse({**base, "sip_security": {"trusted_networks": ["10.0.0.300/8"]}}, Path("/tmp"), env={})
    with pytest.raises(ConfigError, match="sip_security"):
        parse({**base, "sip_security": {"max_failures": 0}}, Path("/tmp"), env={})
    with pytest.raises(ConfigError, match="sip_security.bogus"):
        parse({**base, "sip_security": {"bogus": 1}}, Path("/tmp"), env={})


def test_a_block_lifted_by_hand_leaves_the_guard_and_the_wallboard() -> None:
    async def scenario() -> None:
        blocks = Blocks()
        svc = SipSecurityService(settings(), blocks, Auditor(), Clock())
        for _ in range(3):
            await svc.handle(failed("192.0.2.9"))
        assert svc.alerts()
        blocks.kept = []  # `hotline sip unblock` removed the row
        task = asyncio.create_task(svc.run(every=0.01, reread_every=1))
        await asyncio.sleep(0.05)
        task.cancel()
        assert svc.alerts() == [] and svc.guard.blocks == {}
        assert ("unblock", "192.0.2.9") not in blocks.calls  # the CLI did it (and its audit row)
    asyncio.run(scenario())


def test_only_sip_failures_count() -> None:
    async def scenario() -> None:
        svc = SipSecurityService(settings(max_failures=1), Blocks(), Auditor(), Clock())
        await svc.handle(ev.SipAuthFailed("InvalidPassword", "AMI", "hotline", "192.0.2.9", 0.0))
        assert svc.guard.blocks == {}
        await svc.handle(failed("192.0.2.9"))
        assert list(svc.guard.blocks) == ["192.0.2.9"]
    asyncio.run(scenario())


class SlowBlocks(Blocks):
    """A block list whose load() waits until released: a read of the ACL file still running."""

    def __init__(self) -> None:
        super().__init__()
        self.loading = asyncio.Event()
        self.release = asyncio.Event()

    async def load(self) -> list[Block]:
        snapshot = list(self.kept)  # what the file held when the read began
        self.loading.set()
        await self.release.wait()
        return snapshot


def test_a_block_written_while_the_acl_file_is_read_is_not_taken_for_a_hand_unblock(
        caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        blocks = SlowBlocks()
        svc = SipSecurityService(settings(), blocks, Auditor(), Clock())
        for _ in range(3):
            await svc.handle(failed("192.0.2.9"))
        blocks.kept = [Block("192.0.2.9", 3, 0.0, 9e9)]
        reread = asyncio.create_task(svc._reread())
        await blocks.loading.wait()
        for _ in range(3):  # a new block lands while the file is being read
            await svc.handle(failed("192.0.2.10"))
        blocks.release.set()
        await reread
        assert sorted(svc.guard.blocks) == ["192.0.2.10", "192.0.2.9"]
        assert [a["address"] for a in svc.alerts()] == ["192.0.2.9", "192.0.2.10"]
        assert "unblocked by hand" not in caplog.text
        # the next read sees it in the file and keeps it; a row really gone is still noticed
        blocks.kept = [Block("192.0.2.10", 3, 0.0, 9e9)]
        blocks.loading.clear()
        await svc._reread()
        assert list(svc.guard.blocks) == ["192.0.2.10"]
    asyncio.run(scenario())


def test_carriers_are_never_blocked_and_one_outside_trusted_networks_is_warned_about(
        caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        svc = SipSecurityService(settings(carrier_sources=("192.0.2.50",), max_failures=1), Blocks(), Auditor(),
                                 Clock())
        await svc.start()
        for _ in range(20):  # spoofed InvalidAccountID "from" the carrier: no round trip needed
            await svc.handle(ev.SipAuthFailed("InvalidAccountID", "PJSIP", "x", "192.0.2.50", 0.0))
        assert svc.guard.blocks == {} and svc.guard.ignored_trusted == 20
        await svc.handle(failed("192.0.2.51"))
        assert list(svc.guard.blocks) == ["192.0.2.51"]
    asyncio.run(scenario())
    assert "carrier source(s) 192.0.2.50 are not in sip_security.trusted_networks" in caplog.text
    caplog.clear()
    svc = SipSecurityService(settings(carrier_sources=("10.1.2.3",)), Blocks(), Auditor(), Clock())
    asyncio.run(svc.start())
    assert "carrier source" not in caplog.text, "a carrier inside trusted_networks is not warned about"


def test_ipv6_sources_are_counted_and_blocked_per_64(tmp_path: Path) -> None:
    g = SipGuard(settings(trusted_networks=("2001:db8:0:9::7/128",)), Clock())
    assert g.failure("2001:db8:0:1::1") is None and g.failure("2001:db8:0:1::2") is None
    block = g.failure("2001:db8:0:1:ffff::3")  # a third address of the same /64
    assert block is not None and block.address == "2001:db8:0:1::/64"
    assert g.failure("2001:db8:0:1::99") is None, "the /64 is blocked already"
    # a /64 holding a trusted address: only the guesser's own address is blocked
    for _ in range(2):
        g.failure("2001:db8:0:9::1")
    other = g.failure("2001:db8:0:9::1")
    assert other is not None and other.address == "2001:db8:0:9::1"
    assert all(g.failure("2001:db8:0:9::7") is None for _ in range(5))

    path = tmp_path / "sip-blocks.sqlite3"
    SipAclFile(path).ensure()
    store = SipAclBlockList(path)

    async def scenario() -> list[Block]:
        await store.block(block)
        return await store.load()

    assert [b.address for b in asyncio.run(scenario())] == ["2001:db8:0:1::/64"]
    con = sqlite3.connect(path)
    assert list(con.execute("select deny from hl_sip_acl")) == [("2001:db8:0:1::/64",)], "kept by the read"
    con.close()
    asyncio.run(store.unblock(block.address))
    con = sqlite3.connect(path)
    assert list(con.execute("select deny from hl_sip_acl")) == []
    con.close()


def test_the_failure_counters_are_bounded_least_recent_first() -> None:
    g = SipGuard(settings(max_failures=2), Clock())
    g.MAX_SOURCES = 3
    for a in ("192.0.2.1", "192.0.2.2", "192.0.2.3"):
        g.failure(a)
    g.failure("203.0.113.1")  # the oldest counter (192.0.2.1) goes
    assert len(g._sources) == 3
    assert g.failure("192.0.2.1") is None, "its first failure was forgotten"
    assert g.failure("192.0.2.3") is not None, "a recent counter was kept"
    for i in range(100):  # a spray of (spoofed) sources never grows the counters past the cap
        g.failure(f"198.51.100.{i}")
    assert len(g._sources) == 3


def test_a_carriers_callers_without_a_number_have_their_own_higher_limit() -> None:
    lim = CallLimiter(settings(calls_per_source=2, anonymous_calls_per_window=5), Clock())
    assert [lim.admit("num-") for _ in range(6)] == [True] * 5 + [False]
    assert [lim.admit("num-13900000001") for _ in range(3)] == [True, True, False]
    unlimited = CallLimiter(settings(calls_per_source=2, anonymous_calls_per_window=0), Clock())
    assert all(unlimited.admit("num-") for _ in range(100))


def test_admit_refuses_a_malformed_limit_key() -> None:
    async def scenario() -> None:
        svc = SipSecurityService(settings(calls_per_source=100), Blocks(), Auditor(), Clock())
        for key in ("127.0.0.6", "2001:db8::1", "num-", "num-+8613900000001"):
            assert await svc.admit("u", [key]) == {"HL_ADMIT": "1"}, key
        for key in ("", "9.9.9.9 x", "num-1 2", "num-abc", "127.0.0.6:5060", "num-" + "1" * 40, "garbage"):
            assert await svc.admit("u", [key]) == {"HL_ADMIT": "0"}, key
    asyncio.run(scenario())


def _agi_headers(block: bytes) -> dict[str, str]:
    async def scenario() -> dict[str, str]:
        reader = asyncio.StreamReader()
        reader.feed_data(block)
        reader.feed_eof()
        return await AgiServer({}, "127.0.0.1", 0)._headers(reader)
    return asyncio.run(scenario())


def test_a_forged_agi_header_block_is_refused() -> None:
    good = (b"agi_network: yes\nagi_network_script: admit\nagi_uniqueid: 1.2\nagi_callerid: 139\n"
            b"agi_arg_1: num-139\n\n")
    assert _agi_headers(good)["agi_arg_1"] == "num-139"
    # a caller number holding a newline, as Asterisk writes it (agi_callerid: %s)
    forged = (b"agi_network: yes\nagi_network_script: admit\nagi_uniqueid: 1.2\nagi_callerid: 1\n"
              b"agi_arg_1: 9.9.9.9\nagi_calleridname: x\nagi_arg_1: num-1\n\n")
    with pytest.raises(ValueError, match="agi_arg_1 sent twice"):
        _agi_headers(forged)
    # lines that are not agi_* headers are not taken
    assert "HL_ADMIT" not in _agi_headers(b"agi_network: yes\nHL_ADMIT: 1\nnonsense\nagi_arg_1: num-1\n\n")


def test_the_anonymous_limits_are_validated() -> None:
    base: dict[str, Any] = {"languages": [{"code": "en", "name": "English", "digit": "1", "voice": "en"}],
                            "operators": []}
    s = parse({**base, "sip_security": {"anonymous_calls_per_window": 50, "anonymous_concurrent": 0}}, Path("/tmp"),
              env={})
    assert (s.sip_security.anonymous_calls_per_window, s.sip_security.anonymous_concurrent) == (50, 0)
    assert SipSecurity().anonymous_calls_per_window == 10 * SipSecurity().calls_per_source
    with pytest.raises(ConfigError, match="anonymous_concurrent"):
        parse({**base, "sip_security": {"anonymous_concurrent": -1}}, Path("/tmp"), env={})
