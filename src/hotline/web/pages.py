"""The plain pages: the site's root (a user's home page, or the login form), the home page of
every role, the operator's desktop page (its script is a static file: the Content-Security-Policy
allows no inline script), and the empty favicon."""

from __future__ import annotations

import aiohttp_jinja2
from aiohttp import web

from hotline.web.login import HOME
from hotline.web.params import user
from hotline.web.security import principal_of, public, require

routes = web.RouteTableDef()


@routes.get("/favicon.ico")
@public
async def favicon(request: web.Request) -> web.StreamResponse:
    return web.Response(status=204)


@routes.get("/")
@public
async def root(request: web.Request) -> web.StreamResponse:
    p = principal_of(request)
    raise web.HTTPFound(HOME.get(p.role, "/home") if p else "/login")


@routes.get("/home")
@require("operator", "interpreter", "supervisor", "department")
async def home(request: web.Request) -> web.StreamResponse:
    return aiohttp_jinja2.render_template("home.html", request, {"me": user(request)})


@routes.get("/desktop")
@require("operator")
async def desktop_page(request: web.Request) -> web.StreamResponse:
    p = user(request)
    return aiohttp_jinja2.render_template("desktop.html", request, {"me": p, "csrf": p.csrf})
