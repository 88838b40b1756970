"""Shift managers end to end: real Asterisk, SIP phones, headless Chromium on the wallboard.

1. A waiting caller appears with a growing wait; the alert shows after 10 s; a click on Ready
   gets the call answered and the figures change.
2. A skill change from the wallboard makes the next matching call ring that operator.
3. The AMI session is cut during calls: the wallboard shows the same waiting callers and states.
4. The history agrees with the case rows and with Asterisk's queue statistics.
5. Listen, whisper and barge with three phones, each playing its own tone."""

from __future__ import annotations

import re
import subprocess
import time
from typing import Any

import pytest

from support.audio import tone_share
from support.calls import call_hotline, wait_until

pytestmark = pytest.mark.asterisk

PASSWORD = "board-test-password-1"
CALLER_HZ, OP_HZ, SUP_HZ = 600, 1000, 1800
SITE_EXTRA = """
[[operators]]
extension = "2001"
name = "Mandarin Housing"
languages = { zh = 5 }
topics = ["housing"]

[[operators]]
extension = "2002"
name = "Mandarin Transport"
languages = { zh = 5 }
topics = ["transport"]

[[supervisors]]
extension = "3001"
name = "Shift desk"

[[users]]
username = "boss"
role = "supervisor"
extension = "3001"
name = "Zhao"
"""


def call_in(phones: Any, tones: dict[int, Any], number: str, digits: list[str]) -> Any:
    return call_hotline(phones, tones[CALLER_HZ], number, digits)


def text(page: Any, selector: str) -> str:
    return str(page.locator(selector).first.text_content() or "").strip()


def wait_for(page: Any, selector: str, predicate: Any, what: str, timeout: float = 15) -> str:
    wait_until(lambda: page.locator(selector).count() > 0 and predicate(text(page, selector)), timeout, what,
               interval=0.2)
    return text(page, selector)


def board_state(page: Any) -> dict[str, Any]:
    return page.evaluate("""() => ({
        waiting: [...document.querySelectorAll('#waiting tbody tr')].map(r => r.dataset.uniqueid).sort(),
        agents: Object.fromEntries([...document.querySelectorAll('#agents tbody tr')].map(
            r => [r.dataset.ext, r.dataset.state])),
        answered: document.getElementById('t-answered').textContent})""")


def test_wallboard_alert_action_skills_and_ami_restart(make_hotline: Any, phones: Any, tones: Any,
                                                       browser: Any) -> None:
    h = make_hotline(SITE_EXTRA)
    h.set_password("boss", PASSWORD)
    h.start_service()
    for ext, hz in (("2001", OP_HZ), ("2002", 1400)):
        phones.operator(ext, h.secrets.sip_passwords[ext], tones[hz])
    h.login("2001", "2002")
    h.api("POST", "/api/agents/2001/pause", {"reason": "meal"})
    h.api("POST", "/api/agents/2002/pause", {"reason": "training"})
    wait_until(lambda: h.agent("2002")["state"] == "paused", 10, "both paused")

    page = browser.new_context(bypass_csp=True).new_page()
    page.goto(h.base_url + "/login")
    page.fill("#username", "boss")
    page.fill("#password", PASSWORD)
    with page.expect_navigation():
        page.click("#login")
    assert page.url == h.base_url + "/wallboard", page.url  # a supervisor lands on the wallboard
    page.wait_for_function("document.getElementById('connection').textContent === 'live'")
    row = '#agents tr[data-ext="2001"]'
    wait_for(page, row + " .state", lambda t: t == "paused: meal", "2001 shown paused with the reason")

    # 1. a Mandarin housing caller waits: on the board at once, the wait grows, the alert after 10 s
    a = call_in(phones, tones, "13900000101", ["1", "1"])
    joined = time.time()
    wait_until(lambda: page.locator("#waiting tbody tr").count() == 1, 10, "the caller on the wallboard",
               interval=0.2)
    row_w = page.locator("#waiting tbody tr").first
    assert "hl-zh-housing" in str(row_w.text_content()) and "13900000101" not in page.content()  # number masked
    first = text(page, "#waiting tbody tr .wait")
    time.sleep(2.2)
    assert text(page, "#waiting tbody tr .wait") != first, "the wait grows on the page"
    assert page.locator("#alerts li.waiting").count() == 0
    wait_until(lambda: page.locator("#alerts li.waiting").count() == 1, 15, "the 10 s alert", interval=0.2)
    # 10 s after the first ring (the waiting alert counts the citizen's clock: the IVR's seconds too)
    arrived = next(c["arrived_at"] for c in h.cases() if c["caller_number"] == "13900000101")
    alert_after = time.time() - arrived
    assert 9.0 <= alert_after <= 12.0, alert_after
    assert time.time() - joined < 10.0, "the IVR's seconds count: the alert comes sooner after queue entry"
    assert page.locator('#queues tr[data-queue="hl-zh-housing"] .waiting').text_content() == "1"

    page.click(row + " .act-unpause")  # Ready, from the wallboard
    wait_for(page, row + " .state", lambda t: t == "talking", "2001 talking after the click")
    wait_until(lambda: page.locator("#waiting tbody tr").count() == 0, 10, "nobody waiting", interval=0.2)
    wait_for(page, "#t-answered", lambda t: t == "1", "answered today: 1")
    assert "zh housing" in text(page, row + " .call")
    assert page.locator('#queues tr[data-queue="hl-zh-housing"] .answered').text_content() == "1"
    assert page.locator("#alerts li.waiting").count() == 0
    wait_for(page, "#audit", lambda t: "boss unpause 2001" in t, "the click is in the audit log")

    # 2. skills changed from the wallboard: 2002 now speaks English; an English transport call rings 2002
    assert text(page, '#agents tr[data-ext="2002"] .skills') == "zh5 · transport"
    page.click('#agents tr[data-ext="2002"] .act-skills')
    page.fill("#skill-lang-en", "5")
    page.click("#skills-save")
    wait_for(page, '#agents tr[data-ext="2002"] .skills', lambda t: t == "zh5 en5 · transport",
             "the new skills on the board")
    wait_until(lambda: "PJSIP/2002" in h.asterisk_cli("queue show hl-en-transport"), 5, "2002 in hl-en-transport")
    page.click('#agents tr[data-ext="2002"] .act-unpause')
    wait_for(page, '#agents tr[data-ext="2002"] .state', lambda t: t == "ready", "2002 ready")
    b = call_in(phones, tones, "13900000102", ["2", "2"])  # English, transport
    wait_for(page, '#agents tr[data-ext="2002"] .state', lambda t: t == "talking", "2002 talking", 10)
    case_b = next(c for c in h.cases() if c["caller_number"] == "13900000102")
    assert (case_b["queue"], case_b["operator"]) == ("hl-en-transport", "2002")
    # nobody else speaks English: without the change the call would have waited for the 8 s overflow
    assert case_b["wait_seconds"] < 4, case_b

    # 3. a third caller waits while both talk; the AMI session is cut: the same board afterwards
    c = call_in(phones, tones, "13900000103", ["1", "1"])
    wait_until(lambda: page.locator("#waiting tbody tr").count() == 1, 10, "the third caller waiting",
               interval=0.2)
    before = board_state(page)
    assert before["agents"] == {"2001": "talking", "2002": "talking"} and len(before["waiting"]) == 1
    log = h.service_log.read_text
    subprocess.run(["ss", "-K", "dst", "127.0.0.1", "dport", "=", str(h.settings.asterisk.ami_port)],
                   check=True, capture_output=True)
    wait_until(lambda: log().count("AMI logged in") >= 2, 20, "the session reconnected")
    time.sleep(1.5)  # the resync and a wallboard tick
    assert board_state(page) == before
    page.reload()  # and a new page gets the same from the service
    page.wait_for_function("document.getElementById('connection').textContent === 'live'")
    wait_until(lambda: board_state(page) == before, 5, "the same board after a reload", interval=0.2)

    # 4. the calls end; the history agrees with the case rows and with Asterisk's own counters
    for call in (c, a, b):
        phones.hangup(call)
    wait_until(lambda: all(x["state"] in ("ended", "abandoned") for x in h.cases()), 15, "all calls finished")
    boss = h.web_session("boss", PASSWORD)
    status, hist = boss.api("GET", "/history.json")
    assert status == 200
    (day,) = hist["days"]
    cases = h.cases()
    assert day["offered"] == len(cases) == 3
    assert day["answered"] == sum(1 for x in cases if x["answered_at"]) == 2
    assert day["abandoned"] == sum(x["abandoned"] for x in cases) == 1
    completed = abandoned = 0
    for queue in ("hl-zh-housing", "hl-en-transport"):
        m = re.search(r"C:(\d+), A:(\d+)", h.asterisk_cli(f"queue show {queue}"))
        assert m
        completed, abandoned = completed + int(m.group(1)), abandoned + int(m.group(2))
    assert (completed, abandoned) == (day["answered"], day["abandoned"])
    ops = {o["operator"]: o for o in hist["operators"]}
    assert ops["2001"]["calls"] == 1 and ops["2001"]["pause"] > 10  # the meal pause before the click
    assert ops["2002"]["calls"] == 1 and ops["2002"]["talk"] > 0
    page.context.close()


def test_listen_whisper_barge(make_hotline: Any, phones: Any, tones: Any) -> None:
    h = make_hotline(SITE_EXTRA)
    h.set_password("boss", PASSWORD)
    h.start_service()
    op = phones.operator("2001", h.secrets.sip_passwords["2001"], tones[OP_HZ])
    sup = phones.operator("3001", h.secrets.sip_passwords["3001"], tones[SUP_HZ])
    h.login("2001")
    call = call_in(phones, tones, "13900000201", ["1", "1"])
    wait_until(lambda: op.calls and op.calls[0].connected_at, 15, "the operator answered")
    boss = h.web_session("boss", PASSWORD)

    windows: dict[str, tuple[float, float]] = {}
    for i, mode in enumerate(("listen", "whisper", "barge")):
        status, body = boss.api("POST", f"/api/supervision/2001/{mode}")
        assert status == 200, body
        wait_until(lambda i=i: len(sup.calls) > i and sup.calls[i].connected_at, 10, f"the supervisor's phone ({mode})")
        start = sup.calls[i].connected_at
        time.sleep(4.5)
        windows[mode] = (start + 1.5, start + 4.0)
    status, body = boss.api("POST", "/api/supervision/stop")
    assert status == 200 and body["stopped"]
    wait_until(lambda: all(c.ended_at for c in [sup.calls[0], sup.calls[1], sup.calls[2]]), 10,
               "the supervisor's calls ended")
    assert call.ended_at is None and op.calls[0].ended_at is None, "the citizen's call goes on"

    def heard(phone_call: Any, freq: int, window: tuple[float, float]) -> float:
        t0 = phone_call.connected_at
        return tone_share(phone_call.recording, freq, window[0] - t0, window[1] - t0)

    phones.hangup(call)
    wait_until(lambda: call.ended_at and op.calls[0].ended_at, 10, "the call ended")
    shares = {mode: {"operator hears supervisor": heard(op.calls[0], SUP_HZ, w),
                     "caller hears supervisor": heard(call, SUP_HZ, w),
                     "supervisor hears caller": heard(sup.calls[i], CALLER_HZ, w),
                     "supervisor hears operator": heard(sup.calls[i], OP_HZ, w)}
              for i, (mode, w) in enumerate(windows.items())}
    for mode, s in shares.items():  # the supervisor hears both sides in every mode
        assert s["supervisor hears caller"] > 0.1 and s["supervisor hears operator"] > 0.1, (mode, s)
    assert shares["listen"]["operator hears supervisor"] < 0.05, shares
    assert shares["listen"]["caller hears supervisor"] < 0.05, shares
    assert shares["whisper"]["operator hears supervisor"] > 0.15, shares
    assert shares["whisper"]["caller hears supervisor"] < 0.05, shares
    assert shares["barge"]["operator hears supervisor"] > 0.15, shares
    assert shares["barge"]["caller hears supervisor"] > 0.15, shares

    status, body = boss.api("GET", "/api/audit")
    actions = [(r["actor"], r["action"], r["target"]) for r in reversed(body["audit"])]
    assert [x for x in actions if x[1] in ("listen", "whisper", "barge", "spy-stop")] == [
        ("boss", "listen", "2001"), ("boss", "spy-stop", "2001"), ("boss", "whisper", "2001"),
        ("boss", "spy-stop", "2001"), ("boss", "barge", "2001"), ("boss", "spy-stop", "2001")]
    assert all(r["detail"].get("uniqueid") for r in body["audit"] if r["action"] in ("listen", "whisper", "barge"))
