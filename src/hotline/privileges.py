"""Least privilege at run time: root installs, renders and starts Asterisk; Asterisk and the
service then run as one unprivileged system user (``asterisk.user``, ``hotline`` by default)
with umask 077, so what they write about citizens (the case file, recordings, transcripts,
logs with numbers, call back speech) is 0600 in 0700 folders, readable by that user alone.

Asterisk gets the user through ``asterisk -U/-G`` (the same name, uid and gid are written into
the chroot's passwd and group); the service calls :func:`drop` once the root-only steps are
done. Started as that user (or any non-root user) nothing here changes anything."""

from __future__ import annotations

import logging
import os
import pwd
import stat
from pathlib import Path

from hotline.config import Settings
from hotline.errors import HotlineError

log = logging.getLogger(__name__)

UMASK = 0o077


class PrivilegeError(HotlineError, RuntimeError):
    error_id = "run-user-missing"
    status = 503


def run_user(settings: Settings) -> pwd.struct_passwd | None:
    """The system user Asterisk and the service run as, when we are root and one is configured
    (``asterisk.user``); None: stay as we are (not root, or ``asterisk.user = ""``)."""
    name = settings.asterisk.user
    if not name or os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(name)
    except KeyError:
        raise PrivilegeError(
            f"the system user {name!r} (asterisk.user) does not exist: make setup creates it "
            f"(useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "
            f"{name})") from None


def own_tree(top: Path, user: pwd.struct_passwd, skip: tuple[Path, ...] = ()) -> None:
    """Give ``top`` and everything below it to ``user``: folders 0700, files 0600. Symbolic
    links are neither followed nor changed; folders in ``skip`` (and what is below them) are
    left alone."""
    def fix(path: Path, folder: bool) -> None:
        st = os.lstat(path)
        if (st.st_uid, st.st_gid) != (user.pw_uid, user.pw_gid):
            os.chown(path, user.pw_uid, user.pw_gid, follow_symlinks=False)
        want = 0o700 if folder else 0o600
        if st.st_mode & 0o7777 != want and not stat.S_ISSOCK(st.st_mode):  # a live asterisk.ctl keeps its mode
            os.chmod(path, want)

    if not top.is_dir() or top.is_symlink():
        return
    fix(top, True)
    for here, dirs, files in os.walk(top):
        base = Path(here)
        dirs[:] = [d for d in dirs if base / d not in skip and not (base / d).is_symlink()]
        for d in dirs:
            fix(base / d, True)
        for f in files:
            if not (base / f).is_symlink():
                fix(base / f, False)


def service_paths(settings: Settings) -> list[Path]:
    """What the service writes: the state dir (secrets, case file, archive, caches), and the
    case file and archive when the site puts them elsewhere."""
    out = [settings.state_dir]
    for extra in (settings.database.parent, settings.recordings.folder):
        if not any(extra == p or p in extra.parents for p in out):
            out.append(extra)
    return out


def prepare(settings: Settings, user: pwd.struct_passwd) -> None:
    """As root, before :func:`drop`: the service's files become the user's, 0600 in 0700
    folders (fixing the modes an older version left). The Asterisk chroot is left alone when
    it lies inside the state dir (its instance folder is given over by ``asterisk.render``)."""
    chroot = settings.asterisk.root.resolve()
    skip = (chroot, chroot.parent) if chroot.parent.name == "asterisk" else (chroot,)
    for top in service_paths(settings):
        top.mkdir(mode=0o700, parents=True, exist_ok=True)
        own_tree(top.resolve(), user, skip)


def drop(user: pwd.struct_passwd) -> None:
    """Become ``user`` for good (groups, gid, then uid), with umask 077; refuses to go on if
    root could be regained."""
    os.setgroups([])
    os.setgid(user.pw_gid)
    os.setuid(user.pw_uid)
    try:
        os.setuid(0)
    except PermissionError:
        pass
    else:
        raise PrivilegeError("still able to become root after dropping privileges")
    os.umask(UMASK)
    os.environ.update({"HOME": user.pw_dir if os.path.isdir(user.pw_dir) else "/nonexistent",
                       "USER": user.pw_name, "LOGNAME": user.pw_name})
    log.info("running as %s (uid %d, gid %d), umask %03o", user.pw_name, user.pw_uid, user.pw_gid, UMASK)
