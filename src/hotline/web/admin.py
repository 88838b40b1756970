"""The admin page: the web users (list, add, disable and enable, reset the password, set the role,
name, extension and department), as ``hotline users`` does from the CLI (auth/users.py's rules:
the same checks, one enabled operator user per extension). Every change is one audit row (who,
what, of whom; never a password). An admin cannot disable themselves nor change their own role,
and the last enabled admin stays one. Disabling, a new password and a changed role, extension or
department end the user's sessions. A password left empty is generated and answered once."""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web

from hotline.auth.users import UserError, generate_password, valid_username
from hotline.config import ROLES
from hotline.queue.agents import AgentError
from hotline.web import case_access
from hotline.web.keys import AUDITS, HUB, SETTINGS, USERS
from hotline.web.params import json_body, user
from hotline.web.security import require

routes = web.RouteTableDef()

FIELDS = ("role", "name", "extension", "department")


def _text(body: dict[str, Any], key: str, limit: int = 100, strip: bool = True) -> str:
    value = body.get(key, "")
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > limit:
        raise AgentError("bad-request", f"{key} must be text of at most {limit} characters")
    return value.strip() if strip else value


def _choices(request: web.Request) -> dict[str, Any]:
    """What the page's selects offer: the roles, the site file's operators, supervisors' phones,
    interpreters and departments."""
    s = request.app[SETTINGS]
    return {"roles": list(ROLES),
            "operators": [{"extension": o.extension, "name": o.name} for o in s.operators],
            "supervisors": [{"extension": p.extension, "name": p.name} for p in s.supervisors],
            "interpreters": [{"extension": i.extension, "name": i.name} for i in s.interpreters],
            "departments": [{"code": d.code, "name": d.name} for d in s.departments],
            "site_users": sorted(u.username for u in s.users)}


@routes.get("/admin")
@require("admin")
async def admin_page(request: web.Request) -> web.StreamResponse:
    p = user(request)
    return aiohttp_jinja2.render_template("admin.html", request, {"me": p, "csrf": p.csrf})


@routes.get("/api/admin/users")
@require("admin")
async def list_users(request: web.Request) -> web.Response:
    users = await request.app[USERS].all_users()
    return web.json_response({"users": users, "me": user(request).username, **_choices(request)})


@routes.post("/api/admin/users")
@require("admin")
async def add_user(request: web.Request) -> web.Response:
    body = await json_body(request)
    username = valid_username(_text(body, "username", 40))
    fields = {k: _text(body, k) for k in FIELDS}
    password = _text(body, "password", 1024, strip=False)  # as typed: a space is a character
    generated = "" if password else generate_password()
    await request.app[USERS].add(username, fields["role"], password or generated, fields["name"],
                                 fields["extension"], request.app[SETTINGS], fields["department"])
    await case_access.audit(request, request.app[AUDITS], "user-add", username,
                            {**fields, "password": "generated" if generated else "set by the admin"})
    return web.json_response({"username": username, "password": generated or None}, status=201)


@routes.post("/api/admin/users/{username}")
@require("admin")
async def update_user(request: web.Request) -> web.Response:
    username = request.match_info["username"].strip().lower()
    body = await json_body(request)
    users = request.app[USERS]
    before = await users.get(username)
    if before is None:
        raise UserError("user-unknown", f"no user {username!r}")
    fields = {k: _text(body, k) if k in body else str(before.get(k) or "") for k in FIELDS}
    after = await users.update(username, fields["role"], fields["name"], fields["extension"], fields["department"],
                               request.app[SETTINGS], by=user(request).username)
    changed = {k: {"from": str(before.get(k) or ""), "to": fields[k]} for k in FIELDS
               if str(before.get(k) or "") != fields[k]}
    if set(changed) - {"name"}:  # their sessions ended with the change: their open pages close now
        request.app[HUB].end_sessions("your role or extension was changed", username=username)
    await case_access.audit(request, request.app[AUDITS], "user-update", username, {"changed": changed})
    return web.json_response({"user": after})


async def _set_disabled(request: web.Request, disabled: bool) -> web.Response:
    username = request.match_info["username"].strip().lower()
    users = request.app[USERS]
    if await users.get(username) is None:
        raise UserError("user-unknown", f"no user {username!r}")
    await users.set_disabled(username, disabled, by=user(request).username)
    if disabled:  # the sessions ended with it: the open pages (desktop, wallboard) close now, not in 30 s
        request.app[HUB].end_sessions("your account was disabled", username=username)
    await case_access.audit(request, request.app[AUDITS], "user-disable" if disabled else "user-enable", username,
                            {})
    return web.json_response({"username": username, "disabled": disabled})


@routes.post("/api/admin/users/{username}/disable")
@require("admin")
async def disable_user(request: web.Request) -> web.Response:
    return await _set_disabled(request, True)


@routes.post("/api/admin/users/{username}/enable")
@require("admin")
async def enable_user(request: web.Request) -> web.Response:
    return await _set_disabled(request, False)


@routes.post("/api/admin/users/{username}/password")
@require("admin")
async def reset_password(request: web.Request) -> web.Response:
    """A new password (the one given, or a generated one answered once); the user's sessions end."""
    username = request.match_info["username"].strip().lower()
    body = await json_body(request)
    users = request.app[USERS]
    if await users.get(username) is None:
        raise UserError("user-unknown", f"no user {username!r}")
    password = _text(body, "password", 1024, strip=False)  # as typed: a space is a character
    generated = "" if password else generate_password()
    await users.set_password(username, password or generated)
    request.app[HUB].end_sessions("your password was changed", username=username)
    await case_access.audit(request, request.app[AUDITS], "user-password", username,
                            {"password": "generated" if generated else "set by the admin"})
    return web.json_response({"username": username, "password": generated or None})
