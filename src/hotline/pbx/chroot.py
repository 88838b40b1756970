"""Asterisk's chroot: install Asterisk 22 (a sid chroot built with mmdebstrap), the bind guard
compiled into it, and the run user in its passwd and group.

Debian 12 has no asterisk package and sid's cannot be installed on the host, so Asterisk 22
lives in a minbase chroot built with mmdebstrap.
"""

from __future__ import annotations

import grp
import logging
import os
import pwd
import re
import shutil
import subprocess
from pathlib import Path

from hotline.config import Settings
from hotline.pbx.errors import AsteriskError

log = logging.getLogger(__name__)

REQUIRED_MAJOR = 22
PACKAGES = ["asterisk", "asterisk-core-sounds-en-gsm"]


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

