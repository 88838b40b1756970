"""The staffing page: for a day, per half hour and language, the forecast, the operators needed
(Erlang A, or C without a patience estimate, on the forecast from the case history), the
operators on the rota, those logged in now (the current slot), and the gap. The same table as CSV."""

from __future__ import annotations

import asyncio
import datetime as dt
import time

import aiohttp_jinja2
from aiohttp import web

from hotline.errors import HotlineError
from hotline.sim import planner
from hotline.web import csv_export
from hotline.web.keys import ROSTER, SETTINGS, STORE
from hotline.web.security import require


class PlanError(HotlineError, ValueError):
    error_id = "bad-request"
    status = 400


routes = web.RouteTableDef()


async def build(request: web.Request) -> planner.Plan:
    settings = request.app[SETTINGS]
    try:
        day = dt.date.fromisoformat(request.query.get("date") or dt.date.today().isoformat())
        weeks = int(request.query.get("weeks", "4"))
    except ValueError:
        raise PlanError("date must be YYYY-MM-DD and weeks a number") from None
    if not 1 <= weeks <= 52:
        raise PlanError("weeks must be 1-52")
    start = dt.datetime.combine(day - dt.timedelta(weeks=weeks), dt.time()).timestamp()
    end = dt.datetime.combine(day, dt.time()).timestamp()
    history = await request.app[STORE].half_hour_history(start, end)
    plan = await asyncio.get_running_loop().run_in_executor(None, planner.build, settings, history, day, weeks)
    now = dt.datetime.now()
    if day == now.date():
        current = plan.slots[now.hour * 2 + now.minute // 30]
        t = time.time()
        on = [op for op in request.app[ROSTER].ops.values() if op.state(t) != "offline"]
        current.logged_in = len(on)
    return plan


@routes.get("/staffing")
@require("supervisor")
async def page(request: web.Request) -> web.StreamResponse:
    settings = request.app[SETTINGS]
    plan = await build(request)
    langs = sorted(set(plan.language_mix) | {lang for s in plan.slots for lang in s.scheduled_by_language})
    names = {lang.code: lang.name for lang in settings.languages}
    return aiohttp_jinja2.render_template("staffing.html", request, {
        "plan": plan, "langs": langs, "names": names, "weeks": plan.weeks_of_history,
        "rota": bool(settings.rota), "goal": settings.routing.goal_percent,
        "target": settings.routing.target_seconds,
        "short": sum(1 for s in plan.slots if s.gap is not None and s.gap > 0)})


@routes.get("/staffing.csv")
@require("supervisor")
async def as_csv(request: web.Request) -> web.StreamResponse:
    plan = await build(request)
    return csv_export.response(plan.csv_rows(), f"staffing-{plan.day}.csv")
