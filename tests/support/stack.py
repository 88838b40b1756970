"""A whole hotline in a folder, for the end-to-end tests and the load benchmark: a site file,
Asterisk started from it (the project's chroot), the service as its own process, the API and
the case file. ``Stack.create`` renders and starts Asterisk; ``start_service`` the Python side."""

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hotline import config, privileges
from hotline import secrets as secrets_mod
from hotline.pbx import asterisk
from hotline.queue.roster import WRAPUP_GUARD_SECONDS
from hotline.queue.skills import skill_queues
from support.calls import wait_until

ROOT = Path(__file__).resolve().parents[2]
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


def stacks_dir(user: Any) -> Path:
    """Where test stacks keep their site and state dir when the service drops to the run
    user: a root-owned folder it may pass through (0711) but not list."""
    top = Path(os.environ.get("HOTLINE_TEST_STACKS", "/tmp/hotline-stacks"))
    top.mkdir(mode=0o711, exist_ok=True)
    st = top.lstat()
    if st.st_uid != os.geteuid() or st.st_mode & 0o7777 != 0o711:
        raise RuntimeError(f"{top} must be a folder of ours with mode 0711 (it is {st.st_mode & 0o7777:o}, "
                           f"uid {st.st_uid})")
    return top


def asterisk_root() -> Path:
    return Path(os.environ.get("HOTLINE_TEST_ASTERISK_ROOT", ROOT / "var/asterisk/root"))


class WebSession:
    """A user's session over HTTP: the session cookie, the page's CSRF token, JSON calls."""

    def __init__(self, base: str, username: str, password: str) -> None:
        import http.cookiejar
        import re
        import urllib.parse
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        page = self.opener.open(base + "/login", timeout=20).read().decode()
        token = re.search(r'name="csrf" value="([^"]+)"', page)
        assert token, page[:500]
        form = urllib.parse.urlencode({"username": username, "password": password, "csrf": token.group(1)})
        landed = self.opener.open(urllib.request.Request(base + "/login", data=form.encode(), method="POST"),
                                  timeout=20)
        html = landed.read().decode()
        csrf = re.search(r'name="csrf-token" content="([^"]+)"', html)
        self.csrf = csrf.group(1) if csrf else ""

    def api(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method, headers={
            "Content-Type": "application/json", "X-CSRF-Token": self.csrf, "Origin": self.base})
        try:
            with self.opener.open(req, timeout=20) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")


@dataclass
class Stack:
    """One hotline: site file, Asterisk, the service process, the case file."""

    tmp: Path
    site: Path
    settings: config.Settings
    secrets: secrets_mod.Secrets
    service: subprocess.Popen[bytes] | None = None
    service_log: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    home: Path | None = None  # the site and state dir when not under ``tmp`` (see create)

    # the service (Python side) ------------------------------------------------------------
    def start_service(self, timeout: float = 30, env: dict[str, str] | None = None) -> None:
        assert self.service is None
        log_path = self.service_log = self.tmp / f"service-{int(time.time() * 1000)}.log"
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
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
                    raise RuntimeError("service did not start:\n" + log_path.read_text()[-3000:]) from None
                time.sleep(0.2)
        wait_until(lambda: "AMI logged in" in log_path.read_text(), 20, "service logged in to AMI")

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
        wait_until(lambda: all(self.agent(e)["state"] == "ready" for e in extensions), 15,
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

    def set_password(self, username: str, password: str) -> None:
        """Through the CLI, as an administrator would (`hotline users passwd NAME --password-stdin`)."""
        subprocess.run([sys.executable, "-m", "hotline.cli", "--site", str(self.site), "users", "passwd", username,
                        "--password-stdin"], input=password + "\n", text=True, check=True, capture_output=True)

    def web_session(self, username: str, password: str) -> WebSession:
        """Logged in through the login form, as a browser would (cookie and CSRF token)."""
        return WebSession(self.base_url, username, password)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.http.port}"

    def asterisk_cli(self, command: str) -> str:
        return asterisk.cli(self.settings, command)



    @classmethod
    def create(cls, folder: Path, instance: str, operators: str, prompt_cache: Path | None = None) -> Stack:
        """Write the site file (BASE_SITE + ``operators``), render and start Asterisk."""
        root = asterisk_root()
        if asterisk.installed_version(root) is None:
            raise RuntimeError(f"no Asterisk chroot at {root}: run `make setup` (or `hotline asterisk install`)")
        folder.mkdir(parents=True, exist_ok=True)
        home = folder
        site = folder / "site.toml"
        for _ in range(2):
            state = home / "state"
            text = BASE_SITE.format(state=state, root=root, instance=instance, sip=SIP_PORT, ami=AMI_PORT,
                                    agi=AGI_PORT, http=HTTP_PORT) + operators
            if "[sip_security]" not in operators:
                # every test phone and sipp caller dials from 127.0.0.1: a "carrier", whose calls the
                # per-source call limit counts per caller number (tests/test_sip_security.py sets its own)
                text += '\n[sip_security]\ncarrier_sources = ["127.0.0.1"]\n'
            if "[ivr]" not in operators:
                # the tests' callers answer a topic menu after their language key (tests/test_intake.py
                # sets its own intake)
                text += '\n[ivr]\ntopic_menu = true\n'
            site.write_text(text)
            settings = config.load(site)
            user = privileges.run_user(settings)
            if user is None or home != folder:
                break
            # the service drops to the run user, who cannot enter pytest's 0700 folders: the
            # site and state dir live in a folder of their own (moved back at teardown)
            home = stacks_dir(user) / instance
            shutil.rmtree(home, ignore_errors=True)
            home.mkdir(mode=0o755)
            site.unlink()
            site = home / "site.toml"
        state.mkdir(parents=True, exist_ok=True)
        cache = state / "prompt-cache"
        if prompt_cache is not None and not cache.exists():
            cache.symlink_to(prompt_cache)
        sec = secrets_mod.load_or_create(settings)
        asterisk.render(settings, sec, skill_queues(settings), WRAPUP_GUARD_SECONDS)
        asterisk.start(settings)
        return cls(folder, site, settings, sec, home=home if home != folder else None)

    def teardown(self) -> None:
        """Stop the service and Asterisk; keep Asterisk's logs in the folder, drop the instance."""
        try:
            self.stop_service()
        finally:
            log = self.settings.asterisk.instance_dir / "log"
            asterisk.stop(self.settings)
            shutil.copytree(log, self.tmp / "asterisk-logs", dirs_exist_ok=True)
            if asterisk.console_log(self.settings).is_file():
                shutil.copyfile(asterisk.console_log(self.settings), self.tmp / "asterisk-logs" / "console.log")
            shutil.rmtree(self.settings.asterisk.instance_dir, ignore_errors=True)
            if self.home is not None:  # the site and state dir, kept with the test's folder
                shutil.rmtree(self.tmp / "stack", ignore_errors=True)
                shutil.move(str(self.home), str(self.tmp / "stack"))
