"""Slot suggestions and the caller's spoken language on the desk, from the caller's transcript lines.

Each final caller line (TranscriptText) is read by the slot rules (assist/slots.py): phone numbers,
districts, addresses and a category become suggestions of the call, each with the words it came
from and the line (speaker, start); the desktop showing the call gets the call's whole list as a
'suggestions' message (so it is always the server's list, in order, without repeats) and its
snapshot carries the same list, so a reload keeps them. Nothing is written into the form: the page
offers each suggestion next to its field and the operator accepts it with one key.

Where the engine reports the language it hears on a caller line (Whisper, on the first utterances)
and it is not the language chosen in the IVR, with at least ``assist.language_threshold``
probability, the desk is told once per call ('spoken_language'): the language, its name, and
whether some configured interpreter speaks it (the desk then preselects it for "Add interpreter").
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hotline import events as ev
from hotline.assist.slots import BEIJING, SlotRules, Suggestion
from hotline.config import Settings
from hotline.floor.interpreter_requests import interpretable
from hotline.floor.messages import message
from hotline.floor.notify import ExtensionNotifier

log = logging.getLogger(__name__)

# names for languages the site does not list (the site's own names win): what Whisper may hear on a line
LANGUAGE_NAMES = {"zh": "Mandarin", "en": "English", "ko": "Korean", "ja": "Japanese", "ru": "Russian",
                  "fr": "French", "de": "German", "es": "Spanish", "pt": "Portuguese", "ar": "Arabic",
                  "vi": "Vietnamese", "th": "Thai", "mn": "Mongolian", "ug": "Uyghur", "bo": "Tibetan",
                  "yue": "Cantonese", "it": "Italian", "hi": "Hindi", "id": "Indonesian", "ms": "Malay"}
MAX_PER_CALL = 40  # suggestions kept per call (a long call: the newest win)
CALLS_KEPT = 500  # calls whose suggestions are kept (ended calls stay until their form is saved)


@dataclass
class CallSuggestions:
    items: list[dict[str, Any]] = field(default_factory=list)
    spoken: dict[str, Any] | None = None
    next_id: int = 1


class SuggestionService:
    """``desktop_of``: the extension whose desktop shows a call now ("" for none): the desktop
    service's own lookup, so these messages go where the call's transcript goes."""

    def __init__(self, settings: Settings, hub: ExtensionNotifier, desktop_of: Callable[[str], str]) -> None:
        self.settings = settings
        self.hub = hub
        self.desktop_of = desktop_of
        a = settings.assist
        # a site without a list of districts takes any name: the districts its [assist.districts] names,
        # else Beijing's by their Chinese names, as said
        districts = settings.districts or tuple(a.districts) or tuple(BEIJING.values())
        self.rules = SlotRules(districts, a.districts, a.keywords)
        self.calls: collections.OrderedDict[str, CallSuggestions] = collections.OrderedDict()

    def _call(self, uniqueid: str) -> CallSuggestions:
        call = self.calls.get(uniqueid)
        if call is None:
            call = self.calls[uniqueid] = CallSuggestions()
            while len(self.calls) > CALLS_KEPT:
                self.calls.popitem(last=False)
        return call

    async def handle(self, event: ev.Event) -> None:
        if isinstance(event, ev.TranscriptText) and event.speaker == "caller" and event.kind == "final":
            if self.settings.assist.suggestions:
                self._line(event)
            if event.detected_language:
                self._language(event)

    def _line(self, e: ev.TranscriptText) -> None:
        found = self.rules.extract(e.text)
        if not found:
            return
        call = self._call(e.uniqueid)
        new = [s for s in found if not any(i["slot"] == s.slot and i["value"] == s.value for i in call.items)]
        for s in new:
            call.items.append(self._item(call, s, e))
        del call.items[:-MAX_PER_CALL]
        if new:
            log.info("suggestions: uniqueid=%s %s", e.uniqueid, ", ".join(f"{s.slot}={s.value}" for s in new))
            self._send(e.uniqueid, message("suggestions", uniqueid=e.uniqueid, items=call.items))

    @staticmethod
    def _item(call: CallSuggestions, s: Suggestion, e: ev.TranscriptText) -> dict[str, Any]:
        item = {"id": call.next_id, **s.to_json(),
                "line": {"speaker": e.speaker, "start": e.start, "end": e.end, "text": e.text}, "at": e.at}
        call.next_id += 1
        return item

    def _language(self, e: ev.TranscriptText) -> None:
        call = self._call(e.uniqueid)
        if (call.spoken is not None or e.detected_language == e.language
                or e.detected_probability < self.settings.assist.language_threshold):
            return
        lang = self.settings.language(e.detected_language)
        covered = any(x["code"] == e.detected_language for x in interpretable(self.settings))
        name = lang.name if lang else LANGUAGE_NAMES.get(e.detected_language, e.detected_language)
        call.spoken = {"language": e.detected_language, "name": name,
                       "probability": e.detected_probability, "ivr_language": e.language, "interpreter": covered,
                       "line": {"speaker": e.speaker, "start": e.start, "end": e.end}}
        log.info("spoken language: uniqueid=%s ivr=%s heard=%s p=%.3f interpreter=%s", e.uniqueid, e.language,
                 e.detected_language, e.detected_probability, covered)
        self._send(e.uniqueid, message("spoken_language", uniqueid=e.uniqueid, **call.spoken))

    def _send(self, uniqueid: str, msg: dict[str, Any]) -> None:
        ext = self.desktop_of(uniqueid)
        if ext:
            self.hub.to_extension(ext, msg)

    # what the desktop's snapshot adds to the call (DesktopService.call_extras)
    def items_of(self, uniqueid: str) -> list[dict[str, Any]]:
        """The call's suggestions, oldest first."""
        call = self.calls.get(uniqueid)
        return list(call.items) if call else []

    def spoken_of(self, uniqueid: str) -> dict[str, Any] | None:
        """The other language the caller seems to speak, or None."""
        call = self.calls.get(uniqueid)
        return call.spoken if call else None
