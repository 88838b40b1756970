"""The web application: login and logout, the operator's desktop page, its WebSocket, the API.

Pages are Jinja2 templates (aiohttp-jinja2, autoescaped); the page's script is a static file
(the Content-Security-Policy allows no inline script). The WebSocket checks Origin before it
accepts, then the hub gives it a bounded queue and a sender of its own.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
import secrets as _random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web

from hotline import events as ev
from hotline.auth import passwords
from hotline.auth.throttle import LoginThrottle
from hotline.auth.users import Principal
from hotline.bus import Bus, consume
from hotline.cases.desk import CaseDesk
from hotline.cases.desk_store import DeskStore
from hotline.cases.store import CaseStore
from hotline.cases.workflow import Workflow
from hotline.config import Settings
from hotline.errors import HotlineError
from hotline.floor.desktop import DesktopService
from hotline.web import api, boundary, case_access, errors, interpreting, staffing
from hotline.web import case_routes as case_web
from hotline.web import floor_routes as manager_web
from hotline.web.hub import CLIENT_TYPES, Client, message
from hotline.web.security import (
    COOKIE,
    Proxies,
    build_middleware,
    principal_of,
    public,
    require,
    response_headers,
)
from hotline.web.services import WebServices
from hotline.web.sockets import serve_socket

log = logging.getLogger(__name__)


def _own_desk(app: web.Application, settings: Settings, store: CaseStore, workflow: Workflow | None,
              desktop: DesktopService) -> CaseDesk:
    """A case desk for an app built without one (the runtime passes its own, publishing on the
    hotline's bus): its CaseSaved reaches this desktop and its wrap-up through a bus of the app's
    own, pumped while the app runs."""
    bus: Bus[ev.Event] = Bus()
    subs = [(bus.subscribe("desktop"), desktop.handle), (bus.subscribe("wrapup"), desktop.wrapup.handle)]

    async def pumps(_app: web.Application) -> AsyncIterator[None]:
        tasks = [asyncio.create_task(consume(sub, handle), name=f"app-{sub.name}") for sub, handle in subs]
        yield
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    app.cleanup_ctx.append(pumps)
    return CaseDesk(settings, DeskStore(store), workflow, bus.publish)


HERE = Path(__file__).parent
LOGIN_CSRF = "hl_login_csrf"
# password checks at once (running on the hashing pool or waiting for it), and how long a login
# waits for one: a flood of logins is answered 503 instead of queueing minutes of argon2 work
HASH_SLOTS = 4 * passwords.HASH_WORKERS
HASH_WAIT = 2.0


class Busy(HotlineError):
    """No password-check slot was free in time (login answers it itself, with ``Retry-After``)."""

    error_id = "busy"
    status = 503


def same_origin_path(value: str) -> str | None:
    """``value`` when it is a path on this site (``/desktop?x=1``), else None. Browsers strip tabs
    and newlines and read ``\\`` as ``/``, so ``/\tevil``, ``/\\evil``, ``//evil``, ``/%09/evil`` (decoded or
    not), ``/%2F%2Fevil`` and any scheme are refused."""
    if not value.startswith("/") or len(value) > 2000 or not value.isascii():
        return None
    if re.search(r"[\x00-\x20\x7f\\]", value) or value.startswith("//"):
        return None
    if re.search(r"%(?:[01][0-9a-f]|2f|5c|7f)", value.lower()):  # control, / or \ encoded: decoded again later
        return None
    return value


HOME = {"operator": "/desktop", "supervisor": "/wallboard", "interpreter": "/interpreter",
        "department": "/department"}


def build_app(services: WebServices) -> web.Application:
    settings, service_token, users, hub = services.settings, services.service_token, services.users, services.hub
    commands, roster, sl, store, desktop = (services.commands, services.roster, services.sl, services.store,
                                            services.desktop)
    wallboard, supervision, after_call, desk = (services.wallboard, services.supervision, services.after_call,
                                                services.desk)
    interpreters, interpreter_desk = services.interpreters, services.interpreter_desk
    throttle = services.throttle or LoginThrottle()
    http = settings.http
    origins = http.allowed_origins()
    proxies = Proxies(http.trusted_proxies)
    app = web.Application(middlewares=[errors.middleware, boundary.middleware,
                                       build_middleware(users, service_token, origins, proxies)],
                          client_max_size=256 * 1024)
    app.on_response_prepare.append(response_headers)
    case_access.install(app, store, desktop, interpreter_desk)  # who handles which call; refusals audited
    aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(HERE / "templates"),
                         autoescape=jinja2.select_autoescape(default=True))

    def set_cookie(request: web.Request, response: web.StreamResponse, name: str, value: str,
                   max_age: int | None) -> None:
        response.set_cookie(name, value, max_age=max_age, httponly=True, samesite="Strict", path="/",
                            secure=http.secure_cookies or proxies.secure(request))

    @public
    async def login_page(request: web.Request) -> web.StreamResponse:
        # reuse the token of this browser: a second login page load (another tab, a favicon
        # redirect) must not invalidate the form already on screen
        existing = boundary.cookie(request, LOGIN_CSRF)
        token = existing if 16 <= len(existing) <= 64 and existing.isascii() else _random.token_urlsafe(16)
        response = aiohttp_jinja2.render_template("login.html", request, {
            "csrf": token, "next": same_origin_path(request.query.get("next", "")) or "",
            "error": request.query.get("error", "")[:20]})
        set_cookie(request, response, LOGIN_CSRF, token, 3600)
        return response

    async def session_alive(p: Principal) -> bool:
        return await users.session_open(p.session)
    hub.session_alive = session_alive

    hashing = asyncio.Semaphore(HASH_SLOTS)  # verifications queued or running, whoever asks

    async def verify_bounded(username: str, password: str, peer: str) -> dict[str, Any] | None:
        """``users.authenticate`` holding one of ``HASH_SLOTS``; none free within ``HASH_WAIT``
        seconds (a flood of logins): 503 busy, so the queue of hashes never grows past the slots."""
        try:
            await asyncio.wait_for(hashing.acquire(), HASH_WAIT)
        except TimeoutError:
            log.warning("login refused (busy: %d password checks under way) for %r from %s", HASH_SLOTS,
                        username, peer)
            raise Busy from None
        try:
            return await users.authenticate(username, password)
        finally:
            hashing.release()

    def safe_next(value: str, role: str) -> str:
        return same_origin_path(value) or HOME.get(role, "/home")

    @public
    async def login(request: web.Request) -> web.StreamResponse:
        form = await boundary.form_of(request)
        username = str(form.get("username", "")).strip().lower()[:64]
        password = str(form.get("password", ""))[:passwords.MAX_LENGTH]
        remote = proxies.client(request)
        peer = f"{remote} (via {request.remote})" if remote != request.remote else remote
        cookie_token = boundary.cookie(request, LOGIN_CSRF)
        if not cookie_token or not hmac.compare_digest(cookie_token.encode(), str(form.get("csrf", "")).encode()):
            log.warning("login refused (CSRF) for %r from %s", username, peer)
            await users.log_attempt(username, remote, "csrf")
            raise web.HTTPFound("/login?error=expired")
        wait = throttle.begin(username, remote)  # counted in flight before any hashing
        if wait > 0:
            log.warning("login refused (rate limit, %.0f s left) for %r from %s", wait, username, peer)
            await users.log_attempt(username, remote, "throttled")
            seconds = int(wait) + 1
            if "text/html" in request.headers.get("Accept", ""):  # a person at the login form: the form again
                page = aiohttp_jinja2.render_template("login.html", request, {
                    "csrf": cookie_token, "next": same_origin_path(str(form.get("next", ""))) or "",
                    "error": "throttled", "wait": seconds}, status=429)
                page.headers["Retry-After"] = str(seconds)
                return page
            return web.json_response({"error": "throttled", "message": f"Too many failed logins; try again in "
                                      f"{seconds} s."}, status=429, headers={"Retry-After": str(seconds)})
        try:
            slow = throttle.slowdown(username)
            if slow:  # the name is being guessed from many addresses: answer late, lock nobody out
                await asyncio.sleep(slow)
            try:
                row = await verify_bounded(username, password, peer) if username and password else None
            except Busy:
                await users.log_attempt(username, remote, "busy")
                return web.json_response({"error": "busy", "message": "too many logins at once; try again in a "
                                          "few seconds"}, status=503, headers={"Retry-After": str(int(HASH_WAIT) + 1)})
            if row is None:
                waits = throttle.failed(username, remote)
            else:
                throttle.succeeded(username, remote)
        finally:
            throttle.end(username, remote)
        if row is None:
            log.warning("login failed for %r from %s%s", username, peer, " (now throttled)" if waits else "")
            await users.log_attempt(username, remote, "failed")
            raise web.HTTPFound("/login?error=failed")
        await users.log_attempt(username, remote, "ok")
        if http.single_session:
            ended = await users.close_sessions_of(username)
            ended_sockets = hub.end_sessions("another login (single_session)", username=username)
            if ended or ended_sockets:
                log.info("login: user=%s: %d other session(s) ended (single_session)", username, ended)
        token, _csrf = await users.open_session(username, remote)
        log.info("login: user=%s role=%s from %s", username, row["role"], peer)
        response = web.HTTPFound(safe_next(str(form.get("next", "")), row["role"]))
        set_cookie(request, response, COOKIE, token, int(http.session_hours * 3600))
        response.del_cookie(LOGIN_CSRF, path="/")
        raise response

    @require("operator", "interpreter", "supervisor", "department")
    async def logout(request: web.Request) -> web.StreamResponse:
        p = principal_of(request)
        if p is not None and p.session:
            await users.close_session(p.session)
            hub.end_sessions("logout", session=p.session)
            log.info("logout: user=%s", p.username)
        response = web.HTTPFound("/login")
        response.del_cookie(COOKIE, path="/")
        raise response

    @public
    async def root(request: web.Request) -> web.StreamResponse:
        p = principal_of(request)
        raise web.HTTPFound(HOME.get(p.role, "/home") if p else "/login")

    @require("operator", "interpreter", "supervisor", "department")
    async def home(request: web.Request) -> web.StreamResponse:
        p = principal_of(request)
        assert p is not None
        return aiohttp_jinja2.render_template("home.html", request, {"me": p})

    @require("operator")
    async def desktop_page(request: web.Request) -> web.StreamResponse:
        p = principal_of(request)
        assert p is not None
        return aiohttp_jinja2.render_template("desktop.html", request, {"me": p, "csrf": p.csrf})

    @require("operator")
    async def desktop_socket(request: web.Request) -> web.StreamResponse:
        p = principal_of(request)
        assert p is not None

        def register(client: Client) -> None:
            desktop.forget_status(p.extension)
            hub.add(client)

        return await serve_socket(request, origins, p, hub, register, lambda: desktop.snapshot(p),
                                  _client_message, lambda text: message("error", message=text), "desktop")

    async def _client_message(client: Client, data: str) -> None:
        msg = boundary.message_type(boundary.loads(data), CLIENT_TYPES)
        if msg["type"] == "draft":
            fields = msg.get("fields")
            if not isinstance(fields, dict):
                raise ValueError("draft.fields must be an object")
            await desktop.draft(client.principal, str(msg.get("uniqueid", "")), fields)

    @public
    async def favicon(request: web.Request) -> web.StreamResponse:
        return web.Response(status=204)

    app.router.add_get("/favicon.ico", favicon)
    app.router.add_get("/", root)
    app.router.add_get("/login", login_page)
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)
    app.router.add_get("/home", home)
    app.router.add_get("/desktop", desktop_page)
    app.router.add_get("/ws/desktop", desktop_socket)
    app.router.add_static("/static/", HERE / "static")
    if desk is None:
        desk = _own_desk(app, settings, store, after_call.workflow if after_call else None, desktop)
    api.add_routes(app, settings, commands, roster, sl, store, desktop, desk, supervision)
    if after_call is not None:
        case_web.add_routes(app, settings, store, after_call.workflow, after_call.flows, after_call.callbacks,
                            after_call.recordings, after_call.search)
    staffing.add_routes(app, settings, store, roster)
    if wallboard is not None and supervision is not None:
        manager_web.add_routes(app, settings, store, hub, wallboard, supervision)
    if interpreters is not None:
        interpreting.add_routes(app, interpreters, store, interpreter_desk, hub, origins)
    return app


