"""Replay of Asterisk's queue_log: the calls that happened while no AMI session listened.

app_queue writes one line per step of every queue call (``epoch|uniqueid|queue|agent|EVENT|
data...``) whether or not anyone is connected over AMI, and the dialplan adds an ``HLINFO``
line with the caller's language, topic and IVR path just before Queue(). After every AMI
login, before the snapshot, the lines written since the last replay are turned into the same
domain events the live session publishes. Every consumer is idempotent (one case per
uniqueid, service level counted once per uniqueid), so lines already seen live change nothing
and calls that started and ended while the service was down get their cases.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from hotline import events as ev

log = logging.getLogger(__name__)

OFFSET_KEY = "queue_log_offset"


class OffsetStore(Protocol):
    async def get_value(self, key: str) -> str | None: ...
    async def set_value(self, key: str, value: str) -> None: ...


def parse(lines: list[str]) -> list[ev.Event]:
    """queue_log lines -> domain events (ENTERQUEUE, CONNECT, COMPLETE*, ABANDON)."""
    info: dict[str, tuple[str, str, str]] = {}
    out: list[ev.Event] = []
    for line in lines:
        parts = line.rstrip("\n").split("|")
        if len(parts) < 5:
            continue
        try:
            at = float(parts[0])
        except ValueError:
            continue
        uid, queue, agent, kind, data = parts[1], parts[2], parts[3], parts[4], parts[5:]
        if agent and "/" not in agent and agent != "NONE":
            agent = f"PJSIP/{agent}"  # call events carry the member name, which is the extension
        try:
            if kind == "HLINFO" and len(data) >= 3:
                info[uid] = (data[0], data[1], data[2])
            elif kind == "ENTERQUEUE":
                lang, topic, path = info.get(uid, ("", "", ""))
                caller = data[1] if len(data) > 1 else ""
                out.append(ev.CallerJoined(uid, uid, queue, caller, lang, topic, path,
                                           int(data[2] or 0) if len(data) > 2 else 0, at))
            elif kind == "CONNECT":
                out.append(ev.AgentConnected(uid, queue, agent, agent, int(data[0] or 0), at))
            elif kind in ("COMPLETECALLER", "COMPLETEAGENT"):
                reason = "caller" if kind == "COMPLETECALLER" else "agent"
                out.append(ev.AgentCompleted(uid, queue, agent, int(data[0] or 0), int(data[1] or 0), reason, at))
            elif kind == "ABANDON":
                out.append(ev.CallerAbandoned(uid, queue, int(data[2] or 0) if len(data) > 2 else 0, at))
        except (ValueError, IndexError):
            log.error("queue_log line not understood, skipped: %r", line.rstrip())
    return out


def read_from(path: Path, offset: int) -> tuple[list[str], int]:
    """Complete lines after ``offset``; a file smaller than the offset was rotated: from 0."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return [], 0
    if size < offset:
        offset = 0
    with open(path, "rb") as fh:
        fh.seek(offset)
        data = fh.read()
    end = data.rfind(b"\n") + 1  # a half-written last line waits for the next replay
    return data[:end].decode("utf-8", "replace").splitlines(), offset + end


class QueueLogReplay:
    def __init__(self, path: Path, offsets: OffsetStore, publish: Callable[[ev.Event], None]) -> None:
        self.path = path
        self.offsets = offsets
        self.publish = publish

    async def replay(self) -> int:
        import asyncio

        offset = int(await self.offsets.get_value(OFFSET_KEY) or 0)
        lines, new_offset = await asyncio.to_thread(read_from, self.path, offset)
        events = parse(lines)
        for e in events:
            self.publish(e)
        await self.offsets.set_value(OFFSET_KEY, str(new_offset))
        if events:
            log.info("queue_log replay: %d lines, %d events from offset %d", len(lines), len(events), offset)
        return len(events)
