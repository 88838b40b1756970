"""The admin page (web/admin.py): users added, disabled (their sessions end), enabled, given a new
password (generated and shown once, or set), their role and extension changed; every change an
audit row without the password; the refusals (not an admin 403, no CSRF token 403, yourself 409,
the last admin 409, bad input 400 with its id). The API first, in-process; then the page in
Chromium (a browser test: `make test` runs it in the network namespace)."""

from __future__ import annotations

import asyncio
import json
import re
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import unused_port

from hotline import config
from hotline.bus import Bus
from hotline.cases.store import CaseStore
from hotline.graph import Services, build_services
from hotline.web.app import build_app

SITE = Path(__file__).resolve().parents[1] / "etc/site.example.toml"
PASSWORD = "correct horse battery"
TOKEN = "admin-test-token"


class AnyPbx:
    def __getattr__(self, name: str) -> Any:
        async def action(*a: Any, **kw: Any) -> None:
            return None
        return action


class Site:
    """The hotline's web app on a port of its own, with an admin (root), a shift manager (boss)
    and an operator (op1) on the site file's first operator extension."""

    def __init__(self, tmp_path: Path) -> None:
        settings = config.load(SITE, {})
        self.port = unused_port()
        self.settings = replace(settings, http=replace(settings.http, port=self.port))
        self.ext1, self.ext2 = self.settings.operators[0].extension, self.settings.operators[1].extension
        self.store = CaseStore(tmp_path / "c.db")
        self.graph: Services = build_services(self.settings, self.store, AnyPbx(), Bus())  # type: ignore[arg-type]
        self.base = f"http://127.0.0.1:{self.port}"
        self.runner: web.AppRunner | None = None

    async def start(self) -> None:
        await self.store.open()
        for name, role, ext in (("root", "admin", ""), ("boss", "supervisor", ""), ("op1", "operator", self.ext1)):
            await self.graph.users.add(name, role, PASSWORD, extension=ext, settings=self.settings)
        self.runner = web.AppRunner(build_app(self.graph.web(TOKEN)), access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
        await self.graph.stop()
        await self.store.close()

    async def audit_rows(self) -> list[dict[str, Any]]:
        rows = await self.graph.audits.audit_log(200)
        return [r for r in reversed(rows) if str(r["action"]).startswith("user-")]


class Client:
    def __init__(self, site: Site) -> None:
        self.site = site
        self.session = aiohttp.ClientSession(base_url=site.base, cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.csrf = ""

    async def login(self, username: str, password: str = PASSWORD) -> bool:
        """Logged in (True), or sent back to the login form (False)."""
        page = await self.session.get("/login")
        token = re.search(r'name="csrf" value="([^"]+)"', await page.text()).group(1)  # type: ignore[union-attr]
        r = await self.session.post("/login", data={"username": username, "password": password, "csrf": token},
                                    allow_redirects=False)
        if r.status != 302 or r.headers["Location"].startswith("/login"):
            return False
        home = await self.session.get("/home")
        found = re.search(r'name="csrf" value="([^"]+)"', await home.text())
        self.csrf = found.group(1) if found else ""
        return True

    async def call(self, method: str, path: str, body: Any = None, csrf: bool = True) -> tuple[int, Any]:
        headers = {"X-CSRF-Token": self.csrf} if csrf else {}
        async with self.session.request(method, path, json=body, headers=headers, allow_redirects=False) as r:
            text = await r.text()
            try:
                return r.status, json.loads(text)
            except ValueError:
                return r.status, text

    async def close(self) -> None:
        await self.session.close()


@pytest.fixture
async def site(tmp_path: Path) -> Any:
    s = Site(tmp_path)
    await s.start()
    yield s
    await s.stop()


async def test_the_admin_api_adds_disables_resets_and_audits(site: Site) -> None:
    root, boss, op1 = Client(site), Client(site), Client(site)
    try:
        assert await root.login("root") and await boss.login("boss")
        assert await op1.login("op1")
        # not an admin: no page, no API (and the refusal is audited like every 403)
        for path in ("/admin", "/api/admin/users"):
            assert (await boss.call("GET", path))[0] == 403, path
        assert (await boss.call("POST", "/api/admin/users/op1/disable", {}))[0] == 403
        status, listing = await root.call("GET", "/api/admin/users")
        assert status == 200 and {u["username"] for u in listing["users"]} == {"root", "boss", "op1"}
        assert listing["me"] == "root" and "admin" in listing["roles"]
        assert all("password_hash" not in u for u in listing["users"])
        assert (await root.call("POST", "/api/admin/users", {"username": "x1"}, csrf=False))[1]["error"] == "csrf"

        # add: a generated password, shown once; that user can log in with it
        status, added = await root.call("POST", "/api/admin/users", {
            "username": "Op2", "role": "operator", "name": "Li Wei", "extension": site.ext2, "password": ""})
        assert status == 201 and added["username"] == "op2" and len(added["password"]) >= 16
        op2 = Client(site)
        assert await op2.login("op2", added["password"])
        # validation: each refusal its own id
        for body, want in (
                ({"username": "op3", "role": "operator", "extension": site.ext1}, (409, "extension-taken")),
                ({"username": "op3", "role": "wizard"}, (400, "role-unknown")),
                ({"username": "3op", "role": "supervisor"}, (400, "username-invalid")),
                ({"username": "op2", "role": "supervisor"}, (409, "user-exists")),
                ({"username": "op3", "role": "operator", "extension": "0000"}, (400, "extension-unknown")),
                ({"username": "op3", "role": "department"}, (400, "department-missing")),
                ({"username": "op3", "role": "supervisor", "password": "password123"}, (400, "password-weak")),
                ({"username": "op3", "role": "supervisor", "name": 5}, (400, "bad-request"))):
            status, answer = await root.call("POST", "/api/admin/users", body)
            assert (status, answer["error"]) == want, (body, answer)

        # disable: their sessions end at once; yourself: refused; enable again
        assert (await op1.call("GET", "/api/me"))[0] == 200
        assert (await root.call("POST", "/api/admin/users/op1/disable", {}))[0] == 200
        assert (await op1.call("GET", "/api/me"))[0] == 401
        assert not await op1.login("op1")  # the login form again: a disabled user cannot log in
        status, answer = await root.call("POST", "/api/admin/users/root/disable", {})
        assert (status, answer["error"]) == (409, "self-disable")
        assert (await root.call("POST", "/api/admin/users/op1/enable", {}))[0] == 200
        assert await op1.login("op1")
        assert (await root.call("POST", "/api/admin/users/nobody/disable", {}))[1]["error"] == "user-unknown"

        # reset: a generated one (the old password stops working, the sessions end), or one given
        status, reset = await root.call("POST", "/api/admin/users/op2/password", {})
        assert status == 200 and reset["password"] and reset["password"] != added["password"]
        assert (await op2.call("GET", "/api/me"))[0] == 401
        assert not await op2.login("op2", added["password"]) and await op2.login("op2", reset["password"])
        status, answer = await root.call("POST", "/api/admin/users/op2/password", {"password": "tiger"})
        assert (status, answer["error"]) == (400, "password-weak")
        assert (await root.call("POST", "/api/admin/users/op2/password",
                                {"password": "plum orchard lantern 42"}))[1]["password"] is None

        # role and extension: op2 becomes a supervisor (sessions end); yourself: refused
        status, changed = await root.call("POST", "/api/admin/users/op2", {"role": "supervisor", "extension": ""})
        assert status == 200 and changed["user"]["role"] == "supervisor" and changed["user"]["name"] == "Li Wei"
        status, answer = await root.call("POST", "/api/admin/users/root", {"role": "supervisor"})
        assert (status, answer["error"]) == (409, "self-demote")
        assert (await root.call("POST", "/api/admin/users/root", {"name": "The Admin"}))[0] == 200
        status, answer = await root.call("POST", "/api/admin/users/op1", {"extension": site.ext2})
        assert status == 200  # op2 is no operator any more: the extension is free
        status, answer = await root.call("POST", "/api/admin/users/boss", {"role": "operator", "extension": site.ext2})
        assert (status, answer["error"]) == (409, "extension-taken")

        # the last enabled admin stays one (the CLI's service token is not a user)
        bearer = {"Authorization": f"Bearer {TOKEN}"}
        async with aiohttp.ClientSession(base_url=site.base) as cli:
            r = await cli.post("/api/admin/users/root/disable", headers=bearer, json={})
            assert (r.status, (await r.json())["error"]) == (409, "last-admin")
            r = await cli.post("/api/admin/users/root", headers=bearer, json={"role": "supervisor"})
            assert (r.status, (await r.json())["error"]) == (409, "last-admin")

        rows = await site.audit_rows()
        assert [(r["actor"], r["action"], r["target"]) for r in rows] == [
            ("root", "user-add", "op2"), ("root", "user-disable", "op1"), ("root", "user-enable", "op1"),
            ("root", "user-password", "op2"), ("root", "user-password", "op2"), ("root", "user-update", "op2"),
            ("root", "user-update", "root"), ("root", "user-update", "op1")]
        assert all(r["role"] == "admin" for r in rows)
        details = [json.loads(r["detail"]) for r in rows]
        assert details[0]["password"] == "generated" and details[4]["password"] == "set by the admin"
        assert details[5]["changed"]["role"] == {"from": "operator", "to": "supervisor"}
        text = json.dumps(details)
        assert added["password"] not in text and reset["password"] not in text and "plum orchard" not in text
        await op2.close()
    finally:
        for c in (root, boss, op1):
            await c.close()


# -- the page in Chromium -------------------------------------------------------------------------

class Background:
    """The site on an event loop in a thread of its own (Playwright's sync API owns this one)."""

    def __init__(self, tmp_path: Path) -> None:
        self.site = Site(tmp_path)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def __enter__(self) -> Site:
        self.thread.start()
        self.run(self.site.start())
        return self.site

    def __exit__(self, *exc: object) -> None:
        self.run(self.site.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def page_login(browser: Any, base: str, username: str, password: str, landing: str) -> Any:
    page = browser.new_context(bypass_csp=True).new_page()
    page.goto(f"{base}/login?next={landing}")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#login")
    page.wait_for_url(base + landing)
    return page


@pytest.mark.asterisk  # a browser test: the network namespace `make test` gives (no Asterisk needed)
def test_the_admin_page_in_chromium(tmp_path: Path, browser: Any) -> None:
    bg = Background(tmp_path)
    with bg as site:
        errors: list[str] = []
        home = page_login(browser, site.base, "root", PASSWORD, "/home")
        home.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        home.click("#admin-link")  # the admin's home page links to it
        home.wait_for_url(site.base + "/admin")
        page = home
        page.wait_for_selector('tr[data-user="op1"]')
        # add op2 on the second operator's extension, the password generated and shown once
        page.fill("#f-username", "op2")
        page.fill("#f-name", "Li Wei")
        page.select_option("#f-role", "operator")
        page.select_option("#f-extension", site.ext2)
        page.click("#f-save")
        page.wait_for_selector('tr[data-user="op2"]')
        assert page.is_visible("#one-time")
        password = page.text_content("#one-time-password") or ""
        assert page.text_content("#one-time-user") == "op2" and len(password) >= 16
        page.click("#one-time-done")
        assert not page.is_visible("#one-time")
        op2 = page_login(browser, site.base, "op2", password, "/desktop")

        # disabling op2 ends the session: their next request goes to the login page
        page.click('tr[data-user="op2"] button.disable')
        page.wait_for_selector('tr[data-user="op2"].disabled')
        assert "op2 disabled" in (page.text_content("#admin-status") or "")
        op2.wait_for_url(re.compile(r".*/login.*"), timeout=10_000)  # its desktop's socket closed at once
        assert page.is_disabled('tr[data-user="root"] button.disable')  # not yourself
        page.click('tr[data-user="op2"] button.enable')
        page.wait_for_selector('tr[data-user="op2"]:not(.disabled)')

        # reset: a new one-time password that logs in
        page.click('tr[data-user="op2"] button.reset')
        page.wait_for_selector("#one-time:not([hidden])")
        new_password = page.text_content("#one-time-password") or ""
        assert new_password and new_password != password
        page.screenshot(path=str(tmp_path / "admin-reset.png"), full_page=True)
        page_login(browser, site.base, "op2", new_password, "/desktop").context.close()

        # role and extension: op1 moves to a supervisor without a phone
        page.click('tr[data-user="op1"] button.edit')
        assert not page.is_visible("#one-time")  # the next action closed the one-time password
        page.select_option("#f-role", "supervisor")
        page.select_option("#f-extension", "")
        page.click("#f-save")
        page.wait_for_function("document.querySelector('tr[data-user=\"op1\"] td.role').textContent === 'supervisor'")
        assert (page.text_content('tr[data-user="op1"] td.where') or "").strip() == "–"
        # a refusal shows its reason on the page
        page.fill("#f-username", "op3")
        page.select_option("#f-role", "operator")
        page.select_option("#f-extension", site.ext2)
        page.click("#f-save")
        page.wait_for_function("document.getElementById('admin-status').textContent.includes('extension-taken')")
        page.screenshot(path=str(tmp_path / "admin.png"), full_page=True)
        rows = bg.run(site.audit_rows())
        assert [(r["action"], r["target"]) for r in rows] == [
            ("user-add", "op2"), ("user-disable", "op2"), ("user-enable", "op2"), ("user-password", "op2"),
            ("user-update", "op1")]
        # a shift manager gets no admin page
        boss = page_login(browser, site.base, "boss", PASSWORD, "/wallboard")
        assert boss.locator("#admin-link").count() == 0
        response = boss.goto(site.base + "/admin")
        assert response is not None and response.status == 403
        # the admin's page logged nothing but the refused add's answer (Chromium logs every 4xx)
        assert [e for e in errors if "status of 409" not in e] == [], errors
        for p in (page, op2, boss):
            p.context.close()
