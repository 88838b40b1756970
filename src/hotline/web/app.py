"""The web application: ``build_app`` puts the services (web/services.py) under their typed keys
(web/keys.py), installs the middlewares (refusal audit, errors, input boundary, security) and
the security headers, and registers the route tables of the services it was given.

Pages are Jinja2 templates (aiohttp-jinja2, autoescaped); their scripts are static files. The
routes: pages, login, desktop_socket, api, admin, staffing; with the after-call services case_page,
case_actions, department, worklist, callbacks, search, trends; with a wallboard and supervision
floor_routes and series (the wallboard's charts); with interpreters interpreting (and the
interpreter's page with an interpreter desk).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from hotline import events as ev
from hotline.auth.throttle import LoginThrottle
from hotline.bus import Bus, consume
from hotline.cases.desk import CaseDesk
from hotline.cases.desk_store import DeskStore
from hotline.web import (
    admin,
    api,
    boundary,
    callbacks,
    case_access,
    case_actions,
    case_page,
    crisis_routes,
    department,
    desktop_socket,
    errors,
    floor_routes,
    health,
    interpreting,
    keys,
    knowledge,
    login,
    pages,
    search,
    security,
    series,
    staffing,
    surge_routes,
    trends,
    worklist,
)
from hotline.web.security import Proxies, response_headers
from hotline.web.services import WebServices

HERE = Path(__file__).parent
AFTER_CALL_ROUTES = (case_page.routes, case_actions.routes, department.routes, worklist.routes, callbacks.routes,
                     search.routes, trends.routes)

log = logging.getLogger(__name__)


def _own_desk(app: web.Application, services: WebServices) -> CaseDesk:
    """A case desk for an app built without one (the runtime passes its own, publishing on the
    hotline's bus): its CaseSaved reaches this desktop and its wrap-up through a bus of the app's
    own, pumped while the app runs (a cleanup context of the app)."""
    desktop = services.desktop
    bus: Bus[ev.Event] = Bus()
    subs = [(bus.subscribe("desktop"), desktop.handle), (bus.subscribe("wrapup"), desktop.wrapup.handle)]

    async def pumps(_app: web.Application) -> AsyncIterator[None]:
        tasks = [asyncio.create_task(consume(sub, handle), name=f"app-{sub.name}") for sub, handle in subs]
        yield
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    app.cleanup_ctx.append(pumps)
    workflow = services.after_call.workflow if services.after_call else None
    return CaseDesk(services.settings, DeskStore(services.store.db), workflow, bus.publish)


def _put(app: web.Application, services: WebServices) -> None:
    """The services under their keys; the optional ones only when given."""
    s = services
    app[keys.SETTINGS], app[keys.USERS], app[keys.COMMANDS] = s.settings, s.users, s.commands
    app[keys.SERVICE_TOKEN] = s.service_token
    app[keys.ROSTER], app[keys.SL], app[keys.STORE] = s.roster, s.sl, s.store
    app[keys.DESKTOP], app[keys.HUB] = s.desktop, s.hub
    app[keys.AUDITS], app[keys.INTERPRETING_LOG] = s.audits, s.interpreting_log
    app[keys.THROTTLE] = s.throttle if s.throttle is not None else LoginThrottle()
    app[keys.DESK] = s.desk if s.desk is not None else _own_desk(app, s)
    if s.wallboard is not None:
        app[keys.WALLBOARD] = s.wallboard
    if s.supervision is not None:
        app[keys.SUPERVISION] = s.supervision
    if s.interpreters is not None:
        app[keys.INTERPRETERS] = s.interpreters
    if s.interpreter_desk is not None:
        app[keys.INTERPRETER_DESK] = s.interpreter_desk
    if s.after_call is not None:
        app[keys.AFTER_CALL] = s.after_call
    if s.knowledge is not None:
        app[keys.KNOWLEDGE] = s.knowledge
    if s.crisis is not None:
        app[keys.CRISIS] = s.crisis
    if s.surge is not None:
        app[keys.SURGE] = s.surge


async def _close_sockets(app: web.Application) -> None:
    closed = await app[keys.HUB].close_all()
    if closed:
        log.info("closed %d open page socket(s): the service is stopping", closed)


def build_app(services: WebServices) -> web.Application:
    # the refusal audit outermost (it sees every answer, errors' too), then errors, the input
    # boundary, and who is asking (web/security.py)
    app = web.Application(middlewares=[case_access.refusal_audit, errors.middleware, boundary.middleware,
                                       security.middleware], client_max_size=256 * 1024)
    app.on_response_prepare.append(response_headers)
    aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(HERE / "templates"),
                         autoescape=jinja2.select_autoescape(default=True))
    http = services.settings.http
    app[keys.ORIGINS], app[keys.PROXIES] = http.allowed_origins(), Proxies(http.trusted_proxies)
    app[keys.HASHING] = asyncio.Semaphore(login.HASH_SLOTS)  # verifications queued or running, whoever asks
    _put(app, services)
    app.on_shutdown.append(_close_sockets)  # before the server waits for its handlers to end

    app.router.add_routes(pages.routes)
    app.router.add_routes(login.routes)
    app.router.add_routes(desktop_socket.routes)
    app.router.add_static("/static/", HERE / "static")
    app.router.add_routes(api.routes)
    app.router.add_routes(admin.routes)  # the admin page: users, roles, extensions
    if services.after_call is not None:
        for table in AFTER_CALL_ROUTES:
            app.router.add_routes(table)
    app.router.add_routes(staffing.routes)
    if services.knowledge is not None:
        app.router.add_routes(knowledge.routes)  # the desk's knowledge base: search, an article, helped
    health.setup(app, services.probes, services.metrics_token)  # /health (public), /metrics
    if services.wallboard is not None and services.supervision is not None:
        app.router.add_routes(floor_routes.routes)
        app.router.add_routes(series.routes)  # the wallboard's charts
    if services.crisis is not None:
        app.router.add_routes(crisis_routes.routes)  # the crisis alerts: the desk's, a dismissal
    if services.surge is not None:
        app.router.add_routes(surge_routes.routes)  # surge announcements: set, end, list
    if services.interpreters is not None:
        if services.interpreter_desk is not None:
            app.router.add_routes(interpreting.desk_routes)
        app.router.add_routes(interpreting.routes)
    return app
