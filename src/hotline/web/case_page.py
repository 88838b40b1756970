"""The case page: the case with its history, transcript, call backs and recording (every read
audited), and the recording itself (every playback written to the audit log)."""

from __future__ import annotations

import logging
from pathlib import Path

from aiohttp import web

from hotline.cases.workflow import WorkflowError
from hotline.web import case_access
from hotline.web.case_views import dumps, page, view, visible_case
from hotline.web.keys import AFTER_CALL, AUDITS, SETTINGS, STORE
from hotline.web.security import require

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
MIME = {"ogg": "audio/ogg", "mp3": "audio/mpeg"}

routes.get("/cases/{uid}")(page("case.html", "operator", "supervisor", "department"))


@routes.get("/api/cases/{uid}/detail")
@require("operator", "supervisor", "department")
async def case_detail(request: web.Request) -> web.Response:
    after, settings, store = request.app[AFTER_CALL], request.app[SETTINGS], request.app[STORE]
    case, actor, seen = await visible_case(request)
    uid = case["uniqueid"]
    rec = await after.recordings.recording(uid) if seen.recording else None
    transcript = await store.transcript(uid) if seen.transcript else []
    await case_access.audit(request, request.app[AUDITS], "case_read", uid, {"case_id": case["id"], "level": seen.level,
                                                               "transcript": len(transcript)})
    body = {
        "case": view(request, case, seen), "events": await after.flows.case_events(uid),
        "transcript": transcript,
        "callbacks": await after.flows.callbacks_of(uid),
        "recording": {"status": rec["status"], "seconds": rec.get("seconds"),
                      "url": f"/api/cases/{uid}/recording"} if rec and rec["status"] == "archived" else
        ({"status": rec["status"]} if rec else None),
        "suggested_department": after.workflow.suggest(case),
        "departments": [{"code": d.code, "name": d.name} for d in settings.departments],
        "me": {"role": actor.role, "department": actor.department},
    }
    return web.json_response(body, dumps=dumps)


@routes.get("/api/cases/{uid}/recording")
@require("operator", "supervisor", "department")
async def recording(request: web.Request) -> web.StreamResponse:
    case, actor, seen = await visible_case(request)
    if not seen.recording:
        raise WorkflowError("forbidden", "this recording is played only to the operator who took the call, "
                            "supervisors and the case's department (not for a confidential case)")
    rec = await request.app[AFTER_CALL].recordings.recording(case["uniqueid"])
    if rec is None or rec["status"] != "archived" or not rec.get("archive"):
        raise WorkflowError("case-unknown", "no recording of this call"
                            + (f" ({rec['status']})" if rec else ""))
    path = Path(rec["archive"])
    await case_access.audit(request, request.app[AUDITS], "recording_played", case["uniqueid"],
                            {"case_id": case["id"]})
    log.info("recording of case %s played by %s (%s) uniqueid=%s", case["id"], actor.username, actor.role,
             case["uniqueid"])
    return web.FileResponse(path, headers={"Content-Type": MIME.get(path.suffix.lstrip("."), "audio/ogg"),
                                           "Cache-Control": "no-store"})
