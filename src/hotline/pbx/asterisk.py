"""Asterisk's lifecycle: install (a sid chroot), render the configuration, start, stop, status.

Debian 12 has no asterisk package and sid's cannot be installed on the host, so Asterisk 22
lives in a minbase chroot built with mmdebstrap. Each instance (``asterisk.instance``) has
its own folder inside the chroot, ``/hotline/<instance>``, holding etc/, run/, log/, spool/,
lib/ and sounds/; the host sees it at ``<root>/hotline/<instance>``.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import jinja2

from hotline.config import Settings
from hotline.ivr.prompts import render_prompts
from hotline.pbx import sip_acl
from hotline.queue.roster import WRAPUP_GUARD_SECONDS
from hotline.queue.skills import skill_queues
from hotline.secrets import Secrets

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).resolve().parents[3] / "asterisk_conf"
REQUIRED_MAJOR = 22
PACKAGES = ["asterisk", "asterisk-core-sounds-en-gsm"]
STOCK_CONFIGS = ("indications.conf", "ccss.conf", "res_parking.conf", "pjsip_notify.conf")  # confbridge.conf is ours


class AsteriskError(RuntimeError):
    error_id = "asterisk-error"


def _templates_dir() -> Path:
    env_dir = os.environ.get("HOTLINE_ASTERISK_TEMPLATES")
    path = Path(env_dir) if env_dir else TEMPLATES
    if not (path / "extensions.conf.j2").is_file():
        raise AsteriskError(f"Asterisk templates not found in {path} (set HOTLINE_ASTERISK_TEMPLATES)")
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
    match = re.search(r"Asterisk (\d+)\.", version)
    if not match or int(match.group(1)) != REQUIRED_MAJOR:
        raise AsteriskError(f"{root} holds {version!r}; the hotline needs Asterisk {REQUIRED_MAJOR}")
    return version


# -- render --------------------------------------------------------------------------------

def render(settings: Settings, secrets: Secrets, citizen_match: tuple[str, ...] = ("127.0.0.0/8",)) -> Path:
    """Render asterisk_conf/*.j2 and the prompts into the instance folder; return its etc/."""
    inst_host = settings.asterisk.instance_dir
    inst = settings.asterisk.instance_dir_in_chroot
    for sub in ("etc", "run", "log", "spool", "spool/recordings", "lib", "lib/keys", "cache", "sounds",
                "sounds/callback/summary"):
        (inst_host / sub).mkdir(parents=True, exist_ok=True)
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(_templates_dir()), undefined=jinja2.StrictUndefined,
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
    for template in sorted(_templates_dir().glob("*.conf.j2")):
        target = etc / template.name.removesuffix(".j2")
        text = env.get_template(template.name).render(**context)
        tmp = target.with_suffix(".tmp")
        tmp.write_text(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, target)
    for stock in STOCK_CONFIGS:  # the package's own defaults, for files the hotline does not shape
        src = settings.asterisk.root / "etc/asterisk" / stock
        if src.is_file():
            shutil.copyfile(src, etc / stock)
    render_prompts(settings, inst_host / "sounds", settings.state_dir / "prompt-cache")
    sip_acl.SipAclFile(sip_acl.db_path(inst_host)).ensure()  # the SIP guard's blocks (realtime ACL rows)
    return etc


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
    except (OSError, ValueError):
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
    log_path = settings.asterisk.instance_dir / "log" / "console.log"
    with open(log_path, "ab") as out:
        proc = subprocess.Popen(["chroot", str(settings.asterisk.root), "/usr/sbin/asterisk", "-f", "-C", conf],
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    _pid_file(settings).write_text(str(proc.pid))
    deadline = time.monotonic() + boot_timeout
    while True:
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace")[-1500:]
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
