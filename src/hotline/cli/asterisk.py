"""``hotline asterisk``: install, render, start, stop, status of Asterisk 22 (in a chroot), and
one Asterisk CLI command."""

from __future__ import annotations

import argparse
import json

from hotline import secrets as secrets_mod
from hotline.cli.common import load_settings


def cmd_asterisk(args: argparse.Namespace) -> int:
    from hotline.pbx import asterisk
    from hotline.queue.roster import WRAPUP_GUARD_SECONDS
    from hotline.queue.skills import skill_queues

    settings = load_settings(args)
    if args.action == "install":
        print(asterisk.install(settings))
    elif args.action == "render":
        etc = asterisk.render(settings, secrets_mod.load_or_create(settings), skill_queues(settings),
                              WRAPUP_GUARD_SECONDS)
        print(f"rendered into {etc}")
    elif args.action == "start":
        print(f"Asterisk running, pid {asterisk.start(settings)}")
    elif args.action == "stop":
        print("stopped" if asterisk.stop(settings) else "not running")
    elif args.action == "status":
        info = asterisk.status(settings)
        print(json.dumps(info, indent=2))
        return 0 if info["running"] else 3
    elif args.action == "cli":
        print(asterisk.cli(settings, " ".join(args.command)), end="")
    return 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    a = sub.add_parser("asterisk", help="install, render, start, stop, status of Asterisk 22 (in a chroot)")
    a.add_argument("action", choices=["install", "render", "start", "stop", "status", "cli"])
    a.add_argument("command", nargs="*", help="with 'cli': the Asterisk CLI command to run")
    a.set_defaults(fn=cmd_asterisk)
