"""The IVR in the simulator: how long each caller spends before the queue, in which queue the
call starts, and what the caller does (press nothing, press their language's digit, barge in,
choose a language while already waiting, take a queued call back, hang up informed).

A scenario's ``[ivr]`` table picks a preset and may change any setting:

- ``none`` (the default): no IVR, a call's arrival is its queue entry (the scenarios before
  issue 16; every figure as it was).
- ``before``: today's dialplan (asterisk_conf/extensions.conf.j2): Answer, Wait(0.5), the
  language menu (Read with a 5 s timeout, played twice, then the default language), the topic
  menu in the caller's language (5 s timeout: no topic; 0 = any operator now). Prompt timings
  measured on the prompts ``hotline asterisk render`` makes for etc/site.example.toml (below):
  a caller who presses nothing reaches the queue after 0.5 + 2 x (26.31 + 5) + 14.18 + 5 =
  82.3 s.
- ``after``: issue 16's intake: a 3 s greeting in the default language with barge-in; a caller
  who presses nothing is queued in the default language right after it; the other languages'
  offers (2 s each, a known caller's earlier language first) play while the call already
  waits, the choice moves the call to its language's queue keeping the arrival time; no topic
  step (the operator sets the topic on the form); a queued call back offered above a predicted
  wait of 120 s.

Both presets share the callers' behaviour: ``silent_share`` press nothing at all,
``barge_in_share`` know their digits and press them ``barge_in_seconds`` into the first
prompt, the others press ``react_seconds`` after their offer ends (barge-in: the prompt stops).
Patience runs from the first ring: a caller whose patience ends in the IVR hangs up there
(an offered call, not answered).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, fields, replace
from typing import Any

from hotline.config import ConfigError
from hotline.queue.skills import GENERAL

# Today's language menu (etc/site.example.toml, espeak-ng at 150 words a minute, 8 kHz): the
# greeting "欢迎致电1 2 3 4 5市民服务热线。" is 5.91 s, then each language's offer; seconds from
# the start of the prompt to the end of each offer.
BEFORE_LANGUAGE_MENU = {"zh": 8.98, "en": 11.08, "ja": 14.04, "ko": 16.82, "ru": 19.43, "fr": 21.93,
                        "de": 23.96, "es": 26.31}
BEFORE_LANGUAGE_MENU_SECONDS = 26.31
# Each language's topic menu: the ends of the offers housing, transport, papers, then "for any
# operator now, press 0" (the prompt's end). Japanese says the English topic names slowly.
BEFORE_TOPIC_MENU = {"zh": (3.52, 6.64, 11.01, 14.18), "en": (3.53, 6.80, 10.98, 13.91),
                     "ja": (9.81, 17.76, 30.48, 33.51), "ko": (3.92, 7.41, 12.18, 15.65),
                     "ru": (3.57, 6.70, 10.82, 14.43), "fr": (3.51, 6.63, 11.07, 14.50),
                     "de": (3.57, 6.72, 10.95, 14.20), "es": (3.40, 6.52, 10.93, 14.18)}
PRESETS = ("none", "before", "after")


@dataclass(frozen=True)
class Announcement:
    """A surge message played before queueing to callers of ``topic`` ("*": everyone)."""
    topic: str = "*"
    seconds: float = 8.0
    heard_share: float = 1.0  # of the topic's callers (a district's message reaches some of them)
    optout_share: float = 0.2  # press the opt-out key ``optout_seconds`` into it, to reach a person
    optout_seconds: float = 2.0
    hangup_share: float = 0.3  # of those who hear it to the end: hang up informed


@dataclass(frozen=True)
class IvrModel:
    preset: str = "none"
    answer_seconds: float = 0.5  # Answer() + Wait(0.5)
    silent_share: float = 0.2  # press nothing at all
    barge_in_share: float = 0.1  # know their digits, press them early
    barge_in_seconds: float = 1.5
    react_seconds: float = 1.0  # from the end of the caller's offer to the key press
    # before
    menu_timeout: float = 5.0
    menu_tries: int = 2
    topic_menu: bool = True
    topic_silent_share: float = 0.3  # callers who choose no topic (press 0: traffic.any_share)
    # after
    greeting_seconds: float = 3.0
    offer_seconds: float = 2.0
    known_share: float = 0.3  # known callers (earlier cases): their earlier language offered first
    # queued call back: offered at queue entry when the predicted wait passes the threshold
    callback_threshold: float = 0.0  # seconds; 0 = not offered
    callback_share: float = 0.3  # of the callers offered it who press the key
    callback_dial_seconds: float = 10.0  # from the operator reserved to the citizen answering
    callback_target_minutes: float = 30.0  # its own figure: answered within N minutes of the request
    short_abandon_seconds: float = 0.0  # hang-ups sooner than this shown apart (still offered)
    announcement: Announcement | None = None

    @property
    def active(self) -> bool:
        return self.preset != "none"


PRESET_MODELS = {"none": IvrModel(), "before": IvrModel("before"),
                 "after": IvrModel("after", topic_menu=False, callback_threshold=120.0)}


def model_of(data: dict[str, Any], preset: str | None = None) -> IvrModel:
    """The scenario's ``[ivr]`` (``preset`` overrides its preset, keeping its other settings)."""
    raw = dict(data.get("ivr", {}))
    name = preset or str(raw.pop("preset", "none"))
    raw.pop("preset", None)
    raw.pop("default_language", None)  # the scenario's (scenario.through_ivr)
    if name not in PRESET_MODELS:
        raise ConfigError("ivr.preset", f"one of {', '.join(PRESETS)}, got {name!r}")
    known = {f.name for f in fields(IvrModel)} - {"preset"}
    for key in raw:
        if key not in known:
            raise ConfigError(f"ivr.{key}", f"unknown setting (known: {', '.join(sorted(known))})")
    ann = raw.pop("announcement", None)
    try:
        model = replace(PRESET_MODELS[name], **raw)
        if ann is not None:
            model = replace(model, announcement=Announcement(**ann))
    except TypeError as exc:
        raise ConfigError("ivr", f"numbers and an [ivr.announcement] table expected: {exc}") from None
    if model.preset == "after" and model.topic_menu:
        raise ConfigError("ivr.topic_menu", "the after intake has no topic step (the operator sets the topic)")
    return model


@dataclass
class Intake:
    """What the IVR does with one call (seconds from the first ring)."""
    queued_after: float  # queue entry
    queue_language: str  # the queue it enters first
    topic: str
    pressed_any: bool
    choose_after: float | None = None  # moved to its own language's queue then (after)
    informed: bool = False  # hung up after the announcement
    accepts_callback: bool = False


def intake(model: IvrModel, rng: random.Random, language: str, topic: str, pressed_any: bool,
           default: str, languages: list[str], topics: list[str]) -> Intake:
    """One caller through the IVR. ``languages``: the site's order (the menu's, the offers');
    ``topics``: the topic menu's order."""
    # the same draws for every caller whatever the settings: a caller behaves alike in both presets
    draws = [rng.random() for _ in range(8)]
    silent = draws[0] < model.silent_share
    barge = not silent and draws[1] < model.barge_in_share
    known = draws[2] < model.known_share
    topic_silent = draws[3] < model.topic_silent_share
    accepts = draws[4] < model.callback_share
    t = model.answer_seconds
    if model.preset == "before":
        out = _before(model, t, silent, barge, topic_silent, language, topic, pressed_any, default, topics)
    else:
        out = _after(model, t, silent, barge, known, language, default, languages)
    out.accepts_callback = accepts
    a = model.announcement
    if a is not None and (a.topic == "*" or a.topic == topic) and draws[5] < a.heard_share:
        if draws[6] < a.optout_share:
            out.queued_after += a.optout_seconds
        else:
            out.queued_after += a.seconds
            out.informed = draws[7] < a.hangup_share
    return out


def _before(model: IvrModel, t: float, silent: bool, barge: bool, topic_silent: bool, language: str,
            topic: str, pressed_any: bool, default: str, topics: list[str]) -> Intake:
    if silent:  # the menu twice, each with its timeout, then the default language; silent on topics too
        t += model.menu_tries * (BEFORE_LANGUAGE_MENU_SECONDS + model.menu_timeout)
        if model.topic_menu and topics:
            t += _topic_menu(default)[-1] + model.menu_timeout
        return Intake(t, default, GENERAL, False)
    offer = BEFORE_LANGUAGE_MENU.get(language, BEFORE_LANGUAGE_MENU_SECONDS)
    t += model.barge_in_seconds if barge else offer + model.react_seconds
    if not (model.topic_menu and topics):
        return Intake(t, language, GENERAL, pressed_any)
    menu = _topic_menu(language)
    if barge:
        return Intake(t + model.barge_in_seconds, language, GENERAL if pressed_any else topic, pressed_any)
    if pressed_any:  # "for any operator now, press 0" ends the menu
        return Intake(t + menu[-1] + model.react_seconds, language, GENERAL, True)
    if topic_silent or topic not in topics:
        return Intake(t + menu[-1] + model.menu_timeout, language, GENERAL, False)
    i = min(topics.index(topic), len(menu) - 2)
    return Intake(t + menu[i] + model.react_seconds, language, topic, False)


def _topic_menu(language: str) -> tuple[float, ...]:
    return BEFORE_TOPIC_MENU.get(language, BEFORE_TOPIC_MENU["en"])


def _after(model: IvrModel, t: float, silent: bool, barge: bool, known: bool, language: str, default: str,
           languages: list[str]) -> Intake:
    if barge:  # a digit during the greeting acts at once
        return Intake(t + model.barge_in_seconds, language, GENERAL, False)
    t += model.greeting_seconds
    if language == default or silent:
        return Intake(t, default, GENERAL, False)
    offers = [lang for lang in languages if lang != default]
    if language not in offers:  # no offer for it: stays in the default language's queue
        return Intake(t, default, GENERAL, False)
    if known:
        offers.remove(language)
        offers.insert(0, language)
    position = offers.index(language)
    return Intake(t, default, GENERAL, False, t + (position + 1) * model.offer_seconds + model.react_seconds)
