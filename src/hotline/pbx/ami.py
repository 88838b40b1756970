"""The AMI session: the only place that talks to panoramisk's Manager.

What it adds to panoramisk 1.4 (see docs/architecture.md, "panoramisk traps"):
- every action passes hotline.pbx.guard.check_action first: a key or value holding CR, LF or
  another control character is refused (UnsafeValue, "unsafe-value") and nothing is sent;
- every action has a timeout and raises PbxError (with the action and Asterisk's message);
- QueueAdd and friends are sent with as_list=False (their "Added ... to queue" reply would
  otherwise be taken for the start of a list and never resolve);
- an exception while handling one message (e.g. a "successfully queued" reply to an action
  without an Async header) is logged and that message skipped; the connection stays up;
- events are translated synchronously (no lost exceptions in async handlers) and published;
- reconnect with exponential backoff; after every login a resync (QueueStatus,
  CoreShowChannels) is published as a Resynced event so services rebuild their state.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from panoramisk import Manager
from panoramisk.ami_protocol import AMIProtocol
from panoramisk.message import Message

from hotline import events as ev
from hotline.bus import Bus
from hotline.pbx.guard import PbxError as PbxError
from hotline.pbx.guard import check_action
from hotline.pbx.translate import MalformedAmi, member_status, translate

log = logging.getLogger(__name__)


class _Protocol(AMIProtocol):  # type: ignore[misc]
    trace_path: str | None = None  # [asterisk] ami_trace: append the raw AMI stream to this file

    def data_received(self, data: bytes) -> None:
        if self.trace_path:
            with open(self.trace_path, "ab") as fh:
                fh.write(data)
        super().data_received(data)

    def handle_message(self, message: Message) -> None:
        try:
            super().handle_message(message)
        except Exception:
            log.exception("AMI message could not be handled and was skipped: %r", dict(message))


class _Manager(Manager):  # type: ignore[misc]
    """panoramisk's Manager with exponential reconnect backoff."""

    def __init__(self, backoff_min: float, backoff_max: float, **config: Any) -> None:
        super().__init__(**config)
        # panoramisk int()s reconnect_timeout (0.5 -> 0, a busy loop); keep our own floor
        self.backoff_min = max(0.1, backoff_min)
        self.backoff_max = backoff_max
        self.reconnect_timeout = self.backoff_min

    def connection_made(self, f: asyncio.Future[Any]) -> None:
        if f.exception() is not None:
            self.reconnect_timeout = min(self.backoff_max, self.reconnect_timeout * 2)
        else:
            self.reconnect_timeout = self.backoff_min
        super().connection_made(f)


class AmiSession:
    def __init__(self, bus: Bus[ev.Event], host: str, port: int, username: str, secret: str,
                 *, action_timeout: float = 5.0, backoff_min: float = 0.5, backoff_max: float = 8.0,
                 clock: Callable[[], float] = time.time,
                 before_snapshot: Callable[[], Awaitable[object]] | None = None,
                 trace_path: str | None = None) -> None:
        self._bus = bus
        self._clock = clock
        self.before_snapshot = before_snapshot  # e.g. the queue_log replay
        self.action_timeout = action_timeout
        self.connected = asyncio.Event()
        self.booted = asyncio.Event()  # FullyBooted seen on this connection
        self.logins = 0
        self._closing = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._manager = _Manager(
            backoff_min, backoff_max,
            loop=asyncio.get_running_loop(), host=host, port=port, username=username, secret=secret,
            events="on", ping_delay=5, ping_interval=5, reconnect_timeout=1,
            protocol_factory=_Protocol,
            on_login=self._on_login, on_disconnect=self._on_disconnect,
        )
        self._manager.register_event("*", self._on_event)
        _Protocol.trace_path = trace_path

    def start(self) -> None:
        self._manager.connect()

    async def wait_connected(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(self.connected.wait(), timeout)
        except TimeoutError:
            raise PbxError(f"AMI not connected after {timeout:.0f}s") from None

    async def close(self) -> None:
        self._closing = True
        self._manager.close()
        self.connected.clear()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            _done, pending = await asyncio.wait(self._tasks, timeout=2)
            for task in pending:
                log.warning("AMI task %s did not stop within 2s of close", task.get_name())

    def drop_connection(self) -> None:
        """Abort the TCP connection as a network fault would (used by the reconnect tests)."""
        protocol = getattr(self._manager, "protocol", None)
        if protocol is not None:
            protocol.transport.abort()

    # -- actions ---------------------------------------------------------------------------

    async def action(self, fields: Mapping[str, str | list[str]], *, as_list: bool = False,
                     timeout: float | None = None) -> list[Message]:
        """Send one action; returns its messages (the reply first). Raises PbxError, or
        UnsafeValue (nothing sent) when a key or value could break out of the action."""
        fields = check_action(fields)  # the gate: nothing reaches send_action unchecked (logs a refusal)
        name = str(fields["Action"])
        if name.lower() in ("originate", "atxfer", "redirect") and "Async" not in fields:
            fields = {**fields, "Async": "false"}
        await self.wait_connected(timeout or self.action_timeout)
        future = self._manager.send_action(fields, as_list=as_list)
        try:
            result = await asyncio.wait_for(asyncio.shield(future), timeout or self.action_timeout)
        except TimeoutError:
            raise PbxError(f"AMI {name}: no reply within {timeout or self.action_timeout:.1f}s") from None
        messages: list[Message] = result if isinstance(result, list) else [result]
        first = messages[0]
        if first.get("Response") == "Error":
            raise PbxError(f"AMI {name}: {first.get('Message', 'error')}")
        return messages

    # -- panoramisk callbacks ----------------------------------------------------------------

    def _on_event(self, _manager: Manager, message: Message) -> None:
        if message.get("Event") == "FullyBooted":
            self.booted.set()
        try:
            event = translate(message, self._clock())
        except MalformedAmi as exc:
            log.error("%s; event skipped (uniqueid=%s)", exc, message.get("Uniqueid", "-"))
            return
        if event is not None:
            self._bus.publish(event)

    def _on_login(self, _manager: Manager) -> None:
        self.logins += 1
        log.info("AMI logged in (login #%d)", self.logins)
        self.connected.set()
        self._bus.publish(ev.PbxConnected(self._clock()))
        task = asyncio.get_running_loop().create_task(self._resync())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_disconnect(self, _manager: Manager, exc: object) -> None:
        self.connected.clear()
        self.booted.clear()
        if self._closing:
            return
        log.warning("AMI connection lost (%s); reconnecting", exc)
        self._bus.publish(ev.PbxDisconnected(str(exc), self._clock()))

    async def _resync(self) -> None:
        """After a login: wait for FullyBooted (Asterisk may still be loading modules), then
        snapshot; retried with backoff while the connection lasts."""
        login = self.logins
        for attempt in range(1, 6):
            if self._closing:
                return
            try:
                await asyncio.wait_for(self.booted.wait(), 60)
                if self.before_snapshot is not None and attempt == 1:
                    try:
                        await self.before_snapshot()
                    except Exception:
                        log.exception("before-snapshot step failed; resync goes on")
                snapshot = await self.snapshot()
            except (TimeoutError, PbxError) as exc:
                log.error("resync after login #%d failed (attempt %d): %s", login, attempt, exc or "not booted")
                if login != self.logins or not self.connected.is_set():
                    return  # a newer connection does its own resync
                await asyncio.sleep(min(8.0, 0.5 * 2 ** attempt))
                continue
            if login == self.logins and not self._closing:
                self._bus.publish(snapshot)
                log.info("resynced after login #%d: %d channels, %d waiting, %d members", login,
                         len(snapshot.channels), len(snapshot.waiting), len(snapshot.members))
            return

    async def snapshot(self) -> ev.Resynced:
        """What Asterisk holds now: live channels, waiting callers, queue members."""
        now = self._clock()
        channels = []
        for m in await self.action({"Action": "CoreShowChannels"}, as_list=True, timeout=10):
            if m.get("Event") == "CoreShowChannel":
                channels.append(ev.ChannelSnapshot(
                    uniqueid=str(m.get("Uniqueid", "")), linkedid=str(m.get("Linkedid", "")),
                    channel=str(m.get("Channel", "")), bridged=bool(m.get("BridgeId")),
                    connected_number=str(m.get("ConnectedLineNum", "")),
                    application=str(m.get("Application", "")),
                    application_data=str(m.get("ApplicationData", "")),
                    caller_number=str(m.get("CallerIDNum", ""))))
        waiting, members = [], []
        for m in await self.action({"Action": "QueueStatus"}, as_list=True, timeout=10):
            kind = m.get("Event")
            if kind == "QueueEntry":
                waiting.append(ev.WaitingCaller(str(m.get("Uniqueid", "")), str(m.get("Queue", "")),
                                                str(m.get("CallerIDNum", "")), int(m.get("Wait", 0) or 0)))
            elif kind == "QueueMember":
                try:
                    members.append(member_status(m, now, "QueueMember"))
                except MalformedAmi as exc:
                    log.error("%s; member skipped in resync", exc)
        return ev.Resynced(tuple(channels), tuple(waiting), tuple(members), now)
