"""Asterisk's lifecycle: install (a sid chroot), render the configuration, start, stop, status.

Debian 12 has no asterisk package and sid's cannot be installed on the host, so Asterisk 22
lives in a minbase chroot built with mmdebstrap. Each instance (``asterisk.instance``) has
its own folder inside the chroot, ``/hotline/<instance>``, holding etc/, run/, log/, spool/,
lib/ and sounds/; the host sees it at ``<root>/hotline/<instance>``.
"""

from __future__ import annotations

import errno
import grp
import logging
import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import jinja2

from hotline.config import Settings
from hotline.errors import HotlineError
from hotline.ivr.prompts import render_prompts
from hotline.pbx import sip_acl
from hotline.privileges import own_tree, run_user
from hotline.queue.roster import WRAPUP_GUARD_SECONDS
from hotline.queue.skills import skill_queues
from hotline.secrets import Secrets

log = logging.getLogger(__name__)

REQUIRED_MAJOR = 22
PACKAGES = ["asterisk", "asterisk-core-sounds-en-gsm"]
STOCK_CONFIGS = ("indications.conf", "ccss.conf", "res_parking.conf", "pjsip_notify.conf")  # confbridge.conf is ours


class AsteriskError(HotlineError, RuntimeError):
    error_id = "asterisk-error"
    status = 503


def _templates_dir(settings: Settings) -> Path:
    path = settings.asterisk.templates
    if not (path / "extensions.conf.j2").is_file():
        raise AsteriskError(f"Asterisk templates not found in {path} (set [asterisk] templates or "
                            "HOTLINE_ASTERISK_TEMPLATES)")
    return path


# -- install -------------------------------------------------------------------------------

def installed_version(root: Path) -> str | None:
    if not (root / "usr/sbin/asterisk").exists():
        return None
    out = subprocess.run(["chroot", str(root), "/usr/sbin/asterisk", "-V"], capture_output=True, text=True,
                         check=False)
    return out.stdout.strip() or None


def install(settings: Settings) -> str:
    """Build the chroot with Asterisk 22 unless it is there already; return the version."""
    root = settings.asterisk.root
    version = installed_version(root)
    if version is None:
        if shutil.which("mmdebstrap") is None:
            raise AsteriskError("mmdebstrap is not installed: apt-get install mmdebstrap (make setup does it)")
        if os.geteuid() != 0:
            raise AsteriskError("building the Asterisk chroot needs root (mmdebstrap and chroot)")
        staging = root.with_name(root.name + ".new")
        shutil.rmtree(staging, ignore_errors=True)
        staging.parent.mkdir(parents=True, exist_ok=True)
        cmd = ["mmdebstrap", "--variant=minbase", "--include=" + ",".join(PACKAGES),
               "--aptopt=Acquire::Check-Valid-Until \"false\"", "--aptopt=Acquire::Check-Date \"false\"",
               settings.asterisk.suite, str(staging), settings.asterisk.mirror]
        log.info("building the Asterisk chroot: %s", " ".join(cmd))
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            raise AsteriskError(f"mmdebstrap failed (exit {proc.returncode}): {proc.stderr.strip()[-800:]}")
        if root.exists():
            shutil.rmtree(root)
        staging.rename(root)
        version = installed_version(root)
        if version is None:
            raise AsteriskError(f"the chroot at {root} was built but has no working /usr/sbin/asterisk")
    if os.geteuid() == 0:
        build_bindguard(root)
    match = re.search(r"Asterisk (\d+)\.", version)
    if not match or int(match.group(1)) != REQUIRED_MAJOR:
        raise AsteriskError(f"{root} holds {version!r}; the hotline needs Asterisk {REQUIRED_MAJOR}")
    return version


# -- the bind guard ------------------------------------------------------------------------

BINDGUARD_SRC = Path(__file__).resolve().with_name("bindguard.c")
BINDGUARD_IN_CHROOT = "/usr/local/lib/hotline/bindguard.so"


def build_bindguard(root: Path) -> Path:
    """Compile bindguard.c (preloaded into Asterisk: no UDP socket on the wildcard address,
    see the file) into the chroot unless it is there and newer than its source."""
    dest = root / BINDGUARD_IN_CHROOT.lstrip("/")
    if dest.is_file() and dest.stat().st_mtime >= BINDGUARD_SRC.stat().st_mtime:
        return dest
    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        raise AsteriskError("gcc is not installed: apt-get install gcc libc6-dev (make setup does it); Asterisk's "
                            "bind guard is built with it")
    dest.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    tmp = dest.with_name(f"{dest.name}.{os.getpid()}.tmp")
    proc = subprocess.run([compiler, "-shared", "-fPIC", "-O2", "-Wall", "-o", str(tmp), str(BINDGUARD_SRC), "-ldl"],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise AsteriskError(f"building {BINDGUARD_SRC.name} failed: {proc.stderr.strip()[-800:]}")
    os.chmod(tmp, 0o755)
    os.replace(tmp, dest)
    return dest


# -- render --------------------------------------------------------------------------------

INSTANCE_SUBDIRS = ("etc", "run", "log", "spool", "spool/recordings", "lib", "lib/keys", "cache", "sounds",
                    "sounds/callback", "sounds/callback/summary")
# written by root's render, only read by Asterisk: root's, 0750/0640 with the run user's group, so
# the run user cannot plant a link in them for root to write through
SHARED_SUBDIRS = ("etc", "sounds")
# written by Asterisk and the service: the run user's, 0700/0600
RUN_SUBDIRS = ("run", "log", "spool", "lib", "cache", "sounds/callback")
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _mkdirs_nofollow(base: Path, rel: str) -> None:
    """``base/rel`` made folder by folder, each opened without following a link (a link planted
    where a folder should be is refused, not followed)."""
    fd = os.open(base, _DIR_FLAGS)
    try:
        for part in rel.split("/"):
            try:
                os.mkdir(part, 0o700, dir_fd=fd)
            except FileExistsError:
                pass
            try:
                nfd = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                raise AsteriskError(f"{base / rel}: {part} is not a folder (a link?); remove it") from exc
            os.close(fd)
            fd = nfd
    finally:
        os.close(fd)


def _root_folder(path: Path, gid: int, keep: tuple[str, ...] = ()) -> None:
    """``path`` (in a folder only root writes) becomes root's, 0750 with group ``gid``; one an
    older version gave to the run user is emptied first (render writes it all again), but for
    the entries in ``keep``."""
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode):
        path.unlink()
        path.mkdir(mode=0o700)
        st = os.lstat(path)
    os.chown(path, 0, gid, follow_symlinks=False)
    os.chmod(path, 0o750)
    if st.st_uid != 0:
        for entry in os.scandir(path):
            if entry.name in keep and entry.is_dir(follow_symlinks=False):
                continue
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)


def make_instance_dirs(inst_host: Path, user: pwd.struct_passwd | None = None) -> None:
    """The instance's folders under ``<chroot>/hotline``, which stays 0711 whatever the umask: the
    unprivileged Asterisk must pass through it to reach its own folder (``hotline run`` sets
    umask 077 before rendering, and mkdir(parents=True) would make it 0700). Without a run user
    every folder is 0700; with one, the instance folder, etc/ and sounds/ are root's (0750, the
    user's group: Asterisk only reads them) and run/, log/, spool/, lib/, cache/ and
    sounds/callback/ the user's (0700)."""
    parent = inst_host.parent
    parent.mkdir(mode=0o711, parents=True, exist_ok=True)
    os.chmod(parent, 0o711)
    try:
        os.mkdir(inst_host, 0o700)
    except FileExistsError:
        if not stat.S_ISDIR(os.lstat(inst_host).st_mode):
            inst_host.unlink()
            os.mkdir(inst_host, 0o700)
    if user is not None:
        _root_folder(inst_host, user.pw_gid, keep=INSTANCE_SUBDIRS)
    for sub in INSTANCE_SUBDIRS:
        _mkdirs_nofollow(inst_host, sub)
    if user is not None:
        for sub in SHARED_SUBDIRS:
            _root_folder(inst_host / sub, user.pw_gid, keep=("callback",) if sub == "sounds" else ())
        for sub in RUN_SUBDIRS:
            own_tree(inst_host / sub, user)


def _write_config(folder: Path, name: str, data: bytes, gid: int | None) -> None:
    """Write ``folder/name`` through a new file (O_EXCL, never a link) renamed over it: 0640 with
    group ``gid`` (Asterisk reads it as the run user), 0600 without one."""
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if gid is not None:
                os.fchown(fh.fileno(), -1, gid)
            os.fchmod(fh.fileno(), 0o640 if gid is not None else 0o600)
        os.replace(tmp, folder / name)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _prompt_cache(settings: Settings, user: pwd.struct_passwd | None) -> Path:
    """Where root's render keeps synthesised prompts: beside the chroot (root's) when there is a
    run user, whose state dir root must not write in; else in the state dir."""
    if user is None:
        return settings.state_dir / "prompt-cache"
    cache = settings.asterisk.root.parent / "prompt-cache"
    cache.mkdir(mode=0o700, exist_ok=True)
    return cache


def _ensure_sip_acl(settings: Settings, user: pwd.struct_passwd | None) -> None:
    """The SIP guard's blocks file in lib/ (the run user's folder). Root never opens a path in that
    folder (SQLite would follow a link planted there): a missing file is made in the instance folder
    (root's), given to the run user, then renamed into lib/ (a rename replaces a planted link, it does
    not follow it). An existing file (the blocks in force) is kept."""
    path = sip_acl.db_path(settings.asterisk.instance_dir)
    if user is None:
        sip_acl.SipAclFile(path).ensure()
        return
    try:
        os.lstat(path)
        return
    except FileNotFoundError:
        pass
    tmp = settings.asterisk.instance_dir / f".{path.name}.{os.getpid()}.new"
    tmp.unlink(missing_ok=True)
    try:
        sip_acl.SipAclFile(tmp).ensure()
        fd = os.open(tmp, os.O_RDONLY | os.O_NOFOLLOW)
        try:
            os.fchown(fd, user.pw_uid, user.pw_gid)
            os.fchmod(fd, 0o600)
        finally:
            os.close(fd)
        os.rename(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def render(settings: Settings, secrets: Secrets, citizen_match: tuple[str, ...] = ("127.0.0.0/8",)) -> Path:
    """Render asterisk_conf/*.j2 and the prompts into the instance folder; return its etc/."""
    inst_host = settings.asterisk.instance_dir
    inst = settings.asterisk.instance_dir_in_chroot
    user = run_user(settings)
    gid = user.pw_gid if user is not None else None
    make_instance_dirs(inst_host, user)
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(_templates_dir(settings)), undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True, autoescape=False)
    context = {
        "inst": inst, "number": settings.number, "bind": settings.asterisk.bind,
        "sip_port": settings.asterisk.sip_port, "ami_port": settings.asterisk.ami_port,
        "agi_port": settings.asterisk.agi_port, "rtp_start": settings.asterisk.rtp_start,
        "rtp_end": settings.asterisk.rtp_end, "ami_secret": secrets.ami_secret,
        "languages": settings.languages, "default_language": settings.default_language,
        "topics": settings.topics, "operators": settings.operators,
        "supervisors": settings.supervisors,
        "interpreters": [i for i in settings.interpreters if not i.dial], "passwords": secrets.sip_passwords,
        "queues": skill_queues(settings), "routing": settings.routing, "citizen_match": citizen_match,
        "menu_timeout": settings.routing.menu_timeout, "wrapup_guard": WRAPUP_GUARD_SECONDS,
        "sip_acl_db": sip_acl.DB_NAME, "sip_security": settings.sip_security,
    }
    etc = inst_host / "etc"
    for template in sorted(_templates_dir(settings).glob("*.conf.j2")):
        target = etc / template.name.removesuffix(".j2")
        text = env.get_template(template.name).render(**context)
        _write_config(etc, target.name, text.encode(), gid)
    for stock in STOCK_CONFIGS:  # the package's own defaults, for files the hotline does not shape
        src = settings.asterisk.root / "etc/asterisk" / stock
        if src.is_file():
            _write_config(etc, stock, src.read_bytes(), gid)
    render_prompts(settings, inst_host / "sounds", _prompt_cache(settings, user))
    if user is not None:  # root's prompts, readable by Asterisk's group; call back speech is the user's
        own_tree(inst_host / "sounds", pwd.getpwuid(0), (inst_host / "sounds" / "callback",), group=user.pw_gid,
                 dir_mode=0o750, file_mode=0o640)
    _ensure_sip_acl(settings, user)  # the SIP guard's blocks (realtime ACL rows)
    return etc


# -- the run user ----------------------------------------------------------------------------

def chroot_user(settings: Settings, user: pwd.struct_passwd) -> str:
    """The same user (name, uid, gid) in the chroot's passwd and group, so ``asterisk -U`` finds
    it and the files it writes belong to the host user too; returns the group's name."""
    group = grp.getgrgid(user.pw_gid).gr_name
    etc = settings.asterisk.root / "etc"
    lines = {
        "passwd": f"{user.pw_name}:x:{user.pw_uid}:{user.pw_gid}:hotline:/nonexistent:/usr/sbin/nologin",
        "group": f"{group}:x:{user.pw_gid}:",
    }
    for name, line in lines.items():
        path = etc / name
        old = path.read_text().splitlines()
        key = line.split(":", 1)[0] + ":"
        kept = [x for x in old if not x.startswith(key)]
        new = [*kept, line]
        if new != old:
            tmp = path.with_name(name + ".hotline-tmp")
            tmp.write_text("\n".join(new) + "\n")
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
    return group


# -- start / stop / status -----------------------------------------------------------------

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


def start(settings: Settings, boot_timeout: float = 60) -> int:
    """Start Asterisk in the chroot (foreground process, our own child) and wait for FullyBooted."""
    if (pid := running_pid(settings)) is not None:
        return pid
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
    log_path = console_log(settings)
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
            info["uptime"] = cli(settings, "core show uptime seconds").strip()
        except AsteriskError as exc:
            info["uptime"] = f"unknown ({exc})"
    return info
