"""The offers intake without Asterisk: its settings, the prompts each queue plays, the rendered
dialplan and queues, and the known caller's language."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import jinja2
import pytest

from hotline import config
from hotline.ivr.known import known_language
from hotline.ivr.prompts import prompts_for

ROOT = Path(__file__).resolve().parents[1]
SITE: dict[str, Any] = {
    "number": "12345",
    "languages": [{"code": "zh", "name": "Mandarin", "digit": "1", "voice": "cmn"},
                  {"code": "en", "name": "English", "digit": "2", "voice": "en-us"},
                  {"code": "ko", "name": "Korean", "digit": "3", "voice": "ko"}],
    "topics": [{"code": "housing", "name": "housing", "digit": "1"}],
    "operators": [{"extension": "2001", "name": "A", "languages": {"zh": 5, "en": 4}, "topics": ["housing"]}],
}


def settings(ivr: dict[str, Any] | None = None) -> config.Settings:
    data = {**SITE, **({"ivr": ivr} if ivr is not None else {})}
    return config.parse(data, Path("/tmp"), env={})


def test_the_offers_intake_is_the_default_and_checked() -> None:
    s = settings()
    assert (s.ivr.intake, s.ivr.greeting_wait, s.ivr.topic_menu, s.ivr.known_caller) == ("offers", 0.5, False, True)
    with pytest.raises(config.ConfigError, match=r"ivr\.intake"):
        settings({"intake": "tree"})
    with pytest.raises(config.ConfigError, match=r"ivr\.greeting_wait"):
        settings({"greeting_wait": 0})
    with pytest.raises(config.ConfigError, match=r"ivr\.topic_menu"):
        settings({"topic_menu": "yes"})


def test_each_queue_plays_the_other_languages_offers_then_its_hold() -> None:
    names = {p.name: p for p in prompts_for(settings())}
    assert "ivr/greeting" in names and "ivr/language-menu" not in names
    zh = sorted(n for n in names if n.startswith("moh/zh/"))
    assert zh == ["moh/zh/01-offer-en", "moh/zh/02-offer-ko", "moh/zh/90-hold"]
    assert names["moh/zh/01-offer-en"].parts == (("en-us", "For English, press 2."),), "in its own voice"
    en = sorted(n for n in names if n.startswith("moh/en/"))
    assert en == ["moh/en/01-offer-zh", "moh/en/02-offer-ko", "moh/en/90-hold"], "the default language first"
    assert names["moh/_default/hold"].parts[0][0] == "cmn", "hl-all: please hold, no offers"
    menu = {p.name for p in prompts_for(settings({"intake": "menu"}))}
    assert "ivr/language-menu" in menu and "ivr/greeting" not in menu
    assert sorted(n for n in menu if n.startswith("moh/zh/")) == ["moh/zh/hold"]


def render(template: str, s: config.Settings) -> str:
    from hotline.queue.skills import skill_queues
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(ROOT / "asterisk_conf"), undefined=jinja2.StrictUndefined)
    return env.get_template(template).render(
        inst="/inst", number=s.number, agi_port=4573, languages=s.languages, default_language=s.default_language,
        topics=s.topics, menu_timeout=s.routing.menu_timeout, ivr=s.ivr, sip_security=s.sip_security,
        queues=skill_queues(s), routing=s.routing, wrapup_guard=1)


def test_the_dialplan_greets_queues_and_lets_the_caller_switch() -> None:
    text = render("extensions.conf.j2", settings())
    assert "Read(DIGIT,${HL_SOUNDS}/ivr/greeting,1,,1,0.5)" in text and "language-menu" not in text
    assert "AGI(${HL_AGI}/known,${CALLERID(num)})" in text
    switch_zh = text[text.index("[hl-switch-zh]"):text.index("[hl-switch-en]")]
    assert "exten => 2,1,Set(__HL_LANG=en)" in switch_zh and "exten => 3,1,Set(__HL_LANG=ko)" in switch_zh
    assert "exten => 1," not in switch_zh, "the queue's own language's digit does nothing"
    assert "Goto(hl-route,s,1)" in switch_zh
    language = text[text.index("[hl-language]"):text.index("[hl-silent]")]
    assert "hl-topic-set,general,1" in language and "hl-topic,s,1" not in language, "no topic step by default"
    with_topics = render("extensions.conf.j2", settings({"topic_menu": True}))
    assert "Goto(hl-topic,s,1)" in with_topics[with_topics.index("[hl-language]"):with_topics.index("[hl-silent]")]
    assert "/known," not in render("extensions.conf.j2", settings({"known_caller": False}))
    queues = render("queues.conf.j2", settings())
    assert "context = hl-switch-zh" in queues and "context = hl-switch-en" in queues
    assert "context = " not in render("queues.conf.j2", settings({"intake": "menu"}))
    menu = render("extensions.conf.j2", settings({"intake": "menu"}))
    assert "ivr/language-menu" in menu and "ivr/greeting" not in menu


class History:
    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows
        self.asked: list[tuple[str, str]] = []

    async def caller_history(self, caller_number: str, exclude: str, limit: int = 5) -> list[dict[str, Any]]:
        self.asked.append((caller_number, exclude))
        return self.rows[:limit]


@pytest.mark.parametrize(("rows", "expected"), [
    ([{"language": "en"}], {"HL_KNOWN": "en"}),
    ([{"language": ""}, {"language": "ko"}], {"HL_KNOWN": "ko"}),  # a hang-up in the greeting: no language
    ([{"language": "zh"}], {}),  # the default language: nothing to do
    ([{"language": "fr"}], {}),  # not a language of this site
    ([], {}),
])
def test_a_known_callers_language(rows: list[dict[str, Any]], expected: dict[str, str]) -> None:
    history = History(rows)
    assert asyncio.run(known_language(settings(), history, "u1", "13900000001")) == expected
    assert history.asked == [("13900000001", "u1")]
    assert asyncio.run(known_language(settings(), history, "u2", "")) == {}, "no number, no lookup"
    assert asyncio.run(known_language(settings({"known_caller": False}), History(rows), "u3", "139")) == {}


def test_the_hangup_handler_knows_a_queued_call_from_the_dialplan_and_digits_are_filtered() -> None:
    """The hangup handler's report says whether the call reached Queue() (HL_QUEUED, set just before
    it): the service's registry may not have the queue's events yet, and a queued call filed as an
    IVR hang-up was counted twice and lost its case. Digits reach the path filtered."""
    text = render("extensions.conf.j2", settings())
    lines = text.splitlines()
    queued = next(i for i, line in enumerate(lines) if "Set(HL_QUEUED=1)" in line)
    assert "Queue(${HL_QUEUE}" in lines[queued + 1]
    handler = next(line for line in lines if "/ivr_hangup," in line)
    assert handler.rstrip().endswith("${CALLERID(num)},${HL_QUEUED},${HL_SURGE_HEARD})")
    assert all("FILTER(0-9*#A-D,${DIGIT})" in line for line in lines if "__HL_PATH=${HL_PATH}" in line
               and "${DIGIT}" in line)
