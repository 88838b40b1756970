"""The case access rule (cases/access.py) on the web: who is asking, whether the case is the one
they are handling now (the call on their desktop, the call they interpret), the audit rows of
every read, search and export, and the audit of every refused request (a middleware: any 403,
whichever layer refused it, and any 422 unsafe-value: a value refused on its way to the PBX).
The desktop, the interpreter desk and the audit chain are the app's (web/keys.py)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from hotline.auth.users import Principal
from hotline.cases import access
from hotline.cases.audit_store import AuditStore
from hotline.queue.agents import AgentError
from hotline.web.keys import AUDITS, DESKTOP, INTERPRETER_DESK, STORE
from hotline.web.security import PRINCIPAL, client_of, principal_of

log = logging.getLogger(__name__)


def viewer_of(p: Principal) -> access.Viewer:
    return access.Viewer(p.username, p.role, p.extension, p.department)


def is_handling(request: web.Request, uniqueid: str) -> bool:
    """The call ``uniqueid`` is the one this user handles now: on their desktop (an operator),
    the call they interpret (an interpreter)."""
    p = principal_of(request)
    if p is None:
        return False
    if p.role == "operator":
        return request.app[DESKTOP].view_for(p, uniqueid) is not None
    interpreter_desk = request.app.get(INTERPRETER_DESK)
    if p.role == "interpreter" and interpreter_desk is not None:
        shown = interpreter_desk.assignments.get(p.extension)
        return shown is not None and shown.get("uniqueid") == uniqueid
    return False


def decide(request: web.Request, case: dict[str, Any]) -> access.Access:
    p = principal_of(request)
    assert p is not None
    return access.decide(viewer_of(p), case, is_handling(request, str(case.get("uniqueid") or "")))


def refuse(why: str) -> AgentError:
    return AgentError("forbidden", why)


async def readable(request: web.Request) -> tuple[dict[str, Any], access.Access]:
    """The case of the route's ``{uid}`` and what its reader may see of it: 404 case-unknown when there is
    none, 403 forbidden (audited by the middleware) when the access rule says no."""
    uid = request.match_info["uid"]
    case = await request.app[STORE].get(uid)
    if case is None:
        raise AgentError("case-unknown", f"no case for call {uid}")
    seen = decide(request, case)
    if not seen.readable:
        raise refuse(seen.reason)
    return case, seen


async def audit(request: web.Request, audits: AuditStore, action: str, target: str, detail: dict[str, Any]) -> None:
    """One audit row for what the request's user did (who, role, action, target, when, details)."""
    p = principal_of(request)
    await audits.audit(p.username if p else "?", action, target, {**detail, "remote": client_of(request)},
                      time.time(), role=p.role if p else "")


@web.middleware
async def refusal_audit(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                        ) -> web.StreamResponse:
    """The outermost middleware: every 403, and the 422 of a value refused on its way to the PBX,
    gets an audit row (the app's audit chain)."""
    audits = request.app[AUDITS]
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        if exc.status == 403:
            await _refused(request, audits, "http-403", exc.reason)
        raise
    if response.status in (403, 422):
        error_id, message = "forbidden", ""
        body = getattr(response, "body", None)
        if isinstance(body, bytes) and len(body) < 4096:
            try:
                parsed = json.loads(body)
                error_id, message = str(parsed.get("error", error_id)), str(parsed.get("message", ""))
            except (ValueError, AttributeError):
                pass
        # every 403, and the 422 of a value refused on its way to the PBX (an injection attempt; the
        # message names the field and code point, never the value); a form's field errors are not refusals
        if response.status == 403 or error_id == "unsafe-value":
            await _refused(request, audits, error_id, message)
    return response


async def _refused(request: web.Request, audits: AuditStore, error_id: str, message: str) -> None:
    p: Principal | None = request.get(PRINCIPAL)
    detail = {"method": request.method, "path": request.path, "error": error_id, "message": message[:300],
              "remote": client_of(request)}
    try:
        await audits.audit(p.username if p else "(anonymous)", "refused",
                           request.match_info.get("uid", request.path), detail, time.time(), role=p.role if p else "")
    except Exception as exc:  # the refusal stands even if its audit row could not be written
        log.error("audit of a refused request failed: %s %s by %s: %s", request.method, request.path,
                  p.username if p else "-", exc)
    log.warning("refused: user=%s role=%s %s %s: %s %s", p.username if p else "-", p.role if p else "-",
                request.method, request.path, error_id, message)
