"""AmiSession against a scripted AMI server on loopback: the panoramisk 1.4 traps, timeouts,
malformed events, and reconnect with resync."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from hotline import events as ev
from hotline.bus import Bus
from hotline.pbx.ami import AmiSession, PbxError


class FakeAmi:
    """Speaks just enough AMI: Login, QueueAdd, QueueStatus, CoreShowChannels, Atxfer, Slow."""

    def __init__(self) -> None:
        self.writers: list[asyncio.StreamWriter] = []
        self.logins = 0
        self.server: asyncio.base_events.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    def send(self, w: asyncio.StreamWriter, **fields: Any) -> None:
        w.write(("".join(f"{k}: {v}\r\n" for k, v in fields.items()) + "\r\n").encode())

    async def handle(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        self.writers.append(w)
        w.write(b"Asterisk Call Manager/11.0.0\r\n")
        while True:
            try:
                raw = await r.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            msg = dict(line.split(": ", 1) for line in raw.decode().strip().split("\r\n") if ": " in line)
            aid = msg.get("ActionID", "")
            action = msg.get("Action", "").lower()
            if action == "login":
                self.logins += 1
                self.send(w, Response="Success", ActionID=aid, Message="Authentication accepted")
                self.send(w, Event="FullyBooted", Status="Fully Booted")
            elif action == "queueadd":
                self.send(w, Response="Success", ActionID=aid, Message="Added interface to queue")
            elif action == "atxfer":
                self.send(w, Response="Success", ActionID=aid, Message="Atxfer successfully queued")
            elif action == "queuestatus":
                self.send(w, Response="Success", ActionID=aid, EventList="start", Message="Queue status will follow")
                self.send(w, Event="QueueEntry", ActionID=aid, Queue="hl-en-housing", Uniqueid="1.5",
                          CallerIDNum="139", Wait="7")
                self.send(w, Event="QueueStatusComplete", ActionID=aid, EventList="Complete", ListItems="1")
            elif action == "coreshowchannels":
                self.send(w, Response="Success", ActionID=aid, EventList="start", Message="Channels will follow")
                self.send(w, Event="CoreShowChannelsComplete", ActionID=aid, EventList="Complete", ListItems="0")
            elif action == "slow":
                pass  # never answers
            await w.drain()

    def broadcast(self, **fields: Any) -> None:
        for w in self.writers:
            if not w.is_closing():
                self.send(w, **fields)

    def drop_all(self) -> None:
        for w in self.writers:
            w.transport.abort()
        self.writers.clear()


@pytest.fixture
async def ami() -> Any:
    server = FakeAmi()
    await server.start()
    bus: Bus[ev.Event] = Bus()
    sub = bus.subscribe("test")
    session = AmiSession(bus, "127.0.0.1", server.port, "u", "s", action_timeout=1.0, backoff_min=0.1)
    session.start()
    await session.wait_connected(5)
    yield server, session, sub
    await session.close()
    server.server.close()  # type: ignore[union-attr]
    server.server.close()  # type: ignore[union-attr]


async def next_of(sub: Any, kind: type, timeout: float = 5) -> Any:
    while True:
        e = await asyncio.wait_for(sub.get(), timeout)
        if isinstance(e, kind):
            return e


async def test_queueadd_resolves_and_atxfer_does_not_drop_the_connection(ami: Any) -> None:
    server, session, _sub = ami
    reply = await session.action({"Action": "QueueAdd", "Queue": "q", "Interface": "PJSIP/1"})
    assert reply[0]["Message"] == "Added interface to queue"
    await session.action({"Action": "Atxfer", "Channel": "PJSIP/1-1", "Exten": "1"})
    assert session.connected.is_set() and server.logins == 1


async def test_every_action_times_out_with_a_clear_error(ami: Any) -> None:
    _, session, _ = ami
    with pytest.raises(PbxError, match="AMI Slow: no reply within 1.0s"):
        await session.action({"Action": "Slow"})


async def test_malformed_event_is_skipped_and_the_stream_goes_on(ami: Any) -> None:
    server, _, sub = ami
    server.broadcast(Event="AgentConnect", Uniqueid="1.1", Queue="q", Interface="PJSIP/1", HoldTime="soon")
    server.broadcast(Event="QueueCallerAbandon", Uniqueid="1.2", Queue="q", HoldTime="3")
    e = await next_of(sub, ev.CallerAbandoned)
    assert e.uniqueid == "1.2"


async def test_drop_reconnects_and_resyncs(ami: Any) -> None:
    server, _session, sub = ami
    await next_of(sub, ev.Resynced)  # the first login's resync
    server.drop_all()
    await next_of(sub, ev.PbxDisconnected)
    snap = await next_of(sub, ev.Resynced)
    assert server.logins == 2
    assert [w.uniqueid for w in snap.waiting] == ["1.5"] and snap.waiting[0].wait_seconds == 7


async def test_the_ami_trace_setting_records_the_raw_stream(tmp_path: Any) -> None:
    """[asterisk] ami_trace (HOTLINE_AMI_TRACE, parsed by hotline.config) reaches the session as
    trace_path: the raw stream is appended to the file; without it nothing is written."""
    server = FakeAmi()
    await server.start()
    trace = tmp_path / "ami_trace.txt"
    session = AmiSession(Bus(), "127.0.0.1", server.port, "u", "s", action_timeout=1.0, backoff_min=0.1,
                         trace_path=str(trace))
    session.start()
    try:
        await session.wait_connected(5)
        await session.action({"Action": "QueueAdd", "Queue": "q", "Interface": "PJSIP/1"})
    finally:
        await session.close()
        server.server.close()  # type: ignore[union-attr]
    assert b"Added interface to queue" in trace.read_bytes()
