"""Crisis words in a caller's line: an alert at once on the operator's desk and on the wallboard.

Every caller line (partials too: a word is caught while the caller is still speaking) is matched
against the site's lexicon (config/crisis.py, assist/crisis.py). The first match of a category on
a call raises its alert, and only that one: the partials that follow, the final line and later
lines with words of the same category add nothing (another category is another alert). An alert
is pushed first (the operator's desktop gets ``crisis_alert``, the wallboard's alerts list gets it
at the next flush, within 50 ms), then written: its row (assist/crisis_store.py) and an audit row
with the case (the audit chain). A supervisor listens or barges with the wallboard's buttons
(floor/supervision.py, the same action as the operator row's) or dismisses it as a false alarm:
the dismissal is written and audited, and counted on the wallboard (raised and dismissed today).
An alert stays on the wallboard until dismissed or ``crisis.keep_minutes`` after its call ended.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from hotline import events as ev
from hotline.assist.crisis import Hit, Lexicon, by_category
from hotline.auth.users import Principal
from hotline.config import Settings
from hotline.errors import HotlineError, by_id
from hotline.floor.calls import CallRegistry
from hotline.floor.messages import message
from hotline.floor.notify import ExtensionNotifier

log = logging.getLogger(__name__)
ACTOR = "crisis-words"  # the audit rows' actor of a raised alert


class CrisisError(HotlineError):
    error_id = "bad-request"
    status = 400
    statuses = by_id({"alert-unknown": 404, "alert-dismissed": 409, "bad-request": 400})


class CrisisRepository(Protocol):
    """The alerts' rows (assist/crisis_store.py)."""

    async def case_id(self, uniqueid: str) -> int | None: ...
    async def raised(self, alert: dict[str, Any]) -> None: ...
    async def dismissed(self, alert_id: str, by: str, reason: str, at: float) -> bool: ...
    async def since(self, since: float) -> list[dict[str, Any]]: ...


class CrisisAudit(Protocol):
    """The audit chain (cases/audit_store.py)."""

    async def audit(self, actor: str, action: str, target: str, detail: dict[str, Any], at: float,
                    role: str = "") -> int: ...


@dataclass
class CrisisAlert:
    id: str  # "<uniqueid>:<category>"
    uniqueid: str
    category: str
    language: str
    words: list[str]  # as the lexicon writes them
    hits: list[dict[str, Any]]  # assist.crisis.Hit.to_json(): the spans in ``line``
    line: str  # the caller's line as the recogniser gave it
    operator: str  # the extension on the call ("" when nobody had answered)
    raised_at: float
    case_id: int | None = None
    dismissed_at: float | None = None
    dismissed_by: str = ""
    reason: str = ""

    def row(self) -> dict[str, Any]:
        return {"id": self.id, "uniqueid": self.uniqueid, "case_id": self.case_id, "category": self.category,
                "language": self.language, "words": self.words, "line": self.line, "operator": self.operator,
                "raised_at": self.raised_at, "dismissed_at": self.dismissed_at, "dismissed_by": self.dismissed_by,
                "reason": self.reason}


class CrisisService:
    def __init__(self, settings: Settings, calls: CallRegistry, hub: ExtensionNotifier, store: CrisisRepository,
                 audit_log: CrisisAudit, since_day: Callable[[], float],
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.calls = calls
        self.hub = hub
        self.store = store
        self.audit_log = audit_log
        self.since_day = since_day
        self._clock = clock
        self.lexicon = Lexicon((w.language, w.category, word) for w in settings.crisis.lexicon for word in w.words)
        self.alerts: dict[str, CrisisAlert] = {}  # today's, by id
        self.on_change: Callable[[], None] = lambda: None  # the wallboard re-reads its alerts
        self._shown: set[str] = set()  # the ids on the wallboard at the last look (the expiry's)

    # -- the caller's words ----------------------------------------------------------------------

    async def handle(self, event: ev.Event) -> None:
        if not isinstance(event, ev.TranscriptText) or event.speaker != "caller" or not len(self.lexicon):
            return
        hits = self.lexicon.find(event.text)
        for category, found in by_category(hits).items():
            alert_id = f"{event.uniqueid}:{category}"
            if alert_id in self.alerts:  # one alert per call and category
                continue
            call = self.calls.get(event.uniqueid)
            alert = CrisisAlert(alert_id, event.uniqueid, category, found[0].language,
                                list(dict.fromkeys(h.word for h in found)), [h.to_json() for h in found],
                                event.text, call.operator if call is not None else "", event.at or self._clock())
            self.alerts[alert_id] = alert
            self._push(alert)
            log.warning("crisis words (%s) on call %s, operator %s", category, event.uniqueid,
                        alert.operator or "-")  # the words stay in the audited store, not the journal
            await self._record(alert, found)

    def _push(self, alert: CrisisAlert) -> None:
        if alert.operator:
            self.hub.to_extension(alert.operator, message("crisis_alert", **self.desk_json(alert)))
        self.on_change()

    async def _record(self, alert: CrisisAlert, found: list[Hit]) -> None:
        try:
            alert.case_id = await self.store.case_id(alert.uniqueid)
        except Exception as exc:  # the alert is up; its row goes without the case number
            log.error("crisis alert %s: case not readable: %s", alert.id, exc)
        try:
            await self.store.raised(alert.row())
        except Exception:
            log.exception("crisis alert %s: its row could not be written", alert.id)
        try:
            await self.audit_log.audit(ACTOR, "crisis_alert", alert.uniqueid,
                                       {"case_id": alert.case_id, "category": alert.category,
                                        "words": alert.words, "said": [h.said for h in found], "line": alert.line,
                                        "operator": alert.operator}, alert.raised_at, role="system")
        except Exception:
            log.exception("crisis alert %s: the audit row could not be written", alert.id)
        self.on_change()  # the case number on the wallboard, the audit lines

    # -- what supervisors do ---------------------------------------------------------------------

    async def dismiss(self, who: Principal, alert_id: str, reason: str) -> CrisisAlert:
        """A false alarm: written, audited, counted; the operator's desk shows it dismissed."""
        alert = self.alerts.get(alert_id)
        if alert is None:
            raise CrisisError(f"no crisis alert {alert_id!r} today", error_id="alert-unknown")
        if alert.dismissed_at is not None:
            raise CrisisError(f"alert already dismissed by {alert.dismissed_by}", error_id="alert-dismissed")
        reason = " ".join(reason.split())[:300]
        at = self._clock()
        # marked before the store's await: a second supervisor's dismissal meanwhile is refused above
        alert.dismissed_at, alert.dismissed_by, alert.reason = at, who.username, reason
        try:
            written = await self.store.dismissed(alert_id, who.username, reason, at)
        except BaseException:
            alert.dismissed_at, alert.dismissed_by, alert.reason = None, "", ""
            raise
        if not written:
            log.warning("crisis alert %s dismissed before its row was written: the row is written next", alert_id)
        await self.audit_log.audit(who.username, "crisis_dismissed", alert.uniqueid,
                                   {"case_id": alert.case_id, "category": alert.category, "words": alert.words,
                                    "reason": reason, "operator": alert.operator}, at, role=who.role)
        log.info("crisis alert %s dismissed by %s: %s", alert_id, who.username, reason or "-")
        self._push(alert)
        return alert

    # -- what the pages show ---------------------------------------------------------------------

    def desk_json(self, alert: CrisisAlert) -> dict[str, Any]:
        return {"id": alert.id, "uniqueid": alert.uniqueid, "case_id": alert.case_id, "category": alert.category,
                "category_name": self.settings.crisis.category_name(alert.category), "language": alert.language,
                "words": alert.words, "hits": alert.hits, "line": alert.line, "raised_at": alert.raised_at,
                "dismissed_at": alert.dismissed_at, "dismissed_by": alert.dismissed_by, "reason": alert.reason}

    def of_operator(self, extension: str) -> list[dict[str, Any]]:
        """Today's alerts of this operator's calls (a reloaded desk shows those of the call on it, live
        or ended and not yet saved)."""
        return [self.desk_json(a) for a in self.alerts.values() if a.operator == extension]

    def _showing(self, alert: CrisisAlert, now: float) -> bool:
        if alert.dismissed_at is not None:
            return False
        call = self.calls.get(alert.uniqueid)
        if call is None:  # forgotten by the registry: its call ended a while ago
            return now - alert.raised_at < self.settings.crisis.keep_minutes * 60
        return call.ended_at is None or now - call.ended_at < self.settings.crisis.keep_minutes * 60

    def board_alerts(self) -> list[dict[str, Any]]:
        """The wallboard's alerts (Board.extra_alerts): every alert not dismissed nor timed out."""
        now = self._clock()
        out = []
        for a in self.alerts.values():
            if not self._showing(a, now):
                continue
            call = self.calls.get(a.uniqueid)
            live = call is not None and call.ended_at is None and bool(call.operator)
            op = self.settings.operator(a.operator)
            who = f"{op.name} ({a.operator})" if op is not None else (a.operator or "no operator yet")
            out.append({"id": f"crisis:{a.id}", "kind": "crisis", "severity": "critical", "since": a.raised_at,
                        "target": a.operator, "alert_id": a.id, "uniqueid": a.uniqueid, "case_id": a.case_id,
                        "category": a.category, "words": a.words, "operator": a.operator, "live": live,
                        "text": f"crisis words ({self.settings.crisis.category_name(a.category)}) on the call of "
                                f"{who}: {', '.join(a.words)}" + ("" if live else " (call ended)")})
        return out

    def counts(self) -> dict[str, Any]:
        """The wallboard's ``crisis`` section: today's alerts and false alarms."""
        since = self.since_day()
        today = [a for a in self.alerts.values() if a.raised_at >= since]
        return {"raised_today": len(today), "dismissed_today": sum(a.dismissed_at is not None for a in today)}

    # -- time ------------------------------------------------------------------------------------

    async def load(self) -> int:
        """Today's alerts from the store (a restart keeps them, and raises none of them again)."""
        since = self.since_day()
        rows = await self.store.since(since)
        for r in rows:
            self.alerts.setdefault(str(r["id"]), CrisisAlert(
                str(r["id"]), str(r["uniqueid"]), str(r["category"]), str(r["language"] or ""),
                [str(w) for w in r["words"]], [], str(r["line"] or ""), str(r["operator"] or ""),
                float(r["raised_at"]), r["case_id"], r["dismissed_at"], str(r["dismissed_by"] or ""),
                str(r["reason"] or "")))
        return len(rows)

    async def run(self, every: float = 5.0) -> None:
        """Load today's alerts, then every few seconds: a new day drops yesterday's, and an alert whose
        time on the wallboard ran out makes it re-read its alerts."""
        try:
            if await self.load():
                self.on_change()
        except Exception:
            log.exception("crisis alerts: today's alerts could not be read")
        while True:
            await asyncio.sleep(every)
            try:
                since, now = self.since_day(), self._clock()
                for alert_id, a in list(self.alerts.items()):
                    if a.raised_at < since and not self._showing(a, now):
                        del self.alerts[alert_id]
                shown = {k for k, a in self.alerts.items() if self._showing(a, now)}
                if shown != self._shown:
                    self._shown = shown
                    self.on_change()
            except Exception:
                log.exception("crisis alerts: the expiry failed")
