"""The web boundary's rules one by one (issue 14), in-process: only same-origin ``next=``, the
login throttle that slows an attacker without locking the real user out (per user+address, per
address, X-Forwarded-For only from a trusted proxy, every attempt logged), Origin compared with
the configured origins only (a foreign Host does not help), weak passwords and bad user names
refused (the directory and the CLI), single_session, Secure cookies over TLS, no Server banner."""

from __future__ import annotations

import asyncio
import json
import os
import re
import ssl
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urljoin, urlsplit

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from test_api import PASSWORD, App, browser, session

from hotline.auth import passwords
from hotline.auth.throttle import LoginThrottle
from hotline.auth.users import UserError
from hotline.web import sockets
from hotline.web.hub import SESSION_ENDED, message

ROOT = Path(__file__).resolve().parents[1]
A, B, C, D = "203.0.113.5", "198.51.100.7", "192.0.2.10", "192.0.2.11"


async def started(tmp_path: Path, throttle: LoginThrottle | None = None, **http: Any) -> App:
    app = App(tmp_path)
    app.settings = replace(app.settings, http=replace(app.settings.http, **http))
    if throttle is not None:
        app.throttle = throttle
    await app.start()
    return app


@pytest.fixture
async def app(tmp_path: Path) -> Any:
    a = await started(tmp_path)
    yield a
    await a.close()


@pytest.fixture
async def proxied(tmp_path: Path) -> Any:
    """Behind a reverse proxy on 127.0.0.1 (named in trusted_proxies)."""
    app = await started(tmp_path, trusted_proxies=("127.0.0.1",))
    yield app
    await app.close()


async def login_form(c: aiohttp.ClientSession, username: str, password: str, via: str | None = None,
                     next_: str | None = None, accept: str = "") -> aiohttp.ClientResponse:
    headers = {"X-Forwarded-For": via} if via else {}
    if accept:
        headers["Accept"] = accept
    page = await (await c.get("/login", headers=headers)).text()
    token = re.search(r'name="csrf" value="([^"]+)"', page)
    assert token
    form = {"username": username, "password": password, "csrf": token.group(1)}
    if next_ is not None:
        form["next"] = next_
    return await c.post("/login", data=form, headers=headers, allow_redirects=False)


# -- next= -------------------------------------------------------------------------------------

HOSTILE_NEXT = ["/\t/evil.example/", "/%09/evil.example/", "//evil.example", "/\\evil.example", "\\\\evil.example",
                "https://evil.example/", "http:/evil.example", "/%2F%2Fevil.example", "/%2f/evil.example",
                "/%5Cevil.example", "/\n/evil.example", "/\r\n/evil.example", " //evil.example", "/ /evil.example",
                "javascript:alert(1)", "/\\/evil.example", "///evil.example", "/\x00/evil.example",
                "/\u3000/evil.example", "evil.example"]


def lands_on(base: str, location: str) -> str:
    """Where a browser goes for this Location: it strips tabs and newlines, reads \\ as /."""
    cleaned = re.sub(r"[\t\n\r]", "", location).replace("\\", "/").strip()
    return urlsplit(urljoin(base + "/login", cleaned)).netloc


async def test_next_accepts_only_paths_on_this_site(app: App) -> None:
    base = str(app.client.server.make_url("")).rstrip("/")
    ours = urlsplit(base).netloc
    c = browser(app)
    try:
        # the reported one, as it came in the address bar: %09 decodes to a tab
        page = await (await c.get("/login?next=/%09/evil.example/")).text()
        assert 'name="next" value=""' in page or 'name="next"' not in page
        for value in [*HOSTILE_NEXT, "/%09/evil.example/", "/%0a/evil", "/%5C/evil.example"]:
            # the login page does not carry it into its form...
            page = await (await c.get(f"/login?next={quote(value, safe='')}")).text()
            field = re.search(r'name="next" value="([^"]*)"', page)
            assert field is None or field.group(1) == "", (value, field and field.group(1))
            # ...and a form that posts it anyway lands at home
            r = await login_form(c, "op1", PASSWORD, next_=value)
            assert r.status == 302, value
            assert r.headers["Location"] == "/desktop", (value, r.headers["Location"])
            assert lands_on(base, r.headers["Location"]) == ours
        r = await login_form(c, "op1", PASSWORD, next_="/cases/u1?tab=history")
        assert r.headers["Location"] == "/cases/u1?tab=history"
        # the redirect to the login page carries the page asked for, encoded
        anon = browser(app)
        r = await anon.get("/cases/u1?a=1&b=2", allow_redirects=False)
        sent_to = urlsplit(r.headers["Location"])
        assert sent_to.path == "/login" and parse_qs(sent_to.query)["next"] == ["/cases/u1?a=1&b=2"]
        await anon.close()
    finally:
        await c.close()


# -- the login throttle -------------------------------------------------------------------------

async def auth_log(app: App) -> list[tuple[str, str, str]]:
    return await app.store.db.run(lambda db: [(r["username"], r["remote"], r["outcome"]) for r in db["auth_log"].rows])


async def test_hammering_a_user_from_one_address_does_not_lock_them_out_elsewhere(proxied: App) -> None:
    app = proxied
    c = browser(app)
    try:
        for _ in range(3):  # App's throttle: 3 free failures per user+address
            r = await login_form(c, "op1", "wrong password", via=A)
            assert "error=failed" in r.headers["Location"]
        r = await login_form(c, "op1", PASSWORD, via=A)
        assert r.status == 429 and int(r.headers["Retry-After"]) > 0
        assert (await r.json())["error"] == "throttled"
        # a person at the login form gets the form again, saying how long to wait (not a JSON page)
        r = await login_form(c, "op1", PASSWORD, via=A, accept="text/html,application/xhtml+xml")
        page = await r.text()
        assert r.status == 429 and 'id="login-error"' in page and "please wait" in page and 'name="csrf"' in page
        # the real op1, at another desk: in at once
        async with browser(app) as desk:
            r = await login_form(desk, "op1", PASSWORD, via=B)
            assert (r.status, r.headers["Location"]) == (302, "/desktop")
        # another user at the attacker's address (the same NAT): not locked out either
        async with browser(app) as colleague:
            r = await login_form(colleague, "op2", PASSWORD, via=A)
            assert (r.status, r.headers["Location"]) == (302, "/desktop")
        # every attempt logged, with the client's address from the trusted proxy's X-Forwarded-For
        assert await auth_log(app) == ([("op1", A, "failed")] * 3 + [("op1", A, "throttled")] * 2
                                       + [("op1", B, "ok"), ("op2", A, "ok")])
    finally:
        await c.close()


async def test_an_address_spraying_many_names_is_limited(tmp_path: Path) -> None:
    app = await started(tmp_path, LoginThrottle(max_failures=3, address_limit=8), trusted_proxies=("127.0.0.1",))
    c = browser(app)
    try:
        for i in range(8):
            r = await login_form(c, f"guess{i}", "wrong password", via=C)
            assert "error=failed" in r.headers["Location"]
        r = await login_form(c, "op1", PASSWORD, via=C)
        assert r.status == 429, "the spraying address is blocked, whatever name it tries"
        r = await login_form(c, "op1", PASSWORD, via=D)
        assert r.headers["Location"] == "/desktop"
    finally:
        await c.close()
        await app.close()


def counting_verify(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every password verification the service runs (the argon2 work an attacker makes it do)."""
    calls: list[str] = []
    real = passwords.verify

    def verify(password_hash: str, password: str) -> bool:
        calls.append(password)
        return real(password_hash, password)
    monkeypatch.setattr(passwords, "verify", verify)
    return calls


async def concurrent_logins(c: aiohttp.ClientSession, attempts: list[tuple[str, str, str]]) -> list[int]:
    """POST /login for each (user, password, X-Forwarded-For) at once, with one login page's token."""
    page = await (await c.get("/login")).text()
    token = re.search(r'name="csrf" value="([^"]+)"', page)
    assert token

    async def one(username: str, password: str, via: str) -> int:
        async with c.post("/login", data={"username": username, "password": password, "csrf": token.group(1)},
                          headers={"X-Forwarded-For": via}, allow_redirects=False) as r:
            return r.status
    return list(await asyncio.gather(*(one(*a) for a in attempts)))


async def test_concurrent_wrong_passwords_are_counted_before_hashing(proxied: App,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    calls = counting_verify(monkeypatch)
    async with browser(proxied) as c:
        statuses = await concurrent_logins(c, [("op1", f"wrong password {i}", A) for i in range(40)])
    assert len(calls) <= proxied.throttle.max_failures, f"{len(calls)} of 40 verified at once"
    assert statuses.count(429) >= 40 - proxied.throttle.max_failures
    assert proxied.throttle.in_flight() == 0


async def test_a_real_user_logs_in_promptly_during_a_login_flood(proxied: App,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    calls = counting_verify(monkeypatch)
    async with browser(proxied) as quiet:  # the same login with no flood, on this machine now
        started = asyncio.get_running_loop().time()
        await login_form(quiet, "op1", PASSWORD, via=B)
        alone = asyncio.get_running_loop().time() - started
    calls.clear()
    async with browser(proxied) as flooder, browser(proxied) as real:
        flood = asyncio.create_task(concurrent_logins(
            flooder, [(f"guess{i}", "wrong password", A) for i in range(300)]))
        await asyncio.sleep(0.05)
        started = asyncio.get_running_loop().time()
        r = await login_form(real, "op1", PASSWORD, via=B)
        took = asyncio.get_running_loop().time() - started
        statuses = await flood
    assert (r.status, r.headers["Location"]) == (302, "/desktop")
    print(f"real login during the flood: {took:.2f} s (alone: {alone:.2f} s)")
    # a few hashing slots' worth of waiting at most; the alone figure scales it to a loaded machine
    assert took < max(3.0, 12 * alone), f"the real login took {took:.2f} s during the flood ({alone:.2f} s alone)"
    assert statuses.count(429) >= 250 and 500 not in statuses
    assert len(calls) < 60, f"{len(calls)} verifications for one address's 300 attempts"


async def test_no_free_hashing_slot_is_a_quick_503(proxied: App, monkeypatch: pytest.MonkeyPatch) -> None:
    from hotline.web import login as web_module

    monkeypatch.setattr(web_module, "HASH_WAIT", 0.2)
    gate = asyncio.Event()
    real_auth = proxied.users.authenticate

    async def slow(username: str, password: str) -> Any:
        await gate.wait()
        return await real_auth(username, password)
    monkeypatch.setattr(proxied.users, "authenticate", slow)
    async with browser(proxied) as c:  # a distributed flood: each address within its limits
        flood = asyncio.create_task(concurrent_logins(
            c, [("op2", "wrong password", f"192.0.2.{i}") for i in range(web_module.HASH_SLOTS)]))
        await asyncio.sleep(0.3)
        r = await login_form(c, "op1", PASSWORD, via=B)
        assert r.status == 503 and r.headers["Retry-After"] and (await r.json())["error"] == "busy"
        gate.set()
        assert set(await flood) == {302}
        r = await login_form(c, "op1", PASSWORD, via=B)
        assert r.headers["Location"] == "/desktop"


async def test_audit_rows_name_the_client_behind_the_proxy(proxied: App) -> None:
    op1, _ = await session(proxied, "op1")
    boss, _ = await session(proxied, "boss")
    try:
        via = {"X-Forwarded-For": A}
        assert (await boss.get("/api/cases?limit=5", headers=via)).status == 200  # audited: case_list
        assert (await op1.get("/api/cases?limit=5", headers=via)).status == 403  # audited: refused
    finally:
        await op1.close()
        await boss.close()
    rows = [r for r in await proxied.graph.audits.audit_log(50)]
    assert {r["action"] for r in rows} >= {"case_list", "refused"}, rows
    assert {json.loads(r["detail"])["remote"] for r in rows} == {A}, "the client, not the proxy (127.0.0.1)"


async def test_x_forwarded_for_is_ignored_from_an_untrusted_peer(app: App) -> None:
    c = browser(app)
    try:
        for i in range(3):  # a new "address" each time: the header is not believed
            await login_form(c, "op1", "wrong password", via=f"198.51.100.{i}")
        r = await login_form(c, "op1", PASSWORD, via="198.51.100.99")
        assert r.status == 429
        assert {remote for _, remote, _ in await auth_log(app)} == {"127.0.0.1"}
    finally:
        await c.close()


def test_the_client_address_behind_trusted_proxies() -> None:
    from aiohttp.test_utils import make_mocked_request

    from hotline.web.security import Proxies

    proxies = Proxies(["127.0.0.1", "10.0.0.0/8"])

    def client(peer: str, xff: str | None) -> str:
        request = make_mocked_request("GET", "/", headers={"X-Forwarded-For": xff} if xff else {})
        request = request.clone(remote=peer)
        return proxies.client(request)
    assert client("127.0.0.1", A) == A
    assert client("127.0.0.1", f"{B}, {A}") == A, "the right-most hop the trusted proxy saw, not what the client wrote"
    assert client("127.0.0.1", f"{A}, 10.1.2.3") == A, "a chain of trusted proxies is skipped"
    assert client("127.0.0.1", f"{A}:5678") == A and client("127.0.0.1", "[2001:db8::1]:443") == "2001:db8::1"
    assert client("127.0.0.1", "not-an-ip") == "127.0.0.1"
    assert client("127.0.0.1", None) == "127.0.0.1"
    assert client(B, A) == B, "from an untrusted peer the header is ignored"


def test_the_throttle_backs_off_per_pair_and_only_slows_a_name_under_a_spread_guess() -> None:
    now = [1000.0]
    t = LoginThrottle(max_failures=2, delay=10, max_delay=60, window=900, user_free=4, user_delay=2,
                      clock=lambda: now[0])
    assert not t.failed("op1", A) and t.retry_after("op1", A) == 0
    assert t.failed("op1", A) and t.retry_after("op1", A) == 10
    now[0] += 11
    assert t.failed("op1", A) and t.retry_after("op1", A) == 20  # doubles
    t.failed("op1", A)
    t.failed("op1", A)
    assert t.retry_after("op1", A) == 60  # capped
    assert t.retry_after("op1", B) == 0 and t.retry_after("op2", A) == 0
    assert t.slowdown("op1") == 2, "five failures of one name: answered late, never locked"
    assert t.slowdown("op2") == 0
    t.succeeded("op1", A)
    assert t.retry_after("op1", A) == 0
    now[0] += 901
    assert t.slowdown("op1") == 0, "the window slid past"


def test_a_name_spray_neither_grows_the_throttle_nor_resets_the_sprayers_counters() -> None:
    t = LoginThrottle(max_failures=3, address_limit=1500, max_keys=1000)
    for _ in range(3):
        t.failed("op1", B)
    assert t.retry_after("op1", B) > 0
    for i in range(1499):  # 3,000 keys' worth of names from A: past max_keys
        assert not t.failed(f"name{i}", A), i
    assert len(t._failures) <= 1000 and len(t._until) <= 1000
    assert t.retry_after("op1", B) > 0, "the spray did not unlock another pair"
    assert t.failed("name-last", A) and t.retry_after("anyone", A) > 0, "A's own count was kept: blocked at 1,500"


def test_ipv6_addresses_count_per_64() -> None:
    t = LoginThrottle(max_failures=3)
    for host in ("2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff::3"):  # one /64, three "addresses"
        t.failed("op1", host)
    assert t.retry_after("op1", "2001:db8:1:2::9") > 0
    assert t.retry_after("op1", "2001:db8:1:3::1") == 0, "another /64 is another address"
    assert t.begin("op1", "2001:db8:1:3::1") == 0
    t.end("op1", "2001:db8:1:3::1")
    t.failed("op2", "::ffff:192.0.2.1")
    assert t._pair("op2", "::ffff:192.0.2.1") == t._pair("op2", "192.0.2.1")


# -- Origin -----------------------------------------------------------------------------------

async def test_a_foreign_host_with_a_matching_origin_is_refused(app: App) -> None:
    op1, csrf = await session(app, "op1")
    try:
        evil = {"Host": "evil.example", "Origin": "http://evil.example"}
        r = await op1.post("/api/desktop/state", json={"action": "ready"}, headers={"X-CSRF-Token": csrf, **evil})
        assert (r.status, (await r.json())["error"]) == (403, "bad-origin")
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await op1.ws_connect("/ws/desktop", headers=evil)
        assert refused.value.status == 403
        assert app.pbx.calls == []
    finally:
        await op1.close()


async def test_only_the_configured_origins_are_accepted(tmp_path: Path) -> None:
    app = await started(tmp_path, origin="https://hotline.example.gov", origins=("https://desk.example.gov",))
    op1, csrf = await session(app, "op1")
    own = str(app.client.server.make_url("")).rstrip("/")
    try:
        for origin in ("https://hotline.example.gov", "https://desk.example.gov"):
            ws = await op1.ws_connect("/ws/desktop", headers={"Origin": origin})
            assert (await ws.receive_json(timeout=5))["type"] == "snapshot"
            await ws.close()
        for origin in (own, "https://hotline.example.gov.evil.example", "null", "http://hotline.example.gov"):
            with pytest.raises(aiohttp.WSServerHandshakeError):
                await op1.ws_connect("/ws/desktop", headers={"Origin": origin})
            r = await op1.post("/api/desktop/state", json={"action": "ready"},
                               headers={"X-CSRF-Token": csrf, "Origin": origin})
            assert r.status == 403, origin
    finally:
        await op1.close()
        await app.close()


async def test_one_enabled_operator_user_per_extension(app: App) -> None:
    """Cases and screen pops are keyed by extension: a second operator user on 1001 would see op1's."""
    with pytest.raises(UserError) as taken:
        await app.users.add("intruder", "operator", PASSWORD, extension="1001", settings=app.settings)
    assert taken.value.error_id == "extension-taken" and taken.value.status == 409
    assert await app.users.get("intruder") is None
    await app.users.set_disabled("op1", True)  # op1 leaves: the extension is free for a successor
    await app.users.add("successor", "operator", PASSWORD, extension="1001", settings=app.settings)
    with pytest.raises(UserError) as again:  # and op1 cannot come back onto it while the successor holds it
        await app.users.set_disabled("op1", False)
    assert again.value.error_id == "extension-taken"
    assert (await app.users.get("op1"))["disabled"]  # type: ignore[index]


async def closed_for_session(ws: aiohttp.ClientWebSocketResponse, timeout: float = 3.0) -> bool:
    """The socket is closed with 4001 (session ended) and received no other message first."""
    msg = await ws.receive(timeout=timeout)
    return msg.type == aiohttp.WSMsgType.CLOSE and msg.data == SESSION_ENDED


async def test_an_ended_session_closes_its_sockets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sockets, "SESSION_RECHECK", 0.2)  # the periodic check, for the CLI's disable
    app = await started(tmp_path, single_session=True)
    origin = {"Origin": str(app.client.server.make_url("")).rstrip("/")}
    clients: list[aiohttp.ClientSession] = []

    async def desktop() -> tuple[aiohttp.ClientWebSocketResponse, str]:
        c, csrf = await session(app, "op1")
        clients.append(c)
        ws = await c.ws_connect("/ws/desktop", headers=origin)
        assert (await ws.receive_json(timeout=5))["type"] == "snapshot"
        return ws, csrf
    try:
        first, _ = await desktop()
        second, csrf2 = await desktop()  # single_session: the first session ends, and its socket
        assert await closed_for_session(first, 1.0)
        assert app.hub.to_extension("1001", message("resync")) == 1  # only the second page gets screen pops
        assert (await second.receive_json(timeout=2))["type"] == "resync"
        r = await clients[1].post("/logout", data={"csrf": csrf2}, headers=origin, allow_redirects=False)
        assert r.status == 302
        assert await closed_for_session(second, 1.0)
        assert app.hub.to_extension("1001", message("resync")) == 0
        third, _ = await desktop()
        await app.users.set_disabled("op1", True)  # as `hotline users disable` does, from another process
        assert await closed_for_session(third, 3.0)
        assert app.hub.to_extension("1001", message("resync")) == 0
        assert app.hub.extensions() == set()
    finally:
        for c in clients:
            await c.close()
        await app.close()


async def test_a_failing_first_snapshot_closes_the_socket_cleanly(app: App, monkeypatch: pytest.MonkeyPatch,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    async def broken(p: Any) -> Any:
        raise RuntimeError("the roster is gone")
    monkeypatch.setattr(app.desktop, "snapshot", broken)
    c, _ = await session(app, "op1")
    try:
        ws = await c.ws_connect("/ws/desktop", headers={"Origin": str(app.client.server.make_url("")).rstrip("/")})
        reply = await ws.receive_json(timeout=5)
        assert reply["type"] == "error" and "could not load" in reply["message"]
        msg = await ws.receive(timeout=5)
        assert (msg.type, msg.data) == (aiohttp.WSMsgType.CLOSE, 1011)
        assert "first snapshot failed" in caplog.text and "user=op1" in caplog.text
        assert "internal error" not in caplog.text  # the error middleware never tried a 500 on the socket
        assert app.hub.extensions() == set()
        assert (await c.get("/api/me")).status == 200  # the service carries on
    finally:
        await c.close()


# -- passwords and user names -----------------------------------------------------------------

WEAK = {"short1!": "at least 10", "password123": "too easy to guess", "Summer2024!": "too easy to guess",
        "qwertyuiop": "too easy to guess", "aaaaaaaaaaaa": "too easy to guess",
        "1234567890": "too easy to guess", "zhangwei-2026-ok": "user name", "ZhangWei1234567": "user name",
        "x" * 1025: "at most 1024"}


async def test_weak_passwords_and_bad_user_names_are_refused(app: App) -> None:
    for password, reason in WEAK.items():
        with pytest.raises(passwords.WeakPassword, match=reason):
            await app.users.add("zhangwei", "supervisor", password, name="Zhang Wei")
    assert await app.users.get("zhangwei") is None
    for name in ("a", "1abc", "bad name", "x" * 33, "ü-user", "op1;drop", "", "-lead"):
        with pytest.raises(UserError) as bad:
            await app.users.add(name, "supervisor", PASSWORD)
        assert bad.value.error_id == "username-invalid", name
    for name in ("OP1", " op1 ", "Op1"):  # the same name, whatever the case
        with pytest.raises(UserError) as clash:
            await app.users.add(name, "supervisor", PASSWORD)
        assert clash.value.error_id == "user-exists"
    await app.users.add("Zhang.Wei", "supervisor", "lantern orchid gravel 7")
    assert (await app.users.get("zhang.wei"))["role"] == "supervisor"  # type: ignore[index]
    with pytest.raises(passwords.WeakPassword):
        await app.users.set_password("zhang.wei", "zhang.wei-password")
    c = browser(app)
    try:  # logs in whatever the case typed
        r = await login_form(c, "ZHANG.WEI", "lantern orchid gravel 7")
        assert r.headers["Location"] == "/wallboard"
    finally:
        await c.close()


def test_the_cli_refuses_a_weak_password_and_a_bad_name(tmp_path: Path) -> None:
    env = {**os.environ, "HOTLINE_DATABASE": str(tmp_path / "cli.db"), "HOTLINE_STATE_DIR": str(tmp_path)}

    def cli(*args: str, password: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "hotline.cli", "--site", str(ROOT / "etc/site.example.toml"),
                               "users", *args, "--password-stdin"], check=False, input=password + "\n",
                              capture_output=True, text=True, env=env, timeout=60)
    weak = cli("add", "lead", "--role", "supervisor", password="password123")
    assert weak.returncode == 1 and "too easy to guess" in weak.stderr, weak.stderr
    bad = cli("add", "Bad Name", "--role", "supervisor", password="lantern orchid gravel 7")
    assert bad.returncode == 1 and "user name" in bad.stderr, bad.stderr
    ok = cli("add", "Lead", "--role", "supervisor", password="lantern orchid gravel 7")
    assert ok.returncode == 0, ok.stderr
    again = cli("add", "LEAD", "--role", "supervisor", password="lantern orchid gravel 7")
    assert again.returncode == 1 and "exists" in again.stderr
    assert cli("passwd", "lead", password="lead-lead-lead-1").returncode == 1


# -- sessions and cookies -----------------------------------------------------------------------

async def test_single_session_ends_the_other_sessions(tmp_path: Path) -> None:
    for single in (True, False):
        app = await started(tmp_path / str(single), single_session=single)
        try:
            first, _ = await session(app, "op1")
            second, _ = await session(app, "op1")
            assert (await second.get("/api/desktop/snapshot")).status == 200
            assert (await first.get("/api/desktop/snapshot")).status == (401 if single else 200)
            await first.close()
            await second.close()
        finally:
            await app.close()


def cookie_flags(r: aiohttp.ClientResponse, name: str) -> str:
    return next(v for v in r.headers.getall("Set-Cookie") if v.startswith(name + "="))


async def test_cookies_are_secure_over_tls_directly_or_through_a_trusted_proxy(tmp_path: Path) -> None:
    # through a proxy: X-Forwarded-Proto believed from a trusted one only
    for trusted in ((), ("127.0.0.1",)):
        app = await started(tmp_path / str(len(trusted)), trusted_proxies=trusted)
        c = browser(app)
        try:
            r = await c.get("/login", headers={"X-Forwarded-Proto": "https"})
            assert ("Secure" in cookie_flags(r, "hl_login_csrf")) == bool(trusted)
        finally:
            await c.close()
            await app.close()
    # TLS to the service itself (a real certificate made with openssl)
    key, cert = tmp_path / "k.pem", tmp_path / "c.pem"
    made = await asyncio.create_subprocess_exec(
        "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert), "-days",
        "1", "-subj", "/CN=127.0.0.1", stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    assert await made.wait() == 0
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    app = App(tmp_path / "tls")
    await app.start()  # builds the app; serve it again over TLS
    server = TestServer(app.client.server.app)
    await server.start_server(ssl=ctx)
    tls: TestClient[Any, Any] = TestClient(server)
    try:
        base = str(tls.server.make_url("")).rstrip("/")
        assert base.startswith("https://")
        async with aiohttp.ClientSession(base_url=base, cookie_jar=aiohttp.CookieJar(unsafe=True),
                                         connector=aiohttp.TCPConnector(ssl=False)) as c:
            r = await c.get("/login")
            assert "Secure" in cookie_flags(r, "hl_login_csrf")
            token = re.search(r'name="csrf" value="([^"]+)"', await r.text())
            assert token
            r = await c.post("/login", data={"username": "op1", "password": PASSWORD, "csrf": token.group(1)},
                             allow_redirects=False)
            assert "Secure" in cookie_flags(r, "hl_session") and "HttpOnly" in cookie_flags(r, "hl_session")
        # plain HTTP: no Secure (a browser would drop such a cookie on http://)
        async with browser(app) as plain:
            r = await plain.get("/login")
            assert "Secure" not in cookie_flags(r, "hl_login_csrf")
    finally:
        await tls.close()
        await app.close()


async def test_no_server_banner_and_the_security_headers_everywhere(app: App) -> None:
    op1, csrf = await session(app, "op1")
    base = str(app.client.server.make_url("")).rstrip("/")
    try:
        answers = [await op1.get(p, allow_redirects=False) for p in
                   ("/login", "/desktop", "/api/desktop/snapshot", "/api/nothing", "/api/agents", "/static/page.js",
                    "/favicon.ico")]
        answers.append(await op1.post("/api/desktop/state", data=b"{", headers={"Content-Type": "application/json",
                                                                                "X-CSRF-Token": csrf}))
        async with browser(app) as anon:
            answers.append(await anon.get("/wallboard", allow_redirects=False))  # a redirect to log in
            answers.append(await anon.get("/api/agents"))  # 401
        ws = await op1.ws_connect("/ws/desktop", headers={"Origin": base})
        answers.append(ws._response)
        await ws.close()
        for r in answers:
            banner = r.headers.get("Server", "")
            assert not re.search(r"aiohttp|python|\d", banner, re.I), (r.url, banner)
            # and the security headers on every kind of answer: pages, errors, files, redirects, the socket
            assert "frame-ancestors 'none'" in r.headers.get("Content-Security-Policy", ""), r.url
            assert r.headers.get("X-Content-Type-Options") == "nosniff", r.url
        assert {r.status for r in answers} >= {101, 200, 204, 302, 400, 401, 403, 404}
    finally:
        await op1.close()
