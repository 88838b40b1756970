"""The wallboard charts' data (issue 18): ``GET /api/wallboard/series?step=900`` today's calls
per bucket of ``step`` seconds (60, 300 or 900) from local midnight, ``&minutes=30`` only the
last minutes (buckets aligned on the day's), from the case rows (cases/day_series.py). The page
adds the live socket's figures between two reads."""

from __future__ import annotations

import datetime as dt
import math
import time

from aiohttp import web

from hotline.cases.day_series import DaySeriesStore, series
from hotline.queue.agents import AgentError
from hotline.web.keys import SETTINGS, STORE
from hotline.web.params import int_query
from hotline.web.security import require

routes = web.RouteTableDef()  # registered with the wallboard's (web/app.py)
STEPS = (60, 300, 900)


@routes.get("/api/wallboard/series")
@require("supervisor")
async def day_series(request: web.Request) -> web.Response:
    step = int_query(request, "step", 900, 1, 3600)
    if step not in STEPS:
        raise AgentError("bad-request", "step must be 60, 300 or 900 seconds")
    minutes = int_query(request, "minutes", 0, 0, 24 * 60)
    now = time.time()
    day = dt.datetime.combine(dt.date.today(), dt.time()).timestamp()
    start = day if not minutes else day + math.floor((now - minutes * 60 - day) / step) * step
    end = day + 86400 if not minutes else now
    calls, first_ring = await DaySeriesStore(request.app[STORE].db).calls(start, end)
    data = series(calls, start, end, step, request.app[SETTINGS].routing.target_seconds, now, first_ring)
    return web.json_response({**data, "now": now, "day_start": day,
                              "goal_percent": request.app[SETTINGS].routing.goal_percent})
