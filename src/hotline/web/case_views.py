"""What the case routes share: the case as its reader may see it, the case of a route when the
access rule lets its reader open it, the acting user, JSON with dates, and the plain pages
(a template with the user and their CSRF token).

The routes of a case's life after the call (case_page, case_actions, department, worklist,
callbacks, search, trends) are registered when the app has the after-call services
(``keys.AFTER_CALL``). Who may do what: operators and supervisors dispatch; a department user sees
and acts on their own department's cases only (a confidential case without the caller's
identity); supervisors decide extensions and see everything.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from hotline.cases import access
from hotline.cases.workflow import Actor
from hotline.web import case_access
from hotline.web.keys import AFTER_CALL, SETTINGS
from hotline.web.params import user
from hotline.web.security import Handler, require


def actor_of(request: web.Request) -> Actor:
    p = user(request)
    return Actor(p.username, p.role, p.department)


def dumps(o: Any) -> str:
    return json.dumps(o, default=str, ensure_ascii=False)


def view(request: web.Request, case: dict[str, Any], seen: access.Access) -> dict[str, Any]:
    """The case as its reader may see it (cases/access.py), with its standing and department."""
    out = access.redact(case, seen)
    out["standing"] = request.app[AFTER_CALL].workflow.standing(case)
    dept = request.app[SETTINGS].department(case.get("department") or "")
    out["department_name"] = dept.name if dept else ""
    return out


def views(request: web.Request, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [view(request, r, case_access.decide(request, r)) for r in rows]


async def visible_case(request: web.Request) -> tuple[dict[str, Any], Actor, access.Access]:
    """The case of the route, if the access rule lets its reader open it (else 403, audited)."""
    case, seen = await case_access.readable(request)
    return case, actor_of(request), seen


def page(template: str, *roles: str) -> Handler:
    """A page for ``roles``: the template with the user, their CSRF token and the route's uid."""
    @require(*roles)
    async def handler(request: web.Request) -> web.StreamResponse:
        p = user(request)
        return aiohttp_jinja2.render_template(template, request, {
            "me": p, "csrf": p.csrf, "uid": request.match_info.get("uid", "")})
    return handler
