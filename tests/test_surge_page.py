"""Surge announcements on the wallboard in Chromium (surge.js): a shift manager sets a message for
a topic with the form, sees it with its start, end and counts as they change, and ends it. The
floor is tests/test_charts.py's (the services without Asterisk, served on a port)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import test_charts
from test_charts import PASSWORD, Served
from test_surge import Clock, surge_service

from hotline.web.app import build_app


def test_a_shift_manager_sets_sees_and_ends_a_message(tmp_path: Path, browser: Any,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    holder: dict[str, Any] = {}

    def with_surge(services: Any) -> Any:
        from dataclasses import replace
        return build_app(replace(services, surge=holder["surge"]))

    monkeypatch.setattr(test_charts, "build_app", with_surge)
    floor = test_charts.Floor  # Served builds it; the surge service is made on its store before start

    class WithSurge(floor):  # type: ignore[misc,valid-type]
        def __init__(self, path: Path) -> None:
            super().__init__(path)
            clock = Clock()
            clock.now = __import__("time").time()
            holder["surge"] = s = surge_service(self.settings, self.store, path, clock)
            s.on_change = self.graph.wallboard.changed
            self.graph.wallboard.sections["surge"] = s.board

    monkeypatch.setattr(test_charts, "Floor", WithSurge)
    served = Served(tmp_path)
    surge = holder["surge"]
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
        assert page.inner_text("#surge-list") == "none"
        page.select_option("#surge-scope", "topic")
        page.select_option("#surge-topic", "housing")
        page.fill("#surge-minutes", "30")
        page.fill('#surge-texts input[data-lang="zh"]', "朝阳区停水已知，十八点前修复")
        page.click("#surge-form button[type=submit]")
        page.wait_for_selector("#surge-list li[data-id]", timeout=10000)
        shown = page.inner_text("#surge-list")
        assert "topic housing" in shown and "朝阳区停水已知" in shown and "until" in shown, shown
        assert "played 0 · informed 0 · opted out 0" in shown, shown
        made = next(iter(surge.surges.values()))
        served.run(surge.counted(str(made.id), "played"))
        page.wait_for_function("() => /played 1 /.test(document.getElementById('surge-list').textContent)",
                               timeout=10000)
        page.click("#surge-list li[data-id] button")
        page.wait_for_function("() => document.getElementById('surge-list').textContent === 'none'", timeout=10000)
        assert page.inner_text("#surge-error") == ""
        # a hotspot's "Announce…" on the trends page: the form prefilled, nothing set until confirmed
        page.goto(served.base + "/wallboard?surge_scope=district&surge_target=朝阳区#surge-panel")
        page.wait_for_function("() => window.hotline.received.includes('wallboard_snapshot')", timeout=15000)
        assert page.input_value("#surge-scope") == "district" and page.input_value("#surge-district") == "朝阳区"
        assert page.is_hidden("#surge-topic") and not surge.surges
        assert problems == []
    finally:
        context.close()
        served.close()
