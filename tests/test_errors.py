"""One error base (hotline/errors.py): every domain error names its id and HTTP status, the web
answers them in one shape, unknown routes are 404 and wrong methods 405 (for logged-in users;
anonymous callers still get 401 / the login page), and a defect is a 500 that says so, with an
incident id that is also in the log line with the traceback."""

from __future__ import annotations

import ast
import importlib
import logging
import re
from pathlib import Path
from typing import Any

import pytest
from test_api import AUTH, App, browser, session

from hotline.assist.kb import ArticleUnknown, KnowledgeError
from hotline.auth.passwords import WeakPassword
from hotline.auth.users import UserError
from hotline.cases.desk import FormInvalid
from hotline.cases.search import SearchError
from hotline.cases.store import StoreBusy, StoreError
from hotline.cases.workflow import WorkflowError
from hotline.cli.service_api import api_error as _api_error
from hotline.config import ConfigError
from hotline.errors import HotlineError
from hotline.floor.crisis import CrisisError
from hotline.floor.surge import SurgeError
from hotline.ivr.prompts import PromptError
from hotline.pbx.asterisk import AsteriskError
from hotline.pbx.guard import PbxError, UnsafeValue
from hotline.pbx.translate import MalformedAmi
from hotline.privileges import PrivilegeError
from hotline.queue.agents import AgentError
from hotline.recordings.archive import ArchiveError
from hotline.secrets import SecretsError, SecretsMissing
from hotline.storage.backup import BackupError
from hotline.transcribe.engine import ModelError
from hotline.web.boundary import BadInput
from hotline.web.login import Busy
from hotline.web.staffing import PlanError

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src/hotline"

# one instance of every domain error class, and the status the API must answer it with
EXAMPLES: list[tuple[HotlineError, int]] = [
    (AgentError("agent-unknown", "no operator 9999"), 404),
    (AgentError("agent-offline", "1002 is not logged in"), 409),
    (AgentError("forbidden", "not yours"), 403),
    (WorkflowError("conflict", "changed meanwhile"), 409),
    (WorkflowError("wrong-status", "closed"), 409),
    (WorkflowError("case-unknown", "no such case"), 404),
    (FormInvalid({"district": "the district is required"}), 422),
    (UserError("user-exists", "user 'op1' exists"), 409),
    (UserError("extension-taken", "1001 belongs to op1"), 409),
    (Busy("too many logins at once"), 503),
    (UserError("user-unknown", "no user 'x'"), 404),
    (UserError("role-unknown", "no such role"), 400),
    (WeakPassword("too short"), 400),
    (SearchError("period must be day or week"), 400),
    (KnowledgeError("nothing to search for"), 400),
    (CrisisError("no crisis alert 'u1:x' today", error_id="alert-unknown"), 404),
    (CrisisError("alert already dismissed by boss", error_id="alert-dismissed"), 409),
    (CrisisError("reason must be text", error_id="bad-request"), 400),
    (SurgeError("scope must be one of topic, district, everyone"), 400),
    (SurgeError("no surge message 7 on", error_id="surge-unknown"), 404),
    (SurgeError("the message's sound could not be made: espeak-ng failed", error_id="surge-audio"), 400),
    (ArticleUnknown("no article 7"), 404),
    (PlanError("date must be YYYY-MM-DD"), 400),
    (BadInput("not valid JSON"), 400),
    (BadInput("send UTF-8", "bad-charset", 415), 415),
    (UnsafeValue("reason", "holds U+000A"), 422),
    (PbxError("QueuePause failed"), 502),
    (MalformedAmi("QueueMember", "Paused", "is not 0 or 1"), 502),
    (StoreError("disk I/O error"), 503),
    (StoreBusy("case store c.db: database is locked"), 503),
    (ConfigError("http.port", "expected int"), 503),
    (SecretsError("secrets.json is not JSON"), 503),
    (SecretsMissing("secrets.json does not exist"), 503),
    (BackupError("the copy failed its integrity check"), 503),
    (PrivilegeError("no user asterisk"), 503),
    (AsteriskError("templates not found"), 503),
    (ModelError("model folder missing"), 503),
    (PromptError("espeak-ng failed"), 503),
    (ArchiveError("the copy did not verify", transient=True), 503),
]


@pytest.fixture
async def app(tmp_path: Path) -> Any:
    a = App(tmp_path)
    await a.start()
    yield a
    await a.close()


def exception_classes() -> dict[str, str]:
    """Every exception class defined in src/hotline: its qualified name -> module."""
    found: dict[str, str] = {}
    names: set[str] = {"Exception", "ValueError", "RuntimeError", "LookupError", "KeyError", "TypeError",
                       "OSError", "HotlineError"}
    trees = {p: ast.parse(p.read_text()) for p in SRC.rglob("*.py")}
    grew = True
    while grew:  # a class is an exception if a base is one (across modules, by name)
        grew = False
        for path, tree in trees.items():
            module = ".".join(("hotline", *path.relative_to(SRC).with_suffix("").parts))
            for node in tree.body:
                if isinstance(node, ast.ClassDef) and f"{module}.{node.name}" not in found and any(
                        isinstance(b, ast.Name) and b.id in names for b in node.bases):
                    found[f"{module}.{node.name}"] = module
                    names.add(node.name)
                    grew = True
    found.pop("hotline.errors.HotlineError")
    return found


def test_every_exception_of_the_hotline_is_a_hotline_error_with_its_own_status() -> None:
    classes = exception_classes()
    assert len(classes) >= 15, classes
    covered = {f"{type(e).__module__}.{type(e).__name__}" for e, _ in EXAMPLES}
    assert sorted(set(classes) - covered) == [], "a new error class: add it to EXAMPLES (and docs/api.md)"
    for qualified, module in classes.items():
        cls = getattr(importlib.import_module(module), qualified.rsplit(".", 1)[1])
        assert issubclass(cls, HotlineError), qualified
        owner = next(k for k in cls.__mro__ if "status" in k.__dict__)
        assert owner is not HotlineError, f"{qualified} does not say its HTTP status"
        own = [k for k in cls.__mro__ if issubclass(k, HotlineError) and k is not HotlineError]
        assert cls.statuses or any("error_id" in k.__dict__ for k in own), f"{qualified} has no error id"


def test_an_error_id_means_one_status_everywhere() -> None:
    seen: dict[str, set[int]] = {}
    for exc, status in EXAMPLES:
        seen.setdefault(exc.error_id, set()).add(status)
    for cls in (AgentError, WorkflowError, UserError):
        for error_id, status in cls.statuses.items():
            seen.setdefault(error_id, set()).add(status)
    assert {k: v for k, v in seen.items() if len(v) > 1} == {}


def test_an_id_raised_anywhere_has_its_status_in_the_table() -> None:
    """AgentError, WorkflowError and UserError carry one of several ids: each id raised in the code
    is in the class's ``statuses`` (an id missing there would silently take the class default)."""
    for cls in (AgentError, WorkflowError, UserError):
        raised = set()
        for path in SRC.rglob("*.py"):
            raised |= set(re.findall(rf'\b{cls.__name__}\(\s*"([a-z-]+)"', path.read_text()))
        assert raised and sorted(raised - set(cls.statuses)) == [], cls.__name__


async def test_each_domain_error_answers_with_its_status(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    answered = []
    for exc, status in EXAMPLES:
        def fail(exc: HotlineError = exc) -> Any:
            raise exc
        monkeypatch.setattr(app.roster, "snapshot", fail)  # GET /api/agents reads it first
        r = await app.client.get("/api/agents", headers=AUTH)
        body = await r.json()
        assert (r.status, body["error"], body["message"]) == (status, exc.error_id, str(exc)), type(exc)
        assert exc.status == status and all(body[k] == v for k, v in exc.details.items()), type(exc)
        answered.append(type(exc).__name__)
    assert len(answered) == len(EXAMPLES)


async def test_details_travel_but_cannot_replace_the_id() -> None:
    exc = UnsafeValue("reason", "holds U+000A", "pause")
    assert exc.as_json() == {"error": "unsafe-value", "field": "reason",
                             "message": "pause: reason holds U+000A; refused (nothing was sent to the PBX)"}
    sneaky = HotlineError("m", error_id="x", status=400, details={"error": "other", "message": "other"})
    assert sneaky.as_json() == {"error": "x", "message": "m"}
    assert ConfigError("http.port", "expected int").as_json()["key"] == "http.port"


async def test_unknown_routes_are_404_for_logged_in_users(app: App) -> None:
    op1, _ = await session(app, "op1")
    try:
        for path in ("/api/nothing", "/api/agents/1001/nothing/else", "/nothing", "/ws/nothing"):
            r = await op1.get(path, allow_redirects=False)
            assert r.status == 404, path
            assert (await r.json())["error"] == "not-found", path
        r = await app.client.get("/api/nothing", headers=AUTH)  # the CLI's token
        assert (r.status, (await r.json())["error"]) == (404, "not-found")
        # an existing route the operator's role may not use is still 403, not 404
        r = await op1.get("/api/agents")
        assert (r.status, (await r.json())["error"]) == (403, "forbidden")
    finally:
        await op1.close()


async def test_a_wrong_method_is_405_with_allow(app: App) -> None:
    op1, csrf = await session(app, "op1")
    try:
        r = await op1.get("/api/agents/1001/login")  # POST-only
        assert r.status == 405 and r.headers["Allow"] == "POST"
        body = await r.json()
        assert body["error"] == "method-not-allowed" and "POST" in body["message"]
        r = await op1.delete("/api/desktop/snapshot", headers={"X-CSRF-Token": csrf})
        assert r.status == 405 and set(r.headers["Allow"].split(",")) >= {"GET"}
        r = await app.client.put("/api/agents", headers=AUTH)
        assert (r.status, (await r.json())["error"]) == (405, "method-not-allowed")
    finally:
        await op1.close()


async def test_anonymous_callers_learn_nothing_of_the_route_table(app: App) -> None:
    """Anonymous: 401 on any /api or /ws path and the login page for any other, existing or not,
    with any method; so the answer does not tell which routes exist."""
    c = app.client
    for method, path in (("GET", "/api/nothing"), ("GET", "/api/agents"), ("GET", "/api/agents/1001/login"),
                         ("DELETE", "/api/agents"), ("GET", "/ws/nothing")):
        r = await c.request(method, path)
        assert (r.status, (await r.json())["error"]) == (401, "unauthorized"), (method, path)
    for path in ("/nothing", "/wallboard"):
        r = await c.get(path, allow_redirects=False)
        assert r.status == 302 and r.headers["Location"].startswith("/login"), path
    r = await c.get("/api/nothing", headers={"Authorization": "Bearer wrong"})
    assert r.status == 401
    # files are public: a missing one is a 404 (aiohttp's own, empty), logged in or not
    async with browser(app) as anon:
        r = await anon.get("/static/nothing.js", allow_redirects=False)
        assert r.status == 404


async def test_a_defect_is_a_500_that_says_so_with_the_id_in_the_log(app: App, monkeypatch: pytest.MonkeyPatch,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> Any:
        empty: dict[str, int] = {}
        return empty["missing"]  # a defect: a KeyError nobody maps
    monkeypatch.setattr(app.roster, "snapshot", broken)
    with caplog.at_level(logging.ERROR, logger="hotline.web.errors"):
        r = await app.client.get("/api/agents", headers=AUTH)
    body = await r.json()
    assert r.status == 500 and body["error"] == "internal"
    incident = body["incident"]
    assert re.fullmatch(r"[0-9a-f]{8}", incident)
    assert body["message"] == f"internal error; see the service log, error {incident}"
    logged = [rec for rec in caplog.records if incident in rec.getMessage()]
    assert len(logged) == 1 and "GET /api/agents" in logged[0].getMessage()
    assert logged[0].exc_info is not None and logged[0].exc_info[0] is KeyError  # the traceback
    assert "KeyError" not in await r.text()  # nothing of the defect in the answer


async def test_a_store_failure_while_checking_the_session_is_a_503_not_a_bare_500(
        app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    op1, _ = await session(app, "op1")
    try:
        async def down(token: str) -> Any:
            raise StoreError("case store c.db: database is locked")
        monkeypatch.setattr(app.users, "session", down)
        r = await op1.get("/api/desktop/snapshot")
        assert (r.status, (await r.json())["error"]) == (503, "store-error")
    finally:
        await op1.close()


def test_every_error_id_is_in_the_api_docs_with_its_status() -> None:
    text = (ROOT / "docs/api.md").read_text()
    documented = dict(re.findall(r"^\| `([a-z-]+)` \| (\d{3}) \|", text, re.M))
    expected = {e.error_id: str(status) for e, status in EXAMPLES}
    for cls in (AgentError, WorkflowError, UserError):
        expected |= {k: str(v) for k, v in cls.statuses.items()}
    expected |= {"not-found": "404", "method-not-allowed": "405", "too-large": "413", "internal": "500"}
    assert {k: documented.get(k) for k in expected} == expected


def test_the_cli_prints_the_id_status_and_message_of_an_api_error() -> None:
    body = b'{"error": "internal", "message": "internal error; see the service log, error ab12cd34"}'
    assert _api_error(500, "Internal Server Error", body) == \
        "internal (500): internal error; see the service log, error ab12cd34"
    assert _api_error(422, "Unprocessable Entity", b'{"error": "unsafe-value", "message": "reason holds U+000A"}') \
        == "unsafe-value (422): reason holds U+000A"
    # not the service's JSON (a proxy's page, an empty body): the status, not a traceback
    assert _api_error(502, "Bad Gateway", b"<html>bad gateway</html>") == "HTTP 502 Bad Gateway from the service"
    assert _api_error(404, "Not Found", b"") == "HTTP 404 Not Found from the service"
