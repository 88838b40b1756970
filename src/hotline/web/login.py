"""Logging in and out: the login form (its CSRF token in a cookie of its own), the password
check (throttled per name and address, a bounded number of hashes at once), the session cookie,
single_session, and where a user lands (their home page, or a same-origin ``next``)."""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
import secrets as _random
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from hotline.auth import passwords
from hotline.errors import HotlineError
from hotline.web import boundary
from hotline.web.keys import HASHING, HUB, PROXIES, SETTINGS, THROTTLE, USERS
from hotline.web.security import COOKIE, principal_of, public, require

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

LOGIN_CSRF = "hl_login_csrf"
# password checks at once (running on the hashing pool or waiting for it), and how long a login
# waits for one: a flood of logins is answered 503 instead of queueing minutes of argon2 work
HASH_SLOTS = 4 * passwords.HASH_WORKERS
HASH_WAIT = 2.0
HOME = {"operator": "/desktop", "supervisor": "/wallboard", "interpreter": "/interpreter",
        "department": "/department"}


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


def safe_next(value: str, role: str) -> str:
    return same_origin_path(value) or HOME.get(role, "/home")


def set_cookie(request: web.Request, response: web.StreamResponse, name: str, value: str,
               max_age: int | None) -> None:
    response.set_cookie(name, value, max_age=max_age, httponly=True, samesite="Strict", path="/",
                        secure=request.app[SETTINGS].http.secure_cookies or request.app[PROXIES].secure(request))


async def verify_bounded(request: web.Request, username: str, password: str, peer: str) -> dict[str, Any] | None:
    """``users.authenticate`` holding one of ``HASH_SLOTS`` (the app's ``HASHING``); none free
    within ``HASH_WAIT`` seconds (a flood of logins): 503 busy, so the queue of hashes never grows
    past the slots."""
    hashing = request.app[HASHING]
    try:
        await asyncio.wait_for(hashing.acquire(), HASH_WAIT)
    except TimeoutError:
        log.warning("login refused (busy: %d password checks under way) for %r from %s", HASH_SLOTS,
                    username, peer)
        raise Busy from None
    try:
        return await request.app[USERS].authenticate(username, password)
    finally:
        hashing.release()


@routes.get("/login")
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


@routes.post("/login")
@public
async def login(request: web.Request) -> web.StreamResponse:
    users, throttle, http = request.app[USERS], request.app[THROTTLE], request.app[SETTINGS].http
    form = await boundary.form_of(request)
    username = str(form.get("username", "")).strip().lower()[:64]
    password = str(form.get("password", ""))[:passwords.MAX_LENGTH]
    remote = request.app[PROXIES].client(request)
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
            row = await verify_bounded(request, username, password, peer) if username and password else None
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
        ended_sockets = request.app[HUB].end_sessions("another login (single_session)", username=username)
        if ended or ended_sockets:
            log.info("login: user=%s: %d other session(s) ended (single_session)", username, ended)
    token, _csrf = await users.open_session(username, remote)
    log.info("login: user=%s role=%s from %s", username, row["role"], peer)
    response = web.HTTPFound(safe_next(str(form.get("next", "")), row["role"]))
    set_cookie(request, response, COOKIE, token, int(http.session_hours * 3600))
    response.del_cookie(LOGIN_CSRF, path="/")
    raise response


@routes.post("/logout")
@require("operator", "interpreter", "supervisor", "department")
async def logout(request: web.Request) -> web.StreamResponse:
    p = principal_of(request)
    if p is not None and p.session:
        await request.app[USERS].close_session(p.session)
        request.app[HUB].end_sessions("logout", session=p.session)
        log.info("logout: user=%s", p.username)
    response = web.HTTPFound("/login")
    response.del_cookie(COOKIE, path="/")
    raise response
