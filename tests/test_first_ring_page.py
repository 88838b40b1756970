"""Issue 16 in Chromium: the wallboard names both clocks, and a caller who hangs up in the IVR
raises the calls offered (from the first ring) while the queue-entry figures stay Asterisk's.
The floor is tests/test_charts.py's (the services without Asterisk, served on a port)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from test_charts import PASSWORD, Served

from hotline import events as ev


def test_the_wallboard_shows_both_clocks_and_counts_an_ivr_hang_up(tmp_path: Path, browser: Any) -> None:
    served = Served(tmp_path)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    try:
        page = context.new_page()
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.goto(served.base + "/login?next=/wallboard")
        page.fill("#username", "boss")
        page.fill("#password", PASSWORD)
        page.click("#login")
        page.wait_for_url(served.base + "/wallboard")
        page.wait_for_function("() => window.hotline.received.includes('wallboard_snapshot')", timeout=15000)
        now = time.time()
        # 8 s in the IVR, 12 s in the queue: within 15 s from queue entry, not from the first ring
        q = "hl-zh-general"
        for e in (ev.CallerJoined("a", "a", q, "139", "zh", "general", "", 1, now - 20, arrived_at=now - 28),
                  ev.AgentConnected("a", q, "PJSIP/1001", "1001", 12, now - 8, arrived_at=now - 28)):
            served.loop.call_soon_threadsafe(served.floor.graph.bus.publish, e)
        page.wait_for_function("() => document.getElementById('t-answered').textContent === '1'", timeout=10000)
        header = page.inner_text("header")
        assert "from the first ring" in header and "from queue entry" in header, header
        assert (page.inner_text("#t-ring-sl-offered"), page.inner_text("#t-sl-offered")) == ("0.0%", "100.0%")
        assert page.inner_text("#t-ivr") == "0"
        cell = page.inner_text(f'#queues tr[data-queue="{q}"] td.sltoday')
        assert cell == "ring 0.0% / 0.0% · queue 100.0% / 100.0%", cell

        # a caller waiting: the wait from the first ring, the queue's beside it
        waiting = ev.CallerJoined("w", "w", q, "138", "zh", "general", "", 1, now - 2, arrived_at=now - 9)
        served.loop.call_soon_threadsafe(served.floor.graph.bus.publish, waiting)
        page.wait_for_function("() => /in queue/.test(document.querySelector('#waiting tbody td.wait')?.textContent)",
                               timeout=10000)
        wait = page.inner_text("#waiting tbody td.wait")
        assert wait.split(" s")[0] in ("9", "10") and "in queue" in wait, wait  # 9 s from the ring, 2 in queue
        offered = int(page.inner_text("#t-ring-offered"))
        queued = page.inner_text("#t-offered")

        hang_up = ev.IvrHangup("ivr-1", "13900000099", "", "greeting:silent/", now - 3, now)
        served.loop.call_soon_threadsafe(served.floor.graph.bus.publish, hang_up)  # on the floor's loop
        page.wait_for_function("() => document.getElementById('t-ivr').textContent === '1'", timeout=10000)
        assert int(page.inner_text("#t-ring-offered")) == offered + 1
        assert page.inner_text("#t-offered") == queued, "Asterisk's clock: the IVR hang-up never queued"
        assert "first ring" in page.inner_text("#big") and page.inner_text("#b-sl-queue") != ""
        assert problems == []
    finally:
        context.close()
        served.close()
