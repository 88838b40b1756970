"""The instance's folders inside the chroot, ``<root>/hotline/<instance>``: etc/, run/, log/,
spool/, lib/, cache/ and sounds/, made without following a link, owned root's or the run user's
by what writes them."""

from __future__ import annotations

import os
import pwd
import shutil
import stat
from pathlib import Path

from hotline.pbx.errors import AsteriskError
from hotline.privileges import own_tree

INSTANCE_SUBDIRS = ("etc", "run", "log", "spool", "spool/recordings", "lib", "lib/keys", "cache", "sounds",
                    "sounds/callback", "sounds/callback/summary", "sounds/surge")
# written by root's render, only read by Asterisk: root's, 0750/0640 with the run user's group, so
# the run user cannot plant a link in them for root to write through
SHARED_SUBDIRS = ("etc", "sounds")
# written by Asterisk and the service: the run user's, 0700/0600
RUN_SUBDIRS = ("run", "log", "spool", "lib", "cache", "sounds/callback", "sounds/surge")  # surge: the service's speech
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
    user's group: Asterisk only reads them) and run/, log/, spool/, lib/, cache/,
    sounds/callback/ and sounds/surge/ the user's (0700)."""
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
            _root_folder(inst_host / sub, user.pw_gid, keep=("callback", "surge") if sub == "sounds" else ())
        for sub in RUN_SUBDIRS:
            own_tree(inst_host / sub, user)

