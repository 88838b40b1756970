"""Asterisk's lifecycle: install (a sid chroot), render the configuration, start, stop, status.

Each instance (``asterisk.instance``) has its own folder inside the chroot, ``/hotline/<instance>``,
holding etc/, run/, log/, spool/, lib/ and sounds/; the host sees it at ``<root>/hotline/<instance>``.
This module runs the process: start (our own child, in the chroot, as the run user), stop, status
and one CLI command through the control socket. Building the chroot is pbx/chroot.py, the
instance's folders pbx/instance_dirs.py, the configuration pbx/render.py; their entry points are
named here too (``asterisk.install``, ``asterisk.render``), so the lifecycle reads as one.
"""

from __future__ import annotations

import errno
import logging
import os
import pwd
import shutil
import signal
import stat
import subprocess
import time
from pathlib import Path

from hotline.config import Settings
from hotline.pbx.chroot import BINDGUARD_IN_CHROOT, build_bindguard, chroot_user, install, installed_version
from hotline.pbx.errors import AsteriskError
from hotline.pbx.instance_dirs import make_instance_dirs
from hotline.pbx.render import render
from hotline.privileges import run_user

__all__ = ["AsteriskError", "build_bindguard", "cli", "command", "console_log", "install", "installed_version",
           "make_instance_dirs", "render", "running_pid", "start", "status", "stop", "write_pid_file"]

log = logging.getLogger(__name__)


def _pid_file(settings: Settings) -> Path:
    return settings.asterisk.instance_dir / "run" / "hotline-asterisk.pid"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie child of ours counts as gone
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ", 1)[1][:1] != "Z"
    except OSError:
        return False


def running_pid(settings: Settings) -> int | None:
    path = _pid_file(settings)
    try:
        pid = int(path.read_text().strip())
        # the file lies in a folder the run user writes: believe it only for this instance's Asterisk
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return None
    conf = f"{settings.asterisk.instance_dir_in_chroot}/etc/asterisk.conf".encode()
    if b"/usr/sbin/asterisk" not in cmdline or conf not in cmdline:
        return None
    return pid if _alive(pid) else None


def cli(settings: Settings, command: str, timeout: float = 15) -> str:
    """Run one Asterisk CLI command through the instance's control socket."""
    conf = f"{settings.asterisk.instance_dir_in_chroot}/etc/asterisk.conf"
    try:
        out = subprocess.run(["chroot", str(settings.asterisk.root), "/usr/sbin/asterisk", "-C", conf,
                              "-rx", command], capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise AsteriskError(f"Asterisk CLI {command!r} did not answer in {timeout:.0f}s") from None
    if out.returncode != 0 or "Unable to connect" in out.stdout:
        raise AsteriskError(f"Asterisk CLI {command!r} failed: {(out.stdout + out.stderr).strip()[-300:]}")
    return out.stdout


def _ctl_listening(settings: Settings) -> bool:
    """Is an Asterisk answering on this instance's control socket? Removes a stale socket."""
    import socket

    path = settings.asterisk.instance_dir / "run" / "asterisk.ctl"
    if not path.exists():
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        try:
            sock.connect(str(path))
            return True
        except OSError:
            path.unlink(missing_ok=True)
            return False


def console_log(settings: Settings) -> Path:
    """Asterisk's stdout and stderr, opened by root: in the instance folder, which only root
    writes when there is a run user (never in log/, the user's)."""
    return settings.asterisk.instance_dir / "console.log"


def _open_console_log(path: Path) -> int:
    """Open (append, read for the tail) the console log without following a link; anything but
    a regular file of ours with one name there is replaced by a new one."""
    flags = os.O_RDWR | os.O_APPEND | os.O_NOFOLLOW | os.O_NONBLOCK
    for _ in range(2):
        try:
            fd = os.open(path, flags | os.O_CREAT, 0o600)
        except OSError as exc:
            if exc.errno not in (errno.ELOOP, errno.ENXIO, errno.EISDIR, errno.EACCES):
                raise
        else:
            st = os.fstat(fd)
            if stat.S_ISREG(st.st_mode) and st.st_nlink == 1 and st.st_uid == os.geteuid():
                os.set_blocking(fd, True)
                return fd
            os.close(fd)
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    raise AsteriskError(f"cannot open {path} as a file of our own")


def _write_pid_file(path: Path, pid: int, user: pwd.struct_passwd | None) -> None:
    """The pid of the Asterisk we started, in run/ (the run user's folder): written through a new
    file that is never a link, given to the user through its descriptor (`hotline run` stops the
    Asterisk it started after dropping to the user)."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, str(pid).encode())
        if user is not None:
            os.fchown(fd, user.pw_uid, user.pw_gid)
    finally:
        os.close(fd)


def command(settings: Settings) -> list[str]:
    """Check the instance can start and prepare it (the run user in the chroot, the instance's
    folders, the bind guard); return Asterisk's command line in the foreground (``-f``): what
    ``start`` runs as its child and the systemd unit execs (``hotline service asterisk``)."""
    conf = f"{settings.asterisk.instance_dir_in_chroot}/etc/asterisk.conf"
    if not (settings.asterisk.instance_dir / "etc" / "asterisk.conf").exists():
        raise AsteriskError("no rendered configuration: run 'hotline asterisk render' first")
    if installed_version(settings.asterisk.root) is None:
        raise AsteriskError(f"no Asterisk in {settings.asterisk.root}: run 'hotline asterisk install' first")
    deadline = time.monotonic() + 10
    while _ctl_listening(settings):  # e.g. a killed Asterisk whose threads are still exiting
        if time.monotonic() > deadline:
            raise AsteriskError(f"another Asterisk answers on instance {settings.asterisk.instance}'s control "
                                "socket and is not ours; stop it first")
        time.sleep(0.1)
    cmd = ["chroot", str(settings.asterisk.root), "/usr/sbin/asterisk", "-f", "-C", conf]
    if (user := run_user(settings)) is not None:  # Asterisk drops to it after reading asterisk.conf
        group = chroot_user(settings, user)
        make_instance_dirs(settings.asterisk.instance_dir, user)  # also run/, log/, ... the user's
        cmd[3:3] = ["-U", user.pw_name, "-G", group]
    if settings.asterisk.bind_guard:  # no UDP socket on 0.0.0.0 or [::] (bindguard.c says why)
        build_bindguard(settings.asterisk.root)
        cmd[2:2] = ["/usr/bin/env", f"LD_PRELOAD={BINDGUARD_IN_CHROOT}",
                    f"HOTLINE_BIND_ADDR={settings.asterisk.bind if ':' not in settings.asterisk.bind else ''}",
                    f"HOTLINE_BIND_ADDR6={settings.asterisk.bind if ':' in settings.asterisk.bind else ''}"]
    return cmd


def write_pid_file(settings: Settings, pid: int) -> None:
    """Record ``pid`` as this instance's Asterisk (``running_pid`` believes it only while that
    process runs this instance's asterisk.conf)."""
    _write_pid_file(_pid_file(settings), pid, run_user(settings))


def start(settings: Settings, boot_timeout: float = 60) -> int:
    """Start Asterisk in the chroot (foreground process, our own child) and wait for FullyBooted."""
    if (pid := running_pid(settings)) is not None:
        return pid
    cmd = command(settings)
    user = run_user(settings)
    log_path = console_log(settings)
    out_fd = _open_console_log(log_path)
    try:
        # umask 077: the recordings, logs (numbers) and astdb it writes are its user's alone
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out_fd, stderr=subprocess.STDOUT,
                                start_new_session=True, umask=0o077)
        _write_pid_file(_pid_file(settings), proc.pid, user)
        deadline = time.monotonic() + boot_timeout
        while True:
            if proc.poll() is not None:
                size = os.fstat(out_fd).st_size
                tail = os.pread(out_fd, 1500, max(0, size - 1500)).decode(errors="replace")
                raise AsteriskError(f"Asterisk exited at start (code {proc.returncode}); console log:\n{tail}")
            try:
                cli(settings, "core waitfullybooted", timeout=max(1.0, deadline - time.monotonic()))
                if proc.poll() is None:
                    break
            except AsteriskError:
                if time.monotonic() > deadline:
                    stop(settings)
                    raise AsteriskError(
                        f"Asterisk did not reach FullyBooted in {boot_timeout:.0f}s; see {log_path}") from None
                time.sleep(0.2)
    finally:
        os.close(out_fd)
    log.info("Asterisk started, pid %d, instance %s", proc.pid, settings.asterisk.instance)
    return proc.pid


def stop(settings: Settings, timeout: float = 15) -> bool:
    """Stop the Asterisk we started, by its pid: SIGTERM, then SIGKILL after ``timeout``."""
    pid = running_pid(settings)
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        _reap(pid)
        time.sleep(0.1)
    if _alive(pid):
        log.warning("Asterisk pid %d ignored SIGTERM for %.0fs; killing it", pid, timeout)
        os.kill(pid, signal.SIGKILL)
    _reap(pid)
    _pid_file(settings).unlink(missing_ok=True)
    return True


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def status(settings: Settings) -> dict[str, object]:
    pid = running_pid(settings)
    info: dict[str, object] = {"instance": settings.asterisk.instance, "pid": pid, "running": pid is not None,
                               "version": installed_version(settings.asterisk.root)}
    if pid is not None:
        try:
            # only the figures: the remote console may print start-up warnings before them
            # (in a namespace with no ethernet: "No ethernet interface found for seeding global EID")
            out = cli(settings, "core show uptime seconds")
            info["uptime"] = "\n".join(line.strip() for line in out.splitlines()
                                       if line.strip().startswith(("System uptime:", "Last reload:"))) or out.strip()
        except AsteriskError as exc:
            info["uptime"] = f"unknown ({exc})"
    return info
