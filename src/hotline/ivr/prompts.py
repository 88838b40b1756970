"""The IVR's prompts as data: what each prompt says, in each language, and how it is made.

Prompts are synthesised at setup with espeak-ng (a voice per language, from the site file)
and converted with sox to 8 kHz mono 16-bit WAV, the format Asterisk plays without
transcoding. A recorded prompt dropped into ``<prompts_override>/<lang>/<name>.wav`` (or
``<prompts_override>/greeting.wav``, ``<prompts_override>/language-menu.wav``) replaces the
synthesised one.

The offers intake (``[ivr] intake = "offers"``, issue 16): ``ivr/greeting`` in the default
language; each queue's music on hold (``moh/<lang>/``, played in name order) is the other
languages' offers, each in its own voice ("for English, press 2"), then "please hold" in the
queue's language. The menu intake: ``ivr/language-menu`` and "please hold" as the music.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from hotline.config import Language, Settings
from hotline.errors import HotlineError

log = logging.getLogger(__name__)

# Phrases in each language's own words. A language not listed falls back to English words
# spoken with its voice (and a warning at setup): add its phrases here or record prompts.
PHRASES: dict[str, dict[str, str]] = {
    "zh": {"welcome": "欢迎致电{number}市民服务热线。", "greeting": "市民热线您好。", "choose": "{lang}请按{digit}。",
           "topic": "{topic}请按{digit}。", "any": "人工服务请按0。", "hold": "请稍候，正在为您转接。",
           "self": "普通话"},
    "en": {"welcome": "Welcome to the {number} citizen service hotline.", "greeting": "Citizen hotline, hello.",
           "choose": "For {lang}, press {digit}.",
           "topic": "For {topic}, press {digit}.", "any": "For any operator now, press 0.",
           "hold": "Please hold, an operator will answer shortly.", "self": "English",
           "interpreting": "Interpreting request.", "case": "Case number"},
    "ja": {"welcome": "しみんサービス ホットラインです。", "greeting": "しみん ホットラインです。",
           "choose": "{lang}は、{digit}を おしてください。",
           "topic": "{topic}は、{digit}を おしてください。", "any": "オペレーターは、0を おしてください。",
           "hold": "しょうしょう おまちください。", "self": "にほんご"},
    "ko": {"welcome": "시민 서비스 핫라인입니다.", "greeting": "시민 핫라인입니다.",
           "choose": "{lang}는 {digit}번을 누르세요.",
           "topic": "{topic}은 {digit}번을 누르세요.", "any": "상담원 연결은 0번을 누르세요.",
           "hold": "잠시만 기다려 주십시오.", "self": "한국어"},
    "ru": {"welcome": "Горячая линия для граждан.", "greeting": "Горячая линия, здравствуйте.",
           "choose": "{lang}: нажмите {digit}.",
           "topic": "{topic}: нажмите {digit}.", "any": "Чтобы сразу соединиться с оператором, нажмите 0.",
           "hold": "Пожалуйста, подождите, оператор скоро ответит.", "self": "Русский язык"},
    "fr": {"welcome": "Bienvenue sur la ligne d'assistance aux citoyens.", "greeting": "Ligne citoyenne, bonjour.",
           "choose": "Pour le {lang}, appuyez sur {digit}.",
           "topic": "Pour {topic}, appuyez sur {digit}.", "any": "Pour un opérateur tout de suite, appuyez sur 0.",
           "hold": "Veuillez patienter, un opérateur va vous répondre.", "self": "français"},
    "de": {"welcome": "Willkommen beim Bürgertelefon.", "greeting": "Bürgertelefon, guten Tag.",
           "choose": "Für {lang} drücken Sie {digit}.",
           "topic": "Für {topic} drücken Sie {digit}.", "any": "Für den nächsten freien Mitarbeiter drücken Sie 0.",
           "hold": "Bitte warten Sie, gleich meldet sich ein Mitarbeiter.", "self": "Deutsch"},
    "es": {"welcome": "Bienvenido a la línea de atención ciudadana.", "greeting": "Línea ciudadana, buenos días.",
           "choose": "Para {lang}, pulse {digit}.",
           "topic": "Para {topic}, pulse {digit}.", "any": "Para hablar con un operador ahora, pulse 0.",
           "hold": "Por favor espere, un operador le atenderá en breve.", "self": "español"},
}


# The call back's words: the case number follows "intro", the department's reply follows "reply".
CALLBACK: dict[str, dict[str, str]] = {
    "zh": {"intro": "您好，这里是市民服务热线，回访您的工单，编号", "reply": "承办部门的答复是：",
           "resolved": "您反映的问题解决了吗？解决了请按1，没有解决请按2。",
           "satisfied": "您对处理结果满意吗？满意请按1，不满意请按2。", "thanks": "感谢您的配合，再见。"},
    "en": {"intro": "Hello, this is the citizen service hotline calling back about your case number",
           "reply": "The department replied:",
           "resolved": "Was your problem resolved? Press 1 for yes, 2 for no.",
           "satisfied": "Are you satisfied with how it was handled? Press 1 for yes, 2 for no.",
           "thanks": "Thank you. Goodbye."},
    "ja": {"intro": "しみんサービス ホットラインです。ごそうだん ばんごう", "reply": "たんとう ぶしょの かいとうです。",
           "resolved": "もんだいは かいけつ しましたか。はいは1、いいえは2を おしてください。",
           "satisfied": "たいおうに まんぞく されましたか。はいは1、いいえは2を おしてください。",
           "thanks": "ありがとうございました。"},
    "ko": {"intro": "안녕하세요, 시민 서비스 핫라인입니다. 접수 번호", "reply": "담당 부서의 답변입니다.",
           "resolved": "문제가 해결되었습니까? 예는 1번, 아니오는 2번을 누르세요.",
           "satisfied": "처리 결과에 만족하십니까? 예는 1번, 아니오는 2번을 누르세요.", "thanks": "감사합니다."},
    "ru": {"intro": "Здравствуйте, это горячая линия для граждан, по вашему обращению номер",
           "reply": "Ответ ведомства:", "resolved": "Ваша проблема решена? Да, нажмите 1, нет, нажмите 2.",
           "satisfied": "Вы довольны результатом? Да, нажмите 1, нет, нажмите 2.", "thanks": "Спасибо, до свидания."},
    "fr": {"intro": "Bonjour, ici la ligne d'assistance aux citoyens, au sujet de votre dossier numéro",
           "reply": "Le service a répondu :", "resolved": "Votre problème est-il résolu ? Oui, 1. Non, 2.",
           "satisfied": "Êtes-vous satisfait du traitement ? Oui, 1. Non, 2.", "thanks": "Merci, au revoir."},
    "de": {"intro": "Guten Tag, hier ist das Bürgertelefon zu Ihrem Anliegen Nummer",
           "reply": "Die Antwort des Amtes:", "resolved": "Ist Ihr Problem gelöst? Ja, 1. Nein, 2.",
           "satisfied": "Sind Sie mit der Bearbeitung zufrieden? Ja, 1. Nein, 2.",
           "thanks": "Vielen Dank, auf Wiederhören."},
    "es": {"intro": "Hola, le llama la línea de atención ciudadana por su caso número",
           "reply": "El departamento respondió:", "resolved": "¿Se resolvió su problema? Sí, 1. No, 2.",
           "satisfied": "¿Está satisfecho con la atención? Sí, 1. No, 2.", "thanks": "Gracias, adiós."},
}


def callback_prompts(settings: Settings) -> list[Prompt]:
    """The call back's prompts in each language (English words where a language has none)."""
    out = []
    for lang in settings.languages:
        words = CALLBACK.get(lang.code, CALLBACK["en"])
        for key in ("intro", "reply", "resolved", "satisfied", "thanks"):
            out.append(Prompt(f"callback/{lang.code}/{key}", ((lang.voice, words[key]),),
                              f"{lang.code}/callback-{key}.wav", True))
        out += [Prompt(f"callback/{lang.code}/digit-{d}", ((lang.voice, str(d)),),
                       f"{lang.code}/digit-{d}.wav", True) for d in range(10)]
    return out


class PromptError(HotlineError, RuntimeError):
    error_id = "prompt-synthesis-failed"
    status = 503


@dataclass(frozen=True)
class Prompt:
    """One audio file the dialplan plays: its path under sounds/ and its parts (voice, text)."""

    name: str  # e.g. "ivr/language-menu", "ivr/en/topic-menu", "moh/en/hold"
    parts: tuple[tuple[str, str], ...]
    override: str  # relative path of a recorded replacement under prompts_override
    trim: bool = False  # cut the synthesiser's leading and trailing silence (pieces said in a row)


def _phrases(code: str) -> dict[str, str]:
    return PHRASES.get(code, PHRASES["en"])


def _offer(lang: Language) -> tuple[str, str]:
    p = _phrases(lang.code)
    return lang.voice, p["choose"].format(lang=p.get("self", lang.name), digit=lang.digit)


def intake_prompts(settings: Settings) -> list[Prompt]:
    """The greeting (or the language menu) and each queue's music on hold."""
    default = settings.default_language
    hold = {lang.code: Prompt(f"moh/{lang.code}/hold", ((lang.voice, _phrases(lang.code)["hold"]),),
                              f"{lang.code}/hold.wav") for lang in settings.languages}
    # hl-all's class (the fallback queue, no offers: it has no exit context)
    out = [Prompt("moh/_default/hold", hold[default.code].parts, f"{default.code}/hold.wav")]
    if settings.ivr.intake == "menu":
        parts = [(default.voice, _phrases(default.code)["welcome"].format(number=" ".join(settings.number)))]
        parts += [_offer(lang) for lang in settings.languages]
        return [*out, Prompt("ivr/language-menu", tuple(parts), "language-menu.wav"), *hold.values()]
    words = _phrases(default.code)
    out.append(Prompt("ivr/greeting", ((default.voice, words.get("greeting", PHRASES["en"]["greeting"])),),
                      "greeting.wav", True))
    for queue_lang in settings.languages:
        others = [lang for lang in settings.languages if lang.code != queue_lang.code]
        out += [Prompt(f"moh/{queue_lang.code}/{i + 1:02d}-offer-{lang.code}", (_offer(lang),),
                       f"{lang.code}/offer.wav") for i, lang in enumerate(others)]
        h = hold[queue_lang.code]
        out.append(Prompt(f"moh/{queue_lang.code}/90-hold", h.parts, h.override))
    return out


def prompts_for(settings: Settings) -> list[Prompt]:
    """Every prompt the dialplan needs for this site."""
    out = intake_prompts(settings)
    for lang in settings.languages:
        p = _phrases(lang.code)
        menu = [(lang.voice, p["topic"].format(topic=t.name, digit=t.digit)) for t in settings.topics]
        menu.append((lang.voice, p["any"]))
        out.append(Prompt(f"ivr/{lang.code}/topic-menu", tuple(menu), f"{lang.code}/topic-menu.wav"))
    out += interpreter_prompts(settings)
    out += callback_prompts(settings)
    return out


def interpreter_prompts(settings: Settings) -> list[Prompt]:
    """What an interpreter hears on answering, before joining the room: "interpreting request",
    the language (its own name in its own voice), "case number" and the digits, in the
    hotline's language (the one interpreters translate to)."""
    default = settings.default_language
    words = PHRASES.get(default.code, {})
    if "interpreting" not in words:
        words = PHRASES["en"]
    out = [Prompt("interp/intro", ((default.voice, words["interpreting"]),), "interp/intro.wav", True),
           Prompt("interp/case", ((default.voice, words["case"]),), "interp/case.wav", True)]
    for lang in settings.languages:
        out.append(Prompt(f"interp/lang-{lang.code}", ((lang.voice, _phrases(lang.code).get("self", lang.name)),),
                          f"interp/lang-{lang.code}.wav", True))
    out += [Prompt(f"interp/digit-{d}", ((default.voice, str(d)),), f"interp/digit-{d}.wav", True)
            for d in range(10)]
    return out


def missing_phrasebooks(settings: Settings) -> list[str]:
    return [lang.code for lang in settings.languages if lang.code not in PHRASES]


def _run(cmd: list[str]) -> None:
    try:
        subprocess.run(cmd, check=True, capture_output=True, timeout=60)
    except FileNotFoundError:
        raise PromptError(f"{cmd[0]} is not installed (make setup installs espeak-ng and sox)") from None
    except subprocess.CalledProcessError as exc:
        raise PromptError(f"{' '.join(cmd[:3])} failed: {exc.stderr.decode(errors='replace')[-300:]}") from None


def to_asterisk_wav(src: Path, dest: Path) -> None:
    """Any audio file sox reads -> 8 kHz mono signed 16-bit WAV."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    _run(["sox", str(src), "-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer", str(dest)])


def render_prompts(settings: Settings, sounds_dir: Path, cache_dir: Path) -> list[Path]:
    """Write every prompt under ``sounds_dir``; synthesis is cached by voice and text."""
    if missing := missing_phrasebooks(settings):
        log.warning("no phrasebook for %s: their prompts use English words; record prompts in %s",
                    ", ".join(missing), settings.asterisk.prompts_override)
    cache_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for prompt in prompts_for(settings):
        dest = sounds_dir / f"{prompt.name}.wav"
        dest.parent.mkdir(parents=True, exist_ok=True)
        recorded = settings.asterisk.prompts_override / prompt.override
        if recorded.is_file():
            to_asterisk_wav(recorded, dest)
            written.append(dest)
            continue
        pieces = []
        for voice, text in prompt.parts:
            key = hashlib.sha256(f"{voice}\0{text}".encode()).hexdigest()[:24]
            piece = cache_dir / f"{key}.wav"
            if not piece.exists():  # made under names of this process's own, then renamed: the cache may be
                raw = cache_dir / f"{key}.{os.getpid()}.raw.wav"  # shared by renders running at once
                fresh = cache_dir / f"{key}.{os.getpid()}.new.wav"
                try:
                    _run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(raw), text])
                    to_asterisk_wav(raw, fresh)
                    os.replace(fresh, piece)
                finally:
                    raw.unlink(missing_ok=True)
                    fresh.unlink(missing_ok=True)
            pieces.append(piece)
        if prompt.trim:  # silence above 0.5% of full scale for 50 ms starts and ends the speech
            _run(["sox", *map(str, pieces), str(dest), "silence", "1", "0.05", "0.5%", "reverse",
                  "silence", "1", "0.05", "0.5%", "reverse"])
        elif len(pieces) == 1:
            shutil.copyfile(pieces[0], dest)
        else:
            _run(["sox", *map(str, pieces), str(dest)])
        written.append(dest)
    _drop_stale_music(sounds_dir / "moh", set(written))
    return written


def _drop_stale_music(moh: Path, written: set[Path]) -> None:
    """Music on hold plays every file of its folder: one the site no longer makes (another intake,
    a language removed) must go."""
    for stale in moh.glob("*/*.wav") if moh.is_dir() else ():
        if stale not in written:
            stale.unlink(missing_ok=True)


def synthesise(text: str, voice: str, dest: Path) -> Path:
    """Speak ``text`` into ``dest`` (8 kHz mono WAV), e.g. a department's reply for a call back.
    Blocking: run it in an executor."""
    raw = dest.with_suffix(".raw.wav")
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        _run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(raw), text])
        to_asterisk_wav(raw, dest)
    finally:
        raw.unlink(missing_ok=True)
    return dest
