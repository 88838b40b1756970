"""The desk's knowledge base (issue 19): the search box, an article opened in the desk's panel (a
view counted), and "this helped" (counted once per article and case). Registered only when the
app was given a knowledge base (graph.py always gives one)."""

from __future__ import annotations

import time

from aiohttp import web

from hotline.assist.kb import KnowledgeError
from hotline.cases.workflow import WorkflowError
from hotline.web.keys import DESKTOP, KNOWLEDGE, STORE
from hotline.web.params import int_query, json_body, user
from hotline.web.security import require

routes = web.RouteTableDef()
MAX_QUERY = 200


def _short(request: web.Request, name: str, limit: int) -> str:
    value = request.query.get(name, "")
    if len(value) > limit:
        raise KnowledgeError(f"{name} is longer than {limit} characters")
    return value


def _article_id(request: web.Request) -> int:
    raw = request.match_info["id"]
    if not raw.isascii() or not raw.isdigit() or len(raw) > 12:
        raise KnowledgeError("the article id is a number")
    return int(raw)


@routes.get("/api/kb/search")
@require("operator", "supervisor")
async def search(request: web.Request) -> web.Response:
    """``?q=WORDS&topic=&language=&limit=``: the best articles (10 by default, at most 50)."""
    words = _short(request, "q", MAX_QUERY)
    topic, language = _short(request, "topic", 40), _short(request, "language", 10)
    limit = int_query(request, "limit", 10, 1, 50)
    articles = await request.app[KNOWLEDGE].search(words, topic, language, limit)
    return web.json_response({"articles": articles})


@routes.get("/api/kb/articles/{id}")
@require("operator", "supervisor")
async def article(request: web.Request) -> web.Response:
    return web.json_response({"article": await request.app[KNOWLEDGE].article(_article_id(request))})


@routes.post("/api/kb/articles/{id}/helped")
@require("operator", "supervisor")
async def helped(request: web.Request) -> web.Response:
    """Body ``{"uniqueid": the call}``: the article helped on that call (once per article and case);
    an operator's own call only (on their desk, or answered by them)."""
    article_id = _article_id(request)
    body = await json_body(request)
    uniqueid = body.get("uniqueid")
    if not isinstance(uniqueid, str) or not 0 < len(uniqueid) <= 64:
        raise KnowledgeError("uniqueid: the call the article helped on")
    p = user(request)
    case = await request.app[STORE].get(uniqueid)
    if case is None:
        raise WorkflowError("case-unknown", f"no case for call {uniqueid}")
    if p.role == "operator" and request.app[DESKTOP].view_for(p, uniqueid) is None \
            and str(case.get("operator") or "") != p.extension:
        raise WorkflowError("forbidden", "not a call of yours")
    counted, total = await request.app[KNOWLEDGE].helped(article_id, uniqueid, p.username, time.time())
    return web.json_response({"id": article_id, "counted": counted, "helped": total})
