"""Operations against a real Asterisk and the service as its own process: /health and /metrics see
the AMI session (connected, down when Asterisk stops, a reconnect counted when it is back),
`hotline service asterisk` (what hotline-asterisk.service runs) becomes Asterisk itself: the pid
systemd would supervise is Asterisk's, and the hotline's own status command believes it; and
Asterisk's own res_prometheus, when [asterisk] metrics_port asks for it, answers on loopback only
and only with its generated password."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from hotline.pbx import asterisk
from support.calls import wait_until

pytestmark = pytest.mark.asterisk

OPERATORS = """
[[operators]]
extension = "2001"
name = "English Housing"
languages = { en = 5 }
topics = ["housing"]
"""


def get(url: str, token: str = "") -> tuple[int, str]:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def health(base: str) -> tuple[int, dict[str, Any]]:
    status, body = get(f"{base}/health")
    return status, json.loads(body)


def sample(text: str, name: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return None


def booted(settings: Any) -> bool:
    try:
        asterisk.cli(settings, "core waitfullybooted", timeout=5)
    except asterisk.AsteriskError:  # the control socket is not there yet
        return False
    return True


def test_health_metrics_and_the_asterisk_unit_command(make_hotline: Any) -> None:
    stack = make_hotline(OPERATORS)
    stack.start_service()
    base, token = stack.base_url, stack.secrets.metrics_token
    status, body = health(base)
    assert status == 200 and body["checks"]["ami"] == "ok" and body["checks"]["store"] == "ok", body
    status, text = get(f"{base}/metrics", token)
    assert status == 200 and sample(text, "hotline_ami_connected") == 1.0
    assert sample(text, "hotline_ami_reconnects_total") == 0.0
    assert get(f"{base}/metrics")[0] == 401
    assert "Server Disabled" in asterisk.cli(stack.settings, "http show status")  # metrics_port 0: no HTTP server

    asterisk.stop(stack.settings)  # Asterisk goes away: the health check says so (its cache: 5 s)
    wait_until(lambda: health(base)[0] == 503, 15, "/health failing with Asterisk stopped")
    assert health(base)[1]["checks"]["ami"] == "down"

    # what hotline-asterisk.service runs, as root: Asterisk in the foreground, by exec
    unit = subprocess.Popen([sys.executable, "-m", "hotline.cli", "--site", str(stack.site), "service", "asterisk"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: asterisk.running_pid(stack.settings) == unit.pid, 30, "the unit's process is Asterisk")
        wait_until(lambda: booted(stack.settings), 30, "Asterisk fully booted")
        cmdline = Path(f"/proc/{unit.pid}/cmdline").read_bytes().split(b"\0")
        assert b"/usr/sbin/asterisk" in cmdline and b"-f" in cmdline  # the exec kept the pid
        wait_until(lambda: health(base)[0] == 200, 30, "/health ok once the AMI session is back")
        status, text = get(f"{base}/metrics", token)
        assert sample(text, "hotline_ami_connected") == 1.0 and sample(text, "hotline_ami_reconnects_total") == 1.0
        # a second start is refused while it runs (systemd would not start two, a person might)
        again = subprocess.run([sys.executable, "-m", "hotline.cli", "--site", str(stack.site), "service", "asterisk"],
                               capture_output=True, text=True, timeout=30, check=False)
        assert again.returncode == 1 and "already runs" in again.stderr
    finally:
        stack.stop_service()
        if unit.poll() is None:
            os.kill(unit.pid, signal.SIGTERM)  # systemctl stop: SIGTERM to the main process
            try:
                unit.wait(20)
            except subprocess.TimeoutExpired:
                unit.kill()
                unit.wait(5)
    assert unit.returncode is not None
    deadline = time.time() + 10
    while asterisk.running_pid(stack.settings) is not None and time.time() < deadline:
        time.sleep(0.2)
    assert asterisk.running_pid(stack.settings) is None


def test_asterisk_metrics_behind_basic_auth_on_loopback(make_hotline: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """[asterisk] metrics_port: Asterisk's res_prometheus on its HTTP server at 127.0.0.1, answering
    only with the generated password; with 0 (the default) nothing listens."""
    monkeypatch.setenv("HOTLINE_ASTERISK_METRICS_PORT", "18088")
    stack = make_hotline(OPERATORS)
    assert stack.settings.asterisk.metrics_port == 18088
    url = "http://127.0.0.1:18088/metrics"
    assert get(url)[0] == 401
    password = stack.secrets.asterisk_metrics_password
    assert password and password in (stack.settings.asterisk.instance_dir / "etc" / "prometheus.conf").read_text()
    wrong = base64.b64encode(b"prometheus:wrong").decode()
    assert basic(url, wrong)[0] == 401
    status, text = basic(url, base64.b64encode(f"prometheus:{password}".encode()).decode())
    assert status == 200 and "asterisk_core_uptime_seconds" in text, text[:500]
    listening = asterisk.cli(stack.settings, "http show status")
    assert "127.0.0.1:18088" in listening and "0.0.0.0" not in listening, listening


def basic(url: str, credentials: str) -> tuple[int, str]:
    req = urllib.request.Request(url, headers={"Authorization": f"Basic {credentials}"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
