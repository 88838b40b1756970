"""Crisis words: the matcher (Chinese with spaces, punctuation and traditional characters, English
whole words, near misses), the lexicon in the site file, and the floor service: one alert per call
and category whatever the partials repeat, on the operator's desk and the wallboard at once, each
audited with its case, a dismissal written, audited and counted, nothing raised again after a restart."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from hotline import config
from hotline import events as ev
from hotline.assist.crisis import Lexicon
from hotline.assist.crisis_store import CrisisStore
from hotline.auth.users import Principal
from hotline.cases import audit_chain
from hotline.cases.audit_store import AuditStore
from hotline.cases.store import CaseStore
from hotline.floor.calls import Call
from hotline.floor.crisis import CrisisError, CrisisService

SITE = Path(__file__).resolve().parents[1] / "etc/site.example.toml"
T0 = 1_800_000_000.0
LEXICON = Lexicon([("zh", "self_harm", "不想活了"), ("zh", "self_harm", "自杀"), ("zh", "violence", "杀人"),
                   ("en", "self_harm", "kill myself"), ("en", "self_harm", "suicid*"), ("en", "threat", "bomb"),
                   ("en", "self_harm", "don't want to live")])


def found(line: str) -> list[tuple[str, str, str]]:
    return [(h.category, h.word, h.said) for h in LEXICON.find(line)]


# -- the matcher --------------------------------------------------------------------------------------

def test_chinese_words_match_across_spaces_punctuation_width_and_traditional_characters() -> None:
    assert found("我真的不想活了") == [("self_harm", "不想活了", "不想活了")]
    assert found("我 不想 活了。") == [("self_harm", "不想活了", "不想 活了")]  # the recogniser's spaces
    assert found("我不想，活了") == [("self_harm", "不想活了", "不想，活了")]  # punctuation between
    assert found("我想自殺") == [("self_harm", "自杀", "自殺")]  # traditional characters
    assert found("他说要杀人") == [("violence", "杀人", "杀人")]
    hits = LEXICON.find("喂，我不想 活了，我想自杀")
    assert [h.category for h in hits] == ["self_harm", "self_harm"]
    line = "喂，我不想 活了，我想自杀"
    assert [line[h.start:h.end] for h in hits] == ["不想 活了", "自杀"]  # spans in the line as given
    assert found("我想活下去") == [] and found("自己杀") == []


def test_english_words_match_whole_words_only() -> None:
    assert found("I want to kill myself.") == [("self_harm", "kill myself", "kill myself")]
    assert found("I WANT TO KILL  MYSELF") == [("self_harm", "kill myself", "KILL  MYSELF")]
    assert found("ｋｉｌｌ ｍｙｓｅｌｆ") == [("self_harm", "kill myself", "ｋｉｌｌ ｍｙｓｅｌｆ")]  # full width
    assert found("kill-myself") == [("self_harm", "kill myself", "kill-myself")]
    assert found("I don\u2019t want to live") == [("self_harm", "don't want to live", "don\u2019t want to live")]
    # near misses: another word that contains the word, or the word inside a longer one
    assert found("a skill myself") == []
    assert found("kill myselfie") == []
    assert found("the bombastic speech") == [] and found("a bomb!") == [("threat", "bomb", "bomb")]
    # a word ending in * is a prefix
    assert [w for _, w, _ in found("suicidal thoughts")] == ["suicid*"]
    assert found("he was suicidal") and not found("presuicide")
    assert found("我想 suicide 了") == [("self_harm", "suicid*", "suicide")]


def test_nothing_to_match() -> None:
    assert Lexicon([]).find("自杀") == [] and LEXICON.find("") == []
    assert LEXICON.find("自杀", languages=["en"]) == []  # only the lexicons asked for


# -- the site file ------------------------------------------------------------------------------------

def test_the_example_site_ships_a_lexicon_and_bad_ones_are_refused() -> None:
    settings = config.load(SITE)
    cats = {(w.language, w.category) for w in settings.crisis.lexicon}
    assert {("zh", "self_harm"), ("zh", "violence"), ("zh", "threat"), ("en", "self_harm")} <= cats
    assert settings.crisis.category_name("self_harm") == "self-harm"
    base = config.load(SITE)  # no [crisis]: no lexicon, no alert
    data: dict[str, Any] = {"number": "12345", "languages": [{"code": "zh", "name": "Mandarin", "digit": "1",
                                                              "voice": "cmn"}],
                            "topics": [{"code": "housing", "name": "housing", "digit": "1"}], "operators": []}
    assert config.parse(dict(data), SITE.parent).crisis.lexicon == () and base.crisis.lexicon
    for crisis, key in (({"words": {"xx": {"self_harm": ["a"]}}}, "crisis.words"),
                        ({"words": {"zh": {"Self Harm": ["a"]}}}, "crisis.words.zh.Self Harm"),
                        ({"words": {"zh": {"self_harm": "自杀"}}}, "crisis.words.zh.self_harm"),
                        ({"words": {"zh": {"self_harm": [""]}}}, "crisis.words.zh.self_harm"),
                        ({"keep_minutes": 0}, "crisis.keep_minutes"), ({"wordz": {}}, "crisis.wordz")):
        with pytest.raises(config.ConfigError) as err:
            config.parse({**data, "crisis": crisis}, SITE.parent)
        assert err.value.key == key, (crisis, err.value)


# -- the floor service --------------------------------------------------------------------------------

class Hub:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def to_extension(self, extension: str, msg: dict[str, Any]) -> int:
        self.sent.append((extension, msg))
        return 1

    def extensions(self) -> set[str]:
        return {e for e, _ in self.sent}


class Calls:
    def __init__(self) -> None:
        self.calls: dict[str, Call] = {}

    def get(self, uniqueid: str) -> Call | None:
        return self.calls.get(uniqueid)

    def of_operator(self, extension: str) -> Call | None:
        return next((c for c in self.calls.values() if c.operator == extension and c.ended_at is None), None)


class Clock:
    now = T0 + 100

    def __call__(self) -> float:
        return self.now


def line(uid: str, text: str, kind: str = "partial", speaker: str = "caller") -> ev.TranscriptText:
    return ev.TranscriptText(uid, speaker, "zh", kind, text, 1.0, 2.0, 0.9, T0 + 100, "whisper")


async def floor(tmp_path: Path) -> tuple[CrisisService, Hub, Calls, CaseStore, Clock]:
    store = CaseStore(tmp_path / "c.db")
    await store.open()
    await store.create({"uniqueid": "u1", "linkedid": "u1", "caller_number": "13900000001", "language": "zh",
                        "topic": "housing", "ivr_path": "", "queue": "hl-zh-housing", "queued_at": T0})
    hub, calls, clock = Hub(), Calls(), Clock()
    calls.calls["u1"] = Call("u1", queue="hl-zh-housing", operator="1001", answered_at=T0 + 10, state="answered")
    settings = config.load(SITE)
    crisis = CrisisService(settings, calls, hub, CrisisStore(store.db), AuditStore(store.db),  # type: ignore[arg-type]
                           lambda: T0, clock)
    return crisis, hub, calls, store, clock


def audit_rows(store: CaseStore) -> list[dict[str, Any]]:
    con = sqlite3.connect(store.db.path)
    con.row_factory = sqlite3.Row
    rows = [dict(r) for r in con.execute("select * from audit order by id")]
    con.close()
    return rows


async def test_one_alert_per_call_and_category_at_once_on_the_desk_and_the_board(tmp_path: Path) -> None:
    crisis, hub, calls, store, _clock = await floor(tmp_path)
    changes: list[int] = []
    crisis.on_change = lambda: changes.append(1)
    try:
        await crisis.handle(line("u1", "我不想"))
        assert hub.sent == [] and crisis.board_alerts() == []
        # the partials grow, the final repeats them: one alert
        for text in ("我不想 活了", "我不想活了，真的"):
            await crisis.handle(line("u1", text))
        await crisis.handle(line("u1", "我不想活了，真的。", "final"))
        assert len(hub.sent) == 1
        ext, msg = hub.sent[0]
        assert ext == "1001" and msg["type"] == "crisis_alert" and msg["category"] == "self_harm"
        assert msg["words"] == ["不想活了"] and msg["line"] == "我不想 活了" and msg["id"] == "u1:self_harm"
        assert msg["line"][msg["hits"][0]["start"]:msg["hits"][0]["end"]] == "不想 活了"
        (alert,) = crisis.board_alerts()
        assert alert["kind"] == "crisis" and alert["severity"] == "critical" and alert["operator"] == "1001"
        assert alert["live"] and alert["case_id"] is not None and "不想活了" in alert["text"]
        assert changes  # the wallboard was told
        # more words of the same category: still one; another category: a second alert
        await crisis.handle(line("u1", "我想自杀", "final"))
        await crisis.handle(line("u1", "我要去杀人", "final"))
        assert [m["category"] for _, m in hub.sent] == ["self_harm", "violence"]
        # the operator's words raise nothing; another call is another alert
        await crisis.handle(line("u1", "你说你想自杀吗", "final", speaker="operator"))
        assert len(hub.sent) == 2
        calls.calls["u2"] = Call("u2", operator="1002", answered_at=T0 + 20, state="answered")
        await crisis.handle(line("u2", "I want to kill myself", "final"))
        assert len(hub.sent) == 3 and hub.sent[2][0] == "1002" and len(crisis.board_alerts()) == 3
        assert crisis.counts() == {"raised_today": 3, "dismissed_today": 0}
        assert [a["id"] for a in crisis.of_operator("1001")] == ["u1:self_harm", "u1:violence"]

        # every alert audited with its case, in the chain
        rows = [r for r in audit_rows(store) if r["action"] == "crisis_alert"]
        assert [(r["actor"], r["target"]) for r in rows] == [("crisis-words", "u1")] * 2 + [("crisis-words", "u2")]
        case = await store.get("u1")
        assert case is not None and f'"case_id": {case["id"]}' in rows[0]["detail"]
        assert "不想活了" in rows[0]["detail"] and audit_chain.verify(store.db.path).ok
        stored = await CrisisStore(store.db).since(T0)
        assert [(r["id"], r["operator"], r["words"]) for r in stored] == [
            ("u1:self_harm", "1001", ["不想活了"]), ("u1:violence", "1001", ["杀人"]),
            ("u2:self_harm", "1002", ["kill myself"])]
    finally:
        await store.close()


async def test_a_dismissal_is_written_audited_and_counted(tmp_path: Path) -> None:
    crisis, hub, calls, store, clock = await floor(tmp_path)
    boss = Principal("boss", "supervisor", extension="3001")
    try:
        await crisis.handle(line("u1", "我想自杀", "final"))
        with pytest.raises(CrisisError) as err:
            await crisis.dismiss(boss, "u1:violence", "")
        assert (err.value.error_id, err.value.status) == ("alert-unknown", 404)
        clock.now += 30
        alert = await crisis.dismiss(boss, "u1:self_harm", "  a film   she saw ")
        assert (alert.dismissed_by, alert.reason, alert.dismissed_at) == ("boss", "a film she saw", clock.now)
        assert crisis.board_alerts() == [] and crisis.counts() == {"raised_today": 1, "dismissed_today": 1}
        ext, msg = hub.sent[-1]  # the operator's desk shows it dismissed
        assert ext == "1001" and msg["type"] == "crisis_alert" and msg["dismissed_by"] == "boss"
        with pytest.raises(CrisisError) as err:
            await crisis.dismiss(boss, "u1:self_harm", "again")
        assert (err.value.error_id, err.value.status) == ("alert-dismissed", 409)
        rows = [r for r in audit_rows(store) if r["action"] == "crisis_dismissed"]
        assert [(r["actor"], r["role"], r["target"]) for r in rows] == [("boss", "supervisor", "u1")]
        assert "a film she saw" in rows[0]["detail"]
        (row,) = await CrisisStore(store.db).since(T0)
        assert (row["dismissed_by"], row["reason"]) == ("boss", "a film she saw")

        # a restart: today's alerts come back from the store, the same words raise nothing again
        again = CrisisService(crisis.settings, calls, Hub(), CrisisStore(store.db), AuditStore(store.db),  # type: ignore[arg-type]
                              lambda: T0, clock)
        assert await again.load() == 1
        assert again.counts() == {"raised_today": 1, "dismissed_today": 1}
        await again.handle(line("u1", "我想自杀", "final"))
        assert again.hub.sent == []  # type: ignore[attr-defined]
    finally:
        await store.close()


async def test_an_alert_leaves_the_board_a_while_after_its_call_ended(tmp_path: Path) -> None:
    crisis, _hub, calls, store, clock = await floor(tmp_path)
    try:
        await crisis.handle(line("u1", "我想自杀", "final"))
        calls.calls["u1"] = replace(calls.calls["u1"], ended_at=clock.now + 5, state="ended")
        clock.now += 60
        (alert,) = crisis.board_alerts()
        assert not alert["live"] and "(call ended)" in alert["text"]  # no listen or barge any more
        clock.now += crisis.settings.crisis.keep_minutes * 60
        assert crisis.board_alerts() == [] and crisis.counts()["raised_today"] == 1
    finally:
        await store.close()


# -- through the web app (the graph as built for the service) ------------------------------------------

@pytest.fixture
async def web(tmp_path: Path) -> Any:
    from test_wallboard import Web
    w = Web(tmp_path)
    await w.start()
    yield w
    await w.client.close()
    await w.floor.graph.stop()
    await w.floor.store.close()


async def test_the_desk_reads_its_alerts_and_only_a_supervisor_dismisses(web: Any) -> None:
    from test_wallboard import login
    f = web.floor
    f.login("1001")
    f.call("u9", "hl-zh-housing", T0, answered_by="1001", wait=3)
    await f.graph.crisis.handle(line("u9", "我 不想活了", "final"))
    op, op_csrf = await login(web, "op1")
    boss, csrf = await login(web, "boss")
    try:
        mine = await (await op.get("/api/crisis/alerts")).json()
        assert [(a["id"], a["words"]) for a in mine["alerts"]] == [("u9:self_harm", ["不想活了"])]
        snap = await (await boss.get("/api/wallboard")).json()
        assert [a["alert_id"] for a in snap["alerts"] if a["kind"] == "crisis"] == ["u9:self_harm"]
        assert snap["crisis"] == {"raised_today": 1, "dismissed_today": 0}
        path = "/api/crisis/alerts/u9:self_harm/dismiss"
        r = await op.post(path, json={"reason": "x"}, headers={"X-CSRF-Token": op_csrf})
        assert r.status == 403  # an operator cannot dismiss
        r = await boss.post(path, json={"reason": 5}, headers={"X-CSRF-Token": csrf})
        assert r.status == 400 and (await r.json())["error"] == "bad-request"
        r = await boss.post(path, json={"reason": "a song"}, headers={"X-CSRF-Token": csrf})
        body = await r.json()
        assert r.status == 200 and body["dismissed_today"] == 1 and body["alert"]["dismissed_by"] == "boss"
        r = await boss.post(path, json={}, headers={"X-CSRF-Token": csrf})
        assert r.status == 409 and (await r.json())["error"] == "alert-dismissed"
        r = await boss.post("/api/crisis/alerts/nope:self_harm/dismiss", json={}, headers={"X-CSRF-Token": csrf})
        assert r.status == 404 and (await r.json())["error"] == "alert-unknown"
        snap = await (await boss.get("/api/wallboard")).json()
        assert not [a for a in snap["alerts"] if a["kind"] == "crisis"]
        assert snap["crisis"] == {"raised_today": 1, "dismissed_today": 1}
        audit = await (await boss.get("/api/audit")).json()
        actions = [r["action"] for r in audit["audit"] if r["action"].startswith("crisis")]
        assert [a for a in actions if a != "crisis-read"] == ["crisis_dismissed", "crisis_alert"]
        reads = [r for r in audit["audit"] if r["action"] == "crisis-read"]  # the callers' words read: audited
        assert {r["actor"] for r in reads} >= {"op1"} and all(r["target"] == "/api/crisis/alerts" for r in reads)
    finally:
        await op.close()
        await boss.close()
