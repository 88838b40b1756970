"""Least privilege, end to end on a real stack: Asterisk and the service run as the
unprivileged run user (not root), every socket Asterisk listens on is bound to the configured
address (none to 0.0.0.0 or [::], the call's RTP included), and after a real recorded call
every file the hotline wrote about the citizen is 0600 in 0700 folders, unreadable by any
other local user."""

from __future__ import annotations

import os
import pwd
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from hotline import config, privileges
from hotline.pbx import asterisk
from support.calls import call_hotline, wait_until

SITE_EXTRA = """
[recordings]
min_free_mb = 10

[[operators]]
extension = "2001"
name = "English Housing"
languages = { en = 5 }
topics = ["housing"]
"""
CALLER_HZ, OP_HZ = 600, 1000
# capabilities that would let a process read others' files, become root again or leave the chroot
CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER, CAP_SETGID, CAP_SETUID = 0, 1, 2, 3, 6, 7
CAP_SYS_CHROOT, CAP_SYS_PTRACE, CAP_SYS_ADMIN = 18, 19, 21
DANGEROUS = sum(1 << c for c in (CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER, CAP_SETGID,
                                 CAP_SETUID, CAP_SYS_CHROOT, CAP_SYS_PTRACE, CAP_SYS_ADMIN))


def proc_status(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/status") as fh:
        return dict(line.rstrip("\n").split(":\t", 1) for line in fh if ":\t" in line)


def listening(pid: int) -> list[tuple[str, str, int]]:
    """(tcp|udp, host, port) of every listening TCP socket and unconnected UDP socket of ``pid``."""
    out = subprocess.run(["ss", "-Hlnptu"], capture_output=True, text=True, check=True).stdout
    found = []
    for line in out.splitlines():
        if f"pid={pid}," not in line:
            continue
        cols = line.split()
        host, port = cols[4].rsplit(":", 1)
        found.append((cols[0], host.strip("[]"), int(port)))
    return found


@pytest.mark.asterisk
def test_unprivileged_bound_to_the_address_and_files_private(make_hotline: Any, phones: Any, tones: Any) -> None:
    h = make_hotline(SITE_EXTRA)
    h.start_service()
    s = h.settings
    assert s.asterisk.user and s.asterisk.bind_guard, "the defaults: a run user and the bind guard"
    user = pwd.getpwnam(s.asterisk.user)
    assert user.pw_uid != 0 and user.pw_gid != 0

    # 1. neither Asterisk nor the service runs as root (real, effective, saved and file-system ids)
    apid = asterisk.running_pid(s)
    assert apid is not None and h.service is not None
    for name, pid in (("asterisk", apid), ("service", h.service.pid)):
        st = proc_status(pid)
        assert st["Uid"].split() == [str(user.pw_uid)] * 4, (name, st["Uid"])
        assert st["Gid"].split() == [str(user.pw_gid)] * 4, (name, st["Gid"])
        assert "0" not in st["Groups"].split(), (name, st["Groups"])
        assert int(st["CapEff"], 16) & DANGEROUS == 0, (name, st["CapEff"])
        assert int(st["CapPrm"], 16) & DANGEROUS == 0, (name, st["CapPrm"])
    assert int(proc_status(h.service.pid)["CapEff"], 16) == 0
    # root's CLI still reaches Asterisk through the control socket (tests, `hotline asterisk cli`)
    assert "uptime" in h.asterisk_cli("core show uptime").lower()

    # 2. a call works; while it is up, every socket Asterisk listens on (SIP, AMI, the call's
    # RTP, anything else) is bound to asterisk.bind, never to 0.0.0.0 or [::]
    op = phones.operator("2001", h.secrets.sip_passwords["2001"], tones[OP_HZ])
    h.login("2001")
    number = "13900000777"
    call = call_hotline(phones, tones[CALLER_HZ], number, ["2", "1"])
    wait_until(lambda: op.calls and op.calls[0].connected_at, 20, "the operator answered")
    uid = wait_until(lambda: next((c["uniqueid"] for c in h.cases() if c["caller_number"] == number
                                   and c["state"] == "answered"), None), 10, "the case opened")
    socks = listening(apid)
    rtp = [p for proto, _, p in socks if proto == "udp" and s.asterisk.rtp_start <= p <= s.asterisk.rtp_end]
    assert len(rtp) >= 2, f"the call's two RTP legs are listed: {socks}"
    assert ("udp", s.asterisk.bind, s.asterisk.sip_port) in socks and ("tcp", s.asterisk.bind, s.asterisk.ami_port) \
        in socks, socks
    stray = [x for x in socks if x[1] != s.asterisk.bind]
    assert stray == [], f"Asterisk listens beyond {s.asterisk.bind}: {stray}"
    service_stray = [x for x in listening(h.service.pid) if x[1] in ("0.0.0.0", "::", "*")]
    assert service_stray == [], f"the service listens on a wildcard address: {service_stray}"

    # MixMonitor's raw legs, while they are written (removed once archived): Asterisk's umask 077
    raw = s.asterisk.instance_dir / "spool" / "recordings"
    legs = wait_until(lambda: sorted(raw.glob(f"{uid}-*")), 10, "the raw recording files")
    assert [(p.name, p.stat().st_mode & 0o7777, p.stat().st_uid) for p in legs] == \
        [(p.name, 0o600, user.pw_uid) for p in legs]
    time.sleep(4.0)
    phones.hangup(call)

    def archived() -> dict[str, Any] | None:
        con = sqlite3.connect(s.database)
        con.row_factory = sqlite3.Row
        try:
            row = con.execute("select * from recordings where case_uniqueid = ? and status in ('archived', 'failed')",
                              (uid,)).fetchone()
            return dict(row) if row else None
        finally:
            con.close()
    rec = wait_until(archived, 30, "the recording archived")
    assert rec["status"] == "archived", rec["error"]
    archive = Path(rec["archive"])

    # 3. what holds citizens' data is 0600 in 0700 folders and belongs to the run user: the
    # state dir (case file + WAL, secrets, the recordings archive), and Asterisk's instance
    # (raw recordings, queue_log and logs with numbers, astdb, call back speech)
    tops = [s.state_dir, s.recordings.folder, s.asterisk.instance_dir]
    seen: dict[str, int] = {}
    wrong = []
    for top in tops:
        for here, dirs, files in os.walk(top):
            for name in [*dirs, *files]:
                p = Path(here) / name
                st = p.lstat()
                if stat.S_ISLNK(st.st_mode):  # the test stack's shared prompt cache (a symlink)
                    continue
                want = 0o700 if stat.S_ISDIR(st.st_mode) else 0o600
                if stat.S_ISSOCK(st.st_mode):  # asterisk.ctl: root's CLI connects, nobody else
                    want = 0o700
                root_owned = p.name == "console.log"  # Asterisk's stdout, opened by root's start
                if st.st_mode & 0o7777 != want or (st.st_uid != user.pw_uid and not root_owned):
                    wrong.append(f"{p}: {st.st_mode & 0o7777:o} uid {st.st_uid}")
                seen[name] = st.st_mode & 0o7777
            st = Path(here).stat()
            if st.st_mode & 0o7777 != 0o700:
                wrong.append(f"{here}: {st.st_mode & 0o7777:o}")
    assert wrong == [], "\n".join(wrong)
    db = s.database.name
    for needed in (db, db + "-wal", "secrets.json", archive.name, "queue_log", "astdb.sqlite3", "recordings"):
        assert needed in seen, f"{needed} was not found under {tops}"

    # 4. started as the run user itself, `hotline run` needs no root: it uses the Asterisk root started
    h.stop_service()
    log = h.tmp / "service-as-user.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups",
                                 sys.executable, "-m", "hotline.cli", "--site", str(h.site), "run"],
                                stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        wait_until(lambda: proc.poll() is not None or "hotline running" in log.read_text(), 30, "the service up")
        assert proc.poll() is None, log.read_text()[-2000:]
        assert f"using the running Asterisk, pid {apid}" in log.read_text()
        assert proc_status(proc.pid)["Uid"].split() == [str(user.pw_uid)] * 4
        assert any(a["extension"] == "2001" for a in h.api("GET", "/api/agents")["agents"])
    finally:
        proc.terminate()
        proc.wait(15)
    assert asterisk.running_pid(s) == apid, "the service leaves the Asterisk it did not start running"

    # another local user can read none of it (cat as nobody)
    for target in (s.database, archive, s.asterisk.instance_dir / "log" / "queue_log"):
        out = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "cat", str(target)],
                             capture_output=True, check=False)
        assert out.returncode != 0 and b"Permission denied" in out.stderr, (target, out.stderr[-200:])


def test_prepare_gives_the_state_dir_to_the_user_but_not_the_chroot(tmp_path: Path) -> None:
    me = pwd.getpwuid(os.getuid())
    state = tmp_path / "var"
    (state / "recordings" / "2026").mkdir(parents=True, mode=0o755)
    (state / "hotline.db").write_text("x")
    (state / "recordings" / "2026" / "a.ogg").write_text("x")
    os.chmod(state / "hotline.db", 0o644)
    chroot_bin = state / "asterisk" / "root" / "usr" / "sbin"
    chroot_bin.mkdir(parents=True)
    (chroot_bin / "asterisk").write_text("x")
    os.chmod(chroot_bin / "asterisk", 0o755)
    outside = tmp_path / "outside"
    outside.mkdir(mode=0o755)
    os.chmod(outside, 0o755)
    (state / "cache").symlink_to(outside)
    site = tmp_path / "site.toml"
    site.write_text('state_dir = "var"\n[[languages]]\ncode = "en"\nname = "English"\ndigit = "1"\nvoice = "en"\n'
                    '[[topics]]\ncode = "housing"\nname = "housing"\ndigit = "1"\n')
    settings = config.load(site, env={})
    privileges.prepare(settings, me)
    modes = {str(p.relative_to(state)): p.lstat().st_mode & 0o777 for p in state.rglob("*") if not p.is_symlink()}
    assert modes["hotline.db"] == 0o600 and modes["recordings/2026/a.ogg"] == 0o600
    assert modes["recordings"] == modes["recordings/2026"] == 0o700 and state.stat().st_mode & 0o777 == 0o700
    assert modes["asterisk/root/usr/sbin/asterisk"] == 0o755, "the chroot is left alone"
    assert (state / "cache").is_symlink() and outside.stat().st_mode & 0o777 == 0o755, "links are not followed"


def test_the_run_user_cannot_be_root() -> None:
    base = {"languages": [{"code": "en", "name": "English", "digit": "1", "voice": "en"}],
            "topics": [{"code": "housing", "name": "housing", "digit": "1"}]}
    for bad in ("root", "Hot Line", "x" * 40):
        with pytest.raises(config.ConfigError, match="asterisk.user"):
            config.parse({**base, "asterisk": {"user": bad}}, Path("."), env={})
    assert config.parse({**base, "asterisk": {"user": ""}}, Path("."), env={}).asterisk.user == ""


def test_instance_folders_under_umask_077_leave_the_chroot_folder_passable(tmp_path: Path) -> None:
    """`hotline run` sets umask 077 before rendering: on a fresh clone <chroot>/hotline did not exist
    yet and came out 0700 root, so the unprivileged Asterisk could not reach its own instance."""
    from hotline.pbx import asterisk

    inst = tmp_path / "root" / "hotline" / "main"
    old = os.umask(0o077)
    try:
        asterisk.make_instance_dirs(inst)
    finally:
        os.umask(old)
    assert (inst.parent.stat().st_mode & 0o777) == 0o711
    assert (inst.stat().st_mode & 0o777) == 0o700 and (inst / "spool/recordings").stat().st_mode & 0o777 == 0o700
    os.chmod(inst.parent, 0o700)  # one left wrong by an earlier run is put right
    asterisk.make_instance_dirs(inst)
    assert (inst.parent.stat().st_mode & 0o777) == 0o711
