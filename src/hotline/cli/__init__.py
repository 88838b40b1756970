"""The ``hotline`` command. Every command takes ``--site FILE`` (default: $HOTLINE_SITE or
etc/site.example.toml).

The parser and the dispatch are here; each command group is its own module (asterisk, run,
service_api: agent/agents/queues/cases, sip, audit, users, planning: sim/staffing), which adds
its subcommands to the parser and runs them."""

from __future__ import annotations

import argparse
import logging
import sys

from hotline import config
from hotline.cli import asterisk, audit, kb, planning, run, service_api, sip, users
from hotline.cli.common import DEFAULT_SITE, load_settings
from hotline.errors import HotlineError


def cmd_config(args: argparse.Namespace) -> int:
    settings = load_settings(args)
    print(f"site file ok: {len(settings.languages)} languages, {len(settings.topics)} topics, "
          f"{len(settings.operators)} operators")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hotline", description="A 12345 citizen-service hotline on Asterisk 22.")
    p.add_argument("--site", default=config.site_file(DEFAULT_SITE),
                   help="the site file (TOML); default $HOTLINE_SITE or %(default)s")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
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
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("panoramisk").setLevel(logging.INFO)  # its debug level prints every AMI message
    try:
        return int(args.fn(args))
    except config.ConfigError as exc:
        print(f"hotline: invalid site configuration: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except HotlineError as exc:
        print(f"hotline: {exc.error_id}: {exc}", file=sys.stderr)
        return 1
