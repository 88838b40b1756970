"""Every failed request answers here, in one shape: ``{"error": id, "message": ..., **details}``.

The outermost middleware of the app (only the refusal audit of case_access sits outside it, so it
sees these answers). It maps

- a ``HotlineError`` (hotline/errors.py: every domain error, and the boundary's ``BadInput``) to its
  own status: a 4xx for the caller's mistake, 502/503 when Asterisk or the database failed;
- aiohttp's own 4xx (no such route 404 ``not-found``, wrong method 405 ``method-not-allowed`` with
  its ``Allow`` header, a body over the limit 413 ``too-large``) to the same JSON shape;
- anything else, a defect, to 500 ``internal``: the message says so and carries a short incident
  id, and the log line with the traceback carries the same id.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable

from aiohttp import web

from hotline.errors import HotlineError

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
HTTP_IDS = {400: "bad-request", 401: "unauthorized", 403: "forbidden", 404: "not-found",
            405: "method-not-allowed", 413: "too-large", 415: "bad-charset", 429: "throttled"}
HTTP_MESSAGES = {404: "no such page or API route", 413: "the request body is too large"}
PASSED_HEADERS = ("Allow", "Retry-After")


def printable(text: str, limit: int = 200) -> str:
    """A path for a log line: lone surrogates escaped, cut to ``limit``."""
    return text.encode("utf-8", "backslashreplace").decode()[:limit]


def http_error(exc: web.HTTPException) -> web.Response:
    """aiohttp's own refusal (a 4xx/5xx ``HTTPException``) as our JSON, with Allow/Retry-After kept."""
    message = HTTP_MESSAGES.get(exc.status, exc.reason)
    if isinstance(exc, web.HTTPMethodNotAllowed):
        message = f"{exc.method} is not allowed here; allowed: {', '.join(sorted(exc.allowed_methods))}"
    response = web.json_response({"error": HTTP_IDS.get(exc.status, "bad-request" if exc.status < 500 else
                                                        "internal"), "message": message}, status=exc.status)
    for name in PASSED_HEADERS:
        if name in exc.headers:
            response.headers[name] = exc.headers[name]
    return response


def domain_error(exc: HotlineError) -> web.Response:
    return web.json_response(exc.as_json(), status=exc.status)


def internal_error(request: web.Request) -> web.Response:
    """Call inside ``except``: logs the traceback with a short incident id the answer repeats."""
    incident = secrets.token_hex(4)
    log.exception("internal error %s: %s %s failed", incident, request.method, printable(request.path))
    return web.json_response({"error": "internal", "message": f"internal error; see the service log, error {incident}",
                              "incident": incident}, status=500)


@web.middleware
async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:  # redirects, 204
            raise
        return http_error(exc)
    except HotlineError as exc:
        level = logging.WARNING if exc.status >= 500 else logging.INFO
        log.log(level, "%s %s answered %d %s: %s", request.method, printable(request.path), exc.status,
                exc.error_id, exc)
        return domain_error(exc)
    except Exception:
        return internal_error(request)
