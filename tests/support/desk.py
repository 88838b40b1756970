"""The operator's desktop in Chromium, as the browser tests open it: log in, wait for the live
socket, press Ready (works with the page's CSP enforced: no eval'd wait expressions)."""

from __future__ import annotations

from typing import Any

from support.calls import wait_until


def text(page: Any, selector: str) -> str:
    return str(page.locator(selector).first.text_content() or "").strip()


def open_desk(page: Any, base: str, username: str, password: str, ready: bool = True) -> Any:
    page.goto(base + "/desktop")
    page.fill("#username", username)
    page.fill("#password", password)
    with page.expect_navigation():
        page.click("#login")
    wait_until(lambda: text(page, "#connection") == "live", 15, "the desktop's socket", interval=0.2)
    if ready:
        page.click("#btn-ready")
        wait_until(lambda: text(page, "#state") == "ready", 15, "the operator ready", interval=0.2)
    return page
