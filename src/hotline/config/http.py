"""The web service: address, origins, sessions, proxies."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from hotline.config.base import ConfigError, section

_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.\-]+(:\d{1,5})?/?$|^https?://\[[0-9a-fA-F:]+\](:\d{1,5})?/?$")


@dataclass(frozen=True)
class HttpSettings:
    host: str = "127.0.0.1"
    port: int = 8480
    # the origin browsers use (https://hotline.example.gov); more in `origins`. Neither set: only
    # http://<host>:<port> (and http://localhost:<port> on a loopback host), never the Host header
    origin: str = ""
    origins: tuple[str, ...] = ()
    session_hours: float = 12.0  # a desktop session ends after this long without use
    secure_cookies: bool = False  # always Secure cookies; they are Secure anyway on a request over TLS
    # reverse proxies (addresses or networks) whose X-Forwarded-For / X-Forwarded-Proto are believed
    trusted_proxies: tuple[str, ...] = ()
    single_session: bool = False  # a new login ends the user's other sessions

    def allowed_origins(self) -> frozenset[str]:
        """The origins a browser page of this service may have: the configured ones only."""
        configured = [o.rstrip("/") for o in (self.origin, *self.origins) if o]
        if configured:
            return frozenset(configured)
        found = {f"http://{self.host}:{self.port}"}
        if self.host in ("127.0.0.1", "localhost", "::1"):
            found |= {f"http://127.0.0.1:{self.port}", f"http://localhost:{self.port}"}
        return frozenset(found)


def parse_http(data: Mapping[str, Any]) -> HttpSettings:
    raw_http = dict(data.get("http", {}))
    lists: dict[str, tuple[str, ...]] = {}
    for key in ("origins", "trusted_proxies"):
        items = raw_http.pop(key, [])
        if not isinstance(items, list) or not all(isinstance(i, str) and i for i in items):
            raise ConfigError(f"http.{key}", "must be a list of strings")
        lists[key] = tuple(items)
    http: HttpSettings = replace(section(HttpSettings, raw_http, "http"), **lists)
    for o in (http.origin, *http.origins):
        if o and not _ORIGIN.match(o):
            raise ConfigError("http.origins", f"an origin is scheme://host[:port], got {o!r}")
    for proxy in http.trusted_proxies:
        try:
            ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            raise ConfigError("http.trusted_proxies", f"not an address or network: {proxy!r}") from None
    return http
