"""AudioSocket server: Asterisk connects once per call leg and streams 8 kHz 16-bit PCM.

Frames: 1 byte type, 2 bytes big-endian length, payload. 0x01 is the leg's UUID (first),
0x10 audio, 0x00 hang-up, 0xff an error. EOF also means the leg hung up. Unknown UUIDs and
malformed frames are logged and the connection closed; other legs are untouched.
"""

from __future__ import annotations

import asyncio
import logging
import uuid as uuidlib
from collections.abc import Callable
from typing import Protocol

log = logging.getLogger(__name__)

KIND_HANGUP, KIND_UUID, KIND_DTMF, KIND_AUDIO, KIND_ERROR = 0x00, 0x01, 0x03, 0x10, 0xFF
SAMPLE_RATE = 8000


class LegSink(Protocol):
    def feed(self, pcm: bytes) -> None: ...
    def close(self, reason: str) -> None: ...


class AudioSocketServer:
    def __init__(self, open_leg: Callable[[str], LegSink | None], host: str, port: int) -> None:
        self.open_leg = open_leg
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None
        self.connections = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        log.info("AudioSocket server on %s:%d", self.host, self.port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        sink: LegSink | None = None
        reason = "eof"
        try:
            while True:
                try:
                    header = await reader.readexactly(3)
                    kind, length = header[0], int.from_bytes(header[1:3], "big")
                    payload = await reader.readexactly(length) if length else b""
                except asyncio.IncompleteReadError:
                    break
                if sink is None:
                    if kind != KIND_UUID or length != 16:
                        log.warning("AudioSocket: first frame is type 0x%02x (len %d), not a UUID; closing",
                                    kind, length)
                        reason = "protocol"
                        break
                    leg_id = str(uuidlib.UUID(bytes=payload))
                    sink = self.open_leg(leg_id)
                    if sink is None:
                        log.warning("AudioSocket: unknown leg %s; closing", leg_id)
                        reason = "unknown"
                        break
                elif kind == KIND_AUDIO:
                    sink.feed(payload)
                elif kind == KIND_HANGUP:
                    reason = "hangup"
                    break
                elif kind == KIND_ERROR:
                    log.warning("AudioSocket: Asterisk reported error %s", payload.hex() or "-")
                    reason = "error"
                    break
        except (ConnectionError, OSError) as exc:
            reason = f"connection: {exc}"
        finally:
            if sink is not None:
                sink.close(reason)
            writer.close()
            try:
                await writer.wait_closed()
            except (ConnectionError, OSError):
                pass
