"""FastAGI server: the dialplan asks ``agi://127.0.0.1:<port>/route`` which queue to use (with
the call's first ring, HL_ARRIVED), reports a call back's answers to ``/callback`` and, from the
hangup handler pushed at arrival, every citizen's hang-up to ``/ivr_hangup`` (the service counts
the ones that never queued; on a dead channel the script sets nothing). Each script is a function
of (uniqueid, args) returning the channel variables to set.

panoramisk's Application reads the AGI header block in a loop that spins forever on a
closed socket, so the header read is ours (bounded, with a timeout); panoramisk's Request
sends the commands. The whole exchange is bounded: past ``answer_timeout`` the router gives
up, sets nothing, and the dialplan takes its fallback queue.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from panoramisk.fast_agi import Request

from hotline.pbx.guard import UnsafeValue, agi_set_variable

log = logging.getLogger(__name__)

ScriptFn = Callable[[str, list[str]], Awaitable[dict[str, str]]]
MAX_ARGS = 6  # a script gets agi_arg_1..6 ("" for those the dialplan did not pass)


class AgiServer:
    def __init__(self, scripts: dict[str, ScriptFn], host: str, port: int, answer_timeout: float = 2.0) -> None:
        self.scripts = scripts
        self.host = host
        self.port = port
        self.answer_timeout = answer_timeout
        self.server: asyncio.base_events.Server | None = None
        self.requests = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._handle, self.host, self.port)

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def _headers(self, reader: asyncio.StreamReader) -> dict[str, str]:
        """The header block. Asterisk writes caller data (``agi_callerid: %s``) unescaped, so a
        value holding a newline could add lines (the dialplan filters the caller id first): only
        ``agi_*`` lines count, and a header seen twice fails the request."""
        headers: dict[str, str] = {}
        for _ in range(200):
            line = await reader.readline()
            if not line:
                raise ConnectionError("AGI peer closed before the header block ended")
            text = line.decode("utf-8", "replace").rstrip("\n")
            if not text:
                return headers
            key, sep, value = text.partition(": ")
            if not sep or not key.startswith("agi_"):
                log.warning("FastAGI: header line ignored (not agi_*): %r", text[:80])
                continue
            if key in headers:
                raise ValueError(f"AGI header {key} sent twice (a forged header block?)")
            headers[key] = value
        raise ValueError("AGI header block too long")

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.requests += 1
        uid, script = "-", "?"
        try:
            headers = await asyncio.wait_for(self._headers(reader), self.answer_timeout)
            uid = headers.get("agi_uniqueid", "-")
            script = headers.get("agi_network_script", "")
            fn = self.scripts.get(script)
            if fn is None:
                log.error("FastAGI: unknown script %r (uniqueid=%s)", script, uid)
                return
            args = [headers.get(f"agi_arg_{i}", "") for i in range(1, MAX_ARGS + 1)]
            variables = await asyncio.wait_for(fn(uid, args), self.answer_timeout)
            # every command checked and quoted before the first is sent: all the variables or none
            commands = [(name, agi_set_variable(name, value)) for name, value in variables.items()]
            request = Request(app=None, headers=headers, reader=reader, writer=writer)
            for name, command in commands:
                result = await asyncio.wait_for(request.send_command(command), self.answer_timeout)
                if result.get("status_code") != 200:
                    log.error("FastAGI SET VARIABLE %s failed: %r (uniqueid=%s)", name, result, uid)
                    return
        except UnsafeValue as exc:
            log.error("FastAGI %s refused (uniqueid=%s): %s; the dialplan falls back", script, uid, exc)
        except (TimeoutError, ConnectionError, ValueError) as exc:
            log.error("FastAGI %s failed (uniqueid=%s): %s; the dialplan falls back", script, uid, exc or "timeout")
        except Exception:
            log.exception("FastAGI %s failed (uniqueid=%s); the dialplan falls back", script, uid)
        finally:
            writer.close()
