"""Surge announcements (issue 16): a shift manager's short message ("the water outage in Chaoyang is
known; repair by 18:00") for the callers of a topic, a district or everyone, played before the queue.

A message has a text per language (spoken with that language's voice, synthesised at creation off the
event loop) or one recorded file (converted at creation); the sound files are named from the
message's id and the language code only, in the sounds folder Asterisk reads (sounds/surge/). The
route answer (runtime.route) carries HL_SURGE, the file to play, for a caller whose topic matches
(a topic message first, then an everyone message; the newest of each wins). A district message is
stored and shown but never matches at intake: the caller has no district before the operator's form.
A caller switching language while waiting is routed again and does not hear it twice.

Counts: played (the route answer carried it), opted out (the key to still reach a person), informed
(hung up during or after it, before the queue: the hangup handler's report). Creation and the early
end are audited.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from hotline.auth.users import Principal
from hotline.config import Settings
from hotline.errors import HotlineError, by_id

log = logging.getLogger(__name__)
SCOPES = ("topic", "district", "everyone")
MAX_TEXT = 300  # characters per language: a short message
MAX_HOURS = 24  # a message longer than a day is not a surge


class SurgeError(HotlineError):
    error_id = "surge-invalid"
    status = 400
    statuses = by_id({"surge-invalid": 400, "surge-unknown": 404, "surge-audio": 400})


class SurgeRepository(Protocol):
    """The messages' rows (cases/surge_store.py)."""

    async def add(self, row: dict[str, Any]) -> int: ...
    async def ended(self, surge_id: int, by: str, at: float) -> bool: ...
    async def count(self, surge_id: int, what: str) -> None: ...
    async def current(self, now: float) -> list[dict[str, Any]]: ...


class SurgeAudit(Protocol):
    async def audit(self, actor: str, action: str, target: str, detail: dict[str, Any], at: float,
                    role: str = "") -> int: ...


# (text, language code, destination wav) -> None, or (recorded file, destination wav) -> None; blocking
# work the composition runs in a thread (ivr/prompts.py's synthesis and sox conversion)
Speak = Callable[[str, str, Path], Awaitable[None]]
Convert = Callable[[Path, Path], Awaitable[None]]


@dataclass
class Surge:
    id: int
    scope: str
    target: str
    texts: dict[str, str]
    recorded: bool
    starts_at: float
    ends_at: float
    created_by: str
    languages: list[str] = field(default_factory=list)  # the languages with a sound file
    played: int = 0
    informed: int = 0
    opted_out: int = 0

    def on(self, now: float) -> bool:
        return self.starts_at <= now < self.ends_at

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "scope": self.scope, "target": self.target, "texts": self.texts,
                "recorded": self.recorded, "starts_at": self.starts_at, "ends_at": self.ends_at,
                "created_by": self.created_by, "played": self.played, "informed": self.informed,
                "opted_out": self.opted_out}


def _number(body: dict[str, Any], key: str, default: float) -> float:
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise SurgeError(f"{key} must be epoch seconds")
    return float(value)


class SurgeService:
    def __init__(self, settings: Settings, store: SurgeRepository, audit_log: SurgeAudit, sounds_dir: Path,
                 sounds_in_chroot: str, speak: Speak, convert: Convert,
                 clock: Callable[[], float] = time.time) -> None:
        self.uploads = settings.state_dir / "surge-recordings"  # the only folder a recording is read from
        self.settings = settings
        self.store = store
        self.audit_log = audit_log
        self.folder = sounds_dir / "surge"
        self.in_chroot = f"{sounds_in_chroot}/surge"
        self.speak = speak
        self.convert = convert
        self._clock = clock
        self.surges: dict[int, Surge] = {}
        self.on_change: Callable[[], None] = lambda: None  # the wallboard re-reads its section

    async def load(self) -> None:
        """The messages still on (after a restart); their sound files were written at creation."""
        for r in await self.store.current(self._clock()):
            s = Surge(int(r["id"]), r["scope"], r["target"], dict(r["texts"]), bool(r["recorded"]),
                      float(r["starts_at"]), float(r["ends_at"]), r["created_by"], played=int(r["played"]),
                      informed=int(r["informed"]), opted_out=int(r["opted_out"]))
            s.languages = ["rec"] if s.recorded else [c for c in s.texts if (self.folder / f"{s.id}-{c}.wav").exists()]
            self.surges[s.id] = s

    # -- what a shift manager does ----------------------------------------------------------------

    def _clean(self, body: dict[str, Any]) -> dict[str, Any]:
        scope = body.get("scope")
        if scope not in SCOPES:
            raise SurgeError(f"scope must be one of {', '.join(SCOPES)}")
        target = body.get("target", "")
        if not isinstance(target, str):
            raise SurgeError("target must be text")
        target = target.strip()
        if scope == "topic" and target not in {t.code for t in self.settings.topics}:
            raise SurgeError("target must be one of the site's topic codes")
        if scope == "district" and (not target or len(target) > 60):
            raise SurgeError("target must name the district (at most 60 characters)")
        if scope == "everyone":
            target = ""
        texts = body.get("texts", {})
        recording = body.get("recording", "")
        if not isinstance(texts, dict) or not isinstance(recording, str):
            raise SurgeError("texts must map language codes to text; recording must be a file path")
        clean: dict[str, str] = {}
        for code, text in texts.items():
            if self.settings.language(str(code)) is None:
                raise SurgeError(f"no language {str(code)[:20]!r} on this site")
            if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT:
                raise SurgeError(f"the {code} text must be 1 to {MAX_TEXT} characters")
            clean[str(code)] = " ".join(text.split())
        if bool(clean) == bool(recording):
            raise SurgeError("give either texts (per language) or one recording")
        if recording and not Path(recording).resolve().is_relative_to(self.uploads.resolve()):
            raise SurgeError(f"recording must be a file in {self.uploads}")
        now = self._clock()
        starts = _number(body, "starts_at", now)
        ends = _number(body, "ends_at", 0.0)
        if ends <= max(starts, now) or ends - starts > MAX_HOURS * 3600:
            raise SurgeError(f"ends_at must be after starts_at and now, at most {MAX_HOURS} h after the start")
        return {"scope": scope, "target": target, "texts": clean, "recording": recording,
                "starts_at": starts, "ends_at": ends}

    async def create(self, who: Principal, body: dict[str, Any]) -> Surge:
        c = self._clean(body)
        at = self._clock()
        surge_id = await self.store.add({"scope": c["scope"], "target": c["target"], "texts": c["texts"],
                                         "recorded": bool(c["recording"]), "starts_at": c["starts_at"],
                                         "ends_at": c["ends_at"], "created_by": who.username, "created_at": at})
        s = Surge(surge_id, c["scope"], c["target"], c["texts"], bool(c["recording"]), c["starts_at"],
                  c["ends_at"], who.username)
        try:
            if c["recording"]:
                await self.convert(Path(c["recording"]), self.folder / f"{surge_id}-rec.wav")
                s.languages = ["rec"]
            for code, text in c["texts"].items():
                lang = self.settings.language(code)
                assert lang is not None
                await self.speak(text, lang.voice, self.folder / f"{surge_id}-{code}.wav")
                s.languages.append(code)
        except Exception as exc:
            await self.store.ended(surge_id, who.username, self._clock())  # never half on
            log.error("surge %d: its sound could not be made: %s", surge_id, exc)
            raise SurgeError(f"the message's sound could not be made: {str(exc)[:200]}",
                             error_id="surge-audio") from None
        self.surges[surge_id] = s
        await self.audit_log.audit(who.username, "surge_created", f"surge:{surge_id}",
                                   {"scope": s.scope, "target": s.target, "texts": s.texts,
                                    "recording": c["recording"], "starts_at": s.starts_at, "ends_at": s.ends_at},
                                   at, role=who.role)
        log.info("surge %d (%s %s) set by %s", surge_id, s.scope, s.target or "-", who.username)
        self.on_change()
        return s

    async def end(self, who: Principal, surge_id: int) -> Surge:
        s = self.surges.get(surge_id)
        if s is None:
            raise SurgeError(f"no surge message {surge_id} on", error_id="surge-unknown")
        at = self._clock()
        del self.surges[surge_id]
        await self.store.ended(surge_id, who.username, at)
        await self.audit_log.audit(who.username, "surge_ended", f"surge:{surge_id}",
                                   {"scope": s.scope, "target": s.target, "played": s.played,
                                    "informed": s.informed, "opted_out": s.opted_out}, at, role=who.role)
        self.on_change()
        return s

    # -- the call path ----------------------------------------------------------------------------

    def match(self, language: str, topic: str, now: float | None = None) -> tuple[Surge, str] | None:
        """The message for a caller of ``topic`` in ``language`` and its sound (the path Asterisk
        plays, no extension), or None. The caller's language, else the recording, else the default
        language's text."""
        now = self._clock() if now is None else now
        for s in list(self.surges.values()):
            if s.ends_at <= now:
                del self.surges[s.id]
        on = [s for s in self.surges.values() if s.on(now)]
        picks = ([s for s in on if s.scope == "topic" and s.target == topic]
                 + [s for s in on if s.scope == "everyone"])
        for s in sorted(picks, key=lambda s: (s.scope != "topic", -s.id)):
            for code in (language, "rec", self.settings.default_language.code):
                if code in s.languages:
                    return s, f"{self.in_chroot}/{s.id}-{code}"
        return None

    async def counted(self, surge_id: str, what: str) -> None:
        """A count from the call path (played, informed, opted_out): ids from the dialplan checked."""
        s = self.surges.get(int(surge_id)) if surge_id.isdigit() else None
        if s is None:
            return
        setattr(s, what, getattr(s, what) + 1)
        self.on_change()
        try:
            await self.store.count(s.id, what)
        except Exception as exc:
            log.error("surge %d: count %s not written: %s", s.id, what, exc)

    def board(self) -> dict[str, Any]:
        """The wallboard's section: the messages on or coming, with their counts."""
        now = self._clock()
        return {"surges": [s.to_json() | {"on": s.on(now)} for s in sorted(self.surges.values(), key=lambda s: s.id)
                           if s.ends_at > now]}
