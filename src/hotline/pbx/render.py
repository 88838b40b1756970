"""Render Asterisk's configuration: asterisk_conf/*.j2 and the prompts into the instance folder,
the package's stock files the hotline does not shape, and the SIP guard's blocks file.

The queue side (the skill queues, queues.conf's wrap-up guard) is passed in by the caller: pbx/
does not import the queue package, which imports pbx/guard.py (no circle between packages)."""

from __future__ import annotations

import os
import pwd
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import jinja2

from hotline.config import Settings
from hotline.ivr.prompts import render_prompts
from hotline.pbx import sip_acl
from hotline.pbx.errors import AsteriskError
from hotline.pbx.instance_dirs import make_instance_dirs
from hotline.privileges import own_tree, run_user
from hotline.secrets import Secrets

STOCK_CONFIGS = ("indications.conf", "ccss.conf", "res_parking.conf", "pjsip_notify.conf")  # confbridge.conf is ours


class QueueSection(Protocol):
    """A queue queues.conf gets a section for (queue.skills.SkillQueue)."""

    @property
    def name(self) -> str: ...
    @property
    def language(self) -> str: ...


def _templates_dir(settings: Settings) -> Path:
    path = settings.asterisk.templates
    if not (path / "extensions.conf.j2").is_file():
        raise AsteriskError(f"Asterisk templates not found in {path} (set [asterisk] templates or "
                            "HOTLINE_ASTERISK_TEMPLATES)")
    return path


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


def render(settings: Settings, secrets: Secrets, queues: Sequence[QueueSection], wrapup_guard: int,
           citizen_match: tuple[str, ...] = ("127.0.0.0/8",)) -> Path:
    """Render asterisk_conf/*.j2 and the prompts into the instance folder; return its etc/.
    ``queues``: the skill queues (queue.skills.skill_queues); ``wrapup_guard``: queues.conf's
    wrapuptime (queue.roster.WRAPUP_GUARD_SECONDS)."""
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
        "queues": queues, "routing": settings.routing, "citizen_match": citizen_match,
        "menu_timeout": settings.routing.menu_timeout, "wrapup_guard": wrapup_guard, "ivr": settings.ivr,
        "sip_acl_db": sip_acl.DB_NAME, "sip_security": settings.sip_security,
        "metrics_port": settings.asterisk.metrics_port, "metrics_password": secrets.asterisk_metrics_password,
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
    if user is not None:  # root's prompts, readable by Asterisk's group; call back and surge speech the user's
        own_tree(inst_host / "sounds", pwd.getpwuid(0), (inst_host / "sounds" / "callback", inst_host / "sounds" /
                 "surge"), group=user.pw_gid, dir_mode=0o750, file_mode=0o640)
    _ensure_sip_acl(settings, user)  # the SIP guard's blocks (realtime ACL rows)
    return etc

