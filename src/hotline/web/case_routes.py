"""After the call, on the web: the case page (history, transcript, recording), dispatch and the
department portal, extensions, call back tasks, the rates, search, trends, hotspots and bundles.

Who may do what: operators and supervisors dispatch; a department user sees and acts on their
own department's cases only (a confidential case without the caller's identity); supervisors
decide extensions and see everything. Every playback of a recording is written to the audit log.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import logging
import secrets
import time
from pathlib import Path
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from hotline.auth.users import Principal
from hotline.cases import access
from hotline.cases import form as case_form
from hotline.cases import trends as trend_rules
from hotline.cases.callback import CallbackService
from hotline.cases.search import SearchStore
from hotline.cases.store import CaseStore
from hotline.cases.workflow import AT_DEPARTMENT, Actor, Workflow, WorkflowError
from hotline.cases.workflow_store import WorkflowStore
from hotline.config import Settings
from hotline.recordings.store import RecordingStore
from hotline.web import case_access
from hotline.web.api import date_range, int_query, json_body
from hotline.web.security import principal_of, require

log = logging.getLogger(__name__)
MIME = {"ogg": "audio/ogg", "mp3": "audio/mpeg"}


def actor_of(request: web.Request) -> Actor:
    p = principal_of(request)
    assert p is not None
    return Actor(p.username, p.role, p.department)


def dumps(o: Any) -> str:
    return json.dumps(o, default=str, ensure_ascii=False)


def add_routes(app: web.Application, settings: Settings, store: CaseStore, workflow: Workflow,
               flows: WorkflowStore, callbacks: CallbackService | None, recordings: RecordingStore,
               search: SearchStore) -> None:

    def view(case: dict[str, Any], seen: access.Access) -> dict[str, Any]:
        """The case as its reader may see it (cases/access.py), with its standing and department."""
        out = access.redact(case, seen)
        out["standing"] = workflow.standing(case)
        dept = settings.department(case.get("department") or "")
        out["department_name"] = dept.name if dept else ""
        return out

    def views(request: web.Request, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [view(r, case_access.decide(request, r)) for r in rows]

    async def visible_case(request: web.Request) -> tuple[dict[str, Any], Actor, access.Access]:
        """The case of the route, if the access rule lets its reader open it (else 403, audited)."""
        actor = actor_of(request)
        case = await store.get(request.match_info["uid"])
        if case is None:
            raise WorkflowError("case-unknown", f"no case for call {request.match_info['uid']}")
        seen = case_access.decide(request, case)
        if not seen.readable:
            raise WorkflowError("forbidden", seen.reason)
        return case, actor, seen

    # -- the case ------------------------------------------------------------------------------

    @require("operator", "supervisor", "department")
    async def case_detail(request: web.Request) -> web.Response:
        case, actor, seen = await visible_case(request)
        uid = case["uniqueid"]
        rec = await recordings.recording(uid) if seen.recording else None
        transcript = await store.transcript(uid) if seen.transcript else []
        await case_access.audit(request, store, "case_read", uid, {"case_id": case["id"], "level": seen.level,
                                                                   "transcript": len(transcript)})
        body = {
            "case": view(case, seen), "events": await flows.case_events(uid),
            "transcript": transcript,
            "callbacks": await flows.callbacks_of(uid),
            "recording": {"status": rec["status"], "seconds": rec.get("seconds"),
                          "url": f"/api/cases/{uid}/recording"} if rec and rec["status"] == "archived" else
            ({"status": rec["status"]} if rec else None),
            "suggested_department": workflow.suggest(case),
            "departments": [{"code": d.code, "name": d.name} for d in settings.departments],
            "me": {"role": actor.role, "department": actor.department},
        }
        return web.json_response(body, dumps=dumps)

    @require("operator", "supervisor")
    async def create_case(request: web.Request) -> web.Response:
        """An appeal that did not come by phone (letter, web form, walk-in), or a test."""
        body = await json_body(request)
        number = str(body.pop("caller_number", "") or "")
        language = str(body.pop("language", "") or settings.default_language.code)
        department = str(body.pop("department", "") or "")
        if number and not number.lstrip("+").isdigit():
            raise WorkflowError("bad-request", "caller_number must be digits")
        if settings.language(language) is None:
            raise WorkflowError("bad-request", f"unknown language {language!r}")
        clean, problems = case_form.validate(body, settings)
        if problems:
            return web.json_response({"error": "invalid", "message": "the form has errors", "fields": problems},
                                     status=422)
        actor = actor_of(request)
        if department == case_form.AUTO:
            department = workflow.suggest(clean)
        now = time.time()
        uid = f"manual-{int(now)}-{secrets.token_hex(6)}"
        if not await store.create({"uniqueid": uid, "caller_number": number, "language": language,
                                   "topic": clean["category"], "ivr_path": "", "queue": "", "queued_at": now,
                                   "state": "ended", "source": "manual"}):
            raise WorkflowError("conflict", "a case with this id exists; try again")
        clean.pop("department", None)
        await store.save_form(uid, clean, actor.username, now, settings.trends.bundle_days)
        case = await workflow.recorded(uid, actor, department)
        return web.json_response({"ok": True, "uniqueid": uid, "case_id": case["id"], "status": case["status"],
                                  "department": case.get("department")}, dumps=dumps)

    async def act(request: web.Request, action: str) -> web.Response:
        case, actor, seen = await visible_case(request)
        body = await json_body(request)
        uid = case["uniqueid"]
        if action == "dispatch":
            updated = await workflow.dispatch(uid, str(body.get("department", "")), actor, str(body.get("note", "")))
        elif action == "accept":
            updated = await workflow.accept(uid, actor)
        elif action == "reply":
            updated = await workflow.reply(uid, actor, str(body.get("text", "")), str(body.get("summary", "")))
            if body.get("bundle") and case.get("bundle_id"):
                await _reply_bundle(case, actor, body)
        elif action == "return":
            updated = await workflow.return_case(uid, actor, str(body.get("reason", "")))
        elif action == "extension":
            try:
                days = int(body.get("days", 0))
            except (TypeError, ValueError):
                raise WorkflowError("bad-request", "days must be a number") from None
            updated = await workflow.request_extension(uid, actor, days, str(body.get("reason", "")))
        elif action == "decide":
            granted = body.get("days")
            if granted is not None and (not isinstance(granted, int) or isinstance(granted, bool)
                                        or not 1 <= granted <= 60):
                raise WorkflowError("bad-request", "days must be a whole number from 1 to 60")
            updated = await workflow.decide_extension(uid, actor, bool(body.get("approve")), granted)
        else:
            raise web.HTTPNotFound()
        return web.json_response({"ok": True, "case": view(updated, seen)}, dumps=dumps)

    async def _reply_bundle(case: dict[str, Any], actor: Actor, body: dict[str, Any]) -> None:
        for other in await flows.bundle_cases(case["bundle_id"], str(case.get("department")), AT_DEPARTMENT):
            if other["uniqueid"] != case["uniqueid"]:
                try:
                    await workflow.reply(other["uniqueid"], actor, str(body.get("text", "")),
                                         str(body.get("summary", "")))
                except WorkflowError as exc:
                    log.warning("bundle reply skipped case %s: %s", other["id"], exc)

    @require("operator", "supervisor")
    async def dispatch(request: web.Request) -> web.Response:
        return await act(request, "dispatch")

    @require("department")
    async def department_action(request: web.Request) -> web.Response:
        return await act(request, request.match_info["action"])

    @require("supervisor")
    async def decide(request: web.Request) -> web.Response:
        return await act(request, "decide")

    @require("operator", "supervisor")
    async def suggest(request: web.Request) -> web.Response:
        case = {"category": request.query.get("topic", ""), "district": request.query.get("district", "")}
        code = workflow.suggest(case)
        dept = settings.department(code)
        return web.json_response({"department": code, "name": dept.name if dept else ""})

    # -- lists -----------------------------------------------------------------------------------

    @require("department")
    async def department_cases(request: web.Request) -> web.Response:
        actor = actor_of(request)
        if not actor.department:
            raise WorkflowError("forbidden", "this user belongs to no department")
        rows = await flows.department_cases(actor.department, limit=int_query(request, "limit", 200, 1, 1000))
        dept = settings.department(actor.department)
        return web.json_response({"department": {"code": actor.department, "name": dept.name if dept else ""},
                                  "now": workflow.clock(), "cases": views(request, rows)}, dumps=dumps)

    @require("supervisor", "operator")
    async def worklist(request: web.Request) -> web.Response:
        """The hotline's side: cases to dispatch (new, returned), extensions to decide, overdue."""
        to_dispatch = await flows.by_status(("new", "returned"))
        return web.json_response({
            "now": workflow.clock(), "to_dispatch": views(request, to_dispatch),
            "extensions": views(request, await flows.by_status(("extension_requested",))),
            "overdue": views(request, await flows.overdue(workflow.clock()))}, dumps=dumps)

    @require("supervisor")
    async def rates(request: web.Request) -> web.Response:
        first, last, start, end = date_range(request)
        return web.json_response({"from": first.isoformat(), "to": last.isoformat(),
                                  **await flows.rates(start, end)}, dumps=dumps)

    # -- call back tasks ----------------------------------------------------------------------------

    @require("operator", "supervisor")
    async def callback_tasks(request: web.Request) -> web.Response:
        tasks = await callbacks.tasks() if callbacks is not None else []
        for t in tasks:  # the number of a confidential case only to whom the rule shows it (the call
            # itself is placed by the hotline: the operator need not read it)
            seen = task_access(request, t)
            if not seen.readable:  # another operator's confidential case: its stub, no actions
                t["restricted"] = True
                for key in ("topic", "category", "district", "language", "detail"):
                    t[key] = access.HIDDEN if key in ("topic", "category", "district") else ""
            if not seen.identity:
                t["caller_number"] = access.HIDDEN
            if not seen.address:
                t["address"] = access.HIDDEN
            if not seen.form:
                t["description"] = t["reply_summary"] = access.HIDDEN
        return web.json_response({"tasks": tasks}, dumps=dumps)

    def task_id(request: web.Request) -> int:
        try:
            return int(request.match_info["id"])
        except ValueError:
            raise WorkflowError("bad-request", "not a task id") from None

    def task_access(request: web.Request, t: dict[str, Any]) -> access.Access:
        """The access rule for a call back task's case (who took it, by hand or on the phone)."""
        return case_access.decide(request, {
            "uniqueid": t.get("case_uniqueid"), "operator": t.get("taken_by"), "confidential": t.get("confidential"),
            "department": t.get("department"), "source": t.get("source"), "form_saved_by": t.get("form_saved_by")})

    async def allowed_task(request: web.Request) -> int:
        """The task's id, when the rule lets this user act on its case (else 403, audited)."""
        cb_id = task_id(request)
        assert callbacks is not None
        task = next((t for t in await callbacks.tasks() if t["id"] == cb_id), None)
        if task is not None:
            seen = task_access(request, task)
            if not seen.readable:
                raise case_access.refuse(seen.reason)
        return cb_id  # no open task: the service says so (case-unknown)

    @require("operator")
    async def callback_call(request: web.Request) -> web.Response:
        if callbacks is None:
            raise WorkflowError("no-call", "call backs are not running")
        p = principal_of(request)
        assert p is not None
        channel = await callbacks.call_from_desktop(await allowed_task(request), actor_of(request), p.extension)
        return web.json_response({"ok": True, "channel": channel})

    @require("operator", "supervisor")
    async def callback_result(request: web.Request) -> web.Response:
        if callbacks is None:
            raise WorkflowError("no-call", "call backs are not running")
        body = await json_body(request)
        await callbacks.record_from_desktop(await allowed_task(request), actor_of(request),
                                            str(body.get("outcome", "")))
        return web.json_response({"ok": True})

    # -- recordings --------------------------------------------------------------------------------

    @require("operator", "supervisor", "department")
    async def recording(request: web.Request) -> web.StreamResponse:
        case, actor, seen = await visible_case(request)
        if not seen.recording:
            raise WorkflowError("forbidden", "this recording is played only to the operator who took the call, "
                                "supervisors and the case's department (not for a confidential case)")
        rec = await recordings.recording(case["uniqueid"])
        if rec is None or rec["status"] != "archived" or not rec.get("archive"):
            raise WorkflowError("case-unknown", "no recording of this call"
                                + (f" ({rec['status']})" if rec else ""))
        path = Path(rec["archive"])
        await case_access.audit(request, store, "recording_played", case["uniqueid"], {"case_id": case["id"]})
        log.info("recording of case %s played by %s (%s) uniqueid=%s", case["id"], actor.username, actor.role,
                 case["uniqueid"])
        return web.FileResponse(path, headers={"Content-Type": MIME.get(path.suffix.lstrip("."), "audio/ogg"),
                                               "Cache-Control": "no-store"})

    # -- search and trends --------------------------------------------------------------------------

    @require("supervisor", "operator", "department")
    async def search_cases(request: web.Request) -> web.Response:
        p = principal_of(request)
        assert p is not None
        first, last, start, end = date_range(request, max_days=400)
        filters = {k: request.query.get(k, "") for k in ("district", "department", "status", "topic")}
        scope = access.search_scope(case_access.viewer_of(p))
        if scope.department:
            filters["department"] = scope.department
        query = request.query.get("q", "")
        limit, offset = int_query(request, "limit", 50, 1, 500), int_query(request, "offset", 0, 0, 1_000_000)
        result = await search.search(query, start, end, filters, limit, offset, scope)
        await case_access.audit(request, store, "search", "/api/search", {
            "q": query[:200], "filters": {k: v for k, v in filters.items() if v}, "from": str(first),
            "to": str(last), "offset": offset, "total": result["total"], "shown": len(result["cases"])})
        return web.json_response({"total": result["total"], "more": result["more"],
                                  "cases": views(request, result["cases"])}, dumps=dumps)

    async def trend_rows(request: web.Request) -> tuple[list[dict[str, Any]], str, str]:
        _first, _last, start, end = date_range(request, max_days=400)
        period = request.query.get("period", "day")
        by = request.query.get("by", "topic")
        if by == "keyword":
            words = [w for w in request.query.get("words", "").split(",") if w.strip()] or list(
                settings.trends.keywords)
            return await search.keyword_counts([w.strip() for w in words][:20], start, end, period), period, by
        return await search.counts(start, end, period, by), period, by

    @require("supervisor")
    async def trends(request: web.Request) -> web.Response:
        rows, period, by = await trend_rows(request)
        return web.json_response({"period": period, "by": by, "rows": rows}, dumps=dumps)

    @require("supervisor")
    async def trends_csv(request: web.Request) -> web.Response:
        rows, period, by = await trend_rows(request)
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow([period, by, "cases"])
        for r in rows:
            writer.writerow([r["bucket"], r["key"], r["cases"]])
        await case_access.audit(request, store, "export", "/api/trends.csv", {
            "kind": "trends", "period": period, "by": by, "from": request.query.get("from", ""),
            "to": request.query.get("to", ""), "rows": len(rows)})
        return web.Response(text=out.getvalue(), content_type="text/csv", headers={
            "Content-Disposition": f'attachment; filename="trends-{by}-{period}.csv"'})

    @require("supervisor")
    async def hotspots(request: web.Request) -> web.Response:
        try:
            day = dt.date.fromisoformat(request.query.get("day") or dt.date.today().isoformat())
        except ValueError:
            raise WorkflowError("bad-request", "day must be YYYY-MM-DD") from None
        cfg = settings.trends
        today, before, days = await search.hotspot_counts(day, cfg.baseline_days, cfg.hotspot_min_cases)
        found = trend_rules.hotspots(today, before, days, cfg)
        labels = await search.address_labels([h["key"] for h in found if h["kind"] == "address"])
        for h in found:
            h["label"] = labels.get(h["key"], h["label"])
        since = dt.datetime.combine(day - dt.timedelta(days=cfg.bundle_days), dt.time()).timestamp()
        bundles = await search.bundles(since)
        return web.json_response({"day": day.isoformat(), "hotspots": found, "bundles": bundles}, dumps=dumps)

    # -- pages -------------------------------------------------------------------------------------

    def page(template: str, *roles: str) -> Any:
        @require(*roles)
        async def handler(request: web.Request) -> web.StreamResponse:
            p: Principal | None = principal_of(request)
            assert p is not None
            return aiohttp_jinja2.render_template(template, request, {
                "me": p, "csrf": p.csrf, "uid": request.match_info.get("uid", "")})
        return handler

    r = app.router
    r.add_get("/department", page("department.html", "department"))
    r.add_get("/cases/{uid}", page("case.html", "operator", "supervisor", "department"))
    r.add_get("/trends", page("trends.html", "supervisor"))
    r.add_get("/callbacks", page("callbacks.html", "operator", "supervisor"))
    r.add_get("/worklist", page("worklist.html", "operator", "supervisor"))
    r.add_post("/api/cases", create_case)
    r.add_get("/api/cases/{uid}/detail", case_detail)
    r.add_post("/api/cases/{uid}/dispatch", dispatch)
    r.add_post("/api/cases/{uid}/{action:accept|reply|return|extension}", department_action)
    r.add_post("/api/cases/{uid}/extension/decide", decide)
    r.add_get("/api/cases/{uid}/recording", recording)
    r.add_get("/api/dispatch/suggest", suggest)
    r.add_get("/api/department/cases", department_cases)
    r.add_get("/api/worklist", worklist)
    r.add_get("/api/reports/rates", rates)
    r.add_get("/api/callbacks/tasks", callback_tasks)
    r.add_post(r"/api/callbacks/{id:\d+}/call", callback_call)
    r.add_post(r"/api/callbacks/{id:\d+}/result", callback_result)
    r.add_get("/api/search", search_cases)
    r.add_get("/api/trends", trends)
    r.add_get("/api/trends.csv", trends_csv)
    r.add_get("/api/hotspots", hotspots)
