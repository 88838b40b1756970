"""The staffing page: for a day, per half hour and language, the forecast, the operators needed
(Erlang A, or C without a patience estimate, on the forecast from the case history), the
operators on the rota, those logged in now (the current slot), and the gap. The same table as CSV."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import time

import aiohttp_jinja2
from aiohttp import web

from hotline.cases.store import CaseStore
from hotline.config import Settings
from hotline.errors import HotlineError
from hotline.queue.roster import Roster
from hotline.sim import planner
from hotline.web.security import require


class PlanError(HotlineError, ValueError):
    error_id = "bad-request"
    status = 400


def add_routes(app: web.Application, settings: Settings, store: CaseStore, roster: Roster) -> None:
    async def build(request: web.Request) -> planner.Plan:
        try:
            day = dt.date.fromisoformat(request.query.get("date") or dt.date.today().isoformat())
            weeks = int(request.query.get("weeks", "4"))
        except ValueError:
            raise PlanError("date must be YYYY-MM-DD and weeks a number") from None
        if not 1 <= weeks <= 52:
            raise PlanError("weeks must be 1-52")
        start = dt.datetime.combine(day - dt.timedelta(weeks=weeks), dt.time()).timestamp()
        end = dt.datetime.combine(day, dt.time()).timestamp()
        history = await store.half_hour_history(start, end)
        plan = await asyncio.get_running_loop().run_in_executor(None, planner.build, settings, history, day, weeks)
        now = dt.datetime.now()
        if day == now.date():
            current = plan.slots[now.hour * 2 + now.minute // 30]
            t = time.time()
            on = [op for op in roster.ops.values() if op.state(t) != "offline"]
            current.logged_in = len(on)
        return plan

    @require("supervisor")
    async def page(request: web.Request) -> web.StreamResponse:
        plan = await build(request)
        langs = sorted(set(plan.language_mix) | {lang for s in plan.slots for lang in s.scheduled_by_language})
        names = {lang.code: lang.name for lang in settings.languages}
        return aiohttp_jinja2.render_template("staffing.html", request, {
            "plan": plan, "langs": langs, "names": names, "weeks": plan.weeks_of_history,
            "rota": bool(settings.rota), "goal": settings.routing.goal_percent,
            "target": settings.routing.target_seconds,
            "short": sum(1 for s in plan.slots if s.gap is not None and s.gap > 0)})

    @require("supervisor")
    async def as_csv(request: web.Request) -> web.StreamResponse:
        plan = await build(request)
        out = io.StringIO()
        csv.writer(out).writerows(plan.csv_rows())
        return web.Response(text=out.getvalue(), content_type="text/csv", headers={
            "Content-Disposition": f'attachment; filename="staffing-{plan.day}.csv"'})

    app.router.add_get("/staffing", page)
    app.router.add_get("/staffing.csv", as_csv)


