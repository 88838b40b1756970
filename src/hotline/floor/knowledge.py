"""Knowledge articles suggested on the desk showing a call (issue 19), from the call's topic when
it is answered and from what the caller says (the final transcript lines), sent as a
``knowledge`` message to that operator's desktop and kept for the snapshot.

A caller's line starts a short debounce (``delay``): lines in quick succession make one query,
over the last few lines together. The query runs on the store's read pool (the knowledge base,
assist/kb.py), never on the loop; a pump's handler only schedules it, so the transcript never
waits for the knowledge base. The same articles are not sent twice in a row; a line that finds
nothing leaves the suggestions shown.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from hotline import events as ev
from hotline.floor.calls import CallRegistry
from hotline.floor.messages import message
from hotline.floor.notify import ExtensionNotifier
from hotline.queue.skills import extension_of

log = logging.getLogger(__name__)
KEEP = 500  # calls whose suggestions are kept (the desks' snapshots read them)


class Suggester(Protocol):
    """What the suggestions ask of the knowledge base (assist/kb.py ``KnowledgeBase``)."""

    async def suggest(self, text: str, topic: str, language: str,
                      limit: int = 3) -> tuple[list[str], list[dict[str, Any]]]: ...
    async def for_topic(self, topic: str, language: str, limit: int = 3) -> list[dict[str, Any]]: ...


@dataclass
class _Call:
    extension: str
    topic: str
    language: str
    lines: collections.deque[str] = field(default_factory=lambda: collections.deque(maxlen=3))
    shown: dict[str, Any] | None = None  # the last knowledge message sent
    pending: asyncio.Task[None] | None = None


class KnowledgeSuggestions:
    def __init__(self, calls: CallRegistry, kb: Suggester, hub: ExtensionNotifier, *, delay: float = 0.3,
                 limit: int = 3) -> None:
        self.calls = calls
        self.kb = kb
        self.hub = hub
        self.delay = delay
        self.limit = limit
        self._calls: collections.OrderedDict[str, _Call] = collections.OrderedDict()
        self.queries = 0  # how many the knowledge base answered (tests, the benchmark)

    async def handle(self, event: ev.Event) -> None:
        if isinstance(event, ev.AgentConnected):
            call = self.calls.get(event.uniqueid)
            topic = call.topic if call is not None else ""
            language = (call.language if call is not None else "") or event.language
            state = _Call(extension_of(event.interface), topic, language)
            self._calls[event.uniqueid] = state
            self._calls.move_to_end(event.uniqueid)
            while len(self._calls) > KEEP:
                _, old = self._calls.popitem(last=False)
                if old.pending is not None:
                    old.pending.cancel()
            if topic:
                self._schedule(event.uniqueid, state, 0.0)
        elif isinstance(event, ev.TranscriptText) and event.kind == "final" and event.speaker == "caller":
            heard = self._calls.get(event.uniqueid)
            if heard is None or not event.text.strip():
                return
            heard.lines.append(event.text.strip())
            heard.language = heard.language or event.language
            self._schedule(event.uniqueid, heard, self.delay)

    def _schedule(self, uniqueid: str, state: _Call, delay: float) -> None:
        if state.pending is not None and not state.pending.done():
            state.pending.cancel()  # a newer line: one query for both, after the pause
        state.pending = asyncio.create_task(self._suggest(uniqueid, state, delay), name=f"knowledge-{uniqueid}")

    async def _suggest(self, uniqueid: str, state: _Call, delay: float) -> None:
        try:
            if delay:
                await asyncio.sleep(delay)
            if state.lines:
                words, articles = await self.kb.suggest(" ".join(state.lines), state.topic, state.language,
                                                        self.limit)
                source = "transcript"
            else:
                words, articles = [], await self.kb.for_topic(state.topic, state.language, self.limit)
                source = "topic"
            self.queries += 1
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the desk goes on without suggestions
            log.warning("knowledge suggestions failed: uniqueid=%s: %s", uniqueid, exc)
            return
        if not articles or self._same(state.shown, articles):
            return
        state.shown = message("knowledge", uniqueid=uniqueid, source=source, words=words,
                              articles=[_card(a) for a in articles])
        self.hub.to_extension(state.extension, state.shown)

    @staticmethod
    def _same(shown: dict[str, Any] | None, articles: Sequence[dict[str, Any]]) -> bool:
        return shown is not None and [a["id"] for a in shown["articles"]] == [a["id"] for a in articles]

    def shown(self, uniqueid: str) -> dict[str, Any] | None:
        """The suggestions last sent for the call (the desktop snapshot's ``knowledge``), or None."""
        state = self._calls.get(uniqueid)
        if state is None or state.shown is None:
            return None
        return {k: v for k, v in state.shown.items() if k != "type"}

    async def idle(self) -> None:
        """Wait for the queries scheduled so far (tests, the benchmark)."""
        pending = [s.pending for s in self._calls.values() if s.pending is not None and not s.pending.done()]
        await asyncio.gather(*pending, return_exceptions=True)


def _card(article: dict[str, Any]) -> dict[str, Any]:
    return {k: article.get(k) for k in ("id", "title", "topic", "language", "tags", "snippet", "helped")}
