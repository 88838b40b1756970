"""`hotline service install`: the systemd units for Asterisk (in its chroot), the hotline and the
daily backup pass `systemd-analyze verify`, restart on failure, log to the journal, run what this
installation's `hotline` command is, with the site file's absolute path; nothing is enabled or
started."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from hotline import cli, config
from hotline.cli import service

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "etc/site.example.toml"
ANALYZE = shutil.which("systemd-analyze")


def verify(folder: Path) -> subprocess.CompletedProcess[str]:
    assert ANALYZE is not None
    return subprocess.run([ANALYZE, "verify", *(str(folder / n) for n in service.NAMES)], capture_output=True,
                          text=True, timeout=120, check=False, cwd=folder)


def directives(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            out.setdefault(key, []).append(value)
    return out


def test_the_units_are_written_with_restart_policies_and_the_journal(tmp_path: Path) -> None:
    assert cli.main(["service", "install", "--site", str(SITE), "--dest", str(tmp_path)]) == 0
    asterisk = directives((tmp_path / "hotline-asterisk.service").read_text())
    hotline = directives((tmp_path / "hotline.service").read_text())
    for unit in (asterisk, hotline):
        assert unit["Restart"] == ["always"] and unit["StandardOutput"] == ["journal"]
        assert unit["StartLimitBurst"] == ["5"] and unit["WantedBy"] == ["multi-user.target"]
    command = service.hotline_command()
    assert asterisk["ExecStartPre"] == [f"{command} --site {SITE} asterisk render"]
    assert asterisk["ExecStart"] == [f"{command} --site {SITE} service asterisk"]
    assert hotline["ExecStart"] == [f"{command} --site {SITE} run --no-asterisk"]
    # the service follows Asterisk but is not bound to it: either restarts alone
    assert "hotline-asterisk.service" in hotline["After"][0] and "hotline-asterisk.service" in hotline["Wants"][0]
    assert "Requires" not in hotline and "BindsTo" not in hotline
    # the daily backup: as the run user, the copies kept as asked
    backup = directives((tmp_path / "hotline-backup.service").read_text())
    timer = directives((tmp_path / "hotline-backup.timer").read_text())
    assert backup["ExecStart"] == [f"{command} --site {SITE} backup --keep 14"] and backup["User"] == ["hotline"]
    assert timer["OnCalendar"] == ["*-*-* 02:30"] and timer["Persistent"] == ["true"]
    assert not list(tmp_path.glob(".*.tmp"))
    assert cli.main(["service", "install", "--site", str(SITE), "--dest", str(tmp_path), "--keep", "30",
                     "--backup-time", "23:15"]) == 0
    assert "backup --keep 30" in (tmp_path / "hotline-backup.service").read_text()
    assert "OnCalendar=*-*-* 23:15" in (tmp_path / "hotline-backup.timer").read_text()
    assert cli.main(["service", "install", "--site", str(SITE), "--dest", str(tmp_path), "--backup-time", "25:00"]) == 2


@pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed (Debian package systemd)")
def test_the_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    assert cli.main(["service", "install", "--site", str(SITE), "--dest", str(tmp_path)]) == 0
    out = verify(tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    # and verify does catch a broken unit: a command that does not exist
    broken = tmp_path / "broken"
    broken.mkdir()
    units = service.render_units(config.load(SITE, {}), SITE, hotline="/nonexistent/hotline")
    for name, text in units.items():
        (broken / name).write_text(text)
    bad = verify(broken)
    assert bad.returncode != 0 and "/nonexistent/hotline" in bad.stdout + bad.stderr


def test_paths_with_spaces_and_percent_signs_are_quoted(tmp_path: Path) -> None:
    odd = tmp_path / "my site 100%" / "site.toml"
    odd.parent.mkdir()
    odd.write_text(SITE.read_text().replace('state_dir = "../var"', f'state_dir = "{tmp_path}/state"'))
    units = service.render_units(config.load(odd, {}), odd, hotline="/usr/bin/hotline")
    line = directives(units["hotline.service"])["ExecStart"][0]
    assert line == f'/usr/bin/hotline --site "{str(odd).replace("%", "%%")}" run --no-asterisk'
    if ANALYZE is not None:
        folder = tmp_path / "units"
        folder.mkdir()
        for name, text in service.render_units(config.load(odd, {}), odd).items():
            (folder / name).write_text(text)
        out = verify(folder)
        assert out.returncode == 0, out.stdout + out.stderr


def test_print_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--site", str(SITE), "service", "install", "--print", "--dest", str(tmp_path / "x")]) == 0
    out = capsys.readouterr().out
    assert "# --- hotline-asterisk.service" in out and "# --- hotline.service" in out
    assert not (tmp_path / "x").exists()


def test_a_dollar_sign_stays_literal_and_a_line_break_is_refused() -> None:
    """systemd expands $NAME inside quotes too: a site path with a $ must reach the command as typed;
    a line break would end ExecStart= and start a directive of its own."""
    quote = service.quote
    assert quote("/srv/$HOME/site.toml") == '"/srv/$$HOME/site.toml"'
    with pytest.raises(ValueError):
        quote("/srv/site.toml\nExecStartPre=/bin/sh -c id")
