"""Fixtures for the end-to-end tests: a real Asterisk 22 (chroot), the hotline service as its
own process, pjsua2 phones, the SQLite case file. Run through `make test`, which puts the
whole session in a fresh network namespace (`unshare --net`, lo up)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from hotline import config
from hotline import secrets as secrets_mod

ROOT = Path(__file__).resolve().parents[1]
SIP_PORT, AMI_PORT, AGI_PORT, HTTP_PORT = 5060, 5038, 4573, 8480

BASE_SITE = """
number = "12345"
state_dir = "{state}"

[[languages]]
code = "zh"
name = "Mandarin"
digit = "1"
voice = "cmn"

[[languages]]
code = "en"
name = "English"
digit = "2"
voice = "en-us"

[[languages]]
code = "ko"
name = "Korean"
digit = "3"
voice = "ko"

[[topics]]
code = "housing"
name = "housing"
digit = "1"

[[topics]]
code = "transport"
name = "transport"
digit = "2"

[routing]
target_seconds = 15
initial_max_penalty = 1
widen_penalty_after = 2
overflow_same_language_after = 4
overflow_any_after = 8
ring_seconds = 10
wrapup_seconds = 2
menu_timeout = 2

[asterisk]
root = "{root}"
instance = "{instance}"
sip_port = {sip}
ami_port = {ami}
agi_port = {agi}

[http]
port = {http}
"""


def in_netns() -> bool:
    return os.environ.get("HOTLINE_IN_NETNS") == "1"


def asterisk_root() -> Path:
    return Path(os.environ.get("HOTLINE_TEST_ASTERISK_ROOT", ROOT / "var/asterisk/root"))


@dataclass
class Hotline:
    """One test's hotline: site file, Asterisk, the service process, the case file."""

    tmp: Path
    site: Path
    settings: config.Settings
    secrets: secrets_mod.Secrets
    service: subprocess.Popen[bytes] | None = None
    service_log: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    # the service (Python side) ------------------------------------------------------------
    def start_service(self, timeout: float = 30) -> None:
        assert self.service is None
        self.service_log = self.tmp / f"service-{int(time.time() * 1000)}.log"
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with open(self.service_log, "wb") as out:
            self.service = subprocess.Popen(
                [sys.executable, "-m", "hotline.cli", "--site", str(self.site), "-v", "run", "--no-asterisk"],
                stdout=out, stderr=subprocess.STDOUT, env=env)
        deadline = time.time() + timeout
        while True:
            try:
                self.api("GET", "/api/agents")
                break
            except (urllib.error.URLError, ConnectionError):
                if self.service.poll() is not None or time.time() > deadline:
                    raise RuntimeError("service did not start:\n" + self.service_log.read_text()[-3000:]) from None
                time.sleep(0.2)
        wait_for(lambda: "AMI logged in" in self.service_log.read_text(), 20, "service logged in to AMI")

    def stop_service(self) -> None:
        if self.service is not None:
            self.service.send_signal(signal.SIGTERM)
            try:
                self.service.wait(15)
            except subprocess.TimeoutExpired:
                self.service.kill()
                self.service.wait(5)
            self.service = None

    def api(self, method: str, path: str, body: dict[str, Any] | None = None,
            token: str | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.settings.http.port}{path}", data=data, method=method,
            headers={"Authorization": f"Bearer {token or self.secrets.api_token}",
                     "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=20) as resp:
            return json.loads(resp.read())

    def login(self, *extensions: str) -> None:
        for ext in extensions:
            self.api("POST", f"/api/agents/{ext}/login")
        wait_for(lambda: all(self.agent(e)["state"] == "ready" for e in extensions), 15,
                 f"operators {extensions} ready")

    def agent(self, ext: str) -> dict[str, Any]:
        return next(a for a in self.api("GET", "/api/agents")["agents"] if a["extension"] == ext)

    # the case file -------------------------------------------------------------------------
    def cases(self) -> list[dict[str, Any]]:
        if not self.settings.database.exists():
            return []
        con = sqlite3.connect(self.settings.database)
        con.row_factory = sqlite3.Row
        try:
            return [dict(r) for r in con.execute("select * from cases order by id")]
        finally:
            con.close()

    def asterisk_cli(self, command: str) -> str:
        from hotline.pbx import asterisk
        return asterisk.cli(self.settings, command)


def wait_for(pred: Any, timeout: float, what: str) -> Any:
    from hotline.sim.phones import wait_until
    return wait_until(pred, timeout, what)


@pytest.fixture(scope="session")
def prompt_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("prompt-cache")


@pytest.fixture(scope="session")
def phones(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    if not in_netns():
        pytest.skip("end-to-end tests run through `make test` (inside unshare --net)")
    from hotline.sim.phone_process import Phones
    bank = Phones(tmp_path_factory.mktemp("phones"), SIP_PORT)
    yield bank
    bank.close()


@pytest.fixture(scope="session")
def tones(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    from hotline.sim.phones import make_tone
    d = tmp_path_factory.mktemp("tones")
    return {f: make_tone(d / f"tone{f}.wav", f) for f in (600, 1000, 1400, 1800)}


_instance_counter = [0]


@pytest.fixture
def make_hotline(tmp_path: Path, phones: Any, prompt_cache: Path) -> Iterator[Any]:
    """make_hotline(operators_toml) -> Hotline with Asterisk started (service not yet)."""
    from hotline.pbx import asterisk

    made: list[Hotline] = []
    root = asterisk_root()
    if asterisk.installed_version(root) is None:
        pytest.fail(f"no Asterisk chroot at {root}: run `make setup` (or `hotline asterisk install`)")

    def make(operators: str) -> Hotline:
        _instance_counter[0] += 1
        instance = f"t{os.getpid()}x{_instance_counter[0]}"
        state = tmp_path / "state"
        state.mkdir(exist_ok=True)
        cache = state / "prompt-cache"
        if not cache.exists():
            cache.symlink_to(prompt_cache)
        text = BASE_SITE.format(state=state, root=root, instance=instance, sip=SIP_PORT, ami=AMI_PORT,
                                agi=AGI_PORT, http=HTTP_PORT) + operators
        site = tmp_path / "site.toml"
        site.write_text(text)
        settings = config.load(site)
        sec = secrets_mod.load_or_create(settings)
        asterisk.render(settings, sec)
        asterisk.start(settings)
        h = Hotline(tmp_path, site, settings, sec)
        made.append(h)
        return h

    yield make
    try:
        phones.remove_all()
    finally:
        for h in made:
            _teardown(h)


def _teardown(h: Hotline) -> None:
    from hotline.pbx import asterisk

    try:
        h.stop_service()
    finally:
        log = h.settings.asterisk.instance_dir / "log"
        asterisk.stop(h.settings)
        # keep logs for a failed test's report, drop the instance folder otherwise
        keep = h.tmp / "asterisk-logs"
        shutil.copytree(log, keep, dirs_exist_ok=True)
        shutil.rmtree(h.settings.asterisk.instance_dir, ignore_errors=True)
