"""Who is asking and may they: sessions (cookie), the service token (bearer, the CLI), the scrape
token (bearer, Prometheus: /metrics only), roles,
CSRF on every state-changing request that rides on a cookie, Origin on WebSockets, and the
security headers of every response."""

from __future__ import annotations

import hmac
import ipaddress
import logging
from collections.abc import Awaitable, Callable, Iterable
from urllib.parse import quote

import aiohttp_jinja2
from aiohttp import web

from hotline.auth.users import Principal
from hotline.web import boundary
from hotline.web.keys import METRICS_TOKEN, ORIGINS, PROXIES, SERVICE_TOKEN, USERS

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
COOKIE = "hl_session"
SERVICE_USER = "hotline-service"
METRICS_USER = "metrics-scraper"  # the scrape token's principal: role "metrics", which only /metrics names
PRINCIPAL: web.RequestKey[Principal | None] = web.RequestKey("principal", Principal | None)  # type: ignore[arg-type]
CLIENT: web.RequestKey[str] = web.RequestKey("client-address", str)  # set once, by the middleware
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "frame-ancestors 'none'; form-action 'self'; base-uri 'none'")


def error(status: int, error_id: str, message: str) -> web.Response:
    return web.json_response({"error": error_id, "message": message}, status=status)


def _strip_port(hop: str) -> str:
    """``1.2.3.4:5678`` -> ``1.2.3.4``, ``[2001:db8::1]:443`` -> ``2001:db8::1``; else as given."""
    if hop.startswith("[") and "]" in hop:
        return hop[1:hop.index("]")]
    if hop.count(":") == 1:
        return hop.split(":")[0]
    return hop


class Proxies:
    """The reverse proxies named in ``[http] trusted_proxies``: only a request that came from one
    of them has its ``X-Forwarded-For`` and ``X-Forwarded-Proto`` believed."""

    def __init__(self, trusted: Iterable[str] = ()) -> None:
        self.networks = [ipaddress.ip_network(t, strict=False) for t in trusted]

    def trusted(self, address: str | None) -> bool:
        try:
            ip = ipaddress.ip_address(address or "")
        except ValueError:
            return False
        return any(ip in net for net in self.networks)

    def client(self, request: web.Request) -> str:
        """The client's address: the peer, or, when the peer is a trusted proxy, the right-most
        address of X-Forwarded-For that is not itself a trusted proxy."""
        peer = request.remote or "?"
        if not self.trusted(peer):
            return peer
        hops = [h.strip() for h in ",".join(request.headers.getall("X-Forwarded-For", [])).split(",") if h.strip()]
        for hop in reversed(hops):
            try:
                address = str(ipaddress.ip_address(_strip_port(hop)))
            except ValueError:
                log.warning("X-Forwarded-For from proxy %s holds %r: not an address; using the proxy's", peer,
                            hop[:60])
                return peer  # garbage in the header: believe nothing of it
            if not self.trusted(address):
                return address
        return hops[0] if hops else peer

    def secure(self, request: web.Request) -> bool:
        """The browser reached us over TLS: directly, or through a trusted proxy that says so."""
        if request.secure:  # aiohttp's scheme: from the connection's TLS, never from a header
            return True
        if self.trusted(request.remote):
            return request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower() == "https"
        return False


async def response_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: the security headers on every response (redirects, errors, files and
    the WebSocket handshake too), and no ``Server: Python/3.x aiohttp/3.y`` banner. aiohttp fills
    ``Server`` only when unset, after this signal, so it is set to the bare name."""
    response.headers["Server"] = "hotline"
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    if request.path.startswith(("/api/", "/desktop")):
        response.headers.setdefault("Cache-Control", "no-store")


def principal_of(request: web.Request) -> Principal | None:
    return request.get(PRINCIPAL)


def client_of(request: web.Request) -> str:
    """The client's address (through the trusted proxies, ``Proxies.client``), as the security
    middleware found it; the peer's when the request never reached it."""
    return request.get(CLIENT) or request.remote or ""


def require(*roles: str) -> Callable[[Handler], Handler]:
    """Mark a handler with the roles allowed to call it (admin is always allowed)."""
    def wrap(handler: Handler) -> Handler:
        handler.roles = frozenset(roles) | {"admin"}  # type: ignore[attr-defined]
        return handler
    return wrap


def public(handler: Handler) -> Handler:
    handler.public = True  # type: ignore[attr-defined]
    return handler


@web.middleware
async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Who is asking (the session cookie, or the service token as a bearer) and may they: the
    route's roles, then CSRF and Origin for a state-changing request riding on a cookie. The user
    directory, the token, the allowed origins and the trusted proxies are the app's (web/keys.py)."""
    request[CLIENT] = request.app[PROXIES].client(request)
    return await _check(request, handler)  # the headers: response_headers, on every response


def _wants_page(request: web.Request) -> bool:
    return (request.method == "GET" and not request.path.startswith(("/api/", "/ws/", "/static/"))
            and "text/html" in request.headers.get("Accept", "") and not request.path.endswith((".csv", ".json")))


async def _check(request: web.Request, handler: Handler) -> web.StreamResponse:
    route_handler = getattr(request.match_info, "handler", None)
    inner = getattr(route_handler, "__wrapped__", route_handler)
    is_public = getattr(inner, "public", False) or request.path.startswith("/static/")
    roles: Iterable[str] | None = getattr(inner, "roles", None)
    principal: Principal | None = None
    via_cookie = False
    auth = request.headers.get("Authorization", "")
    if auth.startswith("Bearer "):
        scrape = request.app.get(METRICS_TOKEN, "")
        if hmac.compare_digest(auth.encode(), f"Bearer {request.app[SERVICE_TOKEN]}".encode()):
            principal = Principal(SERVICE_USER, "admin", "the hotline CLI")
        elif scrape and hmac.compare_digest(auth.encode(), f"Bearer {scrape}".encode()):
            principal = Principal(METRICS_USER, "metrics", "Prometheus")
        else:
            log.warning("refused: wrong bearer token from %s: %s %s", request.remote, request.method,
                        request.path)
            return error(401, "unauthorized", "the bearer token is not valid")
    else:
        token = boundary.cookie(request, COOKIE)
        if token:
            principal = await request.app[USERS].session(token)
            via_cookie = principal is not None
    request[PRINCIPAL] = principal
    if is_public:
        return await handler(request)
    if principal is None:  # unknown routes too: an anonymous caller learns nothing of the route table
        if request.path.startswith(("/api/", "/ws/")) or request.path == "/metrics":  # machines: no login page
            return error(401, "unauthorized", "log in first")
        raise web.HTTPFound(f"/login?next={quote(request.path_qs, safe='/')}" if request.path != "/" else "/login")
    unmatched = request.match_info.http_exception  # no such route (404), or not with this method (405)
    if unmatched is not None:
        raise unmatched
    if roles is None or principal.role not in roles:
        log.warning("refused: user=%s role=%s may not %s %s", principal.username, principal.role,
                    request.method, request.path)
        if _wants_page(request):  # a person opened a page: a page, not JSON (the same 403, audited alike)
            allowed = " or ".join(sorted(set(roles or ()) - {"admin"}) or ["admins"])
            return aiohttp_jinja2.render_template("forbidden.html", request, {
                "username": principal.username, "role": principal.role, "allowed": allowed}, status=403)
        return error(403, "forbidden", f"the {principal.role} role may not do this")
    if via_cookie and request.method not in SAFE_METHODS:
        sent_origin = request.headers.get("Origin")
        if sent_origin is not None and sent_origin not in request.app[ORIGINS]:  # the configured ones, never Host
            log.warning("refused: cross-origin %s %s from %s (user=%s)", request.method, request.path,
                        sent_origin, principal.username)
            return error(403, "bad-origin", "cross-origin request refused")
        token = request.headers.get("X-CSRF-Token", "")
        if not token and request.content_type == "application/x-www-form-urlencoded":
            token = str((await boundary.form_of(request)).get("csrf", ""))
        if not hmac.compare_digest(token.encode(), principal.csrf.encode()):
            log.warning("refused: missing or wrong CSRF token: user=%s %s %s", principal.username,
                        request.method, request.path)
            return error(403, "csrf", "missing or wrong CSRF token; reload the page")
    return await handler(request)

