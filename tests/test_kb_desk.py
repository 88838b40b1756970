"""The knowledge base on the desk (issue 19), without Asterisk: the graph's suggestions service
sends the operator showing a call the articles of its topic when answered, then those the
caller's words suggest (debounced: a burst of lines is one query); the snapshot carries the last
ones; the search, article and 'helped' routes answer the roles they name and refuse bad input
with an error id."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from test_kb import CSV

from hotline import config
from hotline import events as ev
from hotline.auth.users import Principal
from hotline.bus import Bus
from hotline.cases.store import CaseStore
from hotline.graph import Services, build_services
from hotline.web.app import build_app
from hotline.web.security import COOKIE

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "etc/site.example.toml"
TOKEN = "kb-test-token"
T0 = time.time()


class AnyPbx:
    def __getattr__(self, name: str) -> Any:
        async def action(*a: Any, **kw: Any) -> None:
            return None
        return action


class Pages:
    """Stands in for the hub: what each extension's desktop was sent."""

    def __init__(self) -> None:
        self.sent: dict[str, list[dict[str, Any]]] = {}

    def to_extension(self, extension: str, msg: dict[str, Any]) -> int:
        self.sent.setdefault(extension, []).append(msg)
        return 1

    def extensions(self) -> set[str]:
        return set(self.sent)


@pytest.fixture
async def floor(tmp_path: Path) -> Any:
    g = build_services(config.load(SITE, {}), CaseStore(tmp_path / "c.db"), AnyPbx(), Bus())  # type: ignore[arg-type]
    await g.store.open()
    await g.knowledge.import_articles(g.knowledge.parse(CSV, "csv").articles, T0)
    g.start(clocks=False)
    yield g
    await g.stop()
    await g.store.close()


async def answered(g: Services, uid: str = "c1", ext: str = "1001", topic: str = "housing") -> None:
    g.bus.publish(ev.CallerJoined(uid, uid, f"hl-zh-{topic}", "13900001234", "zh", topic, "", 1, T0))
    g.bus.publish(ev.AgentRinging(uid, f"hl-zh-{topic}", f"PJSIP/{ext}", "Wang", "13900001234", "zh", topic,
                                  T0 + 1))
    g.bus.publish(ev.AgentConnected(uid, f"hl-zh-{topic}", f"PJSIP/{ext}", "Wang", 3, T0 + 3, language="zh",
                                    caller_number="13900001234"))


def caller(uid: str, text: str, at: float, kind: str = "final") -> ev.TranscriptText:
    return ev.TranscriptText(uid, "caller", "zh", kind, text, at - T0, at - T0 + 1, 0.9, at)


async def settle(g: Services) -> None:
    for _ in range(100):
        await asyncio.sleep(0.02)
        if all(p.sub.queue.empty() for p in g.pumps):
            break
    await g.kb_suggestions.idle()


async def test_the_topic_then_the_callers_words_suggest_articles(floor: Services) -> None:
    g = floor
    pages = Pages()
    g.kb_suggestions.hub = pages
    g.kb_suggestions.delay = 0.05
    await answered(g)
    await settle(g)
    first = [m for m in pages.sent["1001"] if m["type"] == "knowledge"]
    assert first and first[-1]["source"] == "topic"
    assert [a["title"] for a in first[-1]["articles"]] == ["电梯坏了怎么办", "Lift out of order"]
    # three lines in a burst: one query over them together; a partial or the operator's words: none
    before = g.kb_suggestions.queries
    g.kb_suggestions.delay = 0.5  # (a pause longer than the pump needs for the burst, however loaded the machine)
    g.bus.publish(caller("c1", "你好", T0 + 5))
    g.bus.publish(caller("c1", "我想问一下", T0 + 6, kind="partial"))
    g.bus.publish(ev.TranscriptText("c1", "operator", "zh", "final", "年检", 7, 8, 0.9, T0 + 8))
    g.bus.publish(caller("c1", "电梯每年要检验吗", T0 + 9))
    await settle(g)
    assert g.kb_suggestions.queries == before + 1
    last = [m for m in pages.sent["1001"] if m["type"] == "knowledge"][-1]
    assert last["source"] == "transcript" and "检验" in last["words"]
    assert last["articles"][0]["title"] == "电梯年检"
    # the snapshot of the desk carries them (a reload shows the same)
    await g.desktop._ringing(ev.AgentRinging("c1", "hl-zh-housing", "PJSIP/1001", "Wang", "13900001234", "zh",
                                             "housing", T0 + 1))
    snap = await g.desktop.snapshot(Principal("wang", "operator", extension="1001"))
    assert snap["call"]["knowledge"]["articles"] == last["articles"]
    # a line with nothing in the base leaves them shown; nobody else's desk got any
    g.bus.publish(caller("c1", "嗯嗯", T0 + 12))
    await settle(g)
    assert [m for m in pages.sent["1001"] if m["type"] == "knowledge"][-1] == last
    assert set(pages.sent) == {"1001"}


async def test_the_routes(floor: Services) -> None:
    g = floor
    await g.users.add("op1", "operator", "correct horse battery", extension="1001", settings=g.settings)
    client: TestClient[Any, Any] = TestClient(TestServer(build_app(g.web(TOKEN))))
    await client.start_server()
    auth = {"Authorization": f"Bearer {TOKEN}"}
    try:
        r = await client.get("/api/kb/search", params={"q": "电梯", "topic": "papers"}, headers=auth)
        assert r.status == 200
        found = (await r.json())["articles"]
        assert found[0]["title"] == "电梯年检" and len(found) == 2
        r = await client.get(f"/api/kb/articles/{found[0]['id']}", headers=auth)
        assert (await r.json())["article"]["body"].startswith("电梯每年")
        for path, status, error in (("/api/kb/search?q=", 400, "bad-request"),
                                    ("/api/kb/search?q=" + "x" * 201, 400, "bad-request"),
                                    ("/api/kb/search?q=a&limit=x", 400, "bad-request"),
                                    ("/api/kb/articles/abc", 400, "bad-request"),
                                    ("/api/kb/articles/99999", 404, "article-unknown")):
            r = await client.get(path, headers=auth)
            assert (r.status, (await r.json())["error"]) == (status, error), path
        await g.store.create({"uniqueid": "c9", "caller_number": "1", "language": "zh", "topic": "housing",
                              "ivr_path": "", "queue": "q", "queued_at": T0})
        url = f"/api/kb/articles/{found[0]['id']}/helped"
        r = await client.post(url, json={"uniqueid": "c9"}, headers=auth)
        assert await r.json() == {"id": found[0]["id"], "counted": True, "helped": 1}
        r = await client.post(url, json={"uniqueid": "c9"}, headers=auth)
        assert (await r.json())["counted"] is False
        for body, status, error in (({"uniqueid": "nope"}, 404, "case-unknown"), ({}, 400, "bad-request"),
                                    ({"uniqueid": ["c9"]}, 400, "bad-request")):
            r = await client.post(url, json=body, headers=auth)
            assert (r.status, (await r.json())["error"]) == (status, error), body
        r = await client.get("/api/kb/search?q=x")  # anonymous
        assert r.status == 401
        # an operator: their own calls only
        op1, csrf = await g.users.open_session("op1", "127.0.0.1")
        r = await client.post(url, json={"uniqueid": "c9"}, cookies={COOKIE: op1}, headers={"X-CSRF-Token": csrf})
        assert (r.status, (await r.json())["error"]) == (403, "forbidden")
        r = await client.get("/api/kb/search", params={"q": "电梯"}, cookies={COOKIE: op1})
        assert r.status == 200 and len((await r.json())["articles"]) == 2
    finally:
        await client.close()
