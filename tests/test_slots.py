"""Slot filling (assist/slots.py): phone numbers, districts, addresses and a category from what a
caller says, with the words they came from; the floor service that keeps them per call and sends
them to the desktop showing the call (and its snapshot); the spoken language the engine hears."""

from __future__ import annotations

from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import pytest

from hotline import config
from hotline import events as ev
from hotline.assist.slots import SlotRules, phones
from hotline.auth.users import Principal
from hotline.bus import Bus
from hotline.cases.store import CaseStore
from hotline.config.assist import Assist, parse_assist
from hotline.config.base import ConfigError
from hotline.config.phones import Interpreter
from hotline.floor.suggestions import SuggestionService
from hotline.graph import build_services

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "etc/site.example.toml"
DISTRICTS = ["Dongcheng", "Xicheng", "Chaoyang", "Haidian"]
KEYWORDS = {"housing": ["电梯", "暖气", "漏水", "物业", "lift", "heating", "leak"],
            "transport": ["出租车", "公交", "地铁", "taxi", "bus"],
            "papers": ["户口", "身份证", "residence permit"]}
RULES = SlotRules(DISTRICTS, {"Chaoyang": ["朝阳"]}, KEYWORDS)


def said(text: str, slot: str, rules: SlotRules = RULES) -> list[tuple[str, str]]:
    """(value, source) of every suggestion of ``slot``; the source is the line's own words."""
    out = []
    for s in rules.extract(text):
        assert text[s.start:s.end] == s.source
        if s.slot == slot:
            out.append((s.value, s.source))
    return out


# -- phone numbers --------------------------------------------------------------------------------

@pytest.mark.parametrize(("line", "number", "source"), [
    ("我的电话是13912856789", "13912856789", "13912856789"),  # Whisper's digits (the e2e WAV)
    ("我电话是13901285678", "13901285678", "13901285678"),
    ("我的电话号码是139-012-85678", "13901285678", "139-012-85678"),
    ("我的电话是一三九一二三四一二三四，我住在朝阳区。", "13912341234", "一三九一二三四一二三四"),
    ("手机幺三八零零幺三八零零零", "13800138000", "幺三八零零幺三八零零零"),  # 幺 for one
    ("号码是一三九，零一二八，五六七八", "13901285678", "一三九，零一二八，五六七八"),  # said in groups
    ("电话一八六两两三三四四五五", "18622334455", "一八六两两三三四四五五"),  # 两 for two
    ("打１３９１２３４５６７８", "13912345678", "１３９１２３４５６７８"),  # full-width digits
    ("My number is one three nine, double one two, three four five six seven.", "13911234567",
     "one three nine, double one two, three four five six seven"),
    ("call me on oh one oh, six five five two, nine triple eight", "01065529888",
     "oh one oh, six five five two, nine triple eight"),
    ("座机是010-8888 6666", "01088886666", "010-8888 6666"),  # a landline with Beijing's area code
    ("家里电话六五五二九八八八", "65529888", "六五五二九八八八"),  # a landline without it
])
def test_phone_numbers_in_digits_chinese_numerals_and_words(line: str, number: str, source: str) -> None:
    assert said(line, "phone") == [(number, source)]
    assert [s.field for s in phones(line)] == ["notes"]  # the form has no phone field: the notes take it


@pytest.mark.parametrize("line", [
    "我家楼下的路灯坏了三天了，晚上很黑。",  # 三天: one numeral
    "小区门口的垃圾已经一个星期没有人清理了。",
    "我打了12345和110都没人管",  # short numbers are not a phone number to call back
    "一二三四五六",  # six digits
    "I waited one two three hours",
    "我的号码是139123次123次",  # a garbled number (四 heard as 次): nothing rather than a wrong one
    "订单号是2023120112345678",  # sixteen digits: not a phone number
    "二〇二三年",  # a year
])
def test_no_phone_number_where_there_is_none(line: str) -> None:
    assert said(line, "phone") == []


def test_two_numbers_in_one_line_are_two_suggestions() -> None:
    assert [v for v, _ in said("手机13901285678，座机010-65529888", "phone")] == ["13901285678", "01065529888"]
    assert said("13901285678，13812345678", "phone") == [("13901285678", "13901285678"),
                                                         ("13812345678", "13812345678")]
    assert said("一三九零一二八五六七八，一三八一二三四五六七八", "phone") == [
        ("13901285678", "一三九零一二八五六七八"), ("13812345678", "一三八一二三四五六七八")]


# -- districts ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("line", "district", "source"), [
    ("我住在朝阳区幸福小区5号楼", "Chaoyang", "朝阳区"),  # Beijing's Chinese name, with no alias given
    ("在海淀区中关村大街27号", "Haidian", "海淀区"),
    ("东城区的暖气不热", "Dongcheng", "东城区"),
    ("我是朝阳的", "Chaoyang", "朝阳"),  # the site's alias
    ("I live in Chaoyang District", "Chaoyang", "Chaoyang District"),
    ("it is in xicheng near the park", "Xicheng", "xicheng"),  # any case
])
def test_districts_by_the_sites_names_and_their_chinese_names(line: str, district: str, source: str) -> None:
    assert said(line, "district") == [(district, source)]


@pytest.mark.parametrize("line", [
    "我在朝阳路上",  # a road named after the district is not the district
    "朝阳门外大街",
    "the Chaoyang Road bus",
    "丰台区",  # a Beijing district the site does not list
    "Haidianese",  # not a whole word
])
def test_no_district_in_road_names_or_outside_the_sites_list(line: str) -> None:
    assert said(line, "district") == []


def test_a_site_district_written_in_chinese_is_matched_with_and_without_its_suffix() -> None:
    rules = SlotRules(["朝阳区", "海淀区"])
    assert said("我住在朝阳区", "district", rules) == [("朝阳区", "朝阳区")]
    assert said("海淀那边", "district", rules) == [("海淀区", "海淀")]


def test_a_district_said_twice_is_one_suggestion() -> None:
    assert said("朝阳区，对，朝阳区", "district") == [("Chaoyang", "朝阳区")]


# -- addresses ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("line", "address"), [
    ("我住在朝阳区幸福小区5号楼", "幸福小区5号楼"),  # the e2e sentence: the district is a field of its own
    ("我住在朝阳区幸福小区五号楼。", "幸福小区五号楼"),
    ("在海淀区中关村大街27号3单元502室", "中关村大街27号3单元502室"),
    ("朝阳路18号的电梯坏了", "朝阳路18号"),
    ("我家在建国路88号院2号楼", "建国路88号院2号楼"),
    ("地址是南锣鼓巷12号", "南锣鼓巷12号"),
    ("我住帽儿胡同5号", "帽儿胡同5号"),
    ("我们小区是阳光花园3栋", "阳光花园3栋"),
    ("I live at 12 Jianguo Road in Chaoyang District", "12 Jianguo Road"),
    ("the flat is at No. 5 Dongzhimen Inner Street", "5 Dongzhimen Inner Street"),
])
def test_addresses_chinese_and_english(line: str, address: str) -> None:
    assert [v for v, _ in said(line, "address")] == [address]


@pytest.mark.parametrize("line", [
    "我家楼下的路灯坏了三天了，晚上很黑。",  # 路灯: a street lamp, not a road
    "小区门口的垃圾已经一个星期没有人清理了。",  # an estate with no name
    "路上很堵",
    "我在街上",
    "I waited 3 days on the street",
    "请你们尽快派人来修理。",
])
def test_no_address_where_there_is_none(line: str) -> None:
    assert said(line, "address") == []


# -- categories -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("line", "category", "source"), [
    ("我们楼的电梯坏了", "housing", "电梯"),
    ("电梯坏了，暖气也不热", "housing", "电梯"),
    ("出租车司机多收钱", "transport", "出租车"),
    ("the lift is broken and the heating is off", "housing", "lift"),
    ("I need a residence permit", "papers", "residence permit"),
    ("出租车上漏水，暖气也坏了", "housing", "漏水"),  # two housing words against one transport word
])
def test_a_category_from_the_sites_keywords(line: str, category: str, source: str) -> None:
    assert said(line, "category") == [(category, source)]


def test_no_category_without_a_keyword_or_inside_another_word() -> None:
    assert said("你好，我要反映一个问题。", "category") == []
    assert said("my business is closed", "category") == []  # "bus" only as a word
    assert said("电梯坏了", "category", SlotRules(DISTRICTS)) == []  # a site without keywords


def test_one_line_with_everything_in_the_order_said() -> None:
    line = "我的电话是13901285678，我住在朝阳区幸福小区5号楼，电梯坏了"
    assert [(s.slot, s.value) for s in RULES.extract(line)] == [
        ("phone", "13901285678"), ("district", "Chaoyang"), ("address", "幸福小区5号楼"), ("category", "housing")]


# -- the site file --------------------------------------------------------------------------------

def test_the_assist_section_is_optional_and_checked() -> None:
    assert parse_assist({}, DISTRICTS, {"housing", "other"}) == Assist()
    a = parse_assist({"assist": {"language_threshold": 0.9, "districts": {"Chaoyang": ["朝阳"]},
                                 "keywords": {"housing": ["电梯"]}}}, DISTRICTS, {"housing", "other"})
    assert (a.language_threshold, a.districts, a.keywords) == (0.9, {"Chaoyang": ("朝阳",)}, {"housing": ("电梯",)})
    bad: list[tuple[dict[str, Any], str]] = [
        ({"districts": {"Atlantis": ["x"]}}, "assist.districts.Atlantis"),
        ({"keywords": {"weather": ["rain"]}}, "assist.keywords.weather"),
        ({"keywords": {"housing": "电梯"}}, "assist.keywords.housing"),
        ({"language_threshold": 0.2}, "assist.language_threshold"),
        ({"language_threshold": True}, "assist.language_threshold"),
        ({"suggestions": "yes"}, "assist.suggestions"),
        ({"sugestions": True}, "assist.sugestions"),
    ]
    for raw, key in bad:
        with pytest.raises(ConfigError) as err:
            parse_assist({"assist": raw}, DISTRICTS, {"housing", "other"})
        assert err.value.key == key, raw
    example = config.load(SITE, {})
    assert example.assist.keywords["housing"] and example.assist.districts == {"Chaoyang": ("朝阳",)}


def test_every_assist_setting_is_documented() -> None:
    text = (ROOT / "docs/configuration.md").read_text()
    assert [f.name for f in fields(Assist) if f"`{f.name}`" not in text] == []


# -- the floor service ----------------------------------------------------------------------------

class Hub:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def to_extension(self, extension: str, msg: dict[str, Any]) -> int:
        self.sent.append((extension, msg))
        return 1

    def extensions(self) -> set[str]:
        return set()


def line(text: str, *, kind: str = "final", speaker: str = "caller", start: float = 3.0, language: str = "zh",
         heard: str = "", p: float = 0.0, uniqueid: str = "u1") -> ev.TranscriptText:
    return ev.TranscriptText(uniqueid, speaker, language, kind, text, start, start + 2, 0.8, 100.0 + start, "whisper",
                             detected_language=heard, detected_probability=p)


def service(**assist: Any) -> tuple[SuggestionService, Hub]:
    s = config.load(SITE, {})
    if assist:
        s = replace(s, assist=replace(s.assist, **assist))
    hub = Hub()
    return SuggestionService(s, hub, lambda uid: "1001" if uid == "u1" else ""), hub


async def test_caller_finals_become_the_calls_suggestions_sent_to_its_desktop() -> None:
    svc, hub = service()
    await svc.handle(line("我的电话是13901285678", start=3.0))
    await svc.handle(line("我住在朝阳区幸福小区5号楼", kind="partial", start=6.0))  # partials: not read
    await svc.handle(line("我住在朝阳区幸福小区5号楼", speaker="operator", start=6.0))  # only the caller's words
    await svc.handle(line("我住在朝阳区幸福小区5号楼", start=6.0))
    await svc.handle(line("对，电话是13901285678，朝阳区", start=9.0))  # said again: nothing new to send
    assert [ext for ext, _ in hub.sent] == ["1001", "1001"]
    last = hub.sent[-1][1]
    assert last["type"] == "suggestions" and last["uniqueid"] == "u1"
    assert [(i["slot"], i["field"], i["value"], i["source"]) for i in last["items"]] == [
        ("phone", "notes", "13901285678", "13901285678"), ("district", "district", "Chaoyang", "朝阳区"),
        ("address", "address", "幸福小区5号楼", "幸福小区5号楼")]
    assert last["items"][1]["line"] == {"speaker": "caller", "start": 6.0, "end": 8.0,
                                        "text": "我住在朝阳区幸福小区5号楼"}
    assert len({i["id"] for i in last["items"]}) == 3
    assert svc.items_of("u1") == last["items"] and svc.items_of("nobody") == []
    await svc.handle(line("我的电话是13901285678", uniqueid="u2"))  # a call on no desktop: kept, not sent
    assert len(hub.sent) == 2 and svc.items_of("u2")[0]["value"] == "13901285678"


async def test_a_site_without_a_district_list_gets_its_aliases_or_beijings_names() -> None:
    s = replace(config.load(SITE, {}), districts=())
    hub = Hub()
    svc = SuggestionService(s, hub, lambda uid: "1001")
    await svc.handle(line("我住在朝阳区"))  # the example's [assist.districts] Chaoyang = ["朝阳"]
    assert [(i["value"], i["source"]) for i in svc.items_of("u1")] == [("Chaoyang", "朝阳区")]
    svc = SuggestionService(replace(s, assist=Assist()), hub, lambda uid: "1001")
    await svc.handle(line("我住在海淀区中关村大街27号"))
    assert [(i["slot"], i["value"]) for i in svc.items_of("u1")] == [("district", "海淀区"),
                                                                    ("address", "中关村大街27号")]


async def test_no_suggestions_when_the_site_turns_them_off() -> None:
    svc, hub = service(suggestions=False)
    await svc.handle(line("我的电话是13901285678"))
    assert hub.sent == [] and svc.items_of("u1") == []


async def test_another_spoken_language_is_said_once_with_the_interpreter_for_it() -> None:
    svc, hub = service()
    await svc.handle(line("请进入", heard="zh", p=0.99))  # the IVR's language: nothing to say
    await svc.handle(line("请进入", heard="en", p=0.6, start=5.0))  # not sure enough (threshold 0.8)
    assert hub.sent == [] and svc.spoken_of("u1") is None
    await svc.handle(line("请注意你的脚圆", heard="en", p=0.97, start=8.0))
    await svc.handle(line("请注意", heard="ja", p=0.95, start=12.0))  # once per call
    msgs = [m for _, m in hub.sent if m["type"] == "spoken_language"]
    assert len(msgs) == 1
    m = msgs[0]
    assert (m["language"], m["name"], m["probability"], m["ivr_language"]) == ("en", "English", 0.97, "zh")
    assert m["interpreter"] is False  # the example site has no interpreter pool: the desk says so
    assert svc.spoken_of("u1") == {k: v for k, v in m.items() if k not in ("type", "uniqueid")}

    svc, hub = service()
    svc.settings = replace(svc.settings, interpreters=(Interpreter("3001", "Mr Smith", {"en": 5, "zh": 4}),))
    await svc.handle(line("请注意你的脚圆", heard="en", p=0.97))
    assert hub.sent[-1][1]["interpreter"] is True  # the desk preselects English for "Add interpreter"
    await svc.handle(line("こんにちは", heard="ja", p=0.93, uniqueid="u2"))  # a language the site does not list
    spoken = svc.spoken_of("u2")
    assert spoken is not None and spoken["name"] == "Japanese"


async def test_the_desktop_snapshot_carries_the_suggestions_and_the_spoken_language(tmp_path: Path) -> None:
    g = build_services(config.load(SITE, {}), CaseStore(tmp_path / "c.db"), object(), Bus())  # type: ignore[arg-type]
    await g.store.open()
    try:
        sent: list[tuple[str, dict[str, Any]]] = []
        g.hub.to_extension = lambda ext, msg: sent.append((ext, msg)) or 1  # type: ignore[method-assign, func-returns-value]
        g.apply(ev.AgentRinging("u1", "hl-zh-housing", "PJSIP/1001", "1001", "13900000001", "zh", "housing", 10.0))
        await g.desktop.handle(ev.AgentRinging("u1", "hl-zh-housing", "PJSIP/1001", "1001", "13900000001", "zh",
                                               "housing", 10.0))
        await g.form_suggestions.handle(line("我的电话是13901285678，我住在朝阳区", heard="en", p=0.9))
        assert [m["type"] for ext, m in sent if ext == "1001"][-2:] == ["suggestions", "spoken_language"]
        snap = await g.desktop.snapshot(Principal("wang", "operator", extension="1001"))
        assert [i["value"] for i in snap["call"]["suggestions"]] == ["13901285678", "Chaoyang"]
        assert snap["call"]["spoken_language"]["language"] == "en"
        assert "slots" in {p.name for p in g.pumps}
    finally:
        await g.store.close()


# -- the spoken language, with the real model -----------------------------------------------------

SOUNDS = ROOT / "var/asterisk/root/usr/share/asterisk/sounds/en_US_f_Allison"


def pcm8k(path: Path) -> bytes:
    """A WAV or one of Asterisk's GSM prompts as 8 kHz 16-bit PCM, with silence around it."""
    import subprocess
    raw = subprocess.run(["sox", str(path), "-t", "raw", "-r", "8000", "-c", "1", "-b", "16", "-e", "signed", "-"],
                         capture_output=True, check=True).stdout
    return b"\0\0" * 4000 + raw + b"\0\0" * 12000


@pytest.mark.whisper
def test_whisper_says_which_language_it_hears_on_the_first_utterances() -> None:
    from hotline.config.media import default_whisper_model
    if not (default_whisper_model() / "model.bin").is_file() or not (SOUNDS / "vm-intro.gsm").is_file():
        pytest.skip("no Whisper model or no Asterisk English prompts here")
    from hotline.transcribe.whisper_engine import Tuning, WhisperEngine
    engine = WhisperEngine(default_whisper_model(), "zh", tuning=Tuning(detect_utterances=2))
    stream = engine.stream(8000)
    said = [pcm8k(ROOT / "tests/data/whisper/zh-slots/01.wav"), pcm8k(SOUNDS / "vm-intro.gsm"),
            pcm8k(ROOT / "tests/data/whisper/zh/04.wav")]
    finals = []
    for pcm in said:
        for i in range(0, len(pcm), 3200):
            finals += [r for r in stream.accept(pcm[i:i + 3200]) if r.kind == "final"]
    finals += stream.finish()
    assert [(r.language, r.language_probability >= 0.9) for r in finals] == [("zh", True), ("en", True), ("", False)]
    assert finals[0].text.endswith("13912856789")  # decoded in the IVR's language all along
