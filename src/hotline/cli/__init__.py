"""The ``hotline`` command. Every command takes ``--site FILE``, before or after the command's
name (default: $HOTLINE_SITE, else /etc/hotline/site.toml when it exists, else this checkout's
etc/site.example.toml; never a path taken from the working directory). Exit codes: docs/cli.md.

The parser and the dispatch are here; each command group is its own module (asterisk, run,
service_api: agent/agents/queues/cases, sip, audit, users, planning: sim/staffing), which adds
its subcommands to the parser and runs them."""

from __future__ import annotations

import argparse
import importlib.metadata
import logging
import sys

from hotline import config
from hotline.cli import asterisk, audit, backup, kb, planning, run, service, service_api, sip, users
from hotline.cli.common import EXIT_CONFIG, EXIT_FAILURE, EXIT_INTERRUPTED, default_site, load_settings
from hotline.errors import HotlineError


def cmd_config(args: argparse.Namespace) -> int:
    settings = load_settings(args)
    print(f"site file ok: {len(settings.languages)} languages, {len(settings.topics)} topics, "
          f"{len(settings.operators)} operators")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hotline", description="A 12345 citizen-service hotline on Asterisk 22.")
    p.add_argument("--site", default=default_site(),
                   help="the site file (TOML); default $HOTLINE_SITE, else /etc/hotline/site.toml if it exists, "
                        "else %(default)s")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.add_argument("--version", action="version", version=f"hotline {_version()}")
    sub = p.add_subparsers(dest="command", required=True)
    asterisk.add_commands(sub)
    run.add_commands(sub)
    service_api.add_commands(sub)  # agent, agents, queues, cases
    sub.add_parser("config", help="validate the site file").set_defaults(fn=cmd_config)
    sip.add_commands(sub)
    audit.add_commands(sub)
    users.add_commands(sub)
    planning.add_commands(sub)  # sim, staffing
    kb.add_commands(sub)  # kb import, kb search
    backup.add_commands(sub)  # backup, restore
    service.add_commands(sub)  # service install, service asterisk
    _site_after_command(sub)
    return p


def _version() -> str:
    try:
        return importlib.metadata.version("hotline")
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed)"


def _site_after_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``hotline queues --site FILE`` as well as ``hotline --site FILE queues``: every command
    accepts --site (and -v) too; given there, it wins (SUPPRESS: absent, the global one stands)."""
    for command in sub.choices.values():
        taken = {opt for action in command._actions for opt in action.option_strings}
        if "--site" not in taken:
            command.add_argument("--site", default=argparse.SUPPRESS, help="the site file (as before the command)")
        if "-v" not in taken:
            command.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                                 help="debug logging")


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("panoramisk").setLevel(logging.INFO)  # its debug level prints every AMI message
    try:
        return int(args.fn(args))
    except config.ConfigError as exc:
        print(f"hotline: invalid site configuration: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except HotlineError as exc:
        print(f"hotline: {exc.error_id}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
