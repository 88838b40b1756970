"""SIP attacks against a real Asterisk, as sipp sends them (issue 14, "SIP").

(a) A password guesser from 127.0.0.5 is blocked after max_failures (Asterisk answers 403 to
    everything from it, even the right password) while the operators' trusted address keeps
    registering; the phone's registration is not replaced; the wallboard shows the attack, the
    audit log has the block and the unblock; after the block's time the address works again.
(b) The citizens' trunk reaches only the hotline number: *8 (call pickup) and an operator's
    extension get 404.
(c) A flood of 40 INVITEs at 20/s from one source: at most calls_per_source answered, the rest
    refused (486) before the IVR answers, while a caller from another source is answered; with the
    service down the dialplan's own concurrency limit still holds and normal callers are answered.
(d) Through a carrier: callers with no number share one key with its own, higher limit; a caller
    number forging FastAGI headers (%0A in the From user) is filtered before any AGI request, so
    it cannot pick its own limit key.

Every attacker is a sipp process with its own loopback address (127.0.0.x are all on lo).
"""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from support.calls import wait_until
from support.stack import SIP_PORT

pytestmark = pytest.mark.asterisk

SIPP_DIR = Path(__file__).parent / "data" / "sipp"
LAST_LOG = [""]  # the message log of the last sipp run

OPERATORS = """
[[operators]]
extension = "2001"
name = "English Housing"
languages = { en = 5 }
topics = ["housing"]

[[operators]]
extension = "2002"
name = "Second Phone"
languages = { en = 5 }
topics = ["housing"]
"""


def sipp(tmp: Path, scenario: str, service: str, source: str, *, calls: int = 1, rate: int = 1,
         limit: int = 1, user: str = "", password: str = "", hold_ms: int = 0, port: int = 0,
         timeout: int = 30, inf: Path | None = None) -> list[tuple[str, int]]:
    """Run one sipp scenario from ``source``; the (CSeq method + number, status) of every
    response it received, in order."""
    log = tmp / f"sipp-{scenario}-{source}-{time.monotonic_ns()}.log"
    cmd = ["sipp", f"127.0.0.1:{SIP_PORT}", "-sf", str(SIPP_DIR / f"{scenario}.xml"), "-s", service,
           "-i", source, "-p", str(port or 5070), "-m", str(calls), "-r", str(rate), "-l", str(limit),
           "-trace_msg", "-message_file", str(log), "-timeout", f"{timeout}s", "-timeout_error",
           "-max_retrans", "3", "-mi", source, "-mp", str(30000 + (port or 5070))]
    if user:
        cmd += ["-au", user, "-ap", password]
    if scenario.startswith("invite"):
        cmd += ["-d", str(hold_ms)]
    if inf is not None:
        cmd += ["-inf", str(inf)]
    proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout + 30,
                          check=False)
    if proc.returncode not in (0, 1) or not log.exists():
        raise AssertionError(f"sipp failed (exit {proc.returncode}): {proc.stdout[-1500:]} {proc.stderr[-1500:]}")
    LAST_LOG[0] = log.read_text(errors="replace")
    return responses(LAST_LOG[0])


def responses(text: str) -> list[tuple[str, int]]:
    out = []
    for block in re.split(r"^-{10,}.*$", text, flags=re.M):
        if "message received" not in block:
            continue
        status = re.search(r"^SIP/2\.0 (\d{3})", block, re.M)
        cseq = re.search(r"^CSeq:\s*(\d+)\s+(\w+)", block, re.M | re.I)
        if status and cseq:
            out.append((f"{cseq.group(2).upper()} {cseq.group(1)}", int(status.group(1))))
    return out


def invite_outcomes(log_text: str) -> dict[str, int]:
    """Call-ID -> the final answer to its INVITE (retransmissions counted once)."""
    out: dict[str, int] = {}
    for block in re.split(r"^-{10,}.*$", log_text, flags=re.M):
        status = re.search(r"^SIP/2\.0 (\d{3})", block, re.M)
        cseq = re.search(r"^CSeq:\s*1\s+INVITE", block, re.M | re.I)
        call = re.search(r"^Call-ID:\s*(\S+)", block, re.M | re.I)
        if "message received" in block and status and cseq and call and int(status.group(1)) >= 200:
            out.setdefault(call.group(1), int(status.group(1)))
    return out


def finals(resp: list[tuple[str, int]], method: str) -> list[int]:
    """The final answers to ``method`` (a REGISTER's first 401 is the challenge, not an answer)."""
    return [code for cseq, code in resp if cseq.startswith(method) and code >= 200
            and (cseq, code) != ("REGISTER 1", 401)]


def audit_rows(h: Any, action: str) -> list[dict[str, Any]]:
    con = sqlite3.connect(h.settings.database)
    con.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in con.execute("select * from audit where action = ? order by id", (action,))]
    finally:
        con.close()


def test_a_guesser_is_blocked_and_the_operators_keep_working(make_hotline: Any, phones: Any, tones: Any,
                                                             tmp_path: Path) -> None:
    h = make_hotline(OPERATORS + """
[sip_security]
max_failures = 3
window_seconds = 60
block_minutes = 0.5
trusted_networks = ["127.0.0.1/32"]
""")
    h.start_service()
    right = h.secrets.sip_passwords["2001"]
    phone = phones.operator("2001", right, tones[1000])
    wait_until(lambda: "127.0.0.1" in h.asterisk_cli("pjsip show contacts"), 10, "the operator's phone registered")
    contacts_before = h.asterisk_cli("pjsip show aor 2001")

    # one guess a second: exactly max_failures wrong passwords get an answer, then 403 for everything
    resp = sipp(tmp_path, "register", "2001", "127.0.0.5", calls=6, rate=2, user="2001", password="not-the-password")
    wrong = [c for cseq, c in resp if cseq == "REGISTER 2" and c == 401]
    assert len(wrong) == 3, resp
    assert finals(resp, "REGISTER")[-2:] == [403, 403], resp
    # the right password from the blocked address is refused too
    resp = sipp(tmp_path, "register", "2001", "127.0.0.5", user="2001", password=right)
    assert finals(resp, "REGISTER") == [403], resp
    assert "did not pass ACL test" in (h.settings.asterisk.instance_dir / "log" / "messages.log").read_text()

    # a fast guesser (100 guesses at 100/s, 10 at a time, as sipvicious does it): the block lands
    # within a few of its guesses, the rest get 403 without a password check
    resp = sipp(tmp_path, "register", "2002", "127.0.0.10", calls=100, rate=100, limit=10, user="2002",
                password="guess", port=5073)
    evaluated = [c for cseq, c in resp if cseq == "REGISTER 2" and c == 401]
    print(f"fast guesser: {len(evaluated)} of 100 guesses checked before the block, "
          f"{finals(resp, 'REGISTER').count(403)} refused with 403")
    assert 3 <= len(evaluated) <= 3 + 10, len(evaluated)
    assert finals(resp, "REGISTER").count(403) >= 80

    # the trusted address: wrong passwords are never held against it, the right one registers
    resp = sipp(tmp_path, "register", "2002", "127.0.0.1", calls=5, rate=5, limit=1, user="2002", password="wrong",
                port=5071)
    assert [c for cseq, c in resp if cseq == "REGISTER 2"] == [401] * 5, resp
    resp = sipp(tmp_path, "register", "2002", "127.0.0.1", user="2002", password=h.secrets.sip_passwords["2002"],
                port=5071)
    assert finals(resp, "REGISTER") == [200], resp
    # the phone's registration was not replaced by the guesser
    assert h.asterisk_cli("pjsip show aor 2001").count("127.0.0.1") == contacts_before.count("127.0.0.1")
    assert "127.0.0.5" not in h.asterisk_cli("pjsip show contacts")
    assert phone is not None

    # the wallboard shows the attack, the audit log has the block with its context
    board = h.api("GET", "/api/wallboard")
    alerts = [a for a in board["alerts"] if a["kind"] == "sip_attack"]
    assert alerts and alerts[0]["address"] == "127.0.0.5" and alerts[0]["count"] == 3, board["alerts"]
    rows = audit_rows(h, "sip_block")
    assert [r["target"] for r in rows] == ["127.0.0.5", "127.0.0.10"]
    assert '"2001"' in rows[0]["detail"] and rows[0]["actor"] == "sip-guard"
    assert "blocking 127.0.0.5" in h.service_log.read_text()

    # the service restarted: the blocks are still known (the alert is back) and still in force
    h.stop_service()
    h.start_service()
    alerts = [a["address"] for a in h.api("GET", "/api/wallboard")["alerts"] if a["kind"] == "sip_attack"]
    assert sorted(alerts) == ["127.0.0.10", "127.0.0.5"]
    assert "still blocked from before the restart" in h.service_log.read_text()
    # an administrator lifts one by hand: at once, audited, and the alert ends
    out = subprocess.run([sys.executable, "-m", "hotline.cli", "--site", str(h.site), "sip", "unblock", "127.0.0.10"],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    resp = sipp(tmp_path, "register", "2002", "127.0.0.10", user="2002", password=h.secrets.sip_passwords["2002"],
                port=5073)
    assert finals(resp, "REGISTER") == [200], resp
    assert audit_rows(h, "sip_unblock")[0]["target"] == "127.0.0.10"
    wait_until(lambda: [a["address"] for a in h.api("GET", "/api/wallboard")["alerts"]
                        if a["kind"] == "sip_attack"] == ["127.0.0.5"], 10, "the hand-lifted block's alert ended")
    resp = sipp(tmp_path, "register", "2001", "127.0.0.5", user="2001", password=right)
    assert finals(resp, "REGISTER") == [403], resp

    # after the block's 30 s the address may try again, and the right password works
    wait_until(lambda: len(audit_rows(h, "sip_unblock")) == 2, 40, "the block expired")
    assert audit_rows(h, "sip_unblock")[1]["target"] == "127.0.0.5"
    resp = sipp(tmp_path, "register", "2001", "127.0.0.5", user="2001", password=right)
    assert finals(resp, "REGISTER") == [200], resp
    assert not [a for a in h.api("GET", "/api/wallboard")["alerts"] if a["kind"] == "sip_attack"]


def test_the_citizens_trunk_reaches_only_the_hotline_number(make_hotline: Any, phones: Any, tmp_path: Path) -> None:
    h = make_hotline(OPERATORS)
    # *8 is call pickup by Asterisk's default, honoured before the dialplan from any context
    for number in ("*8", "2001", "1234", "1", "s", "*"):
        sipp(tmp_path, "invite", number, "127.0.0.8", hold_ms=500)
        assert list(invite_outcomes(LAST_LOG[0]).values()) == [404], (number, LAST_LOG[0][-2000:])
    # "i" (the context's invalid-extension handler) only hangs up
    sipp(tmp_path, "invite", "i", "127.0.0.8", hold_ms=500)
    assert list(invite_outcomes(LAST_LOG[0]).values()) == [603]
    sipp(tmp_path, "invite", "12345", "127.0.0.8", hold_ms=500)
    assert list(invite_outcomes(LAST_LOG[0]).values()) == [200]
    channels = h.asterisk_cli("core show channels concise")
    assert "*8" not in channels and "2001" not in channels


def test_a_call_flood_from_one_source_is_refused_before_the_ivr(make_hotline: Any, phones: Any,
                                                                tmp_path: Path) -> None:
    h = make_hotline(OPERATORS + """
[sip_security]
calls_per_source = 5
calls_window_seconds = 30
concurrent_per_source = 5
""")
    h.start_service()
    # 40 INVITEs at 20/s from one source, each answered call hung up after 0.1 s (so never 5 at
    # once): the rate limit answers exactly 5
    sipp(tmp_path, "invite", "12345", "127.0.0.6", calls=40, rate=20, limit=40, hold_ms=100, timeout=40)
    flood = invite_outcomes(LAST_LOG[0])
    answered = sum(1 for c in flood.values() if c == 200)
    assert len(flood) == 40, flood
    assert answered == 5, flood
    assert all(c in (200, 486) for c in flood.values()), flood
    # a citizen calling from elsewhere meanwhile is answered
    sipp(tmp_path, "invite", "12345", "127.0.0.7", hold_ms=500, port=5072)
    assert list(invite_outcomes(LAST_LOG[0]).values()) == [200]
    # the flooder is still refused within its window
    sipp(tmp_path, "invite", "12345", "127.0.0.6", hold_ms=500)
    assert list(invite_outcomes(LAST_LOG[0]).values()) == [486]
    board = h.api("GET", "/api/wallboard")
    floods = [a for a in board["alerts"] if a["kind"] == "call_flood"]
    assert floods and floods[0]["address"] == "127.0.0.6" and floods[0]["count"] >= 35, board["alerts"]
    assert "call from 127.0.0.6 refused" in h.service_log.read_text()

    # the service down: no rate limit (the FastAGI fails), but the dialplan's own concurrency
    # limit still holds, and a normal caller is answered by the fallback
    h.stop_service()
    sipp(tmp_path, "invite", "12345", "127.0.0.9", calls=20, rate=20, limit=20, hold_ms=3000, timeout=40)
    down = invite_outcomes(LAST_LOG[0])
    assert len(down) == 20 and 1 <= sum(1 for c in down.values() if c == 200) <= 5, down
    sipp(tmp_path, "invite", "12345", "127.0.0.7", hold_ms=500, port=5072)
    assert list(invite_outcomes(LAST_LOG[0]).values()) == [200]
    dialplan_log = (h.settings.asterisk.instance_dir / "log" / "messages.log").read_text()
    assert "refused: call rate" in dialplan_log and "calls at once" in dialplan_log


def test_a_carriers_anonymous_callers_and_forged_caller_numbers(make_hotline: Any, phones: Any,
                                                                 tmp_path: Path) -> None:
    h = make_hotline(OPERATORS + """
[sip_security]
carrier_sources = ["127.0.0.11"]
trusted_networks = ["127.0.0.11/32"]
calls_per_source = 2
calls_window_seconds = 60
concurrent_per_source = 5
anonymous_calls_per_window = 6
""")
    h.start_service()
    anonymous = tmp_path / "anonymous.csv"
    anonymous.write_text('SEQUENTIAL\nanonymous;"Anonymous";\n')
    sipp(tmp_path, "invite-from", "12345", "127.0.0.11", calls=10, rate=10, limit=10, hold_ms=100, timeout=40,
         inf=anonymous)
    calls = invite_outcomes(LAST_LOG[0])
    assert len(calls) == 10 and sum(1 for c in calls.values() if c == 200) == 6, calls  # not 2
    # one caller number through the same carrier still has the per-source limit
    numbered = tmp_path / "numbered.csv"
    numbered.write_text('SEQUENTIAL\n13900000001;"Zhang \u5f20";\n', encoding="utf-8")
    sipp(tmp_path, "invite-from", "12345", "127.0.0.11", calls=4, rate=10, limit=4, hold_ms=100, inf=numbered)
    assert sorted(invite_outcomes(LAST_LOG[0]).values()) == [200, 200, 486, 486]

    # a forged header block in the caller number, a new "source" each call (its digits alike, so
    # the number's own key is the same): still one key
    forged = tmp_path / "forged.csv"
    forged.write_text("SEQUENTIAL\n" + "".join(f"1%0Aagi_arg_1%3A%20fd00%3A%3A{c}%0A%0A;;\n" for c in "abcde"))
    sipp(tmp_path, "invite-from", "12345", "127.0.0.11", calls=5, rate=10, limit=5, hold_ms=100, inf=forged)
    calls = invite_outcomes(LAST_LOG[0])
    assert len(calls) == 5 and sum(1 for c in calls.values() if c == 200) == 2, calls
    messages = (h.settings.asterisk.instance_dir / "log" / "messages.log").read_text(errors="replace")
    assert "CALLERID(num)=1100\"" in messages, "the number was reduced to its digits before the AGI"
    assert 'CALLERID(name)=Zhang \u5f20' in messages, "a UTF-8 display name is kept"
