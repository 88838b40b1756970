"""The web boundary: what a request or a WebSocket message may carry before any handler sees it.

JSON bodies and socket messages are parsed here, and only here: UTF-8 only (another charset is a
415), at most ``MAX_DEPTH`` levels of nesting, integers of at most ``MAX_INT_DIGITS`` digits, no
NaN/Infinity, and every string (keys too) valid Unicode, so a lone surrogate ("\\ud800") never
reaches SQLite or an encoder later. Forms are read through ``form_of`` the same way. Whatever is
refused is a ``BadInput``: an error id and a 4xx, never a 500.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from hotline.errors import HotlineError

log = logging.getLogger(__name__)

MAX_DEPTH = 32
MAX_INT_DIGITS = 16
MAX_INT = 2**53  # what a browser's number holds exactly, and well inside SQLite's 64 bits
MAX_NUMBER_CHARS = 64
UTF8 = frozenset({"utf-8", "utf8"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class BadInput(HotlineError, ValueError):
    """Malformed input: ``error_id`` is ``bad-request`` (400) or ``bad-charset`` (415)."""

    error_id = "bad-request"
    status = 400

    def __init__(self, message: str, error_id: str = "bad-request", status: int = 400) -> None:
        super().__init__(message, error_id=error_id, status=status)


def _int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise BadInput(f"a number has more than {MAX_INT_DIGITS} digits")
    value = int(text)
    if abs(value) > MAX_INT:
        raise BadInput("a number is out of range")
    return value


def _float(text: str) -> float:
    if len(text) > MAX_NUMBER_CHARS:
        raise BadInput("a number is too long")
    value = float(text)
    if not -1e15 <= value <= 1e15:
        raise BadInput("a number is out of range")
    return value


def _constant(name: str) -> Any:
    raise BadInput(f"{name} is not a JSON number")


def valid_text(value: str) -> bool:
    """True when ``value`` can be written as UTF-8 (no lone surrogate)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_tree(value: Any) -> None:
    """Nesting depth and valid text throughout (iterative: a deep value cannot overflow the stack)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if not valid_text(item):
                raise BadInput("text must be valid Unicode (a lone surrogate is not)")
        elif isinstance(item, (dict, list)):
            if depth > MAX_DEPTH:
                raise BadInput(f"nested more than {MAX_DEPTH} levels deep")
            if isinstance(item, dict):
                for k, v in item.items():
                    stack.append((k, depth))
                    stack.append((v, depth + 1))
            else:
                stack.extend((v, depth + 1) for v in item)


def loads(text: str | bytes) -> Any:
    """Parse JSON text from outside (a body, a socket message) or raise ``BadInput``."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise BadInput("the body is not valid UTF-8") from None
    try:
        value = json.loads(text, parse_int=_int, parse_float=_float, parse_constant=_constant)
    except BadInput:
        raise
    except RecursionError:
        raise BadInput(f"nested more than {MAX_DEPTH} levels deep") from None
    except ValueError:  # JSONDecodeError, and int/float conversion limits
        raise BadInput("not valid JSON") from None
    check_tree(value)
    return value


def message_type(msg: Any, types: frozenset[str]) -> dict[str, Any]:
    """A socket message: a JSON object whose ``type`` is one of ``types``; else ``BadInput``."""
    kind = msg.get("type") if isinstance(msg, dict) else None
    if not isinstance(kind, str) or kind not in types:
        shown = kind[:40] if isinstance(kind, str) else type(kind).__name__
        raise BadInput(f"unknown message type {shown!r}")
    assert isinstance(msg, dict)
    return msg


def _charset_ok(request: web.Request) -> None:
    charset = request.charset
    if charset is not None and charset.lower() not in UTF8:
        raise BadInput(f"charset {charset[:40]!r} is not supported; send UTF-8", "bad-charset", 415)


async def json_object(request: web.Request) -> dict[str, Any]:
    """The body as a JSON object ({} when there is none)."""
    if not request.can_read_body:
        return {}
    _charset_ok(request)
    raw = await request.read()  # client_max_size bounds it (413)
    if not raw.strip():
        return {}
    body = loads(raw)
    if not isinstance(body, dict):
        raise BadInput("the body must be a JSON object")
    return body


async def form_of(request: web.Request) -> MultiDictProxy[Any]:
    """The body as a form (url-encoded or multipart), or ``BadInput``."""
    _charset_ok(request)
    try:
        form = await request.post()
    except web.HTTPException:
        raise
    except (ValueError, LookupError, AssertionError, UnicodeError) as exc:
        raise BadInput(f"the form cannot be read: {type(exc).__name__}") from None
    for key, value in form.items():
        if not valid_text(key) or (isinstance(value, str) and not valid_text(value)):
            raise BadInput("text must be valid Unicode")
    return form


ASCII_HEADERS = ("Authorization", "X-CSRF-Token")  # compared as bytes: never anything but ASCII


def cookie(request: web.Request, name: str) -> str:
    """A cookie's value, or "" when it is absent or not ASCII (aiohttp decodes header bytes with
    surrogateescape: a ``\xff`` would fail later, when the value is hashed or compared). The
    hotline's own cookies (session, login CSRF) are always ASCII, so such a value is not ours."""
    value = request.cookies.get(name, "")
    return value if value.isascii() else ""


@web.middleware
async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The first check: the path and query are valid text, and the token headers are ASCII (a
    non-ASCII cookie of ours is read as absent: ``cookie``). What is refused deeper (a form read for
    the CSRF token, a body) is a ``BadInput``, which web/errors.py answers."""
    if not valid_text(request.path) or not all(valid_text(k) and valid_text(v) for k, v in request.query.items()):
        raise BadInput("the address must be valid Unicode")
    for name in ASCII_HEADERS:
        if not all(v.isascii() for v in request.headers.getall(name, ())):
            raise BadInput(f"the {name} header must be ASCII")
    return await handler(request)
