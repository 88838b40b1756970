"""What shift managers do to the floor, each action checked, applied through the PBX at once and
written to the audit log (who, what, on whom, when): change an operator's skills (kept in the
store, applied again at every start), force a pause, a return or a log out, and listen to,
whisper into or barge in on a live call from their own phone (ChanSpy)."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from hotline import events as ev
from hotline.auth.users import Principal
from hotline.config import Settings
from hotline.floor.board import Board
from hotline.floor.calls import CallRegistry
from hotline.queue.agents import AgentCommands, AgentError
from hotline.queue.skills import interface

log = logging.getLogger(__name__)
SPY_MODES = ("listen", "whisper", "barge")


class SpyControl(Protocol):
    async def supervise(self, phone: str, channel: str, mode: str, caller_id: str, channel_id: str) -> None: ...
    async def hangup(self, channel: str) -> None: ...


class SkillOverrides(Protocol):
    """The skills shift managers set, kept over the site file's (storage/operator_store.py)."""

    async def skills(self) -> dict[str, tuple[dict[str, int], list[str]]]: ...
    async def save_skills(self, extension: str, languages: dict[str, int], topics: list[str], by: str,
                          at: float) -> None: ...


class AuditLog(Protocol):
    """Where supervision's actions are audited (cases/audit_store.py, the hash chain)."""

    async def audit(self, actor: str, action: str, target: str, detail: dict[str, Any], at: float,
                    role: str = "") -> int: ...


@dataclass
class SpySession:
    supervisor: str  # username
    phone: str  # the supervisor's extension
    agent: str
    uniqueid: str
    mode: str
    started_at: float
    channel_id: str  # the uniqueid of the supervisor's channel

    def to_json(self) -> dict[str, Any]:
        return {"supervisor": self.supervisor, "phone": self.phone, "agent": self.agent, "uniqueid": self.uniqueid,
                "mode": self.mode, "started_at": self.started_at}


class Supervision:
    def __init__(self, settings: Settings, commands: AgentCommands, board: Board, calls: CallRegistry,
                 pbx: SpyControl, overrides: SkillOverrides, audit_log: AuditLog,
                 on_change: Callable[[], None] = lambda: None,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.commands = commands
        self.board = board  # an operator's row changed (skills): marked for the next flush
        self.calls = calls  # an operator's call (the call registry)
        self.pbx = pbx
        self.overrides = overrides
        self.audit_log = audit_log
        self.on_change = on_change
        self._clock = clock
        self.sessions: dict[str, SpySession] = {}  # supervisor's extension -> session

    async def load_skills(self) -> int:
        """The skills shift managers set earlier, over the site file's (at start, before logins)."""
        n = 0
        for ext, (languages, topics) in (await self.overrides.skills()).items():
            if self.commands.skills.get(ext) is not None:
                self.commands.skills.set(ext, languages, tuple(topics))
                n += 1
        return n

    async def audit(self, who: Principal, action: str, target: str, detail: dict[str, Any]) -> None:
        at = self._clock()
        await self.audit_log.audit(who.username, action, target, detail, at)
        log.info("audit: %s %s %s %s", who.username, action, target, detail)
        self.on_change()

    # -- the floor ----------------------------------------------------------------------------------

    async def set_skills(self, who: Principal, ext: str, body: dict[str, Any]) -> dict[str, Any]:
        languages, topics = body.get("languages"), body.get("topics", [])
        if not isinstance(languages, dict) or not isinstance(topics, list):
            raise AgentError("bad-request", "languages must be an object (code: proficiency 1-5), topics a list")
        old = self.commands.skills.get(ext)
        changes = await self.commands.set_skills(ext, languages, [str(t) for t in topics])
        await self.overrides.save_skills(ext, languages, [str(t) for t in topics], who.username, self._clock())
        await self.audit(who, "skills", ext, {"from": {"languages": dict(old.languages) if old else {},
                                                       "topics": list(old.topics) if old else []},
                                              "to": {"languages": languages, "topics": topics}, "queues": changes})
        self.board.dirty.add(ext)
        self.on_change()
        return changes

    async def agent_action(self, who: Principal, ext: str, action: str, reason: str = "") -> None:
        if action == "pause":
            await self.commands.pause(ext, reason or "by supervisor")
        elif action == "unpause":
            await self.commands.unpause(ext)
        elif action == "logout":
            await self.commands.logout(ext)
        elif action == "login":
            await self.commands.login(ext)
        else:
            raise AgentError("bad-request", f"unknown action {action!r}")
        await self.audit(who, action, ext, {"reason": reason} if reason else {})

    # -- listen, whisper, barge ---------------------------------------------------------------------

    def _phone(self, who: Principal) -> str:
        if not who.extension or self.settings.supervisor_phone(who.extension) is None:
            raise AgentError("no-phone", f"user {who.username} has no phone: give them the extension of one of "
                             "the [[supervisors]] phones")
        return who.extension

    async def spy(self, who: Principal, agent: str, mode: str) -> SpySession:
        if mode not in SPY_MODES:
            raise AgentError("bad-request", f"mode must be one of {', '.join(SPY_MODES)}")
        phone = self._phone(who)
        call = self.calls.of_operator(agent)
        if call is None or not call.agent_channel:
            raise AgentError("no-call", f"operator {agent} is not on a call")
        if phone in self.sessions:
            await self.stop(who, reason="mode change")
        channel_id = f"hl-spy-{phone}-{secrets.token_hex(4)}"
        session = SpySession(who.username, phone, agent, call.uniqueid, mode, self._clock(), channel_id)
        self.sessions[phone] = session
        try:
            await self.pbx.supervise(interface(phone), call.agent_channel, mode, f'"{mode} {agent}" <{agent}>',
                                     channel_id)
        except Exception:
            self.sessions.pop(phone, None)
            raise
        await self.audit(who, mode, agent, {"uniqueid": call.uniqueid, "phone": phone})
        return session

    async def stop(self, who: Principal, reason: str = "stopped from the wallboard") -> bool:
        phone = self._phone(who)
        session = self.sessions.pop(phone, None)
        if session is not None:
            await self.pbx.hangup(session.channel_id)
            await self.audit(who, "spy-stop", session.agent, {"uniqueid": session.uniqueid, "mode": session.mode,
                                                              "reason": reason,
                                                              "seconds": round(self._clock() - session.started_at)})
        return session is not None

    async def handle(self, event: ev.Event) -> None:
        """The supervisor hung up, or the call ended (ChanSpy's "E"): the session is over."""
        if not isinstance(event, ev.ChannelHangup):
            return
        for phone, session in list(self.sessions.items()):
            if event.uniqueid in (session.channel_id, session.uniqueid):
                del self.sessions[phone]
                await self.audit_log.audit(session.supervisor, "spy-ended", session.agent,
                                           {"uniqueid": session.uniqueid, "mode": session.mode,
                                            "seconds": round(event.at - session.started_at)}, event.at)
                log.info("supervision ended: supervisor=%s agent=%s uniqueid=%s mode=%s", session.supervisor,
                         session.agent, session.uniqueid, session.mode)
                self.on_change()
