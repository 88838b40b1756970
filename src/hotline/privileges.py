"""Least privilege at run time: root installs, renders and starts Asterisk; Asterisk and the
service then run as one unprivileged system user (``asterisk.user``, ``hotline`` by default)
with umask 077, so what they write about citizens (the case file, recordings, transcripts,
logs with numbers, call back speech) is 0600 in 0700 folders, readable by that user alone.

Asterisk gets the user through ``asterisk -U/-G`` (the same name, uid and gid are written into
the chroot's passwd and group); the service calls :func:`drop` once the root-only steps are
done. Started as that user (or any non-root user) nothing here changes anything."""

from __future__ import annotations

import errno
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
    (``asterisk.user``); None: stay as we are (not root, or ``asterisk.user = ""``). A user whose
    uid or gid is 0 (another name for root) is refused."""
    name = settings.asterisk.user
    if not name or os.geteuid() != 0:
        return None
    try:
        user = pwd.getpwnam(name)
    except KeyError:
        raise PrivilegeError(
            f"the system user {name!r} (asterisk.user) does not exist: make setup creates it "
            f"(useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "
            f"{name})") from None
    if user.pw_uid == 0 or user.pw_gid == 0:
        raise PrivilegeError(f"the system user {name!r} (asterisk.user) has uid {user.pw_uid} and gid {user.pw_gid}: "
                             "that is root under another name; give the hotline a user of its own")
    return user


_OPEN_ENTRY = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY


def _fix(fd: int, uid: int, gid: int, dir_mode: int, file_mode: int) -> bool:
    """Owner and mode of the open file ``fd`` (a folder or a regular file; anything else is left
    as it is); True if it is a folder."""
    st = os.fstat(fd)
    folder = stat.S_ISDIR(st.st_mode)
    if not folder and not stat.S_ISREG(st.st_mode):
        return False
    if not folder and st.st_nlink > 1 and st.st_uid != uid:  # a hard link to a file not ours
        return False
    if (st.st_uid, st.st_gid) != (uid, gid):
        os.fchown(fd, uid, gid)
    want = dir_mode if folder else file_mode
    if st.st_mode & 0o7777 != want:
        os.fchmod(fd, want)
    return folder


def own_tree(top: Path, user: pwd.struct_passwd, skip: tuple[Path, ...] = (), *, group: int | None = None,
             dir_mode: int = 0o700, file_mode: int = 0o600) -> None:
    """Give ``top`` and everything below it to ``user`` (and ``group``, the user's own by
    default): folders ``dir_mode``, files ``file_mode``. The tree may belong to that user, who
    can change it while we walk it: every entry is opened relative to its folder's descriptor
    without following a symbolic link and changed through that descriptor (fchown, fchmod), so a
    link (or a folder swapped for one) is never followed; sockets, fifos and devices are left
    alone, and so are folders in ``skip`` (and what is below them)."""
    uid, gid = user.pw_uid, user.pw_gid if group is None else group
    try:
        top_fd = os.open(top, _OPEN_ENTRY | os.O_DIRECTORY)
    except (FileNotFoundError, NotADirectoryError):
        return
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # top itself is a link
            return
        raise
    try:
        _fix(top_fd, uid, gid, dir_mode, file_mode)
    finally:
        os.close(top_fd)
    skipped = {os.fspath(p) for p in skip}
    for here, dirs, files, here_fd in os.fwalk(top, follow_symlinks=False):
        dirs[:] = [d for d in dirs if os.path.join(here, d) not in skipped]
        for name in [*dirs, *files]:
            try:
                fd = os.open(name, _OPEN_ENTRY, dir_fd=here_fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOENT, errno.ENXIO, errno.EACCES):  # a link, gone, a socket
                    continue
                raise
            try:
                _fix(fd, uid, gid, dir_mode, file_mode)
            finally:
                os.close(fd)


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def service_paths(settings: Settings) -> list[Path]:
    """The folders the service writes, given to the run user whole: the state dir (secrets,
    case file, archive, caches), and the recordings archive when the site puts it elsewhere."""
    out = [settings.state_dir]
    if not _inside(settings.recordings.folder, settings.state_dir):
        out.append(settings.recordings.folder)
    return out


def prepare(settings: Settings, user: pwd.struct_passwd) -> None:
    """As root, before :func:`drop`: the service's files become the user's, 0600 in 0700
    folders (fixing the modes an older version left). The Asterisk chroot is left alone when
    it lies inside the state dir (its instance folder is given over by ``asterisk.render``), and
    the state dir itself then stays root's (01770, see :func:`_keep_the_chroot_in_place`).

    Only what is the hotline's is given away: a case file outside the state dir gives the user
    that file (and its -wal, -shm, -journal) and its folder only if the folder is new or holds
    nothing else; a recordings folder outside the state dir must be new or empty (or the user's
    already), never e.g. /var/lib."""
    state = settings.state_dir.resolve()
    chroot = settings.asterisk.root.resolve()
    skip = (chroot, chroot.parent) if chroot.parent.name == "asterisk" else (chroot,)
    settings.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    own_tree(state, user, skip)
    if _inside(chroot, state):
        _keep_the_chroot_in_place(state, user)
    recordings = settings.recordings.folder.resolve()
    if not _inside(recordings, state):
        _own_outside(recordings, user, "recordings.folder", whole=True)
    database = settings.database.resolve()
    if not _inside(database, state):
        names = {database.name + suffix for suffix in ("", "-wal", "-shm", "-journal")}
        _own_outside(database.parent, user, "database", whole=False, own_files=names)
        for name in names:
            _own_file(database.parent / name, user)


def _keep_the_chroot_in_place(state: Path, user: pwd.struct_passwd) -> None:
    """The chroot lies in the state dir (``var/asterisk/root``), and root runs its binaries: the
    user must not be able to move root's ``asterisk`` folder aside and put one of its own there. The
    state dir becomes root's, writable by the user's group and sticky (01770): the service still
    makes and removes its own files there (the case file's -wal and -shm), but an entry that is not
    its own can be neither renamed nor removed. Nobody else may enter it."""
    fd = os.open(state, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        os.fchown(fd, 0, user.pw_gid)
        os.fchmod(fd, 0o1770)
    finally:
        os.close(fd)
    asterisk_dir = os.lstat(state / "asterisk") if (state / "asterisk").exists() else None
    if asterisk_dir is not None and asterisk_dir.st_uid != 0:
        raise PrivilegeError(f"{state / 'asterisk'} belongs to uid {asterisk_dir.st_uid}, not root: the chroot inside "
                             "it is not to be trusted; remove it and run 'hotline asterisk install' again")


def _own_outside(folder: Path, user: pwd.struct_passwd, key: str, whole: bool,
                 own_files: frozenset[str] | set[str] = frozenset()) -> None:
    """A folder the site names outside the state dir: made if missing; given to the user only
    if it is new, empty (but for ``own_files``) or the user's already (whole: with what is in it;
    SQLite needs the case file's folder to write its -wal and -journal)."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = os.lstat(folder)
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise PrivilegeError(f"{folder} ({key}) is not a folder")
    if st.st_uid != user.pw_uid and any(e.name not in own_files for e in os.scandir(folder)):
        raise PrivilegeError(
            f"{folder} ({key}) lies outside the state dir, is not empty and belongs to uid {st.st_uid}: the hotline "
            f"gives its run user {user.pw_name!r} only folders of its own; use a folder of its own (new or empty) "
            "or one inside state_dir")
    if whole:
        own_tree(folder, user)
    else:
        fd = os.open(folder, _OPEN_ENTRY | os.O_DIRECTORY)
        try:
            _fix(fd, user.pw_uid, user.pw_gid, 0o700, 0o600)
        finally:
            os.close(fd)


def _own_file(path: Path, user: pwd.struct_passwd) -> None:
    try:
        fd = os.open(path, _OPEN_ENTRY)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ELOOP):
            return
        raise
    try:
        st = os.fstat(fd)
        if stat.S_ISREG(st.st_mode) and st.st_nlink == 1:  # not a hard link to someone else's file
            _fix(fd, user.pw_uid, user.pw_gid, 0o700, 0o600)
    finally:
        os.close(fd)


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
