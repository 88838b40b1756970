"""``hotline backup`` (a verified copy of the case file while the service runs, with retention) and
``hotline restore FILE`` (only while the service is stopped). storage/backup.py does the work."""

from __future__ import annotations

import argparse
import json
import socket
import sys
from pathlib import Path

from hotline import config
from hotline.cli.common import EXIT_FAILURE, load_settings, log
from hotline.storage import backup as backup_mod


def _folder(settings: config.Settings, args: argparse.Namespace) -> Path:
    return Path(args.dest) if args.dest else settings.state_dir / "backups"


def cmd_backup(args: argparse.Namespace) -> int:
    settings = load_settings(args)
    result = backup_mod.backup(settings.database, _folder(settings, args), keep=args.keep, quick=args.quick)
    out = {"path": str(result.path), "bytes": result.bytes, "copy_seconds": round(result.copy_seconds, 2),
           "check_seconds": round(result.check_seconds, 2), "removed": [str(p) for p in result.removed]}
    if args.json:
        print(json.dumps(out))
    else:
        print(f"{result.path}: {result.bytes / 1e6:,.1f} MB, copied in {result.copy_seconds:.1f} s, "
              f"{'quick' if args.quick else 'integrity'} check ok in {result.check_seconds:.1f} s"
              + (f"; removed {len(result.removed)} older" if result.removed else ""))
    return 0


def _service_running(settings: config.Settings) -> str | None:
    """Why the service looks running, or None: a process holding the case file, or the web
    service's port answering."""
    pids = backup_mod.holders(settings.database)
    if pids:
        return f"process {', '.join(map(str, pids))} has {settings.database} open"
    try:
        with socket.create_connection((settings.http.host, settings.http.port), timeout=1):
            return f"something answers on {settings.http.host}:{settings.http.port} (the web service's port)"
    except OSError:
        return None


def cmd_restore(args: argparse.Namespace) -> int:
    settings = load_settings(args)
    why = _service_running(settings)
    if why is not None:
        print(f"hotline: restore refused: the service is running ({why}); stop it first "
              "(systemctl stop hotline)", file=sys.stderr)
        return EXIT_FAILURE
    kept = backup_mod.restore(Path(args.file), settings.database)
    log.info("restored %s into %s", args.file, settings.database)
    print(f"restored {args.file} into {settings.database}"
          + (f"; the previous file is {kept}" if kept != settings.database else ""))
    return 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    b = sub.add_parser("backup", help="a verified copy of the case file (the service may run), with retention")
    b.add_argument("--dest", default="", help="the folder of the copies (default <state_dir>/backups)")
    b.add_argument("--keep", type=int, default=7, help="keep this many newest copies (0: all; default 7)")
    b.add_argument("--quick", action="store_true", help="check the copy with quick_check (faster on tens of GB)")
    b.add_argument("--json", action="store_true", help="print the result as JSON")
    b.set_defaults(fn=cmd_backup)
    r = sub.add_parser("restore", help="put a backup in place of the case file (the service must be stopped)")
    r.add_argument("file", help="a copy made by `hotline backup`")
    r.set_defaults(fn=cmd_restore)
