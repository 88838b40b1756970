"""The call path end to end: real Asterisk, real SIP phones, the service, the case file."""

from __future__ import annotations

import time
from typing import Any

import pytest

from hotline.sim.phones import tone_share, wait_until

pytestmark = pytest.mark.asterisk

OPERATORS = """
[[operators]]
extension = "2001"
name = "English Housing"
languages = { en = 5, zh = 3 }
topics = ["housing"]

[[operators]]
extension = "2002"
name = "Mandarin Only"
languages = { zh = 5 }
topics = ["housing", "transport"]
"""

# caller, English operator, Mandarin operator: each phone plays its own tone
CALLER_HZ, OP1_HZ, OP2_HZ = 600, 1000, 1400


def register(h: Any, phones: Any, tones: dict[int, Any], ext: str, hz: int, **kw: Any) -> Any:
    return phones.operator(ext, h.secrets.sip_passwords[ext], tones[hz], **kw)


def call_in(phones: Any, tones: dict[int, Any], number: str, digits: list[str]) -> Any:
    """Dial 12345 and answer the IVR menus with ``digits`` (one per menu; '' = say nothing)."""
    caller = phones.caller(number, tones[CALLER_HZ])
    call = phones.dial(caller, "12345")
    wait_until(lambda: call.connected_at, 10, "the IVR answered")
    for d in digits:
        time.sleep(1.5)
        if d:
            phones.dtmf(call, d)
    return call


def test_english_caller_reaches_the_english_operator(make_hotline: Any, phones: Any, tones: Any) -> None:
    h = make_hotline(OPERATORS)
    h.start_service()
    op1 = register(h, phones, tones, "2001", OP1_HZ)
    op2 = register(h, phones, tones, "2002", OP2_HZ)
    h.login("2001", "2002")

    call = call_in(phones, tones, "13900000001", ["2", "1"])  # English, housing
    wait_until(lambda: op1.calls and op1.calls[0].connected_at, 15, "the English operator answered")
    time.sleep(3)
    assert op2.calls == [], "the Mandarin-only operator's phone must not ring"
    connected = op1.calls[0].connected_at
    phones.hangup(call)
    wait_until(lambda: call.ended_at and op1.calls[0].ended_at, 10, "both legs hung up")
    time.sleep(0.5)

    # each side heard the other's tone once connected
    caller_heard = tone_share(call.recording, OP1_HZ, start=connected - call.connected_at + 0.5)
    op_heard = tone_share(op1.calls[0].recording, CALLER_HZ, start=0.5)
    assert caller_heard > 0.5, f"caller heard the operator's tone in {caller_heard:.0%} of the signal"
    assert op_heard > 0.5, f"operator heard the caller's tone in {op_heard:.0%} of the signal"

    wait_until(lambda: h.cases() and h.cases()[0]["state"] == "ended", 10, "the case ended")
    case = h.cases()[0]
    assert case["caller_number"] == "13900000001"
    assert (case["language"], case["topic"], case["queue"]) == ("en", "housing", "hl-en-housing")
    assert case["operator"] == "2001"
    assert case["ivr_path"] == "lang:en/topic:housing/"
    assert 0 <= case["wait_seconds"] < 5
    assert case["talk_seconds"] >= 2
    assert case["abandoned"] == 0
