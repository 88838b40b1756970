"""``hotline run``: as root, install, render and start Asterisk, then drop to the run user; run the
hotline's services until a signal; stop the Asterisk it started."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal

from hotline import secrets as secrets_mod
from hotline.cli.common import load_settings, log


def cmd_run(args: argparse.Namespace) -> int:
    from hotline import privileges
    from hotline.pbx import asterisk
    from hotline.queue.roster import WRAPUP_GUARD_SECONDS
    from hotline.queue.skills import skill_queues
    from hotline.runtime import Hotline

    settings = load_settings(args)
    os.umask(privileges.UMASK)  # what the service writes (case file, recordings, logs) is 0600
    user = privileges.run_user(settings)
    sec = secrets_mod.load_or_create(settings)
    started = False
    if not args.no_asterisk and os.geteuid() != 0:  # e.g. as the run user: root has started Asterisk
        if (pid := asterisk.running_pid(settings)) is None:
            raise asterisk.AsteriskError("Asterisk is not running and starting it needs root: run `hotline run` as "
                                         "root (it drops to asterisk.user), or `hotline asterisk render` and "
                                         "`hotline asterisk start` as root first")
        log.info("not root: using the running Asterisk, pid %d", pid)
    elif not args.no_asterisk:  # root's part: install, render, start (Asterisk drops to the user itself)
        asterisk.install(settings)
        asterisk.render(settings, sec, skill_queues(settings), WRAPUP_GUARD_SECONDS)
        started = asterisk.running_pid(settings) is None
        asterisk.start(settings)
    if user is not None:
        try:
            privileges.prepare(settings, user)
            privileges.drop(user)
        except BaseException:
            if started:  # not left running without a service (still root here, or just not: the pid file is ours)
                asterisk.stop(settings)
            raise

    async def main() -> None:
        hotline = Hotline(settings, sec)
        await hotline.start()
        if args.login_all:
            for op in settings.operators:
                await hotline.commands.login(op.extension)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        log.info("hotline running: dial %s via SIP %s:%d; API http://%s:%d (token in %s)", settings.number,
                 settings.asterisk.bind, settings.asterisk.sip_port, settings.http.host, settings.http.port,
                 settings.state_dir / "secrets.json")
        await stop.wait()
        log.info("hotline stopping (signal received)")
        await hotline.stop()
        log.info("hotline stopped")

    try:
        asyncio.run(main())
    finally:
        if started:
            asterisk.stop(settings)
    return 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    r = sub.add_parser("run", help="set up and start Asterisk, then run the hotline's services until Ctrl-C")
    r.add_argument("--no-asterisk", action="store_true", help="do not install/render/start Asterisk")
    r.add_argument("--login-all", action="store_true", help="log every configured operator in at start")
    r.set_defaults(fn=cmd_run)
