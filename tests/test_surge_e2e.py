"""Surge announcements end to end (issue 16): real Asterisk, SIP phones, the service.

A shift manager's message for the topic housing (a recorded file: a pure tone, so the caller's
recording shows whether it was played) is heard by a housing caller before the queue, not by a
transport caller; a caller who hangs up during it is counted informed, one who presses 0 goes on
to the operator at once and is counted opted out."""

from __future__ import annotations

import time
import urllib.error
from typing import Any

import pytest

from support.audio import make_tone, tone_share, wav_seconds
from support.calls import call_hotline, wait_until

pytestmark = pytest.mark.asterisk

SITE = """
[[operators]]
extension = "2002"
name = "Mandarin Only"
languages = { zh = 5 }
topics = ["housing", "transport"]

[ivr]
intake = "offers"
topic_menu = true
"""

CALLER_HZ, OP_HZ, SURGE_HZ = 600, 1400, 1800
ZH, HOUSING, TRANSPORT = "1", "1", "2"  # the greeting's key for Mandarin, then the topic menu's


def heard(recording: Any, hz: int) -> bool:
    """Some second of the recording is the tone."""
    tone_share(recording, hz)  # waits until the phone has closed its recording (the WAV header)
    return any(tone_share(recording, hz, start=s, end=s + 1.0) > 0.5 for s in range(int(wav_seconds(recording))))


def test_a_housing_message_is_heard_by_housing_callers_only(make_hotline: Any, phones: Any, tones: Any) -> None:
    h = make_hotline(SITE)
    uploads = h.settings.state_dir / "surge-recordings"
    uploads.mkdir(parents=True, exist_ok=True)
    tone = make_tone(uploads / "outage.wav", SURGE_HZ, seconds=4)
    h.start_service()
    op = phones.operator("2002", h.secrets.sip_passwords["2002"], tones[OP_HZ])
    h.login("2002")
    try:
        made = h.api("POST", "/api/surge", {"scope": "topic", "target": "housing", "recording": str(tone),
                                            "ends_at": time.time() + 600})["surge"]
    except urllib.error.HTTPError as exc:
        raise AssertionError(exc.read().decode()) from None

    def counts() -> tuple[int, int, int]:
        s = next(s for s in h.api("GET", "/api/surge")["surges"] if s["id"] == made["id"])
        return s["played"], s["informed"], s["opted_out"]

    def ready() -> None:
        wait_until(lambda: h.agent("2002")["state"] == "ready", 15, "2002 ready after wrap-up")

    # a housing caller hears the message, then the operator
    a = call_hotline(phones, tones[CALLER_HZ], "13900001701", [ZH, HOUSING], pause=0.8)
    wait_until(lambda: len(op.calls) == 1 and op.calls[0].connected_at, 20, "the operator answered A")
    waited = op.calls[0].connected_at - a.connected_at
    time.sleep(1.0)
    phones.hangup(a)
    wait_until(lambda: a.ended_at, 10, "A's call ended")
    assert heard(a.recording, SURGE_HZ), "the housing caller heard the message"
    assert waited > 4.0, f"the message played before the queue ({waited:.1f} s to the operator)"
    ready()

    # a transport caller does not
    b = call_hotline(phones, tones[CALLER_HZ], "13900001702", [ZH, TRANSPORT], pause=0.8)
    wait_until(lambda: len(op.calls) == 2 and op.calls[1].connected_at, 20, "the operator answered B")
    time.sleep(1.0)
    phones.hangup(b)
    wait_until(lambda: b.ended_at, 10, "B's call ended")
    assert not heard(b.recording, SURGE_HZ), "the transport caller did not hear the housing message"
    ready()

    # a housing caller who hangs up while it plays: informed, no queue
    c = call_hotline(phones, tones[CALLER_HZ], "13900001703", [ZH, HOUSING], pause=0.8)
    time.sleep(1.5)
    phones.hangup(c)
    wait_until(lambda: counts()[1] == 1, 10, "C counted informed")
    assert len(op.calls) == 2, "C never reached the operator"

    # a housing caller who presses 0: the operator at once, opted out
    d = call_hotline(phones, tones[CALLER_HZ], "13900001704", [ZH, HOUSING], pause=0.8)
    time.sleep(0.8)
    phones.dtmf(d, "0")
    wait_until(lambda: len(op.calls) == 3 and op.calls[2].connected_at, 20, "the operator answered D")
    assert op.calls[2].connected_at - d.connected_at < waited, "0 skipped the rest of the message"
    phones.hangup(d)
    wait_until(lambda: counts() == (3, 1, 1), 10, "played 3 (A, C, D), informed 1 (C), opted out 1 (D)")
    cases = h.cases()
    assert [c["topic"] for c in cases if c["caller_number"].endswith(("1701", "1702", "1704"))] == [
        "housing", "transport", "housing"]

    # a text per language: spoken at creation with each language's voice, into the folder Asterisk reads
    texts = {"zh": "朝阳区停水已知，十八点前修复。", "en": "The outage is known."}
    spoken = h.api("POST", "/api/surge", {"scope": "everyone", "ends_at": time.time() + 600, "texts": texts})
    folder = h.settings.asterisk.instance_dir / "sounds" / "surge"
    for code in ("zh", "en"):
        assert wav_seconds(folder / f"{spoken['surge']['id']}-{code}.wav") > 1.0
    h.api("DELETE", f"/api/surge/{spoken['surge']['id']}")
    audit = [r["action"] for r in h.api("GET", "/api/audit?limit=50")["audit"] if r["action"].startswith("surge")]
    assert audit == ["surge_ended", "surge_created", "surge_created"]
