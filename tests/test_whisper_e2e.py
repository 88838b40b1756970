"""A Mandarin call end to end with Whisper: real Asterisk, SIP phones (the caller's plays the
synthetic Mandarin sentences of tests/data/whisper/zh), the real Whisper base model (the site
names no engine: Mandarin gets Whisper by default), headless Chromium as the operator. The
caller's lines appear live on the desktop in simplified Chinese and are stored with the case."""

from __future__ import annotations

import gzip
import re
import sqlite3
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
PASSWORD = "whisper-test-password-1"
CALLER = "13900000088"
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


def mandarin_mic(dest: Path) -> Path:
    """The six sentences with 1.2 s between them (8 kHz mono 16-bit; the phone loops it)."""
    return speech_mic(dest, sorted((ROOT / "tests/data/whisper/zh").glob("*.wav")))


def text(page: Any, selector: str) -> str:
    return str(page.locator(selector).text_content()).strip()


def han(s: str) -> list[str]:
    return [c for c in s if "\u4e00" <= c <= "\u9fff"]


def test_a_mandarin_call_is_transcribed_live_in_simplified_chinese(make_hotline: Any, phones: Any, browser: Any,
                                                                   tmp_path: Path) -> None:
    from opencc import OpenCC  # type: ignore[import-untyped]
    simplified = OpenCC("t2s")
    h = make_hotline(SITE_EXTRA)
    h.set_password("li", PASSWORD)
    h.start_service(env={"HOTLINE_ROUTING_WRAPUP_SECONDS": "60"})
    wait_until(lambda: "speech model for zh loaded" in h.service_log.read_text(), 60, "the Whisper model loaded")
    assert "(whisper)" in h.service_log.read_text()
    phones.operator("2001", h.secrets.sip_passwords["2001"], None, answer_after=2.0)
    base = h.base_url

    page = open_desk(browser.new_context(bypass_csp=True).new_page(), base, "li", PASSWORD)

    caller = phones.caller(CALLER, mandarin_mic(tmp_path / "caller-zh.wav"))
    call = phones.dial(caller, "12345")
    wait_until(lambda: call.connected_at, 10, "the IVR answered")
    for digit in ("1", "1"):  # Mandarin, housing
        time.sleep(1.5)
        phones.dtmf(call, digit)
    wait_until(lambda: text(page, "#call-phase") == "live", 30, "the call live on the desktop", interval=0.2)

    # the caller's lines, live: partials then finals, in simplified characters
    wait_until(lambda: page.locator("#transcript li.caller.final").count() >= 2, 60, "two final caller lines",
               interval=0.3)
    shown = [str(t) for t in page.locator("#transcript li.caller.final").all_text_contents()]
    assert all(han(line) and simplified.convert(line) == line for line in shown), shown
    assert "transcript:partial" in page.evaluate("window.hotline.received")
    phones.hangup(call)
    wait_until(lambda: text(page, "#call-phase") == "ended", 15, "the call ended", interval=0.2)

    # stored with the case: caller segments, Mandarin, by Whisper, simplified, words of what was said
    case = next(c for c in h.cases() if c["caller_number"] == CALLER)
    con = sqlite3.connect(h.settings.database)
    con.row_factory = sqlite3.Row
    segments = [dict(r) for r in con.execute("select * from transcript where case_uniqueid = ? order by start",
                                             [case["uniqueid"]])]
    con.close()
    caller_lines = [s for s in segments if s["speaker"] == "caller"]
    assert len(caller_lines) >= 2, segments
    said = set("".join(line.split("\t")[1] for line in
                       (ROOT / "tests/data/whisper/zh/texts.tsv").read_text(encoding="utf-8").splitlines()))
    for s in caller_lines:
        assert (s["language"], s["engine"]) == ("zh", "whisper"), s
        assert simplified.convert(s["text"]) == s["text"] and 0.0 < s["confidence"] <= 1.0
    heard = "".join(s["text"] for s in caller_lines)
    print("caller lines stored:", [s["text"] for s in caller_lines])
    assert len(set(han(heard)) & said) >= 0.6 * len(set(han(heard))), heard  # mostly the characters said


SITE_EXTRA_EN = """
[[operators]]
extension = "2002"
name = "English Housing"
languages = { en = 5 }
topics = ["housing"]

[[users]]
username = "sam"
role = "operator"
extension = "2002"
name = "Sam"
"""
CHROOT_SOUNDS = ROOT / "var/asterisk/root/usr/share/asterisk/sounds/en_US_f_Allison"
EN_PROMPTS = ("vm-intro", "agent-pass", "check-number-dial-again", "queue-thankyou")


def english_mic(dest: Path) -> tuple[Path, set[str]]:
    """Four of Asterisk's English prompts (a human voice) with 1.2 s between them, and their words."""
    texts = {}
    doc = ROOT / "var/asterisk/root/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz"
    for line in gzip.decompress(doc.read_bytes()).decode().splitlines():
        name, _, said = line.partition(":")
        if name in EN_PROMPTS:
            texts[name] = said
    speech_mic(dest, [CHROOT_SOUNDS / f"{name}.gsm" for name in EN_PROMPTS])
    return dest, set(english_words(" ".join(texts.values())))


def english_words(s: str) -> list[str]:
    return re.sub(r"[^a-z' ]+", " ", re.sub(r"\(.*?\)|\[.*?\]", "", s.lower()).replace("-", " ")).split()


@pytest.mark.skipif(not (CHROOT_SOUNDS / "vm-intro.gsm").is_file(), reason="Asterisk's English prompts not installed")
def test_an_english_call_is_transcribed_live_on_the_desktop(make_hotline: Any, phones: Any, browser: Any,
                                                            tmp_path: Path) -> None:
    h = make_hotline(SITE_EXTRA_EN)
    h.set_password("sam", PASSWORD)
    h.start_service(env={"HOTLINE_ROUTING_WRAPUP_SECONDS": "60"})
    wait_until(lambda: "speech model for en loaded" in h.service_log.read_text(), 60, "the Whisper model loaded")
    phones.operator("2002", h.secrets.sip_passwords["2002"], None, answer_after=2.0)

    page = open_desk(browser.new_context(bypass_csp=True).new_page(), h.base_url, "sam", PASSWORD)

    mic, said = english_mic(tmp_path / "caller-en.wav")
    caller = phones.caller("13900000089", mic)
    call = phones.dial(caller, "12345")
    wait_until(lambda: call.connected_at, 10, "the IVR answered")
    for digit in ("2", "1"):  # English, housing
        time.sleep(1.5)
        phones.dtmf(call, digit)
    wait_until(lambda: text(page, "#call-phase") == "live", 30, "the call live on the desktop", interval=0.2)
    wait_until(lambda: page.locator("#transcript li.caller.final").count() >= 2, 60, "two final caller lines",
               interval=0.3)
    shown = [str(t) for t in page.locator("#transcript li.caller.final").all_text_contents()]
    heard = [w for line in shown for w in english_words(line)]
    print("caller lines shown:", shown)
    assert heard and sum(w in said for w in heard) >= 0.8 * len(heard), (shown, sorted(said))
    phones.hangup(call)
    wait_until(lambda: text(page, "#call-phase") == "ended", 15, "the call ended", interval=0.2)

    case = next(c for c in h.cases() if c["caller_number"] == "13900000089")
    con = sqlite3.connect(h.settings.database)
    rows = con.execute("select language, engine from transcript where case_uniqueid = ? and speaker = 'caller'",
                       [case["uniqueid"]]).fetchall()
    con.close()
    assert len(rows) >= 2 and set(rows) == {("en", "whisper")}, rows
