"""The web app's route tables (issue 15): ``build_app`` registers a module's ``RouteTableDef``
only when it was given that module's services, and every route is public or names its roles
(the security middleware reads them from the matched route's handler)."""

from __future__ import annotations

import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Any

from aiohttp import web

from hotline import config
from hotline.bus import Bus
from hotline.cases.store import CaseStore
from hotline.graph import build_services
from hotline.web import keys
from hotline.web.app import build_app
from hotline.web.services import WebServices

SITE = Path(__file__).resolve().parents[1] / "etc/site.example.toml"


class AnyPbx:
    """Every PBX action any service may ask for (none is asked for here)."""

    def __getattr__(self, name: str) -> Any:
        async def action(*a: Any, **kw: Any) -> None:
            return None
        return action


def services(tmp_path: Path) -> WebServices:
    data = tomllib.loads(SITE.read_text())
    data["interpreters"] = [{"extension": "3001", "name": "Park", "languages": {"ko": 5, "zh": 4}}]
    settings = config.parse(data, SITE.parent, {})
    graph = build_services(settings, CaseStore(tmp_path / "c.db"), AnyPbx(), Bus())  # type: ignore[arg-type]
    return graph.web("token")


def routes_of(app: web.Application) -> set[tuple[str, str]]:
    return {(r.method, r.resource.canonical) for r in app.router.routes() if r.resource is not None}


async def test_every_route_is_public_or_names_its_roles(tmp_path: Path) -> None:
    app = build_app(services(tmp_path))
    checked = 0
    for route in app.router.routes():
        assert route.resource is not None
        if route.resource.canonical.startswith("/static"):
            continue
        handler = route.handler
        assert getattr(handler, "public", False) or getattr(handler, "roles", None), route
        assert "admin" in getattr(handler, "roles", {"admin"}), route  # the service token may call every route
        checked += 1
    assert checked >= 70


async def test_a_route_table_is_registered_only_with_its_services(tmp_path: Path) -> None:
    full = services(tmp_path)
    every = routes_of(build_app(full))
    bare_app = build_app(replace(full, after_call=None, wallboard=None, supervision=None, interpreters=None,
                                 interpreter_desk=None))
    bare = routes_of(bare_app)
    assert {("GET", "/login"), ("POST", "/login"), ("GET", "/ws/desktop"), ("POST", "/api/cases/{uid}/form"),
            ("GET", "/staffing"), ("GET", "/api/me")} <= bare
    gone = every - bare
    assert {("GET", "/api/cases/{uid}/detail"), ("GET", "/department"), ("GET", "/api/search"),
            ("POST", r"/api/callbacks/{id}/call"), ("GET", "/ws/wallboard"), ("GET", "/history.csv"),
            ("POST", "/api/interpreters/request"), ("GET", "/interpreter")} <= gone
    assert keys.AFTER_CALL not in bare_app and keys.SUPERVISION not in bare_app
    # interpreters without an interpreter desk: their API, not the interpreter's page and socket
    no_desk = routes_of(build_app(replace(full, interpreter_desk=None)))
    assert ("POST", "/api/interpreters/request") in no_desk
    assert not {("GET", "/interpreter"), ("GET", "/ws/interpreter")} & no_desk
    # supervision without a wallboard: no floor routes (an agent's state change is still audited)
    assert ("GET", "/ws/wallboard") not in routes_of(build_app(replace(full, wallboard=None)))


async def test_an_app_without_a_throttle_or_a_desk_has_its_own(tmp_path: Path) -> None:
    full = services(tmp_path)
    app = build_app(replace(full, throttle=None, desk=None))
    assert app[keys.THROTTLE] is not None and app[keys.DESK] is not full.desk
    assert len(app.cleanup_ctx) == len(build_app(full).cleanup_ctx) + 1  # its bus pumps, while the app runs
