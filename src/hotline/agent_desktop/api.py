"""HTTP API (JSON) for operator state and the queues. Behind a bearer token for now.

Every route needs ``Authorization: Bearer <api_token>`` (from <state_dir>/secrets.json).
Domain errors carry a stable ``error`` id and map to HTTP statuses in one middleware.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from hotline.cases.service import CaseRepository
from hotline.queue.agents import AgentCommands, AgentError
from hotline.queue.roster import Roster
from hotline.queue.service_level import ServiceLevel

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
STATUS = {"agent-unknown": 404, "agent-offline": 409, "pause-reason-missing": 400, "pbx-error": 502,
          "bad-request": 400, "store-error": 503}


def _error(status: int, error_id: str, message: str) -> web.Response:
    return web.json_response({"error": error_id, "message": message}, status=status)


def build_app(token: str, commands: AgentCommands, roster: Roster, sl: ServiceLevel,
              cases: CaseRepository) -> web.Application:
    @web.middleware
    async def auth_and_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            log.warning("API request refused (no or wrong token) from %s: %s %s", request.remote,
                        request.method, request.path)
            return _error(401, "unauthorized", "a valid bearer token is required")
        try:
            return await handler(request)
        except web.HTTPException:
            raise
        except Exception as exc:
            error_id = getattr(exc, "error_id", None)
            if error_id is None:
                log.exception("API %s %s failed", request.method, request.path)
                return _error(500, "internal", "internal error; see the service log")
            return _error(STATUS.get(error_id, 400), error_id, str(exc))

    async def agents(request: web.Request) -> web.Response:
        return web.json_response({"agents": roster.snapshot()})

    async def agent_action(request: web.Request) -> web.Response:
        ext, action = request.match_info["ext"], request.match_info["action"]
        body: dict[str, Any] = {}
        if request.can_read_body:
            try:
                body = await request.json()
            except json.JSONDecodeError:
                raise AgentError("bad-request", "the body must be JSON") from None
            if not isinstance(body, dict):
                raise AgentError("bad-request", "the body must be a JSON object")
        result: Any = None
        if action == "login":
            result = await commands.login(ext)
        elif action == "pause":
            await commands.pause(ext, str(body.get("reason", "")))
        elif action == "unpause":
            await commands.unpause(ext)
        elif action == "logout":
            await commands.logout(ext)
        else:
            raise web.HTTPNotFound()
        return web.json_response({"ok": True, "agent": ext, "action": action, "result": result})

    async def queues(request: web.Request) -> web.Response:
        return web.json_response(sl.report())

    async def case_list(request: web.Request) -> web.Response:
        try:
            limit = max(1, min(500, int(request.query.get("limit", "50"))))
        except ValueError:
            raise AgentError("bad-request", "limit must be a number") from None
        return web.json_response({"cases": await cases.recent(limit)})  # type: ignore[attr-defined]

    app = web.Application(middlewares=[auth_and_errors])
    app.router.add_get("/api/agents", agents)
    app.router.add_post(r"/api/agents/{ext:\d+}/{action:login|pause|unpause|logout}", agent_action)
    app.router.add_get("/api/queues", queues)
    app.router.add_get("/api/cases", case_list)
    return app
