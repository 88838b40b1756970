"""Request parameters read the same way by every route module: whole-number query values,
date ranges, the JSON body (parsed at the boundary)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from aiohttp import web

from hotline.auth.users import Principal
from hotline.queue.agents import AgentError
from hotline.web import boundary
from hotline.web.security import principal_of


def int_query(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    """A whole-number query parameter, clamped to [low, high]; anything else is a clear 400."""
    raw = request.query.get(name, str(default))
    try:
        if len(raw) > 20:
            raise ValueError(raw)
        return max(low, min(high, int(raw)))
    except ValueError:
        raise AgentError("bad-request", f"{name} must be a number") from None


def date_range(request: web.Request, max_days: int = 366) -> tuple[dt.date, dt.date, float, float]:
    """``?from=YYYY-MM-DD&to=YYYY-MM-DD`` (default today, to = from): the dates and the epoch
    bounds [start of from, start of the day after to)."""
    today = dt.date.today()
    try:
        first = dt.date.fromisoformat(request.query.get("from") or today.isoformat())
        last = dt.date.fromisoformat(request.query.get("to") or first.isoformat())
    except ValueError:
        raise AgentError("bad-request", "from and to must be YYYY-MM-DD") from None
    if last < first or (last - first).days > max_days:
        raise AgentError("bad-request", f"to must be on or after from, at most {max_days} days later")
    start = dt.datetime.combine(first, dt.time()).timestamp()
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time()).timestamp()
    return first, last, start, end


async def json_body(request: web.Request) -> dict[str, Any]:
    """The body as a JSON object, parsed at the boundary (depth, number size, charset, valid text)."""
    return await boundary.json_object(request)


def user(request: web.Request) -> Principal:
    """The logged-in user of a request that passed the security middleware (every route but the
    public ones)."""
    p = principal_of(request)
    assert p is not None
    return p
