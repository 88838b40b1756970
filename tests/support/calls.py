"""Waiting for what a test expects, and a citizen calling the hotline (no pjsua2 here: the
phones are passed in, a PhoneBank or a phone_process.Phones)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def wait_until(pred: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    deadline = time.time() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.time() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for: {what}")
        time.sleep(interval)


def call_hotline(phones: Any, mic: Path | None, number: str, digits: list[str], number_dialled: str = "12345",
                 pause: float = 1.5, phone: Any = None) -> Any:
    """A citizen ``number`` dials the hotline and answers the IVR menus with ``digits`` (one per
    menu, ``pause`` s apart; '' = say nothing). ``phones`` is a PhoneBank or Phones handle;
    ``phone``: the caller's phone when it is not one of ``phones`` (e.g. another codec's)."""
    caller = phone if phone is not None else phones.caller(number, mic)
    call = phones.dial(caller, number_dialled)
    wait_until(lambda: call.connected_at, 10, "the IVR answered")
    # a person presses keys once they hear the menu: the call's audio must be up (DTMF rides on it)
    wait_until(lambda: call.recording or call.ended_at, 10, "the call's audio started")
    for d in digits:
        time.sleep(pause)
        if d:
            phones.dtmf(call, d)
    return call
