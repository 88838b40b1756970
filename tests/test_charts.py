"""The charts (issue 18): today's series for the wallboard (both clocks, the callers waiting), the
series API, and in Chromium (without bypassing the CSP) the wallboard's, staffing's, history's and
trends' charts drawn by the vendored uPlot, one day of trends data with its point, the tables'
headers in words with their definitions, the header links' contrast, no console error and no CSP
violation. Screenshots go to the test's tmp folder."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient, TestServer, unused_port

from hotline import config
from hotline.bus import Bus
from hotline.cases.day_series import CallTimes, DaySeriesStore, series
from hotline.cases.store import CaseStore
from hotline.graph import build_services
from hotline.web.app import build_app

SITE = Path(__file__).resolve().parents[1] / "etc/site.example.toml"
PASSWORD = "correct horse battery"
STATIC = Path(__file__).resolve().parents[1] / "src/hotline/web/static"
FORM = {"category": "housing", "district": "Chaoyang", "address": "5 Elm Street",
        "description": "Water leaking through the ceiling", "urgency": "normal", "citizen_name": "",
        "confidential": False, "notes": "", "department": "auto"}


class AnyPbx:
    def __getattr__(self, name: str) -> Any:
        async def action(*a: Any, **kw: Any) -> None:
            return None
        return action


def call(q: float, wait: float | None = None, answered: bool = True, arrived: float | None = None,
         waiting: bool = False) -> CallTimes:
    if waiting:
        return CallTimes(q, None, None, None, False, arrived)
    a = q + (wait or 0.0) if answered else None
    return CallTimes(q, a, q + (wait or 0.0), wait, not answered, arrived)


def test_series_buckets_both_clocks_and_the_callers_waiting() -> None:
    start = 1_800_000_000.0
    calls = [call(start + 10, 5, arrived=start + 0),      # 5 s in the queue, 15 s from the first ring
             call(start + 100, 12, arrived=start + 80),   # 12 s / 32 s
             call(start + 200, 30, answered=False),       # gave up after 30 s
             call(start + 400, 3),                        # next bucket: no first ring known (queue entry used)
             call(start + 650, waiting=True),             # waiting now
             CallTimes(start + 20, None, None, None, True, start + 20, ivr=True)]  # hung up in the IVR
    d = series(calls, start, start + 86400, 300, 15, now=start + 700, first_ring=True)
    assert d["at"] == [start, start + 300, start + 600]
    assert (d["offered"], d["answered"], d["abandoned"]) == ([3, 1, 1], [2, 1, 0], [1, 0, 0])
    assert d["sl"]["over_offered"] == [66.7, 100.0, None] and d["sl"]["over_answered"] == [100.0, 100.0, None]
    # the first-ring clock: the IVR hang-up offered and abandoned too
    assert d["first_ring_sl"]["over_offered"] == [25.0, 100.0, None] and d["abandoned_in_ivr"] == [1, 0, 0]
    assert d["sl"]["day_over_offered"] == [66.7, 75.0, 75.0]
    assert d["first_ring_sl"]["day_over_offered"] == [25.0, 40.0, 40.0]
    assert d["clocks"] == ["queue", "first_ring"]
    # waiting: one at a time, and the caller waiting now at the end of the last bucket
    assert d["waiting_max"] == [1, 1, 1] and d["waiting_end"] == [0, 0, 1]
    assert "first_ring_sl" not in series(calls, start, start + 86400, 300, 15, start + 700, first_ring=False)
    both = series([call(start, 50), call(start + 10, 5)], start, start + 900, 900, 15, start + 100, False)
    assert both["waiting_max"] == [2] and both["waiting_end"] == [0]  # two at once, both answered by now


async def test_the_store_reads_the_days_calls_and_the_first_ring_when_the_rows_have_it(tmp_path: Path) -> None:
    store = CaseStore(tmp_path / "c.db")
    await store.open()
    try:
        t = time.time() - 600
        await store.create({"uniqueid": "a", "caller_number": "1", "language": "zh", "topic": "", "ivr_path": "",
                            "queue": "hl-zh-general", "queued_at": t})
        await store.update("a", {"state": "ended", "answered_at": t + 4, "wait_seconds": 4.0})
        await store.create({"uniqueid": "b", "caller_number": "1", "language": "zh", "topic": "", "ivr_path": "",
                            "queue": "hl-zh-general", "queued_at": t + 5})
        await store.create({"uniqueid": "m", "caller_number": "1", "language": "zh", "topic": "", "ivr_path": "",
                            "queue": "", "queued_at": t + 6, "state": "ended", "source": "manual"})
        await store.create({"uniqueid": "i", "caller_number": "1", "language": "zh", "topic": "", "ivr_path": "",
                            "queue": "", "queued_at": t + 7, "arrived_at": t + 7, "state": "abandoned-ivr",
                            "abandoned": 1, "ended_at": t + 20, "ended_in": "ivr"})
        calls, first_ring = await DaySeriesStore(store.db).calls(t - 1, t + 60)
        assert [(c.queued_at, c.answered_at, c.left_at, c.ivr) for c in calls] == [
            (t, t + 4, t + 4, False), (t + 5, None, None, False), (t + 7, None, None, True)]
        assert first_ring  # migration 0010's arrived_at
    finally:
        await store.close()


class Floor:
    """A hotline without Asterisk (the services on a PBX that does nothing), served on a port."""

    def __init__(self, tmp_path: Path) -> None:
        self.settings = config.load(SITE, {})
        self.store = CaseStore(tmp_path / "c.db")
        self.graph = build_services(self.settings, self.store, AnyPbx(), Bus())  # type: ignore[arg-type]
        self.port = unused_port()

    async def start(self) -> TestClient[Any, Any]:
        await self.store.open()
        await self.graph.users.add("boss", "supervisor", PASSWORD, extension="", settings=self.settings)
        served = replace(self.settings, http=replace(self.settings.http, port=self.port))
        self.graph.start(clocks=False)
        self.client = TestClient(TestServer(build_app(replace(self.graph.web("token"), settings=served)),
                                            port=self.port))
        await self.client.start_server()
        return self.client

    async def stop(self) -> None:
        await self.client.close()
        await self.graph.stop()
        await self.store.close()

    async def calls_today(self) -> None:
        """Calls of the last hour (answered fast, late, abandoned, one waiting), their forms saved
        (one day of trends), and the same calls a week ago (the staffing forecast)."""
        now = time.time()
        midnight = dt.datetime.combine(dt.date.today(), dt.time()).timestamp()
        base = max(midnight + 60, now - 3600)
        for week in (0, 1):
            for i in range(12):
                q = base + i * (now - base - 120) / 12 - week * 7 * 86400
                uid = f"c{week}-{i}"
                await self.store.create({"uniqueid": uid, "caller_number": "13900000000", "language": "zh",
                                         "topic": "housing" if i % 3 else "transport", "ivr_path": "1",
                                         "queue": "hl-zh-housing", "queued_at": q,
                                         "arrived_at": q - (12 if i % 3 else 4)})  # the IVR's seconds
                if i % 4 == 3:
                    await self.store.update(uid, {"state": "abandoned", "abandoned": 1, "ended_at": q + 40,
                                                  "wait_seconds": 40.0})
                    continue
                wait = 5.0 if i % 2 else 25.0
                await self.store.update(uid, {"state": "ended", "answered_at": q + wait, "wait_seconds": wait,
                                              "ended_at": q + wait + 120, "talk_seconds": 120.0, "operator": "1001"})
                if week == 0:
                    category = "housing" if i % 3 else "transport"
                    await self.store.save_form(uid, {**FORM, "category": category}, "boss", q + wait + 150)
        await self.store.create({"uniqueid": "w", "caller_number": "13900000001", "language": "zh", "topic": "",
                                 "ivr_path": "", "queue": "hl-zh-general", "queued_at": now - 30})
        await self.store.create({"uniqueid": "ivr", "caller_number": "13900000002", "language": "zh", "topic": "",
                                 "ivr_path": "", "queue": "", "queued_at": now - 300, "arrived_at": now - 300,
                                 "state": "abandoned-ivr", "abandoned": 1, "ended_at": now - 290, "ended_in": "ivr"})


async def login(client: TestClient[Any, Any]) -> aiohttp.ClientSession:
    c = aiohttp.ClientSession(base_url=str(client.server.make_url("")), cookie_jar=aiohttp.CookieJar(unsafe=True))
    page = await c.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', await page.text()).group(1)  # type: ignore[union-attr]
    r = await c.post("/login", data={"username": "boss", "password": PASSWORD, "csrf": token})
    assert r.status == 200
    return c


async def test_the_series_api_gives_todays_buckets(tmp_path: Path) -> None:
    f = Floor(tmp_path)
    client = await f.start()
    try:
        await f.calls_today()
        boss = await login(client)
        try:
            d = await (await boss.get("/api/wallboard/series?step=900")).json()
            assert d["step"] == 900 and d["target_seconds"] == f.settings.routing.target_seconds
            assert sum(d["offered"]) == 13 and sum(d["answered"]) == 9 and sum(d["abandoned"]) == 3
            assert d["start"] == dt.datetime.combine(dt.date.today(), dt.time()).timestamp()
            assert len(d["at"]) == len(d["sl"]["over_offered"]) == len(d["waiting_max"])
            assert d["waiting_end"][-1] >= 1  # the caller waiting now
            assert d["clocks"] == ["queue", "first_ring"] and sum(d["abandoned_in_ivr"]) == 1
            assert sum(d["answered_in_target_first_ring"]) < sum(d["answered_in_target"])  # the IVR's seconds count
            last = await (await boss.get("/api/wallboard/series?step=300&minutes=30")).json()
            assert 6 <= len(last["at"]) <= 8 and last["at"][-1] <= last["now"] < last["at"][-1] + 300
            r = await boss.get("/api/wallboard/series?step=7")
            assert (r.status, (await r.json())["error"]) == (400, "bad-request")
        finally:
            await boss.close()
    finally:
        await f.stop()


# -- in Chromium ------------------------------------------------------------------------------------

class Served:
    """The floor on its own thread and event loop (Playwright's sync API holds this thread's)."""

    def __init__(self, tmp_path: Path) -> None:
        self.floor = Floor(tmp_path)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.run(self.floor.start())
        self.run(self.floor.calls_today())
        self.base = f"http://127.0.0.1:{self.floor.port}"

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)

    def close(self) -> None:
        self.run(self.floor.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


CHART = """(id) => {
  const u = window.hlCharts && window.hlCharts.all[id];
  if (!u) return null;
  const box = document.getElementById(id);
  return {canvas: !!box.querySelector("canvas"), width: box.querySelector("canvas").width,
          labels: u.series.slice(1).map((s) => s.label),
          points: u.data.slice(1).map((v) => v.filter((x) => x != null).length),
          xs: u.data[0].length, min: u.scales.x.min, max: u.scales.x.max, x0: u.data[0][0]};
}"""


def luminance(rgb: str) -> float:
    def channel(c: float) -> float:
        c /= 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (float(v) for v in re.findall(r"\d+", rgb)[:3])
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(fg: str, bg: str) -> float:
    a, b = sorted((luminance(fg), luminance(bg)), reverse=True)
    return (a + 0.05) / (b + 0.05)


def test_the_pages_draw_their_charts_under_the_csp(tmp_path: Path, browser: Any) -> None:
    served = Served(tmp_path)
    context = browser.new_context(viewport={"width": 1280, "height": 900})  # the CSP enforced
    problems: list[str] = []
    try:
        context.add_init_script("document.addEventListener('securitypolicyviolation', (e) =>"
                                " console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI))")
        page = context.new_page()
        page.on("console", lambda m: problems.append(f"{page.url}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(f"{page.url}: {e}"))
        page.goto(served.base + "/login?next=/wallboard")
        page.fill("#username", "boss")
        page.fill("#password", PASSWORD)
        page.click("#login")
        page.wait_for_url(served.base + "/wallboard")

        # the wallboard: the service level per 15 minutes and in the last 30 minutes, the callers waiting
        page.wait_for_function("() => window.hotlineCharts && window.hlCharts.all['chart-waiting']", timeout=15000)
        day = page.evaluate(CHART, "chart-sl-day")
        assert day["canvas"] and day["width"] > 0
        assert day["labels"][:4] == ["of offered, from the first ring", "today so far, from the first ring",
                                     "of offered, from queue entry", "today so far, from queue entry"]
        assert day["points"][0] >= 1 and day["labels"][-1] == "goal"
        last = page.evaluate(CHART, "chart-sl-30")
        assert last["canvas"] and 6 <= last["xs"] <= 8 and last["points"][0] >= 1
        waiting = page.evaluate(CHART, "chart-waiting")
        assert waiting["canvas"] and waiting["points"][0] == waiting["xs"] > 0
        page.screenshot(path=str(tmp_path / "wallboard.png"), full_page=True)
        link = page.evaluate("""() => { const a = document.querySelector('.bar nav a');
            return [getComputedStyle(a).color, getComputedStyle(a.closest('.bar')).backgroundColor]; }""")
        assert contrast(*link) >= 4.5, link

        # the staffing page: forecast, needed and scheduled per half hour
        page.goto(served.base + "/staffing")
        page.wait_for_function("() => window.hlCharts && window.hlCharts.all['chart-staffing']")
        staffing = page.evaluate(CHART, "chart-staffing")
        assert staffing["canvas"] and staffing["xs"] == 48
        assert staffing["labels"][:3] == ["calls forecast", "operators needed", "operators scheduled"]
        assert staffing["points"][0] == 48 and staffing["points"][1] == 48
        heads = page.locator("#plan thead th")
        assert heads.first.text_content() == "Half hour from" and heads.nth(2).text_content() == "Operators needed"
        assert "answer" in (heads.nth(2).get_attribute("title") or "")
        page.screenshot(path=str(tmp_path / "staffing.png"), full_page=True)

        # the history: per half hour, and the columns in words with their definitions on hover
        page.goto(served.base + "/history")
        page.wait_for_function("() => window.hlCharts && window.hlCharts.all['chart-history-sl']")
        calls = page.evaluate(CHART, "chart-history-calls")
        assert calls["canvas"] and calls["labels"][:3] == ["offered", "answered", "abandoned"] and calls["xs"] >= 1
        sl = page.evaluate(CHART, "chart-history-sl")
        assert sl["points"][0] >= 1
        heads = page.locator("#history-half_hours thead th")
        words = heads.all_text_contents()
        target = served.floor.settings.routing.target_seconds
        assert f"Answered within {target} s, of offered" in words and "Average speed of answer (s)" in words
        assert "Average handling time (s)" in words and not [w for w in words if "_" in w or w.islower()], words
        asa = page.locator('#history-half_hours th[data-column="asa"]')
        assert "waited" in (asa.get_attribute("title") or "")
        link = page.evaluate("""() => { const a = document.querySelector('.bar a');
            return [getComputedStyle(a).color, getComputedStyle(a.closest('.bar')).backgroundColor]; }""")
        assert contrast(*link) >= 4.5, link
        page.screenshot(path=str(tmp_path / "history.png"), full_page=True)

        # trends: one day of data (today's forms) over the default four weeks, then that one day alone
        page.goto(served.base + "/trends")
        page.wait_for_function("() => window.hotlineTrends && window.hlCharts.all['chart']")
        trend = page.evaluate(CHART, "chart")
        assert trend["canvas"] and trend["xs"] == 28 and set(trend["labels"]) == {"housing", "transport"}
        page.screenshot(path=str(tmp_path / "trends-4-weeks.png"), full_page=True)
        page.evaluate("document.getElementById('t-from').value = document.getElementById('t-to').value")
        page.click("#trend-form button")
        page.wait_for_function("() => window.hlCharts.all['chart'].data[0].length === 1")
        one = page.evaluate(CHART, "chart")
        assert one["points"] == [1, 1]  # the day's point, well inside the axis (not on its edge)
        assert one["min"] <= one["x0"] - 6 * 3600 and one["max"] >= one["x0"] + 6 * 3600, one
        values = page.evaluate("window.hlCharts.all['chart'].data.slice(1).map((v) => v[0]).sort()")
        assert values == [3, 6]  # today's saved forms: 6 housing, 3 transport
        page.hover("#chart .u-over")  # the middle of the plot: the day's point
        page.wait_for_function("() => !document.querySelector('#chart .chart-tip').hidden")
        tip = page.locator("#chart .chart-tip").text_content() or ""
        assert dt.date.today().isoformat() in tip and "housing: 6" in tip
        page.screenshot(path=str(tmp_path / "trends-1-day.png"), full_page=True)
        assert problems == [], problems
    finally:
        context.close()
        served.close()


def test_the_vendored_uplot_is_the_one_its_readme_names() -> None:
    import hashlib
    readme = (STATIC / "vendor/uplot/README.md").read_text()
    for name in ("uPlot.iife.min.js", "uPlot.min.css"):
        digest = hashlib.sha256((STATIC / "vendor/uplot" / name).read_bytes()).hexdigest()
        assert digest in readme, name
    assert "MIT" in (STATIC / "vendor/uplot/LICENSE").read_text()
