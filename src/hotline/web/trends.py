"""The shift managers' reports on cases: trends by topic, district or keyword (and as CSV,
audited), the hotspots of a day with the bundles, the dispatch rates."""

from __future__ import annotations

import datetime as dt
from typing import Any

from aiohttp import web

from hotline.cases import trends as trend_rules
from hotline.cases.workflow import WorkflowError
from hotline.web import case_access, csv_export
from hotline.web.case_views import dumps, page
from hotline.web.keys import AFTER_CALL, AUDITS, SETTINGS
from hotline.web.params import date_range
from hotline.web.security import require

routes = web.RouteTableDef()

routes.get("/trends")(page("trends.html", "supervisor"))


@routes.get("/api/reports/rates")
@require("supervisor")
async def rates(request: web.Request) -> web.Response:
    first, last, start, end = date_range(request)
    return web.json_response({"from": first.isoformat(), "to": last.isoformat(),
                              **await request.app[AFTER_CALL].flows.rates(start, end)}, dumps=dumps)


async def trend_rows(request: web.Request) -> tuple[list[dict[str, Any]], str, str]:
    search = request.app[AFTER_CALL].search
    _first, _last, start, end = date_range(request, max_days=400)
    period = request.query.get("period", "day")
    by = request.query.get("by", "topic")
    if by == "keyword":
        words = [w for w in request.query.get("words", "").split(",") if w.strip()] or list(
            request.app[SETTINGS].trends.keywords)
        return await search.keyword_counts([w.strip() for w in words][:20], start, end, period), period, by
    return await search.counts(start, end, period, by), period, by


@routes.get("/api/trends")
@require("supervisor")
async def trends(request: web.Request) -> web.Response:
    rows, period, by = await trend_rows(request)
    return web.json_response({"period": period, "by": by, "rows": rows}, dumps=dumps)


@routes.get("/api/trends.csv")
@require("supervisor")
async def trends_csv(request: web.Request) -> web.Response:
    rows, period, by = await trend_rows(request)
    table = [[period, by, "cases"], *([r["bucket"], r["key"], r["cases"]] for r in rows)]
    await case_access.audit(request, request.app[AUDITS], "export", "/api/trends.csv", {
        "kind": "trends", "period": period, "by": by, "from": request.query.get("from", ""),
        "to": request.query.get("to", ""), "rows": len(rows)})
    return csv_export.response(table, f"trends-{by}-{period}.csv")


@routes.get("/api/hotspots")
@require("supervisor")
async def hotspots(request: web.Request) -> web.Response:
    search = request.app[AFTER_CALL].search
    try:
        day = dt.date.fromisoformat(request.query.get("day") or dt.date.today().isoformat())
    except ValueError:
        raise WorkflowError("bad-request", "day must be YYYY-MM-DD") from None
    cfg = request.app[SETTINGS].trends
    today, before, days = await search.hotspot_counts(day, cfg.baseline_days, cfg.hotspot_min_cases)
    found = trend_rules.hotspots(today, before, days, cfg)
    labels = await search.address_labels([h["key"] for h in found if h["kind"] == "address"])
    for h in found:
        h["label"] = labels.get(h["key"], h["label"])
    since = dt.datetime.combine(day - dt.timedelta(days=cfg.bundle_days), dt.time()).timestamp()
    bundles = await search.bundles(since)
    return web.json_response({"day": day.isoformat(), "hotspots": found, "bundles": bundles}, dumps=dumps)
