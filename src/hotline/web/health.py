"""``GET /health`` (for a load balancer or a monitor: no login) and ``GET /metrics`` (Prometheus:
a scrape token, or a supervisor's or admin's session).

The health check answers 200 when the service can take calls and 503 when it cannot: the AMI
session is down (no routing, no cases), the case file does not take a write within 2 s (read-only,
locked, disk full) or the disk is below ``recordings.min_free_mb``. A transcription more than
``LAG_BEHIND`` seconds behind is reported ("degraded", still 200: calls go on). It is public
because a load balancer's probe carries no credentials, so it says only what the probe needs:
each check's state in one word, no figures, no names, no paths, no versions (those are in
/metrics, behind its token). Its result is kept ``CACHE_SECONDS``, so anonymous requests in any
number cost at most one write of the store's ``health_checked_at`` value per interval.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiohttp import web

from hotline.storage.values import ValueStore
from hotline.web import metrics
from hotline.web.keys import METRICS_TOKEN, PROBES, SETTINGS, SL, STORE
from hotline.web.probes import Probes
from hotline.web.security import public, require

CACHE_SECONDS = 5.0
STORE_TIMEOUT = 2.0
LAG_BEHIND = 10.0  # seconds of audio queued on a leg: the transcript is visibly late
DISK_WAIT = 2.0  # seconds the free-space check may take (statvfs on a hung mount blocks)

routes = web.RouteTableDef()
_CACHE: web.AppKey[dict[str, Any]] = web.AppKey("health-cache", dict)
_LOCK: web.AppKey[asyncio.Lock] = web.AppKey("health-lock", asyncio.Lock)



def setup(app: web.Application, probes: Probes | None, metrics_token: str) -> None:
    """Put the probes and the scrape token under their keys and add the two routes (build_app)."""
    app[PROBES] = probes if probes is not None else Probes()
    app[METRICS_TOKEN] = metrics_token
    app[_CACHE], app[_LOCK] = {}, asyncio.Lock()
    app.router.add_routes(routes)


async def _store_ok(app: web.Application) -> bool:
    values = ValueStore(app[STORE].db)
    try:
        await asyncio.wait_for(values.set_value("health_checked_at", f"{time.time():.0f}"), STORE_TIMEOUT)
    except Exception:  # any failure to write is the answer, whatever it is
        return False
    return True


async def check(app: web.Application) -> dict[str, Any]:
    """Each check's state and the overall status ("ok", "degraded", "failing")."""
    probes, settings = app[PROBES], app[SETTINGS]
    checks: dict[str, str] = {}
    if probes.ami_connected is None:
        checks["ami"] = "not monitored"
    else:
        checks["ami"] = "ok" if probes.ami_connected() else "down"
    checks["store"] = "ok" if await _store_ok(app) else "failing"
    floor = settings.recordings.min_free_mb * 1024 * 1024
    folders = {settings.database.parent, settings.recordings.folder}
    try:  # off the event loop, bounded: a hung mount must not stop the answer
        low = await asyncio.wait_for(asyncio.to_thread(
            lambda: [p for p in folders if probes.free_bytes(p) < floor]), DISK_WAIT)
        checks["disk"] = "low" if low else "ok"
    except TimeoutError:
        checks["disk"] = "not answering"
    if probes.transcription_lag is None:
        checks["transcription"] = "off"
    else:
        checks["transcription"] = "behind" if probes.transcription_lag() > LAG_BEHIND else "ok"
    failing = checks["ami"] == "down" or checks["store"] != "ok" or checks["disk"] != "ok"
    status = "failing" if failing else "degraded" if checks["transcription"] == "behind" else "ok"
    return {"status": status, "checks": checks}


@routes.get("/health")
@public
async def health(request: web.Request) -> web.Response:
    app = request.app
    cache = app[_CACHE]
    async with app[_LOCK]:  # requests arriving together share one check
        if not cache or time.monotonic() - cache["at"] > CACHE_SECONDS:
            cache.update(at=time.monotonic(), result=await check(app))
    result = cache["result"]
    return web.json_response(result, status=503 if result["status"] == "failing" else 200,
                             headers={"Cache-Control": "no-store"})


@routes.get("/metrics")
@require("supervisor", "metrics")
async def prometheus(request: web.Request) -> web.Response:
    app = request.app
    # on a thread: the free-space figures stat the disks (a hung mount must not stop the loop)
    body = await asyncio.wait_for(asyncio.to_thread(
        metrics.exposition, app[SETTINGS], app[SL].report(), app[STORE].db, app[PROBES]), 10)
    return web.Response(body=body, headers={"Content-Type": metrics.CONTENT_TYPE, "Cache-Control": "no-store"})
