"""``hotline service install``: systemd units for Asterisk (in its chroot) and the hotline, and a
daily backup timer, from the site file; ``hotline service asterisk``: what the Asterisk unit runs (prepare the instance,
then exec Asterisk in the foreground, so the unit's main process is Asterisk).

The units are rendered from cli/units/*.j2: restart policies (always, at most 5 starts in 2
minutes), the journal for their output, the hotline's unit after and wanting Asterisk's but not
bound to it (either restarts alone). Nothing is enabled or started here: the command prints the
systemctl lines to run."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
from pathlib import Path

import jinja2

from hotline import config
from hotline.cli.common import EXIT_FAILURE, EXIT_USAGE, load_settings

UNITS = Path(__file__).resolve().with_name("units")
NAMES = ("hotline-asterisk.service", "hotline.service", "hotline-backup.service", "hotline-backup.timer")
ENABLE = ("hotline-asterisk.service", "hotline.service", "hotline-backup.timer")
READ_ONLY_SYSTEM = ("/usr", "/etc", "/boot", "/efi")  # ProtectSystem=full
HOMES = ("/home", "/root", "/run/user")  # ProtectHome


def quote(arg: str) -> str:
    """One argument of an ExecStart= line: ``%`` doubled (systemd's specifiers), ``$`` doubled
    (systemd expands ``$NAME`` even inside quotes), quoted when it holds a space, a quote or a
    backslash; a line break refused (it would start a directive of its own)."""
    if "\n" in arg or "\r" in arg:
        raise ValueError(f"a line break in a unit's argument: {arg!r}")
    arg = arg.replace("%", "%%").replace("$", "$$")
    if any(c in arg for c in " \t\"'\\;$"):
        return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return arg


def hotline_command() -> str:
    """The ``hotline`` executable of this installation: the console script beside this Python,
    else ``<python> -m hotline.cli``."""
    script = Path(sys.executable).with_name("hotline")
    if script.is_file() and os.access(script, os.X_OK):
        return quote(str(script))
    return f"{quote(sys.executable)} -m hotline.cli"


def _under(path: Path, prefixes: tuple[str, ...]) -> bool:
    return any(str(path) == p or str(path).startswith(p + "/") for p in prefixes)


def render_units(settings: config.Settings, site: Path, hotline: str | None = None, *, keep: int = 14,
                 backup_time: str = "02:30") -> dict[str, str]:
    """The units' text by file name, for ``site`` (an absolute path); the backup timer's copies
    keep the ``keep`` newest, made daily at ``backup_time`` (HH:MM, local time)."""
    writable = [settings.state_dir, settings.database.parent, settings.asterisk.root, settings.recordings.folder]
    values = {
        "site": str(site), "site_arg": quote(str(site)), "hotline": hotline or hotline_command(),
        "number": settings.number, "instance": settings.asterisk.instance, "root": str(settings.asterisk.root),
        "user": settings.asterisk.user, "keep": keep, "backup_time": backup_time,
        "protect_system": not any(_under(Path(p), READ_ONLY_SYSTEM) for p in writable),
        "protect_home": not any(_under(Path(p), HOMES) for p in writable),
    }
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(UNITS), undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True, autoescape=False)
    return {name: env.get_template(name + ".j2").render(**values) for name in NAMES}


def cmd_service(args: argparse.Namespace) -> int:
    if args.action == "asterisk":
        return _exec_asterisk(args)
    settings = load_settings(args)
    site = Path(args.site).resolve()
    if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", args.backup_time):
        print(f"hotline: --backup-time is HH:MM, got {args.backup_time!r}", file=sys.stderr)
        return EXIT_USAGE
    units = render_units(settings, site, args.hotline or None, keep=args.keep, backup_time=args.backup_time)
    if args.print:
        for name, text in units.items():
            print(f"# --- {name}\n{text}")
        return 0
    dest = Path(args.dest)
    try:
        dest.mkdir(parents=True, exist_ok=True)
        for name, text in units.items():
            tmp = dest / f".{name}.tmp"
            tmp.write_text(text)
            os.chmod(tmp, 0o644)
            os.replace(tmp, dest / name)
            print(f"written {dest / name}")
    except OSError as exc:
        print(f"hotline: cannot write the units into {dest}: {exc.strerror} (as root, or --dest, or --print)",
              file=sys.stderr)
        return EXIT_FAILURE
    from hotline.pbx.chroot import installed_version
    if installed_version(settings.asterisk.root) is None:
        print(f"note: no Asterisk in {settings.asterisk.root} yet: run `hotline --site {site} asterisk install` "
              "first (it downloads about 340 MB)", file=sys.stderr)
    print(f"then: systemctl daemon-reload && systemctl enable --now {' '.join(ENABLE)}")
    return 0


def _exec_asterisk(args: argparse.Namespace) -> int:
    from hotline.pbx import asterisk

    settings = load_settings(args)
    if os.geteuid() != 0:
        print("hotline: `hotline service asterisk` runs as root (systemd's hotline-asterisk.service); "
              "Asterisk drops to asterisk.user itself", file=sys.stderr)
        return EXIT_FAILURE
    if (pid := asterisk.running_pid(settings)) is not None:
        print(f"hotline: Asterisk already runs for instance {settings.asterisk.instance} (pid {pid})",
              file=sys.stderr)
        return EXIT_FAILURE
    cmd = asterisk.command(settings)
    chroot = shutil.which(cmd[0]) or cmd[0]
    asterisk.write_pid_file(settings, os.getpid())  # exec keeps the pid: it is Asterisk's
    os.umask(0o077)  # what Asterisk writes (recordings, logs with numbers, astdb) is its user's alone
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(chroot, cmd)
    return EXIT_FAILURE  # not reached


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    s = sub.add_parser("service", help="systemd units for Asterisk and the hotline (install); what the "
                                       "Asterisk unit runs (asterisk)")
    s.add_argument("action", choices=["install", "asterisk"])
    s.add_argument("--dest", default="/etc/systemd/system", help="with install: the folder (default %(default)s)")
    s.add_argument("--print", action="store_true", help="with install: print the units instead of writing them")
    s.add_argument("--hotline", default="", help="with install: the hotline command the units run "
                                                 "(default: the one of this installation)")
    s.add_argument("--keep", type=int, default=14, help="with install: the daily backups kept (default %(default)s)")
    s.add_argument("--backup-time", default="02:30", help="with install: when the daily backup runs, HH:MM local "
                                                          "time (default %(default)s)")
    s.set_defaults(fn=cmd_service)
