"""After the call, end to end: real Asterisk 22, pjsua2 phones, Debian's chromium, SQLite files.

1. A department user in the browser sees only their department's cases and replies; the call
   back (AMI Originate) reaches the citizen's SIP phone, which presses 1 and 1: the case closes
   with both answers recorded.
2. The citizen presses 2: the case reopens to the same department.
3. Nobody answers: the attempts are retried, then the call back is an operator's task, which the
   operator places from the desktop (their phone, then the citizen's) and records.
4. The call is recorded: a verified compressed stereo file (caller left, operator right), the
   originals removed; a supervisor's listen is audited; another department cannot fetch it.
5. A generated week of cases with one address spiking: the hotspot and its bundle appear on the
   trends page.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from hotline.sim import casegen
from support.audio import tone_share
from support.calls import call_hotline, wait_until

pytestmark = pytest.mark.asterisk

PASSWORD = "after-call-password-1"
CALLER_HZ, OP_HZ = 600, 1000
SITE_EXTRA = """
[callback]
dial = "PJSIP/citizens/sip:{number}@127.0.0.1:5092"
ring_seconds = 6
retry_minutes = [0.05]
hours_start = "00:00"
hours_end = "00:00"

[recordings]
min_free_mb = 10

[[operators]]
extension = "2001"
name = "All Rounder"
languages = { zh = 5, en = 5, ko = 5 }
topics = ["housing", "transport"]

[[departments]]
code = "housing_bureau"
name = "Housing Bureau"

[[departments]]
code = "transport_bureau"
name = "Transport Bureau"

[[dispatch_rules]]
topics = ["housing"]
department = "housing_bureau"

[[dispatch_rules]]
topics = ["transport"]
department = "transport_bureau"

[[users]]
username = "wang"
role = "operator"
extension = "2001"

[[users]]
username = "boss"
role = "supervisor"

[[users]]
username = "housing"
role = "department"
department = "housing_bureau"

[[users]]
username = "transport"
role = "department"
department = "transport_bureau"
"""

FORM = {"category": "housing", "district": "Chaoyang", "address": "5 Elm Street",
        "description": "Water leaking through the ceiling for three days", "urgency": "high",
        "citizen_name": "Li Lei", "confidential": False, "notes": "", "department": "auto"}


def start(make_hotline: Any) -> Any:
    h = make_hotline(SITE_EXTRA)
    for user in ("wang", "boss", "housing", "transport"):
        h.set_password(user, PASSWORD)
    h.start_service()
    return h


def rows(h: Any, sql: str, *args: Any) -> list[dict[str, Any]]:
    con = sqlite3.connect(h.settings.database)
    con.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in con.execute(sql, args)]
    finally:
        con.close()


def case(h: Any, uid: str) -> dict[str, Any]:
    return rows(h, "select * from cases where uniqueid = ?", uid)[0]


def manual_case(h: Any, number: str, **form: Any) -> dict[str, Any]:
    boss = h.web_session("boss", PASSWORD)
    status, body = boss.api("POST", "/api/cases", {**FORM, **form, "caller_number": number, "language": "en"})
    assert status == 200, body
    return dict(body)


def browser_login(browser: Any, base: str, username: str, landing: str) -> Any:
    """A Chromium page logged in through the login form, landed on ``landing``."""
    page = browser.new_context(bypass_csp=True).new_page()  # CSP stays; Playwright evaluates its own helpers
    page.goto(f"{base}/login?next={landing}")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("#login")
    page.wait_for_url(base + landing)
    return page


def answer_call_back(h: Any, phones: Any, citizen: Any, uid: str, resolved: str, satisfied: str) -> None:
    """The citizen's phone answered the call back: press ``resolved`` until the service has that
    answer, then ``satisfied`` until it has that one (digits pressed while a prompt that takes
    no input plays are dropped by Asterisk, so a digit is repeated until it lands)."""
    wait_until(lambda: citizen.calls and citizen.calls[-1].connected_at, 20, "the citizen answered the call back")
    call = citizen.calls[-1]

    def latest() -> dict[str, Any]:
        return rows(h, "select * from callbacks where case_uniqueid = ? order by id desc limit 1", uid)[0]
    for column, digit in (("resolved", resolved), ("satisfied", satisfied)):
        deadline = time.time() + 40
        while latest()[column] is None:
            assert time.time() < deadline, f"the call back never took the {column} answer"
            assert call.ended_at is None, "the call back hung up before the answers"
            phones.dtmf(call, digit)
            time.sleep(1.2)


def test_department_replies_in_the_browser_and_the_call_back_closes_the_case(
        make_hotline: Any, phones: Any, tones: Any, browser: Any) -> None:
    h = start(make_hotline)
    op = phones.operator("2001", h.secrets.sip_passwords["2001"], tones[OP_HZ])
    h.login("2001")
    wang = h.web_session("wang", PASSWORD)
    citizen_number = "13900000601"
    call = call_hotline(phones, tones[CALLER_HZ], citizen_number, ["2", "1"])  # English, housing
    wait_until(lambda: op.calls and op.calls[0].connected_at, 20, "the operator answered")
    uid = wait_until(lambda: next((c["uniqueid"] for c in h.cases() if c["caller_number"] == citizen_number
                                   and c["state"] == "answered"), None), 10, "the case opened")
    status, saved = wang.api("POST", f"/api/cases/{uid}/form", FORM)
    assert status == 200 and saved["department"] == "housing_bureau", saved
    phones.hangup(call)
    other = manual_case(h, "13900000602", category="transport", description="The bus did not stop at all")
    assert other["department"] == "transport_bureau"

    base = h.base_url
    page = browser_login(browser, base, "housing", "/department")
    page.wait_for_function("window.hotlineLoaded === true")
    shown = [int(x) for x in page.locator("#cases tr.case").evaluate_all("rs => rs.map(r => r.dataset.id)")]
    assert shown == [saved["case_id"]], "only the housing department's case"
    assert "left" in page.locator("#cases tr.case td.due").first.text_content()  # the countdown
    assert page.goto(base + f"/api/cases/{other['uniqueid']}/detail").status == 403
    page.goto(base + "/department")
    page.wait_for_function("window.hotlineLoaded === true")
    page.click("#cases a.case-link")
    page.wait_for_url(base + f"/cases/{uid}")
    page.wait_for_selector("#btn-accept")
    page.click("#btn-accept")
    page.wait_for_function("document.getElementById('case-status').textContent === 'accepted'")

    citizen = phones.caller(citizen_number, None, True)  # the citizen's phone answers the call back
    page.fill("#reply-text", "The burst pipe above your flat was replaced on Saturday.")
    page.fill("#reply-summary", "The pipe was replaced.")
    page.click("#reply-form-submit")
    page.wait_for_function("document.getElementById('case-status').textContent === 'replied'")

    answer_call_back(h, phones, citizen, uid, "1", "1")
    wait_until(lambda: case(h, uid)["status"] == "closed", 15, "the case closed")
    c = case(h, uid)
    assert (c["resolved"], c["satisfied"], c["department"]) == (1, 1, "housing_bureau")
    actions = [e["action"] for e in rows(h, "select action from case_events where case_uniqueid = ? order by id",
                                         uid)]
    assert actions == ["recorded", "dispatched", "accepted", "replied", "callback_due", "closed"]
    (cb,) = rows(h, "select * from callbacks where case_uniqueid = ?", uid)
    assert (cb["status"], cb["attempt"], cb["kind"]) == ("done", 1, "auto")
    page.reload()
    page.wait_for_function("document.getElementById('case-status').textContent === 'closed'")
    assert page.locator("#fact-resolved").text_content() == "yes"
    assert page.locator("#history li.event.closed").count() == 1
    page.context.close()


def test_not_resolved_reopens_the_case_to_the_department(make_hotline: Any, phones: Any) -> None:
    h = start(make_hotline)
    number = "13900000611"
    made = manual_case(h, number)
    uid = made["uniqueid"]
    housing = h.web_session("housing", PASSWORD)
    assert housing.api("POST", f"/api/cases/{uid}/accept")[0] == 200
    citizen = phones.caller(number, None, True)
    status, body = housing.api("POST", f"/api/cases/{uid}/reply", {"text": "We inspected the roof."})
    assert status == 200, body
    answer_call_back(h, phones, citizen, uid, "2", "2")
    wait_until(lambda: case(h, uid)["status"] == "reopened", 15, "the case reopened")
    c = case(h, uid)
    assert (c["department"], c["resolved"], c["satisfied"], c["reopen_count"]) == ("housing_bureau", 0, 0, 1)
    assert c["due_at"] > time.time() + 86400  # a new deadline
    status, mine = housing.api("GET", "/api/department/cases")
    assert [x["status"] for x in mine["cases"] if x["uniqueid"] == uid] == ["reopened"]
    last = rows(h, "select * from case_events where case_uniqueid = ? order by id desc limit 1", uid)[0]
    assert last["action"] == "reopened" and json.loads(last["detail"])["resolved"] is False


def test_unanswered_call_backs_are_retried_then_given_to_an_operator(
        make_hotline: Any, phones: Any, tones: Any) -> None:
    h = start(make_hotline)
    op = phones.operator("2001", h.secrets.sip_passwords["2001"], tones[OP_HZ])
    number = "13900000621"
    citizen = phones.caller(number, None, False)  # rings, nobody picks up
    uid = manual_case(h, number)["uniqueid"]
    housing = h.web_session("housing", PASSWORD)
    housing.api("POST", f"/api/cases/{uid}/reply", {"text": "The street lamp was repaired."})
    wang = h.web_session("wang", PASSWORD)

    def tasks() -> list[dict[str, Any]]:
        return [t for t in wang.api("GET", "/api/callbacks/tasks")[1]["tasks"] if t["case_uniqueid"] == uid]
    wait_until(tasks, 40, "the call back became an operator's task")
    attempts = rows(h, "select * from callbacks where case_uniqueid = ? order by id", uid)
    assert [(a["kind"], a["status"]) for a in attempts] == [("auto", "unanswered"), ("auto", "unanswered"),
                                                            ("operator", "task")]
    assert len(citizen.calls) == 2 and all(c.connected_at is None for c in citizen.calls)
    assert attempts[1]["started_at"] - attempts[0]["ended_at"] >= 3.0 - 0.5  # the retry waited its 0.05 min
    assert case(h, uid)["status"] == "callback_due"

    task = tasks()[0]
    status, body = wang.api("POST", f"/api/callbacks/{task['id']}/call")
    assert status == 200, body
    wait_until(lambda: op.calls and op.calls[-1].connected_at, 15, "the operator's phone rang and answered")
    wait_until(lambda: len(citizen.calls) == 3, 15, "then the citizen's phone rang")
    status, body = wang.api("POST", f"/api/callbacks/{task['id']}/result", {"outcome": "resolved-unsatisfied"})
    assert status == 200, body
    c = case(h, uid)
    assert (c["status"], c["resolved"], c["satisfied"]) == ("reopened", 1, 0)
    assert tasks() == []


def test_the_call_is_recorded_archived_and_each_listen_audited(make_hotline: Any, phones: Any, tones: Any,
                                                               tmp_path: Path) -> None:
    from pydub import AudioSegment

    h = start(make_hotline)
    op = phones.operator("2001", h.secrets.sip_passwords["2001"], tones[OP_HZ])
    h.login("2001")
    number = "13900000631"
    call = call_hotline(phones, tones[CALLER_HZ], number, ["2", "1"])
    wait_until(lambda: op.calls and op.calls[0].connected_at, 20, "the operator answered")
    uid = wait_until(lambda: next((c["uniqueid"] for c in h.cases() if c["caller_number"] == number
                                   and c["state"] == "answered"), None), 10, "the case opened")
    time.sleep(5.0)
    phones.hangup(call)
    raw = h.settings.asterisk.instance_dir / "spool" / "recordings"
    rec = wait_until(lambda: next(iter(rows(h, "select * from recordings where case_uniqueid = ? and status in"
                                               " ('archived', 'failed')", uid)), None), 30, "the recording processed")
    assert rec["status"] == "archived", rec["error"]
    archive = Path(rec["archive"])
    assert archive.suffix == ".ogg" and archive.is_file() and rec["verified_at"]
    # the row says archived when the copy is verified; the originals go right after (the service's file thread)
    wait_until(lambda: not list(raw.glob(f"{uid}-*")), 10, "the originals are removed once the copy is verified")
    seg = AudioSegment.from_file(str(archive))
    assert seg.channels == 2 and 4.0 < seg.duration_seconds < 12
    assert rec["bytes"] < seg.duration_seconds * 2 * 16000 / 4  # under a quarter of the two legs as 8 kHz WAV
    left, right = (ch.set_sample_width(2).set_frame_rate(8000) for ch in seg.split_to_mono())
    left.export(tmp_path / "left.wav", format="wav")
    right.export(tmp_path / "right.wav", format="wav")
    assert tone_share(tmp_path / "left.wav", CALLER_HZ, 1, 4) > 0.5  # the caller's leg
    assert tone_share(tmp_path / "right.wav", OP_HZ, 1, 4) > 0.5  # the operator's leg
    assert tone_share(tmp_path / "left.wav", OP_HZ, 1, 4) < 0.1

    # the case belongs to the housing department once the form is saved and dispatched
    wang = h.web_session("wang", PASSWORD)
    assert wang.api("POST", f"/api/cases/{uid}/form", FORM)[1]["department"] == "housing_bureau"

    def fetch(user: str) -> tuple[int, str, bytes]:
        s = h.web_session(user, PASSWORD)
        try:
            with s.opener.open(urllib.request.Request(f"{h.base_url}/api/cases/{uid}/recording"), timeout=20) as r:
                return r.status, r.headers["Content-Type"], r.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers.get("Content-Type", ""), exc.read()
    status, kind, data = fetch("boss")
    assert (status, kind) == (200, "audio/ogg") and data == archive.read_bytes()
    assert fetch("housing")[0] == 200
    assert fetch("transport")[0] == 403
    audit = rows(h, "select * from audit where action = 'recording_played' and target = ? order by id", uid)
    assert [a["actor"] for a in audit] == ["boss", "housing"]


def test_a_spiking_address_shows_as_a_hotspot_with_its_bundle(make_hotline: Any, browser: Any) -> None:
    from hotline.cases.store import CaseStore

    h = start(make_hotline)

    async def generate() -> None:  # a week of cases written into the running hotline's file
        store = CaseStore(h.settings.database)
        try:
            for row, form in casegen.cases(7, 40, spike=casegen.Spike("88 Guanghua Road", "housing", 10)):
                await store.create(row)
                await store.save_form(row["uniqueid"], form, "generator", row["queued_at"], 3)
        finally:
            await store.close()
    with ThreadPoolExecutor(1) as pool:  # Playwright's sync API holds this thread's event loop
        pool.submit(lambda: asyncio.run(generate())).result(timeout=120)

    base = h.base_url
    page = browser_login(browser, base, "boss", "/trends")
    page.wait_for_function("window.hotlineHotspots !== undefined")
    spots = page.locator("#hotspots tr.hotspot").all_text_contents()
    assert any("88 Guanghua Road (housing)" in s for s in spots), spots
    bundles = page.locator("#bundles tr.bundle").all_text_contents()
    assert any("88 Guanghua Road" in b for b in bundles), bundles
    page.wait_for_function("() => window.hotlineTrends && window.hlCharts.all.chart")
    assert page.evaluate("window.hlCharts.all.chart.series.length") >= 5  # x and a line per topic (uPlot)
    page.fill("#s-q", "Guanghua")
    page.click("#search-form button")
    page.wait_for_function("document.getElementById('s-total').textContent.endsWith('case(s)')")
    assert int(page.locator("#s-total").text_content().split()[0]) >= 10
    csv = page.evaluate("fetch(document.getElementById('csv-link').href).then(r => r.text())")
    assert csv.splitlines()[0] == "day,topic,cases" and len(csv.splitlines()) > 7
    page.context.close()
