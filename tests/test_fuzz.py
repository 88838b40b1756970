"""The web boundary under malformed input (issue 14): every state-changing route the app's router
knows, and every GET route's query, gets a corpus of hostile requests as each role that may call
it (logged in, with a valid CSRF token); every WebSocket gets every message type with hostile
payloads. Nothing may answer 5xx, every 4xx carries a JSON ``error`` id, a socket stays open and
answers with an error, and nothing is logged as an error (no traceback). The routes are read from
the router, so a new route is fuzzed without anyone adding it here."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import re
import time
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestClient, TestServer, unused_port

from hotline import config
from hotline.bus import Bus
from hotline.cases.store import CaseStore
from hotline.graph import build_services
from hotline.web.app import build_app
from hotline.web.hub import BOARD_CLIENT_TYPES, CLIENT_TYPES, SCHEMA
from hotline.web.security import COOKIE

SITE = Path(__file__).resolve().parents[1] / "etc/site.example.toml"
PASSWORD = "correct horse battery"
TOKEN = "fuzz-service-token"
USERS = (("root", "admin", "", ""), ("boss", "supervisor", "1901", ""), ("op1", "operator", "1001", ""),
         ("park", "interpreter", "3001", ""), ("housing", "department", "", "housing_bureau"))


class AnyPbx:
    """Every PBX action any service may ask for: recorded, always succeeds."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def __getattr__(self, name: str) -> Any:
        async def action(*a: Any, **kw: Any) -> None:
            self.calls.append((name, *a))
        return action


class Site:
    """The whole web app with every optional service wired, as runtime.Hotline builds it."""

    def __init__(self, tmp_path: Path) -> None:
        data = tomllib.loads(SITE.read_text())
        data["interpreters"] = [{"extension": "3001", "name": "Park", "languages": {"ko": 5, "zh": 4}}]
        self.port = unused_port()
        data.setdefault("http", {})["port"] = self.port
        s = self.settings = config.parse(data, SITE.parent, {})
        self.store = CaseStore(tmp_path / "c.db")
        self.pbx = AnyPbx()
        self.graph = build_services(s, self.store, self.pbx, Bus())  # type: ignore[arg-type]
        self.users = self.graph.users
        self.sessions: dict[str, tuple[aiohttp.ClientSession, str]] = {}

    async def start(self) -> None:
        await self.store.open()
        for name, role, ext, dept in USERS:
            await self.users.add(name, role, PASSWORD, extension=ext, settings=self.settings, department=dept)
        self.graph.start(clocks=False)
        self.app = build_app(self.graph.web(TOKEN))
        self.client: TestClient[Any, Any] = TestClient(TestServer(self.app, port=self.port))
        await self.client.start_server()
        self.base = str(self.client.server.make_url("")).rstrip("/")
        now = time.time()
        await self.store.create({"uniqueid": "u1", "caller_number": "13900001234", "language": "zh",
                                 "topic": "housing", "ivr_path": "", "queue": "hl-zh-housing", "queued_at": now,
                                 "state": "ended", "source": "manual", "operator": "1001"})
        for name, *_ in USERS:
            await self.login(name)

    async def login(self, username: str) -> tuple[aiohttp.ClientSession, str]:
        """A browser with a fresh session of ``username`` (opened directly: no argon2 per login)."""
        old = self.sessions.pop(username, None)
        if old is not None:
            await old[0].close()
        token, csrf = await self.users.open_session(username, "127.0.0.1")
        c = aiohttp.ClientSession(base_url=self.base, cookie_jar=aiohttp.CookieJar(unsafe=True))
        c.cookie_jar.update_cookies({COOKIE: token}, self.client.server.make_url("/"))
        self.sessions[username] = (c, csrf)
        return c, csrf

    async def close(self) -> None:
        for c, _ in self.sessions.values():
            await c.close()
        await self.client.close()
        await self.graph.stop()
        await self.store.close()


@pytest.fixture
async def site(tmp_path: Path) -> Any:
    s = Site(tmp_path)
    await s.start()
    yield s
    await s.close()


# -- the corpus --------------------------------------------------------------------------------

DEEP = 5000
FIELDS = ("reason", "department", "note", "text", "summary", "bundle", "days", "approve", "action", "language",
          "operator", "outcome", "caller_number", "category", "district", "address", "description", "urgency",
          "citizen_name", "confidential", "notes", "queues", "fields", "uniqueid", "csrf", "username", "password",
          "next", "1001", "hl-all")
WRONG = (None, True, 1.5, -1, 0, 10**15, [], {}, [1, "a"], {"a": {"b": 1}}, "", "x" * 5000, "\u202e\u0000",
         "<script>alert(1)</script>", "../../etc/passwd", "'; drop table cases; --")
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


def bodies() -> list[tuple[str, bytes, str]]:
    """(name, body, content type): malformed in every way the issue names, and then some."""
    out: list[tuple[str, bytes, str]] = [
        ("deep array", b"[" * DEEP + b"]" * DEEP, JSON),
        ("deep object", b'{"a":' * DEEP + b"1" + b"}" * DEEP, JSON),
        ("deep but parseable", b'{"reason":' + b"[" * 500 + b"]" * 500 + b"}", JSON),
        ("5000-digit integer", b'{"reason": ' + b"9" * 5000 + b', "days": ' + b"9" * 5000 + b"}", JSON),
        ("huge integer days", b'{"days": 99999999999999999999, "approve": true}', JSON),
        ("huge float", b'{"days": 1e308, "reason": 1e999}', JSON),
        ("Infinity", b'{"days": Infinity, "reason": -Infinity}', JSON),
        ("bogus charset", b'{"reason": "x", "department": "housing_bureau"}', JSON + "; charset=x-bogus"),
        ("latin-1 charset", b'{"reason": "caf\xe9"}', JSON + "; charset=latin-1"),
        ("lone surrogate", ('{' + ", ".join(f'"{k}": "\\ud800"' for k in FIELDS) + ', "\\udfff": 1}').encode(),
         JSON),
        ("surrogate in a list", b'{"queues": {"hl-all": "\\udc00"}, "fields": {"description": ["\\ud83d"]}}',
         JSON),
        ("invalid UTF-8", b'{"reason": "\xff\xfe\xc3\x28", "text": "\xed\xa0\x80"}', JSON),
        ("empty body", b"", JSON),
        ("whitespace body", b"   \n", JSON),
        ("not JSON", b"{not json", JSON),
        ("truncated", b'{"reason": "abc', JSON),
        ("null byte", b'{"reason": "a\x00b"}', JSON),
        ("form where JSON is expected", b"reason=x&department=housing_bureau&days=3", FORM),
        ("form with bogus charset", b"reason=x", FORM + "; charset=x-bogus"),
        ("multipart garbage", b"--xyz\r\nContent-Disposition: form-data\r\n\r\nbroken",
         "multipart/form-data; boundary=xyz"),
        ("multipart unterminated", b"--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n\xff",
         "multipart/form-data; boundary=b"),
        ("huge string", json.dumps({"reason": "x" * 300_000}).encode(), JSON),
        ("many keys", json.dumps({f"k{i}": i for i in range(5000)}).encode(), JSON),
        ("long category and department", json.dumps({
            "category": "c" * 101, "department": "d" * 101, "district": "Dongcheng" * 20, "urgency": "u" * 150,
            "description": "a real description", "address": "a" * 300, "citizen_name": "n" * 200}).encode(), JSON),
        ("plausible form", json.dumps({
            "category": "housing", "district": "Dongcheng", "description": "the lift is broken again",
            "urgency": "high", "department": "auto", "reason": "training", "days": 3, "approve": True,
            "text": "fixed", "summary": "done", "outcome": "reached", "language": "en", "operator": "1001",
            "queues": {"hl-all": 1}}).encode(), JSON),
        ("xml", b"<?xml version='1.0'?><a/>", "application/xml"),
        ("no content type", b'{"reason": "x"}', ""),
    ]
    for value in ("[]", '"text"', "1", "null", "true", "[" + "1," * 1000 + "1]"):
        out.append((f"non-object {value[:10]}", value.encode(), JSON))
    for i, wrong in enumerate(WRONG):
        out.append((f"wrong types {i}", json.dumps({k: wrong for k in FIELDS}).encode(), JSON))
    return out


HOSTILE_QUERIES = ("limit=" + "9" * 5000, "limit=-99999999999999999999999", "limit=abc", "offset=1e9",
                   "from=2026-13-45&to=x", "from=0001-01-01&to=9999-12-31", "q=%ED%A0%80", "q=%FF%FE",
                   "q=" + "%22" * 2000, "words=" + ",".join(["w"] * 500), "period=%00&by=%0A",
                   "kind=../../etc", "topic=" + "t" * 5000 + "&district=%ED%A0%80", "view=big&next=//evil.example",
                   "day=not-a-day", "limit=%F0%9F%92%A9")


PLAUSIBLE = {"uid": ("u1",), "ext": ("1001", "3001"), "id": ("1",)}  # the seeded case, an operator, an interpreter
HOSTILE = ("99999999999999999999999", "x" * 600, "%ED%A0%80", "%00", "%FF", "..", "a b", "<script>",
           "\u4e2d\u6587", "0", "me")


def group_values(name: str, regex: str) -> list[str]:
    """Values for a path parameter with this pattern: every alternative of a fixed set
    (login|pause|...), else the plausible values and two hostile ones the pattern lets through."""
    if re.fullmatch(r"[\w|]+", regex):
        return regex.split("|")
    plausible = [v for v in PLAUSIBLE.get(name, ("u1", "1001")) if re.fullmatch(regex, v)]
    hostile = [v for v in HOSTILE if re.fullmatch(regex, v) and v not in plausible]
    return plausible + hostile[:2] if len(hostile) < 3 else [*plausible, hostile[0], hostile[2]]


def paths(resource: web.AbstractResource) -> list[str]:
    info = resource.get_info()
    if "path" in info:
        return [info["path"]]
    pattern: re.Pattern[str] | None = info.get("pattern")
    formatter: str | None = info.get("formatter")
    if pattern is None or formatter is None:
        return []
    groups = dict(re.findall(r"\(\?P<(\w+)>(.*?)\)(?=/|$)", pattern.pattern))
    names = re.findall(r"{(\w+)}", formatter)
    choices = [group_values(n, groups.get(n, "[^{}/]+")) for n in names]
    return [formatter.format(**{n: quote(v, safe="%") for n, v in zip(names, combo, strict=True)})
            for combo in itertools.product(*choices)][:16]


def allowed_users(handler: Any) -> list[str]:
    inner = getattr(handler, "__wrapped__", handler)
    if getattr(inner, "public", False):
        return ["root"]
    roles: frozenset[str] = getattr(inner, "roles", frozenset())
    return [name for name, role, *_ in USERS if role in roles]


def check(seen: list[str], method: str, path: str, who: str, what: str, status: int, body: bytes,
          content_type: str) -> None:
    where = f"{who} {method} {path[:120]} [{what}] -> {status}"
    if status >= 500:
        seen.append(f"{where}: {body[:300]!r}")
    elif status >= 400:
        try:
            error = json.loads(body).get("error") if content_type == JSON else None
        except (ValueError, AttributeError):
            error = None
        if not isinstance(error, str) or not error:
            seen.append(f"{where}: no JSON error id: {body[:200]!r}")
    if b"Traceback" in body:
        seen.append(f"{where}: a traceback in the answer")


class ErrorLog(logging.Handler):
    """Every record at ERROR and above, and every one with a traceback attached."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR or record.exc_info:
            self.records.append(record)


@pytest.fixture
def errors_logged() -> Any:
    handler = ErrorLog()
    root = logging.getLogger()
    root.addHandler(handler)
    yield handler.records
    root.removeHandler(handler)


async def test_no_route_answers_5xx_to_malformed_input(site: Site, errors_logged: list[logging.LogRecord]) -> None:
    started = time.monotonic()
    corpus = bodies()
    routes = [r for r in site.app.router.routes() if r.method in ("POST", "PUT", "DELETE", "PATCH")]
    assert len(routes) >= 18, "the app with every service wired has all its state-changing routes"
    routes.sort(key=lambda r: r.resource.canonical == "/logout" if r.resource else False)  # logout last
    seen: list[str] = []
    sent = 0
    statuses: Counter[int] = Counter()

    async def send(who: str, method: str, path: str, what: str, body: bytes, ctype: str) -> None:
        nonlocal sent
        c, csrf = site.sessions[who]
        headers = {"X-CSRF-Token": csrf, "Origin": site.base}
        if ctype:
            headers["Content-Type"] = ctype
        async with c.request(method, path, data=body, headers=headers, allow_redirects=False) as r:
            answer = await r.read()
            check(seen, method, path, who, what, r.status, answer, r.content_type)
            statuses[r.status] += 1
            if r.status in (401, 403) and r.content_type == JSON and json.loads(answer)["error"] in (
                    "unauthorized", "csrf", "bad-origin"):
                seen.append(f"{who} {method} {path}: the fuzzing session was refused ({answer[:80]!r})")
            sent += 1

    for route in routes:
        assert route.resource is not None
        for i, who in enumerate(allowed_users(route.handler)):
            # the admin gets every path; each other role the plausible one (its own branches)
            for path in paths(route.resource)[:None if i == 0 else 1]:
                if path == "/logout":  # each request ends the session: one at a time, a new one each
                    for what, body, ctype in corpus:
                        await send(who, route.method, path, what, body, ctype)
                        await site.login(who)
                    continue
                await asyncio.gather(*(send(who, route.method, path, what, body, ctype)
                                       for what, body, ctype in corpus))
    # the login form itself, not logged in
    anon = aiohttp.ClientSession(base_url=site.base)
    try:
        for what, body, ctype in corpus:
            async with anon.post("/login", data=body, headers={"Content-Type": ctype} if ctype else {},
                                 allow_redirects=False) as r:
                check(seen, "POST", "/login", "anonymous", what, r.status, await r.read(), r.content_type)
                sent += 1
    finally:
        await anon.close()
    # every GET route with hostile queries
    gets = [r for r in site.app.router.routes() if r.method == "GET" and r.resource is not None
            and not r.resource.canonical.startswith(("/ws/", "/static"))]

    async def get(who: str, url: str) -> None:
        nonlocal sent
        async with site.sessions[who][0].get(url, allow_redirects=False) as r:
            if not r.content_type.startswith("audio/"):
                check(seen, "GET", url, who, "query", r.status, await r.read(), r.content_type)
            sent += 1

    for route in gets:
        assert route.resource is not None
        for who in allowed_users(route.handler)[:2]:
            await asyncio.gather(*(get(who, f"{path}?{query}") for path in paths(route.resource)[:2]
                                   for query in HOSTILE_QUERIES))
    assert not seen, f"{len(seen)} of {sent} malformed requests were mishandled:\n" + "\n".join(seen[:40])
    assert not errors_logged, "malformed input reached an unmapped error:\n" + "\n".join(
        f"{r.name}: {r.getMessage()}" for r in errors_logged[:10])
    assert sent > 4000, sent
    # the corpus reached the handlers: some requests were valid enough to work or to be refused
    # field by field, not all stopped at the door
    assert statuses[200] > 50 and statuses[422] > 20 and statuses[400] > 1000, statuses
    assert time.monotonic() - started < 60


# -- WebSockets --------------------------------------------------------------------------------

SENTINEL = "NaN"  # a message whose error ("NaN is not a JSON number") no hostile message below causes


def hostile_messages(types: frozenset[str]) -> list[tuple[str, str | bytes, bool]]:
    """(name, message, must be refused)."""
    out: list[tuple[str, str | bytes, bool]] = [
        ("deep array", "[" * DEEP + "]" * DEEP, True),
        ("deep object", '{"type":' * DEEP + '"ping"' + "}" * DEEP, True),
        ("huge integer", '{"type": "ping", "n": ' + "9" * 5000 + "}", True),
        ("lone surrogate", '{"type": "\\ud800"}', True),
        ("Infinity", '{"type": "ping", "at": Infinity}', True),
        ("not JSON", "{not json", True),
        ("empty", "", True),
        ("non-object", "[1, 2]", True),
        ("a string", '"ping"', True),
        ("null", "null", True),
        ("unknown type", '{"type": "drop-tables"}', True),
        ("type not text", '{"type": ["ping"]}', True),
        ("no type", '{"uniqueid": "u1"}', True),
        ("binary", b"\x00\xff\xfe binary", True),
        ("huge text", json.dumps({"type": "x" * 60_000}), True),
    ]
    for kind in sorted(types):
        for name, extra in (("surrogate", '"uniqueid": "\\ud800", "fields": {"description": "\\udfff"}'),
                            ("deep fields", '"fields": ' + "[" * 40 + "]" * 40),
                            ("wrong types", '"uniqueid": {"a": 1}, "fields": [1, 2], "at": "x"'),
                            ("fields not an object", '"uniqueid": "u1", "fields": "x"'),
                            ("unknown call", '"uniqueid": "nosuch", "fields": {"description": "x"}'),
                            ("big draft", '"uniqueid": "u1", "fields": {"notes": "' + "n" * 30_000 + '"}'),
                            ("valid", '"uniqueid": "u1", "fields": {}, "at": 1')):
            out.append((f"{kind} {name}", '{"type": "' + kind + '", ' + extra + "}", name != "valid"
                        and kind != "ping"))
    return out


SOCKETS = (("/ws/desktop", "op1", CLIENT_TYPES), ("/ws/wallboard", "boss", BOARD_CLIENT_TYPES),
           ("/ws/interpreter", "park", frozenset(SCHEMA["interpreter"]["client"])))


async def test_sockets_stay_open_and_answer_hostile_messages(site: Site,
                                                             errors_logged: list[logging.LogRecord]) -> None:
    seen: list[str] = []
    for path, who, types in SOCKETS:
        c, _ = site.sessions[who]
        ws = await c.ws_connect(path, headers={"Origin": site.base})
        try:
            first = await ws.receive_json(timeout=5)
            assert isinstance(first, dict) and "type" in first, (path, first)
            for name, message, refused in hostile_messages(types):
                if isinstance(message, bytes):
                    await ws.send_bytes(message)
                else:
                    await ws.send_str(message)
                await ws.send_str(SENTINEL)
                replies: list[dict[str, Any]] = []
                while True:
                    msg = await ws.receive(timeout=5)
                    if msg.type != WSMsgType.TEXT:
                        seen.append(f"{path} [{name}]: the socket ended ({msg.type.name} {msg.data!r})")
                        break
                    reply = json.loads(msg.data)
                    if "Traceback" in msg.data:
                        seen.append(f"{path} [{name}]: a traceback in the answer")
                    if reply.get("type") == "error" and reply.get("message") == "NaN is not a JSON number":
                        break
                    replies.append(reply)
                if ws.closed:
                    break
                errors = [r for r in replies if r.get("type") == "error"]
                if refused and not errors:
                    seen.append(f"{path} [{name}]: refused without an error message: {replies!r:.200}")
        finally:
            await ws.close()
    assert not seen, "\n".join(seen)
    assert not errors_logged, "a hostile message reached an unmapped error:\n" + "\n".join(
        f"{r.name}: {r.getMessage()}" for r in errors_logged[:10])


async def test_a_5000_level_message_does_not_end_the_desktop_socket(site: Site) -> None:
    c, _ = site.sessions["op1"]
    async with c.ws_connect("/ws/desktop", headers={"Origin": site.base}) as ws:
        await ws.receive_json(timeout=5)  # the snapshot
        await ws.send_str("[" * DEEP + "]" * DEEP)
        reply = await ws.receive_json(timeout=5)
        assert reply["type"] == "error" and "nested" in reply["message"]
        await ws.send_str('{"type": "ping"}')
        await ws.send_str('{"type": "nope"}')
        assert (await ws.receive_json(timeout=5))["type"] == "error"
        assert not ws.closed
    await asyncio.sleep(0)


# -- raw header bytes ----------------------------------------------------------------------------

async def raw_request(port: int, method: str, path: str, headers: list[tuple[str, bytes]],
                      body: bytes = b"") -> tuple[int, bytes, str]:
    """One request written byte for byte (aiohttp's client will not send a ``\\xff`` in a header):
    (status, body, content type)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        head = [f"{method} {path} HTTP/1.1".encode(), f"Host: 127.0.0.1:{port}".encode(), b"Connection: close",
                f"Content-Length: {len(body)}".encode()]
        head += [name.encode() + b": " + value for name, value in headers]
        writer.write(b"\r\n".join(head) + b"\r\n\r\n" + body)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    status_line, _, rest = answer.partition(b"\r\n")
    header_block, _, content = rest.partition(b"\r\n\r\n")
    ctype = ""
    for line in header_block.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-type":
            ctype = value.decode("latin-1").split(";")[0].strip()
    return int(status_line.split()[1]), content, ctype


BAD_BYTES = (b"\xff", b"\xc3\x28", b"ok\xed\xa0\x80", b"\x80" * 40)


async def test_non_ascii_header_and_cookie_bytes_never_answer_5xx(site: Site,
                                                                  errors_logged: list[logging.LogRecord]) -> None:
    _c, csrf = site.sessions["op1"]
    token, _ = await site.users.open_session("op1", "127.0.0.1")
    login_page = await site.client.session.get(site.base + "/login")
    login_csrf = login_page.cookies["hl_login_csrf"].value
    form = f"username=op1&password=x&csrf={login_csrf}".encode()
    seen: list[str] = []
    refused_400 = 0
    for bad in BAD_BYTES:
        cases: list[tuple[str, str, list[tuple[str, bytes]], bytes, int | None]] = [
            ("GET", "/api/me", [("Authorization", b"Bearer " + bad)], b"", 400),
            ("GET", "/api/me", [("Authorization", bad)], b"", 400),
            ("POST", "/api/desktop/state", [("Cookie", f"{COOKIE}={token}".encode()),
                                            ("X-CSRF-Token", csrf.encode() + bad), ("Origin", site.base.encode()),
                                            ("Content-Type", JSON.encode())], b'{"action":"ready"}', 400),
            ("GET", "/api/me", [("Cookie", COOKIE.encode() + b"=" + bad)], b"", 401),
            ("GET", "/desktop", [("Cookie", COOKIE.encode() + b"=" + token.encode() + bad)], b"", 302),
            ("GET", "/login", [("Cookie", b"hl_login_csrf=" + bad)], b"", 200),
            ("POST", "/login", [("Cookie", b"hl_login_csrf=" + login_csrf.encode() + bad),
                                ("Content-Type", FORM.encode())], form, 302),
            ("POST", "/login", [("Cookie", b"hl_login_csrf=" + bad), ("Content-Type", FORM.encode())],
             b"username=op1&password=x&csrf=" + quote(bad).encode(), 302),
            ("GET", "/api/me", [("Cookie", f"{COOKIE}={token}".encode()), ("X-Forwarded-For", bad),
                                     ("Origin", bad), ("Accept", bad)], b"", 200),
        ]
        for method, path, headers, body, expected in cases:
            status, answer, ctype = await raw_request(site.port, method, path, headers, body)
            what = f"{method} {path} {[(n, v[:60]) for n, v in headers]!r}"
            check(seen, method, path, "raw", what, status, answer, ctype)
            if expected is not None and status != expected:
                seen.append(f"{what} -> {status}, expected {expected}: {answer[:120]!r}")
            refused_400 += status == 400
    assert not seen, "\n".join(seen)
    assert refused_400 == 3 * len(BAD_BYTES)
    assert not errors_logged, "a header reached an unmapped error:\n" + "\n".join(
        f"{r.name}: {r.getMessage()}" for r in errors_logged[:10])
