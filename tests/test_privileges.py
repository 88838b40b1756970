"""Least privilege, end to end on a real stack: Asterisk and the service run as the
unprivileged run user (not root), every socket Asterisk listens on is bound to the configured
address (none to 0.0.0.0 or [::], the call's RTP included), and after a real recorded call
every file the hotline wrote about the citizen is 0600 in 0700 folders, unreadable by any
other local user."""

from __future__ import annotations

import os
import pwd
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile
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
    # (the instance folder, etc/ and sounds/ but for the call back and surge speech are root's, 0750/0640
    # with the user's group: root renders them, Asterisk only reads them, the user cannot plant
    # a link in them for root to write through; console.log is root's, 0600)
    inst = s.asterisk.instance_dir
    shared = (inst / "etc", inst / "sounds")
    tops = [s.state_dir, s.recordings.folder, inst]
    seen: dict[str, int] = {}
    wrong = []
    for top in tops:
        for here, dirs, files in os.walk(top):
            for name in [*dirs, *files]:
                p = Path(here) / name
                st = p.lstat()
                if stat.S_ISLNK(st.st_mode):  # the test stack's shared prompt cache (a symlink)
                    continue
                folder = stat.S_ISDIR(st.st_mode)
                want, owner = (0o700 if folder else 0o600), (user.pw_uid, user.pw_gid)
                if stat.S_ISSOCK(st.st_mode):  # asterisk.ctl: root's CLI connects, nobody else
                    want = 0o700
                # the service's own speech: call back summaries and surge messages (the run user's)
                own = (inst / "sounds" / "callback", inst / "sounds" / "surge")
                if any(x in (p, *p.parents) for x in shared) and not any(o in (p, *p.parents) for o in own):
                    want, owner = (0o750 if folder else 0o640), (0, user.pw_gid)
                if p == asterisk.console_log(s):  # Asterisk's stdout, opened by root's start
                    owner = (0, 0)
                if (st.st_mode & 0o7777, (st.st_uid, st.st_gid)) != (want, owner):
                    wrong.append(f"{p}: {st.st_mode & 0o7777:o} uid {st.st_uid} gid {st.st_gid}")
                seen[name] = st.st_mode & 0o7777
            if Path(here) not in tops[:2]:  # a folder below is checked where its parent lists it
                continue
            st = Path(here).stat()
            if st.st_mode & 0o7777 != 0o700:
                wrong.append(f"{here}: {st.st_mode & 0o7777:o}")
    st = inst.stat()
    assert (st.st_mode & 0o7777, st.st_uid, st.st_gid) == (0o750, 0, user.pw_gid), "the instance folder is root's"
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
    assert modes["recordings"] == modes["recordings/2026"] == 0o700
    # the chroot lies inside: the state dir stays root's, group-writable and sticky, so the run user
    # cannot move root's asterisk/ aside and have root run a binary of its own
    assert state.stat().st_mode & 0o7777 == 0o1770 and state.stat().st_uid == 0
    assert state.stat().st_gid == me.pw_gid
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


SITE = ('state_dir = "var"\n[[languages]]\ncode = "en"\nname = "English"\ndigit = "1"\nvoice = "en"\n'
        '[[topics]]\ncode = "housing"\nname = "housing"\ndigit = "1"\n')
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="changing owners needs root")


def _owner_mode(p: Path) -> tuple[int, int, int]:
    st = p.lstat()
    return st.st_uid, st.st_gid, st.st_mode & 0o7777


@as_root
def test_own_tree_leaves_a_folder_linked_outside_alone(tmp_path: Path) -> None:
    nobody = pwd.getpwnam("nobody")
    outside = tmp_path / "etc"
    outside.mkdir()
    (outside / "shadow").write_text("x")
    os.chmod(outside / "shadow", 0o640)
    top = tmp_path / "tree"
    (top / "sub").mkdir(parents=True)
    (top / "sub" / "conf").symlink_to(outside)  # a subfolder entry that is a link to a folder outside
    before = {p: _owner_mode(p) for p in (outside, outside / "shadow")}
    privileges.own_tree(top, nobody)
    assert {p: _owner_mode(p) for p in before} == before
    assert _owner_mode(top / "sub")[:1] == (nobody.pw_uid,)


@as_root
def test_own_tree_never_follows_a_folder_swapped_for_a_link_while_it_walks(tmp_path: Path) -> None:
    """The run user owns the tree and can swap a folder for a link to /etc between the walk
    listing it and the chown: nothing outside may change hands (path-based chown/chmod did)."""
    import threading

    nobody = pwd.getpwnam("nobody")
    outside = tmp_path / "outside"
    outside.mkdir()
    names = [f"f{i}" for i in range(40)]
    for n in names:
        (outside / n).write_text("x")
        os.chmod(outside / n, 0o644)
    top = tmp_path / "tree"
    (top / "d").mkdir(parents=True)
    for n in names:
        (top / "d" / n).write_text("x")
    stop = threading.Event()

    def swapper() -> None:
        while not stop.is_set():
            try:
                os.rename(top / "d", top / "d.real")
                os.symlink(outside, top / "d")
                time.sleep(0)
                os.unlink(top / "d")
                os.rename(top / "d.real", top / "d")
            except OSError:
                pass

    t = threading.Thread(target=swapper)
    t.start()
    try:
        for _ in range(150):
            privileges.own_tree(top, nobody)  # never raises: an entry that vanishes is skipped
    finally:
        stop.set()
        t.join()
    changed = [n for n in names if _owner_mode(outside / n) != (0, 0, 0o644)]
    assert changed == [] and _owner_mode(outside)[0] == 0, changed


def test_a_run_user_that_is_root_under_another_name_is_refused(monkeypatch: pytest.MonkeyPatch,
                                                               tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    site.write_text(SITE + '[asterisk]\nuser = "toor"\n')
    settings = config.load(site, env={})
    fake = pwd.struct_passwd(("toor", "x", 0, 0, "", "/root", "/bin/sh"))
    monkeypatch.setattr(privileges.pwd, "getpwnam", lambda name: fake)
    monkeypatch.setattr(privileges.os, "geteuid", lambda: 0)
    with pytest.raises(privileges.PrivilegeError, match="root under another name"):
        privileges.run_user(settings)


@as_root
def test_prepare_gives_away_no_shared_folder_named_for_the_case_file_or_the_recordings(tmp_path: Path) -> None:
    """database = "/var/lib/hotline.db" gave the run user all of /var/lib: now only a folder of
    the hotline's own (new, empty but for the case file, or the user's) is given."""
    nobody = pwd.getpwnam("nobody")
    shared = tmp_path / "varlib"
    shared.mkdir()
    (shared / "dpkg").mkdir()
    (shared / "dpkg" / "status").write_text("x")
    os.chmod(shared, 0o755)
    before = {p: _owner_mode(p) for p in (shared, shared / "dpkg", shared / "dpkg" / "status")}
    site = tmp_path / "site.toml"
    for text in (f'database = "{shared / "hotline.db"}"\n' + SITE, SITE + f'[recordings]\nfolder = "{shared}"\n'):
        site.write_text(text)
        settings = config.load(site, env={})
        with pytest.raises(privileges.PrivilegeError, match="not empty"):
            privileges.prepare(settings, nobody)
        assert {p: _owner_mode(p) for p in before} == before
    # a folder of its own outside the state dir is given (the case file's folder, for its -wal)
    own = tmp_path / "db"
    own.mkdir()
    (own / "hotline.db").write_text("x")
    site.write_text(f'database = "{own / "hotline.db"}"\n' + SITE + f'[recordings]\nfolder = "{tmp_path / "rec"}"\n')
    privileges.prepare(config.load(site, env={}), nobody)
    for p in (own, own / "hotline.db", tmp_path / "rec"):
        assert _owner_mode(p)[:2] == (nobody.pw_uid, nobody.pw_gid), p


def test_secrets_are_never_written_through_a_link_planted_in_the_state_dir(tmp_path: Path) -> None:
    from hotline import secrets as secrets_mod

    site = tmp_path / "site.toml"
    site.write_text(SITE)
    settings = config.load(site, env={})
    settings.state_dir.mkdir()
    victim = tmp_path / "authorized_keys"
    victim.write_text("ssh-ed25519 AAAA root@host\n")
    (settings.state_dir / "secrets.tmp").symlink_to(victim)
    sec = secrets_mod.load_or_create(settings)
    assert victim.read_text() == "ssh-ed25519 AAAA root@host\n"
    written = settings.state_dir / "secrets.json"
    assert not written.is_symlink() and written.stat().st_mode & 0o777 == 0o600
    assert sec.ami_secret in written.read_text()
    written.unlink()
    written.symlink_to(victim)  # nor read through one
    with pytest.raises(secrets_mod.SecretsError):
        secrets_mod.load_or_create(settings)


@as_root
def test_the_instance_folders_root_writes_are_roots(tmp_path: Path) -> None:
    """An older instance the run user owned whole, with etc/ swapped for a link to a folder
    outside: render's folders become root's (0750, the user's group) and are never followed;
    what Asterisk and the service write stays the user's, the call back speech kept."""
    nobody = pwd.getpwnam("nobody")
    inst = tmp_path / "root" / "hotline" / "main"
    asterisk.make_instance_dirs(inst)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "passwd").write_text("x")
    os.rmdir(inst / "etc")
    (inst / "etc").symlink_to(outside)
    (inst / "sounds" / "callback" / "summary" / "cb1.wav").write_text("x")
    (inst / "console.log").symlink_to(outside / "passwd")
    privileges.own_tree(inst, nobody)
    asterisk.make_instance_dirs(inst, nobody)
    assert _owner_mode(outside) == (0, 0, outside.stat().st_mode & 0o7777) and os.listdir(outside) == ["passwd"]
    for p in (inst, inst / "etc", inst / "sounds"):
        assert _owner_mode(p) == (0, nobody.pw_gid, 0o750), p
    for p in (inst / "run", inst / "log", inst / "lib" / "keys", inst / "spool" / "recordings",
              inst / "sounds" / "callback" / "summary"):
        assert _owner_mode(p) == (nobody.pw_uid, nobody.pw_gid, 0o700), p
    assert (inst / "sounds" / "callback" / "summary" / "cb1.wav").is_file()
    assert not (inst / "console.log").exists(), "a link the user planted in the instance folder is gone"


def test_the_console_log_and_the_pid_file_are_never_opened_through_a_link(tmp_path: Path) -> None:
    victim = tmp_path / "authorized_keys"
    victim.write_text("key\n")
    log_path = tmp_path / "console.log"
    log_path.symlink_to(victim)
    fd = asterisk._open_console_log(log_path)
    try:
        os.write(fd, b"Asterisk says\n")
    finally:
        os.close(fd)
    assert victim.read_text() == "key\n" and log_path.read_text() == "Asterisk says\n" and not log_path.is_symlink()
    pid_path = tmp_path / "hotline-asterisk.pid"
    pid_path.symlink_to(victim)
    asterisk._write_pid_file(pid_path, 4242, pwd.getpwuid(os.getuid()))
    assert victim.read_text() == "key\n" and pid_path.read_text() == "4242" and not pid_path.is_symlink()


def test_run_stops_the_asterisk_it_started_when_it_cannot_drop(monkeypatch: pytest.MonkeyPatch,
                                                               tmp_path: Path) -> None:
    import argparse

    from hotline import secrets as secrets_mod
    from hotline.cli import run as cli_run

    site = tmp_path / "site.toml"
    site.write_text(SITE)
    settings = config.load(site, env={})
    calls: list[str] = []
    running: list[int] = []
    monkeypatch.setattr(cli_run, "load_settings", lambda args: settings)
    monkeypatch.setattr(cli_run.os, "geteuid", lambda: 0)
    monkeypatch.setattr(cli_run.os, "umask", lambda mask: 0)
    monkeypatch.setattr(secrets_mod, "load_or_create", lambda s: secrets_mod.Secrets("a", "b", {}))
    monkeypatch.setattr(privileges, "run_user", lambda s: pwd.getpwnam("nobody"))
    monkeypatch.setattr(asterisk, "install", lambda s: "Asterisk 22")
    monkeypatch.setattr(asterisk, "render", lambda s, sec, queues, guard: calls.append("render"))
    monkeypatch.setattr(asterisk, "running_pid", lambda s: running[0] if running else None)
    monkeypatch.setattr(asterisk, "start", lambda s: running.append(99) or 99)
    monkeypatch.setattr(asterisk, "stop", lambda s: calls.append("stop") or True)

    def refuse(s: object, user: object) -> None:
        raise privileges.PrivilegeError("a folder that is not ours")
    monkeypatch.setattr(privileges, "prepare", refuse)
    with pytest.raises(privileges.PrivilegeError):
        cli_run.cmd_run(argparse.Namespace(no_asterisk=False, login_all=False))
    assert calls == ["render", "stop"]


@as_root
def test_sip_unblock_as_root_writes_as_the_run_user(tmp_path: Path) -> None:
    """`hotline sip unblock` run as root drops to the run user before it opens the SIP guard's
    file or the case file (the audit row): what it creates is the user's, never root's in the
    user's folders."""
    from hotline.pbx import sip_acl

    try:
        user = pwd.getpwnam("hotline")
    except KeyError:
        pytest.skip("no run user (make setup creates it)")
    home = Path(tempfile.mkdtemp(prefix="hotline-sip-", dir="/tmp"))
    try:
        os.chmod(home, 0o755)
        state = home / "var"
        inst = home / "chroot" / "hotline" / "main"
        (inst / "lib").mkdir(parents=True)
        state.mkdir()
        acl = sip_acl.SipAclFile(sip_acl.db_path(inst))
        acl.ensure()
        acl.block(sip_acl.BlockRow("192.0.2.7", 9, 1.0, 9e9, "{}"))
        for p in (state, inst / "lib", sip_acl.db_path(inst)):
            os.chown(p, user.pw_uid, user.pw_gid)
        site = home / "site.toml"
        site.write_text(SITE.replace('state_dir = "var"', f'state_dir = "{state}"')
                        + f'[asterisk]\nroot = "{home / "chroot"}"\ninstance = "main"\n')
        out = subprocess.run([sys.executable, "-m", "hotline.cli", "--site", str(site), "sip", "unblock", "192.0.2.7"],
                             capture_output=True, text=True, check=False, cwd="/")
        assert out.returncode == 0, out.stderr[-800:]
        assert acl.blocks() == []
        made = [p for p in state.iterdir()]
        assert made and all(p.stat().st_uid == user.pw_uid for p in made), [(p, p.stat().st_uid) for p in made]
        assert all(p.stat().st_uid == user.pw_uid for p in (inst / "lib").iterdir())
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _render_prompts_into(args: tuple[Path, int]) -> int:
    from hotline.ivr.prompts import render_prompts

    folder, i = args
    settings = config.load(folder / "site.toml", env={})
    return len(render_prompts(settings, folder / f"sounds{i}", folder / "cache"))


def test_renders_at_once_share_root_prompt_cache(tmp_path: Path) -> None:
    """Root's prompt cache lies beside the shared chroot, so renders of several instances run
    at once on one cache: each synthesises under names of its own (one's cleanup removed the
    other's half-made file: 'sox FAIL ... can't open input file')."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    if shutil.which("espeak-ng") is None or shutil.which("sox") is None:
        pytest.skip("espeak-ng and sox (make setup installs them)")
    (tmp_path / "site.toml").write_text(SITE)
    with ProcessPoolExecutor(3, mp_context=multiprocessing.get_context("fork")) as pool:
        counts = list(pool.map(_render_prompts_into, [(tmp_path, i) for i in range(3)]))
    assert len(set(counts)) == 1 and counts[0] > 0
    assert sorted(p.name for p in (tmp_path / "cache").iterdir() if ".raw." in p.name or ".new." in p.name) == []
