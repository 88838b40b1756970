"""The one gate every AMI action and every FastAGI command passes on its way to Asterisk.

AMI is a line protocol: a header ends at CR LF *or a bare LF*, an action ends at an empty line.
A value holding a line break would end the hotline's action and start another with the
hotline's AMI rights (issue 14: a pause reason ran ``Action: Command``). FastAGI is the same:
one command a line. So every key and value (and each item of a list value, such as
Originate's ``Variable``) is checked here, and anything holding a control character (C0, DEL,
C1, and the Unicode line and paragraph separators) is refused with :class:`UnsafeValue`
(``unsafe-value``, HTTP 422) before a byte is written. The refusal names the field and the
character's code point, never the raw value (it may be an attack aimed at the log too).

Also refused: a header line longer than Asterisk's input buffer (its tail would be read as a
header of its own); an Originate ``Variable`` item that is not ``NAME=value`` or whose value
holds a comma (manager.c man_do_variable_value splits it on commas: a comma would set another
variable); a Setvar ``Variable`` that is not a plain name (``DB(...)``, ``FILE(...)`` would write
through a dialplan function).

:func:`check_action` is called by ``AmiSession.action`` (the only caller of panoramisk's
``send_action``); :func:`agi_set_variable` builds the only command ``AgiServer`` sends.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Mapping

from hotline.errors import HotlineError

log = logging.getLogger(__name__)

# Asterisk 22 main/manager.c: struct mansession_session { char inbuf[1025]; }; a line that does not
# fit is dropped and the bytes after it are read as a new line. Keep well inside it.
MAX_LINE_BYTES = 1000
_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
_VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_EXTRA_UNSAFE = {"\u2028", "\u2029"}  # line and paragraph separators (category Zl, Zp)


class PbxError(HotlineError, RuntimeError):
    error_id = "pbx-error"
    status = 502  # Asterisk refused or did not answer


class UnsafeValue(PbxError):
    """A value bound for Asterisk that could end the command it is part of."""

    error_id = "unsafe-value"
    status = 422

    def __init__(self, field: str, problem: str, where: str = "") -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{where + ': ' if where else ''}{field} {problem}; refused (nothing was sent to the PBX)",
                         details={"field": field})
        # every refusal is logged here, once: the field and the code point, never the value
        log.warning("refused: %s", self)


def unsafe_char(text: str) -> tuple[int, str] | None:
    """The first control character in ``text`` (position, code point as U+XXXX), or None."""
    for i, ch in enumerate(text):
        if ch in _EXTRA_UNSAFE or unicodedata.category(ch) == "Cc":
            return i, f"U+{ord(ch):04X}"
    return None


def check_text(field: str, value: str, where: str = "") -> str:
    """``value`` unchanged, or UnsafeValue when it holds a control character (CR, LF, NUL, TAB, ...)."""
    if not isinstance(value, str):
        raise UnsafeValue(field, f"is a {type(value).__name__}, not text", where)
    bad = unsafe_char(value)
    if bad is not None:
        raise UnsafeValue(field, f"holds a control character ({bad[1]} at position {bad[0]})", where)
    return value


def _not_a_name(name: object) -> str:
    bad = unsafe_char(name) if isinstance(name, str) else None
    return "is not a plain name" + (f" ({bad[1]} at position {bad[0]})" if bad else "")


def _check_line(key: str, value: str, where: str) -> None:
    check_text(key, value, where)
    if len(key.encode()) + 2 + len(value.encode()) > MAX_LINE_BYTES:
        raise UnsafeValue(key, f"is longer than {MAX_LINE_BYTES} bytes", where)


def _check_variable(item: str, where: str) -> None:
    name, sep, value = item.partition("=")
    if not sep or not _VARIABLE_NAME.fullmatch(name):
        raise UnsafeValue("Variable", "items must be NAME=value with NAME made of letters, digits and _", where)
    if "," in value:
        raise UnsafeValue(f"Variable {name}", "holds a comma (Asterisk would read another variable)", where)


def check_action(fields: Mapping[str, str | list[str]]) -> dict[str, str | list[str]]:
    """The action's fields, checked (a copy); UnsafeValue names the first bad field."""
    action = fields.get("Action")
    where = f"AMI {action}" if isinstance(action, str) and _KEY.fullmatch(action) else "AMI action"
    if not isinstance(action, str) or not action:
        raise UnsafeValue("Action", "is missing", where)
    out: dict[str, str | list[str]] = {}
    for key, value in fields.items():
        if not isinstance(key, str) or not _KEY.fullmatch(key):
            raise UnsafeValue("a field name", _not_a_name(key), where)
        items = value if isinstance(value, (list, tuple)) else [value]
        for n, item in enumerate(items):
            _check_line(key if len(items) == 1 else f"{key}[{n}]", item, where)
            if key.lower() == "variable" and action.lower() == "originate":
                _check_variable(item, where)
            elif key.lower() == "variable" and action.lower() == "setvar" and not _VARIABLE_NAME.fullmatch(item):
                raise UnsafeValue("Variable", "must be a plain variable name (no dialplan function)", where)
        out[key] = list(value) if isinstance(value, (list, tuple)) else value
    return out


def agi_quote(value: str, field: str = "value", where: str = "AGI") -> str:
    """``value`` as one AGI argument: checked, then in double quotes with ``\\`` and ``"`` escaped
    (res_agi.c parse_args: a backslash escapes the next character, quotes group)."""
    check_text(field, value, where)
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def agi_set_variable(name: str, value: str) -> str:
    """The FastAGI command line (without its newline) that sets channel variable ``name``."""
    if not isinstance(name, str) or not _VARIABLE_NAME.fullmatch(name):
        raise UnsafeValue("a variable name", _not_a_name(name), "AGI SET VARIABLE")
    command = f"SET VARIABLE {name} {agi_quote(value, name, 'AGI SET VARIABLE')}"
    if len(command.encode()) > MAX_LINE_BYTES:
        raise UnsafeValue(name, f"is longer than {MAX_LINE_BYTES} bytes", "AGI SET VARIABLE")
    return command
