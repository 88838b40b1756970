"""The knowledge base end to end (issue 19): articles imported with `hotline kb import`, real
Asterisk, SIP phones, the real Whisper model, headless Chromium as the operator. The caller
(the synthetic Mandarin sentence of tests/data/whisper/zh/02.wav: 路灯坏了) is answered on the
desk; the housing topic's articles are suggested at once, the street-light article once the
caller's line is transcribed (a reload shows the same); the operator opens it in the desk's
panel while the call goes on, says it helped (counted once for the case), and finds another with
the search box."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from hotline.config.media import default_whisper_model
from support.audio import speech_mic
from support.calls import wait_until
from support.desk import open_desk

pytestmark = [pytest.mark.asterisk, pytest.mark.whisper,
              pytest.mark.skipif(not (default_whisper_model() / "model.bin").is_file(),
                                 reason="no Whisper model (scripts/whisper_model.py makes it)")]

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "kb-desk-test-password-1"
CALLER = "13900000119"
SITE_EXTRA = """
[[operators]]
extension = "2001"
name = "Mandarin Housing"
languages = { zh = 5 }
topics = ["housing"]

[[users]]
username = "li"
role = "operator"
extension = "2001"
name = "Li"
"""
ARTICLES = """id,title,body,topic,tags,language
e2e-lift,电梯故障报修,小区电梯坏了：先联系物业；有人被困立即拨打119。,housing,电梯,zh
e2e-light,路灯不亮怎么办,市民反映楼下或小区外道路的路灯坏了、晚上很黑：记录路名和门牌号，派单至区城市管理委员会（路灯管理所）。,housing,"路灯,照明",zh
e2e-trash,垃圾清运不及时,垃圾多日无人清运：派单至街道办事处和区城市管理委员会（环卫）。,housing,垃圾,zh
e2e-taxi,出租车投诉,请市民提供车牌号和发票，派单至市交通委员会。,transport,出租车,zh
e2e-lift-en,Lift out of order,Call the property management first.,housing,lift,en
"""


def street_light_mic(dest: Path) -> Path:
    """The street-light sentence (02.wav) with a second of silence around it (8 kHz; the phone loops it)."""
    return speech_mic(dest, [ROOT / "tests/data/whisper/zh/02.wav"], lead=1.0)


def text(page: Any, selector: str) -> str:
    return str(page.locator(selector).text_content()).strip()


def test_the_desk_suggests_opens_and_counts_an_article(make_hotline: Any, phones: Any, browser: Any,
                                                       tmp_path: Path) -> None:
    t0 = time.monotonic()
    h = make_hotline(SITE_EXTRA)
    h.set_password("li", PASSWORD)
    data = tmp_path / "kb.csv"
    data.write_text(ARTICLES, encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "hotline.cli", "--site", str(h.site), "kb", "import", str(data)],
                         capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0 and "imported 5" in out.stdout, out.stdout + out.stderr
    h.start_service(env={"HOTLINE_ROUTING_WRAPUP_SECONDS": "60"})
    wait_until(lambda: "speech model for zh loaded" in h.service_log.read_text(), 60, "the Whisper model loaded")
    print(f"service and model up {time.monotonic() - t0:.1f} s")
    phones.operator("2001", h.secrets.sip_passwords["2001"], None, answer_after=1.0)

    page = browser.new_context().new_page()  # the page's own CSP enforced: kb.js is a file, no inline script
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    open_desk(page, h.base_url, "li", PASSWORD)

    started = time.monotonic()
    caller = phones.caller(CALLER, street_light_mic(tmp_path / "caller.wav"))
    call = phones.dial(caller, "12345")
    wait_until(lambda: call.connected_at, 10, "the IVR answered")
    for digit in ("1", "1"):  # Mandarin, housing
        time.sleep(1.2)
        phones.dtmf(call, digit)
    wait_until(lambda: text(page, "#call-phase") == "live", 30, "the call live on the desktop", interval=0.2)

    # the topic's articles at once, before the caller has said anything of use
    wait_until(lambda: page.locator("#kb-suggested li").count() >= 1, 10, "the housing articles suggested",
               interval=0.2)
    assert "电梯故障报修" in page.locator("#kb-suggested").inner_text()
    # the caller's line about the street light: its article first
    wait_until(lambda: "路灯不亮怎么办" in (page.locator("#kb-suggested li").first.text_content() or ""), 40,
               "the street-light article suggested from the caller's words", interval=0.3)
    heard = page.locator("#transcript li.caller.final").all_text_contents()
    print(f"suggested from the transcript {time.monotonic() - started:.1f} s after dialling;",
          page.locator("#kb-words").inner_text(), heard)
    assert heard and page.locator("#kb-words").inner_text().startswith("(heard: ")  # the words it was found by

    # a reload keeps them (the snapshot's call.knowledge)
    page.reload()
    wait_until(lambda: text(page, "#connection") == "live", 15, "the desktop's socket again", interval=0.2)
    wait_until(lambda: "路灯不亮怎么办" in (page.locator("#kb-suggested li").first.text_content() or ""), 10,
               "the suggestions after a reload", interval=0.2)

    # opened in the desk's panel; the call stays on the desk
    page.locator("#kb-suggested li").first.locator("button.kb-open").click()
    wait_until(lambda: page.locator("#kb-article").is_visible(), 5, "the article open", interval=0.1)
    assert text(page, "#kb-article-title") == "路灯不亮怎么办" and "路灯管理所" in text(page, "#kb-article-body")
    assert page.url.endswith("/desktop") and text(page, "#call-phase") == "live"
    page.click("#kb-helped")
    wait_until(lambda: "counted" in text(page, "#kb-helped-status"), 5, "helped counted", interval=0.1)
    page.click("#kb-helped")  # twice for the same call: once
    wait_until(lambda: "already" in text(page, "#kb-helped-status"), 5, "counted once", interval=0.1)

    # the search box
    page.fill("#kb-q", "垃圾")
    page.click("#kb-go")
    wait_until(lambda: "垃圾清运不及时" in page.locator("#kb-results").inner_text(), 5, "found by the search box",
               interval=0.1)
    phones.hangup(call)
    wait_until(lambda: text(page, "#call-phase") == "ended", 15, "the call ended", interval=0.2)

    case = next(c for c in h.cases() if c["caller_number"] == CALLER)
    con = sqlite3.connect(h.settings.database)
    helped = con.execute("select k.key, k.helped, k.views, h.case_uniqueid, h.username from knowledge k"
                         " join knowledge_helped h on h.article_id = k.id").fetchall()
    con.close()
    assert helped == [("id:e2e-light", 1, 1, case["uniqueid"], "li")], helped
    assert problems == [], problems  # no script error, nothing the CSP refused
    page.context.close()  # the socket closed now: the service stops at once (else it waits for it)
