"""The `hotline` command's conventions (docs/cli.md): --site before or after the command, a default
site file that does not depend on the working directory, --version, distinct exit codes for a
usage error (2) and a bad site file (78), --json on the commands that print tables, and no
secrets created by the commands that only ask the running service."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer, unused_port
from test_api import RecordingPbx

from hotline import cli, config
from hotline.bus import Bus
from hotline.cases.store import CaseStore
from hotline.cli import common
from hotline.graph import build_services
from hotline.web.app import build_app

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "etc/site.example.toml"


def run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    e = {k: v for k, v in os.environ.items() if k != "HOTLINE_SITE" and not k.startswith("HOTLINE_")}
    return subprocess.run([sys.executable, "-m", "hotline.cli", *args], capture_output=True, text=True, cwd=cwd,
                          env={**e, **(env or {})}, timeout=60, check=False)


def site(tmp_path: Path, port: int = 1) -> Path:
    path = tmp_path / "site.toml"
    text = SITE.read_text().replace('state_dir = "../var"', 'state_dir = "state"').replace("port = 8480",
                                                                                          f"port = {port}")
    path.write_text(text)
    return path


def test_site_before_or_after_the_command_is_the_same() -> None:
    p = cli.parser()
    before = p.parse_args(["--site", "/x/a.toml", "queues", "--watch"])
    after = p.parse_args(["queues", "--watch", "--site", "/x/a.toml"])
    assert before.site == after.site == "/x/a.toml"
    assert p.parse_args(["--site", "/x/a.toml", "config", "--site", "/x/b.toml"]).site == "/x/b.toml"  # after wins
    assert p.parse_args(["config", "-v"]).verbose is True
    assert p.parse_args(["-v", "config"]).verbose is True


def test_the_default_site_does_not_depend_on_the_working_directory(tmp_path: Path) -> None:
    out = run("config", cwd=tmp_path)  # a folder with no etc/ in it
    assert out.returncode == 0 and "site file ok" in out.stdout, out.stderr
    assert Path(common.DEFAULT_SITE).is_absolute() and Path(common.DEFAULT_SITE) == SITE
    installed = tmp_path / "site.toml"
    installed.write_text("")
    assert common.default_site(installed) == str(installed)  # /etc/hotline/site.toml when there
    assert common.default_site(tmp_path / "absent.toml") == common.DEFAULT_SITE
    # $HOTLINE_SITE still comes first
    mine = site(tmp_path)
    assert run("config", cwd=tmp_path, env={"HOTLINE_SITE": str(mine)}).returncode == 0


def test_version_and_exit_codes(tmp_path: Path) -> None:
    version = run("--version", cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("hotline ")
    usage = run("no-such-command", cwd=tmp_path)
    assert usage.returncode == common.EXIT_USAGE == 2 and "invalid choice" in usage.stderr
    assert run("queues", "--no-such-option", cwd=tmp_path).returncode == 2
    bad = tmp_path / "bad.toml"
    bad.write_text(SITE.read_text().replace("target_seconds = 15", 'target_seconds = "fifteen"'))
    out = run("config", "--site", str(bad), cwd=tmp_path)
    assert out.returncode == common.EXIT_CONFIG == 78 and "routing.target_seconds" in out.stderr, out.stderr
    missing = run("config", "--site", str(tmp_path / "nowhere.toml"), cwd=tmp_path)
    assert missing.returncode == 78 and "cannot read the site file" in missing.stderr


def test_read_only_commands_create_no_secrets(tmp_path: Path) -> None:
    s = site(tmp_path)
    for args in (["queues"], ["agents"], ["cases"], ["agent", "login", "1001"]):
        out = run(*args, "--site", str(s), cwd=tmp_path)
        assert out.returncode == 1 and "secrets-missing" in out.stderr, (args, out.stderr)
    assert not (tmp_path / "state" / "secrets.json").exists()
    assert not (tmp_path / "state").exists()


async def test_json_on_the_commands_that_print_tables(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    port = unused_port()
    path = site(tmp_path, port)
    settings = config.load(path, {})
    store = CaseStore(tmp_path / "c.db")
    graph = build_services(settings, store, RecordingPbx(), Bus())  # type: ignore[arg-type]
    graph.start(clocks=False)
    client = TestClient(TestServer(build_app(graph.web("cli-token")), port=port))
    await client.start_server()
    state = tmp_path / "state"
    await asyncio.to_thread(state.mkdir)
    await asyncio.to_thread((state / "secrets.json").write_text, json.dumps({"api_token": "cli-token"}))
    try:
        assert await asyncio.to_thread(cli.main, ["agents", "--json", "--site", str(path)]) == 0
        agents = json.loads(capsys.readouterr().out)
        assert {a["extension"] for a in agents} == {op.extension for op in settings.operators}
        assert await asyncio.to_thread(cli.main, ["queues", "--json", "--site", str(path)]) == 0
        queues = json.loads(capsys.readouterr().out)
        assert queues["target_seconds"] == settings.routing.target_seconds and "overall" in queues
        assert await asyncio.to_thread(cli.main, ["queues", "--site", str(path)]) == 0
        table = capsys.readouterr().out  # the table stays the default
        assert "\noverall " in table and not table.startswith("{")
    finally:
        await client.close()
        await graph.stop()
        await store.close()
