"""The offers intake (issue 16) end to end: real Asterisk, SIP phones, the service, the case file.

A short greeting in the default language; a caller who presses nothing is queued in it at once;
the other languages are chosen while waiting (the queue's exit context); a known caller is
queued in their last case's language; a G.722 phone and an Opus phone (baresip) are answered and
heard both ways."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from support import baresip
from support.audio import tone_share
from support.calls import call_hotline, wait_until
from support.phone_process import PhoneProcess
from support.stack import SIP_PORT

pytestmark = pytest.mark.asterisk

SITE = """
[[operators]]
extension = "2001"
name = "English Only"
languages = { en = 5 }
topics = ["housing", "transport"]

[[operators]]
extension = "2002"
name = "Mandarin Only"
languages = { zh = 5 }
topics = ["housing", "transport"]

[ivr]
intake = "offers"
"""

CALLER_HZ, OP1_HZ, OP2_HZ = 600, 1000, 1400


def register(h: Any, phones: Any, tones: dict[int, Any], ext: str, hz: int, **kw: Any) -> Any:
    return phones.operator(ext, h.secrets.sip_passwords[ext], tones[hz], **kw)


def greeting_seconds(h: Any) -> float:
    wav = h.settings.asterisk.instance_dir / "sounds" / "ivr" / "greeting.wav"
    return float(subprocess.run(["soxi", "-D", str(wav)], capture_output=True, text=True, check=True).stdout)


def test_a_silent_caller_reaches_a_mandarin_operator_right_after_the_greeting(
        make_hotline: Any, phones: Any, tones: Any) -> None:
    h = make_hotline(SITE)
    h.start_service()
    op2 = register(h, phones, tones, "2002", OP2_HZ)
    h.login("2002")
    greeting = greeting_seconds(h)
    assert greeting <= 3.0, f"the greeting is short ({greeting:.2f} s)"

    call = call_hotline(phones, tones[CALLER_HZ], "13900001601", [])
    wait_until(lambda: op2.calls and op2.calls[0].connected_at, 20, "the Mandarin operator answered")
    # answer 0.5 s + greeting + the 0.5 s a digit is still the greeting's + the operator phone's 0.5 s
    # answer delay: "within a few seconds of the greeting's end"
    after_greeting = op2.calls[0].connected_at - call.connected_at - 0.5 - greeting
    assert after_greeting < 3.0, f"reached {after_greeting:.2f} s after the greeting ended"
    time.sleep(2)
    phones.hangup(call)
    wait_until(lambda: h.cases() and h.cases()[0]["state"] == "ended", 10, "case ended")
    case = h.cases()[0]
    assert (case["language"], case["topic"], case["operator"], case["queue"]) == ("zh", "general", "2002",
                                                                                  "hl-zh-general")
    assert case["ivr_path"] == "greeting:silent/lang:zh/topic:general/"
    assert tone_share(op2.calls[0].recording, CALLER_HZ, start=0.5) > 0.5, "the operator heard the caller"


def test_an_english_caller_presses_their_key_while_a_mandarin_phone_rings(
        make_hotline: Any, phones: Any, tones: Any) -> None:
    h = make_hotline(SITE)
    h.start_service()
    op1 = register(h, phones, tones, "2001", OP1_HZ)
    op2 = register(h, phones, tones, "2002", OP2_HZ, auto_answer=False)  # rings, nobody picks up
    h.login("2001", "2002")

    call = call_hotline(phones, tones[CALLER_HZ], "13900001602", [])
    wait_until(lambda: op2.calls, 15, "the call rings the Mandarin operator (the caller is queued)")
    wait_until(lambda: h.cases(), 5, "the case is open from the queue entry")
    queued_at = h.cases()[0]["queued_at"]
    time.sleep(1.0)  # the English offer ("For English, press 2") plays while the phone rings
    pressed = time.time()
    phones.dtmf(call, "2")
    wait_until(lambda: op1.calls and op1.calls[0].connected_at, 15, "the English operator answered")
    assert op2.calls[0].connected_at is None, "the Mandarin operator never answered"
    wait_until(lambda: op2.calls[0].ended_at, 5, "the Mandarin phone stopped ringing")
    time.sleep(1.5)
    phones.hangup(call)
    wait_until(lambda: h.cases() and h.cases()[0]["state"] == "ended", 10, "case ended")
    cases = h.cases()
    assert len(cases) == 1, "one call, one case"
    case = cases[0]
    assert (case["language"], case["queue"], case["operator"]) == ("en", "hl-en-general", "2001")
    assert case["ivr_path"] == "greeting:silent/lang:zh/topic:general/switch:en/"
    # the case keeps the first queue entry and the first ring
    assert case["queued_at"] == queued_at and queued_at < pressed
    assert case["arrived_at"] is not None and case["arrived_at"] <= queued_at
    assert abs(case["arrived_at"] - call.connected_at) < 1.5, "arrival = the first ring, not the switch"
    assert tone_share(op1.calls[0].recording, CALLER_HZ, start=0.5) > 0.5, "the operator heard the caller"


def test_a_known_caller_is_queued_in_their_earlier_language(make_hotline: Any, phones: Any, tones: Any) -> None:
    h = make_hotline(SITE)
    h.start_service()
    op1 = register(h, phones, tones, "2001", OP1_HZ)
    h.login("2001")
    first = call_hotline(phones, tones[CALLER_HZ], "13900001603", ["2"], pause=0.8)  # English, in the greeting
    wait_until(lambda: op1.calls and op1.calls[0].connected_at, 15, "the English operator answered")
    phones.hangup(first)
    wait_until(lambda: h.cases() and h.cases()[0]["state"] == "ended", 10, "first case ended")
    assert h.cases()[0]["ivr_path"] == "lang:en/topic:general/", "a key in the greeting acts at once"
    wait_until(lambda: h.agent("2001")["state"] == "ready", 15, "2001 ready again after wrap-up")

    again = call_hotline(phones, tones[CALLER_HZ], "13900001603", [])  # the same number, says nothing
    wait_until(lambda: len(op1.calls) == 2 and op1.calls[1].connected_at, 20, "the English operator answered")
    phones.hangup(again)
    wait_until(lambda: len(h.cases()) == 2 and h.cases()[1]["state"] == "ended", 10, "second case ended")
    case = h.cases()[1]
    assert (case["language"], case["queue"]) == ("en", "hl-en-general")
    assert case["ivr_path"] == "greeting:silent/known/lang:en/topic:general/"


def test_a_g722_phone_calls_the_hotline_and_both_sides_hear(make_hotline: Any, phones: Any, tones: Any,
                                                          tmp_path: Path) -> None:
    """A caller's phone that offers only G.722 (no G.711) is answered (not 488), hears the IVR and
    the operator, and the operator (G.711) hears it: Asterisk transcodes (codec_g722)."""
    h = make_hotline(SITE)
    h.start_service()
    op2 = register(h, phones, tones, "2002", OP2_HZ)
    h.login("2002")
    wideband = PhoneProcess(tmp_path / "g722-phones", SIP_PORT, 5094, codecs=("G722/",))
    try:
        caller = wideband.caller("13900001604", tones[CALLER_HZ])
        call = call_hotline(phones, tones[CALLER_HZ], "13900001604", [], phone=caller)
        wait_until(lambda: op2.calls and op2.calls[0].connected_at, 20, "the Mandarin operator answered")
        channels = h.asterisk_cli("core show channels concise")
        citizen = next(line.split("!")[0] for line in channels.splitlines() if line.startswith("PJSIP/citizens-"))
        shown = h.asterisk_cli(f"core show channel {citizen}")
        assert "g722" in next(line for line in shown.splitlines() if "NativeFormats" in line), shown
        time.sleep(3)
        phones.hangup(call)
        wait_until(lambda: call.ended_at and op2.calls[0].ended_at, 10, "both legs ended")
        time.sleep(0.5)
        assert tone_share(op2.calls[0].recording, CALLER_HZ, start=0.5) > 0.5, "the operator heard the G.722 caller"
        bridged = op2.calls[0].connected_at - call.connected_at  # the caller's recording starts with its audio
        assert tone_share(call.recording, OP2_HZ, start=bridged + 0.5) > 0.5, "the G.722 caller heard the operator"
    finally:
        wideband.close()


def test_the_menu_intake_stays_behind_its_setting(make_hotline: Any, phones: Any, tones: Any) -> None:
    """``[ivr] intake = "menu"``: the language menu before the queue, then the topic menu, as before."""
    h = make_hotline(SITE.replace('intake = "offers"', 'intake = "menu"'))
    assert (h.settings.asterisk.instance_dir / "sounds" / "ivr" / "language-menu.wav").is_file()
    assert sorted(p.name for p in (h.settings.asterisk.instance_dir / "sounds" / "moh" / "en").iterdir()) == \
        ["hold.wav"], "no offers in the music: the menu made the choice"
    h.start_service()
    op1 = register(h, phones, tones, "2001", OP1_HZ)
    h.login("2001")
    call = call_hotline(phones, tones[CALLER_HZ], "13900001605", ["2", "1"])  # English, housing
    wait_until(lambda: op1.calls and op1.calls[0].connected_at, 20, "the English operator answered")
    phones.hangup(call)
    wait_until(lambda: h.cases() and h.cases()[0]["state"] == "ended", 10, "case ended")
    case = h.cases()[0]
    assert (case["queue"], case["ivr_path"]) == ("hl-en-housing", "lang:en/topic:housing/")


def native_formats(h: Any, prefix: str) -> str:
    """The codecs of the channel whose name starts with ``prefix`` (e.g. "PJSIP/2002-")."""
    channels = h.asterisk_cli("core show channels concise")
    name = next(line.split("!")[0] for line in channels.splitlines() if line.startswith(prefix))
    shown = h.asterisk_cli(f"core show channel {name}")
    return next(line for line in shown.splitlines() if "NativeFormats" in line)


@pytest.mark.skipif(not baresip.available(), reason="the Opus phone is baresip (scripts/setup.sh installs it)")
def test_a_g722_caller_and_an_opus_operator_hear_each_other(make_hotline: Any, phones: Any, tones: Any,
                                                            tmp_path: Path) -> None:
    """Wideband both sides, different codecs: Asterisk transcodes G.722 <-> Opus (codec_g722,
    codec_opus_open_source), and each phone hears the other's tone."""
    h = make_hotline(SITE)
    h.start_service()
    opus = baresip.OpusPhone(tmp_path / "opus-phone", "2002", h.secrets.sip_passwords["2002"], tones[OP2_HZ])
    wideband = PhoneProcess(tmp_path / "g722-phones", SIP_PORT, 5094, codecs=("G722/",))
    try:
        h.login("2002")
        caller = wideband.caller("13900001606", tones[CALLER_HZ])
        call = call_hotline(phones, tones[CALLER_HZ], "13900001606", [], phone=caller)
        wait_until(lambda: h.cases() and h.cases()[0]["state"] == "answered", 20, "the Opus operator answered")
        answered = time.time()
        assert "opus" in native_formats(h, "PJSIP/2002-")
        assert "g722" in native_formats(h, "PJSIP/citizens-")
        time.sleep(4)
        phones.hangup(call)
        wait_until(lambda: call.ended_at, 10, "the caller's leg ended")
        wait_until(lambda: opus.heard(), 10, "the Opus phone kept what it heard")
        time.sleep(1.0)
        heard = opus.heard()[-1]
        assert tone_share(heard, CALLER_HZ, start=0.5) > 0.5, f"the Opus operator heard the G.722 caller ({heard})"
        bridged = answered - call.connected_at
        assert tone_share(call.recording, OP2_HZ, start=bridged + 0.5) > 0.5, "the G.722 caller heard the operator"
    finally:
        wideband.close()
        opus.close()


def test_a_digit_sent_as_sip_info_moves_the_caller_too(make_hotline: Any, phones: Any, tones: Any) -> None:
    """DTMF as SIP INFO (phones and trunks that do not send RFC 4733 events) acts like a key."""
    h = make_hotline(SITE)
    h.start_service()
    op1 = register(h, phones, tones, "2001", OP1_HZ)
    h.login("2001")  # no Mandarin operator: the caller waits in the Mandarin queue
    call = call_hotline(phones, tones[CALLER_HZ], "13900001607", [])
    wait_until(lambda: h.cases(), 10, "queued in Mandarin")
    time.sleep(1.0)
    phones.dtmf(call, "2", sip_info=True)
    wait_until(lambda: op1.calls and op1.calls[0].connected_at, 15, "the English operator answered")
    phones.hangup(call)
    wait_until(lambda: h.cases() and h.cases()[0]["state"] == "ended", 10, "case ended")
    assert h.cases()[0]["ivr_path"] == "greeting:silent/lang:zh/topic:general/switch:en/"
