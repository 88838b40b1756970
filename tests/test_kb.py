"""The knowledge base (issue 19): import from CSV and JSON (bad rows refused with their number and
why, the rest imported; a second import updates by the stable key), search like cases (Chinese
by bigrams: 电梯 finds 电梯坏了), the call's topic ranked first, suggestions from a caller's line by
its rare words, and 'this helped' counted once per article and case."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hotline.assist.kb import KnowledgeBase, KnowledgeError, line_terms, rare_terms
from hotline.assist.kb_store import KnowledgeStore
from hotline.storage.database import Database

ROOT = Path(__file__).resolve().parents[1]
LANGS, TOPICS = ["zh", "en"], ["housing", "transport", "papers", "other"]
CSV = """id,title,body,topic,tags,language
lift-1,电梯坏了怎么办,小区电梯故障时，请先联系物业；物业不处理的，转房管局。,housing,"电梯,物业",zh
lift-2,电梯年检,电梯每年须经特种设备检验机构检验。,papers,电梯,zh
,Lift out of order,"If the lift in your building is broken, call the property management first.",housing,lift,en
bad-1,,没有标题,housing,,zh
bad-2,标题,正文,housing,,xx
bad-3,标题二,正文,nowhere,,zh
"""


@pytest.fixture
async def kb(tmp_path: Path):  # type: ignore[no-untyped-def]
    db = Database(tmp_path / "kb.db")
    yield KnowledgeBase(KnowledgeStore(db), LANGS, TOPICS)
    await db.close()


def test_rows_are_checked_one_by_one() -> None:
    parsed = KnowledgeBase(None, LANGS, TOPICS).parse(CSV, "csv")  # type: ignore[arg-type]
    assert [a.title for a in parsed.articles] == ["电梯坏了怎么办", "电梯年检", "Lift out of order"]
    assert parsed.articles[0].key == "id:lift-1" and parsed.articles[2].key == "title:en:lift out of order"
    assert parsed.articles[0].tags == "电梯,物业"
    refused = dict(parsed.refused)
    assert refused[5] == "title is empty"  # the spreadsheet's row numbers (the header is row 1)
    assert "language 'xx'" in refused[6] and "topic 'nowhere'" in refused[7]
    # a spreadsheet's export: the byte-order mark, CRLF, a quoted comma; a row with a field too many
    bom = "\ufeffid,title,body,topic,tags,language\r\nx1,\"Taxi, lost property\",Use the receipt.,transport,,en\r\n" \
          "x2,Two,Body,transport,,en,extra\r\n"
    parsed = KnowledgeBase(None, LANGS, TOPICS).parse(bom, "csv")  # type: ignore[arg-type]
    assert [a.title for a in parsed.articles] == ["Taxi, lost property"]
    assert parsed.refused == [(3, "more fields than the header has (a comma in an unquoted field?)")]
    with pytest.raises(KnowledgeError, match="no title"):
        KnowledgeBase(None, LANGS, TOPICS).parse("name,text\n", "csv")  # type: ignore[arg-type]
    js = json.dumps([{"title": "Taxi complaints", "body": "Note the plate.", "topic": "transport",
                      "tags": ["taxi", "plate"], "language": "en"},
                     {"title": "x", "body": "y", "language": "en", "colour": "red"}, "not an object",
                     {"title": ["x"], "body": "y", "language": "en"},
                     {"title": "Taxi complaints", "body": "again", "language": "en"}])
    parsed = KnowledgeBase(None, LANGS, TOPICS).parse(js, "json")  # type: ignore[arg-type]
    assert [a.tags for a in parsed.articles] == ["taxi,plate"]
    assert [n for n, _ in parsed.refused] == [2, 3, 4, 5]
    assert "unknown column(s): colour" in parsed.refused[0][1] and "same article as row 1" in parsed.refused[3][1]
    with pytest.raises(KnowledgeError, match="not JSON"):
        KnowledgeBase(None, LANGS, TOPICS).parse("{", "json")  # type: ignore[arg-type]


def test_a_callers_line_is_searched_by_its_rare_words() -> None:
    assert line_terms("我家的电梯坏了! The LIFT is broken, 3 days") == [
        "我家", "家的", "的电", "电梯", "梯坏", "坏了", "the", "lift", "broken", "days"]
    counts = {"我家": 3, "的电": 0, "电梯": 40, "坏了": 900, "the": 5000}
    assert rare_terms(counts, total=10_000) == ["我家", "电梯"]  # in some, not in more than 2% (200)


async def test_import_search_and_update(kb: KnowledgeBase) -> None:
    parsed = kb.parse(CSV, "csv")
    assert await kb.import_articles(parsed.articles, 100.0) == (3, 0, 0)
    found = await kb.search("电梯")
    assert {a["title"] for a in found} == {"电梯坏了怎么办", "电梯年检"}
    assert [a["title"] for a in await kb.search("坏了")] == ["电梯坏了怎么办"]  # any substring of two characters
    assert [a["title"] for a in await kb.search("lift broken")] == ["Lift out of order"]
    # the call's topic first among equals: the licence article (papers) for a papers call
    assert (await kb.search("电梯", topic="papers"))[0]["title"] == "电梯年检"
    assert (await kb.search("电梯", topic="housing"))[0]["title"] == "电梯坏了怎么办"
    # no article has every word: those with the rarest of them
    assert [a["title"] for a in await kb.search("电梯 出租车")] != []
    with pytest.raises(KnowledgeError):
        await kb.search("  ")
    # the same file again: nothing changes; an edited row updates the article in place (same id)
    assert await kb.import_articles(parsed.articles, 200.0) == (0, 0, 3)
    edited = kb.parse(CSV.replace("电梯每年须经", "电梯每年必须经"), "csv").articles
    before = (await kb.search("年检"))[0]["id"]
    assert await kb.import_articles(edited, 300.0) == (0, 1, 2)
    assert (await kb.search("必须"))[0]["id"] == before and await kb.search("年须") == []


async def test_suggestions_from_the_callers_words_and_the_topic(kb: KnowledgeBase) -> None:
    await kb.import_articles(kb.parse(CSV, "csv").articles, 100.0)
    words, found = await kb.suggest("喂，你好，我们楼的电梯坏了三天了", "housing", "zh")
    assert "电梯" in words and found[0]["title"] == "电梯坏了怎么办"
    assert await kb.suggest("嗯嗯", "housing", "zh") == ([], [])
    assert [a["title"] for a in await kb.for_topic("housing", "en", 3)] == ["Lift out of order", "电梯坏了怎么办"]
    assert await kb.for_topic("", "en") == []


async def test_helped_counts_once_per_article_and_case(kb: KnowledgeBase) -> None:
    await kb.import_articles(kb.parse(CSV, "csv").articles, 100.0)
    article = (await kb.search("电梯坏了"))[0]
    assert await kb.helped(article["id"], "call-1", "li", 1.0) == (True, 1)
    assert await kb.helped(article["id"], "call-1", "li", 2.0) == (False, 1)
    assert await kb.helped(article["id"], "call-2", "wang", 3.0) == (True, 2)
    opened = await kb.article(article["id"])
    assert opened["body"].startswith("小区电梯故障") and opened["helped"] == 2
    # the article that helped ranks first among the topic's
    assert (await kb.for_topic("housing", "zh", 1))[0]["id"] == article["id"]
    with pytest.raises(LookupError):
        await kb.helped(9999, "call-1", "li", 1.0)


def test_the_cli_imports_a_file(tmp_path: Path) -> None:
    data = tmp_path / "kb.csv"
    data.write_text(CSV, encoding="utf-8")
    env = {**os.environ, "HOTLINE_DATABASE": str(tmp_path / "cli.db")}
    env.pop("HOTLINE_SITE", None)

    def hotline(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "hotline.cli", "--site", str(ROOT / "etc/site.example.toml"),
                               "kb", *args], check=False, capture_output=True, text=True, timeout=60, cwd=ROOT,
                              env=env)

    first = hotline("import", str(data))
    assert first.returncode == 1, first.stderr  # some rows refused
    assert "imported 3, updated 0, unchanged 0, refused 3" in first.stdout, first.stdout + first.stderr
    assert "row 5: title is empty" in first.stderr
    again = hotline("import", "--format", "csv", str(data))
    assert "imported 0, updated 0, unchanged 3, refused 3" in again.stdout
    found = hotline("search", "电梯")
    assert found.returncode == 0 and "电梯坏了怎么办" in found.stdout, found.stdout + found.stderr
    example = hotline("import", str(ROOT / "etc/kb.example.csv"))
    assert example.returncode == 0 and "refused 0" in example.stdout, example.stdout + example.stderr
    assert hotline("import", str(tmp_path / "missing.csv")).returncode == 2
