"""The ``hotline`` command. Every command takes ``--site FILE`` (default: $HOTLINE_SITE or
etc/site.example.toml)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from hotline import config
from hotline import secrets as secrets_mod
from hotline.errors import HotlineError

log = logging.getLogger("hotline")

DEFAULT_SITE = "etc/site.example.toml"


def _settings(args: argparse.Namespace) -> config.Settings:
    return config.load(Path(args.site))


def _api(settings: config.Settings, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    token = secrets_mod.load_or_create(settings).api_token
    url = f"http://{settings.http.host}:{settings.http.port}{path}"
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=15) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        raise SystemExit(f"hotline: {_api_error(exc.code, exc.reason, exc.read())}") from None
    except urllib.error.URLError as exc:
        raise SystemExit(f"hotline: the hotline service is not reachable at {url} ({exc.reason}); "
                         "is 'hotline run' running?") from None


def _api_error(status: int, reason: str, raw: bytes) -> str:
    """The service's JSON error as one line: ``unsafe-value (422): reason holds U+000A ...``; an
    answer that is not ours (a proxy's page) as its status and reason."""
    try:
        detail = json.loads(raw or b"{}")
    except ValueError:
        detail = None
    if not isinstance(detail, dict) or "error" not in detail:
        return f"HTTP {status} {reason} from the service"
    return f"{detail['error']} ({status}): {detail.get('message', reason)}"


def cmd_asterisk(args: argparse.Namespace) -> int:
    from hotline.pbx import asterisk

    settings = _settings(args)
    if args.action == "install":
        print(asterisk.install(settings))
    elif args.action == "render":
        etc = asterisk.render(settings, secrets_mod.load_or_create(settings))
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


def cmd_run(args: argparse.Namespace) -> int:
    from hotline import privileges
    from hotline.pbx import asterisk
    from hotline.runtime import Hotline

    settings = _settings(args)
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
        asterisk.render(settings, sec)
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


def cmd_agent(args: argparse.Namespace) -> int:
    settings = _settings(args)
    body = {"reason": args.reason} if args.action == "pause" else None
    out = _api(settings, "POST", f"/api/agents/{args.extension}/{args.action}", body)
    print(f"{args.extension}: {args.action} ok")
    log.debug("%s", out)
    return 0


def cmd_agents(args: argparse.Namespace) -> int:
    data = _api(_settings(args), "GET", "/api/agents")
    print(f"{'ext':<6} {'name':<20} {'state':<9} {'for':>6}  {'calls':>5}  note")
    for a in data["agents"]:
        secs = "" if a["seconds_in_state"] is None else f"{a['seconds_in_state']:.0f}s"
        note = a["pause_reason"]
        if a["logged_in"] and a["phone"] == "unregistered":
            note = "logged in, phone not registered"
        print(f"{a['extension']:<6} {a['name'][:20]:<20} {a['state']:<9} {secs:>6}  {a['calls_today']:>5}  {note}")
    return 0


def _fmt(v: Any) -> str:
    return "-" if v is None else f"{v}"


def cmd_queues(args: argparse.Namespace) -> int:
    settings = _settings(args)
    while True:
        data = _api(settings, "GET", "/api/queues")
        lines = [(f"target {data['target_seconds']}s   {'waiting':>7} {'longest':>7} {'answered':>8} "
                 f"{'abandon':>7} {'SL/ans%':>7} {'SL/off%':>7}")]
        rows = [("overall", data["overall"]), *data["queues"].items()]
        for name, q in rows:
            lines.append(f"{name:<16} {q['waiting']:>7} {q['longest_wait']:>7} {q['answered']:>8} "
                         f"{q['abandoned']:>7} {_fmt(q['sl_over_answered']):>7} {_fmt(q['sl_over_offered']):>7}")
        if args.watch:
            sys.stdout.write("\x1b[2J\x1b[H")
        print("\n".join(lines), flush=True)
        if not args.watch:
            return 0
        time.sleep(args.interval)


def cmd_cases(args: argparse.Namespace) -> int:
    data = _api(_settings(args), "GET", f"/api/cases?limit={args.limit}")
    if not data["cases"]:
        print("no cases yet", file=sys.stderr)
    for c in data["cases"]:
        print(json.dumps(c, ensure_ascii=False))
    return 0


def cmd_sim(args: argparse.Namespace) -> int:
    from hotline.sim import run as sim_run

    path = Path(args.scenario)
    if args.action == "run":
        result, secs = sim_run.run(path, args.strategy, args.seed)
        summary = result.summary()
        if args.json:
            print(json.dumps(summary, indent=2))
            return 0
        per_language = summary.pop("per_language")
        interpreting = summary.pop("interpreting", None)
        print(f"{len(result.calls)} calls, {len(result.agents)} operators, strategy {args.strategy}, "
              f"simulated in {secs:.1f}s")
        for key, value in summary.items():
            print(f"  {key:<18} {value}")
        print("  per language (SL over offered, abandon %, p95 wait):")
        for lang, f in per_language.items():  # type: ignore[attr-defined]
            print(f"    {lang:<4} {f['offered']:>7} calls  SL {f['sl_over_offered']}%  abandon {f['abandon_rate']}%"
                  f"  p95 {f['p95_wait']}s")
        if isinstance(interpreting, dict):
            print("  interpreters (requests, connected within the answer target, waits, occupancy, minutes):")
            for key, value in interpreting.items():
                print(f"    {key:<18} {value}")
    else:
        rows = sim_run.compare(path, args.seed)
        if args.json:
            print(json.dumps(rows, indent=2))
            return 0
        print(f"{'strategy':<12} {'SL/offered':>10} {'SL/answered':>11} {'abandon%':>8} {'avg wait':>8} "
              f"{'p95 wait':>8} {'occupancy':>9} {'interpreted':>11} {'interp<=target%':>15}")
        for r in rows:
            it = r.get("interpreting") or {}
            print(f"{r['strategy']:<12} {r['sl_over_offered']:>10} {r['sl_over_answered']:>11} "
                  f"{r['abandon_rate']:>8} {r['avg_wait']:>8} {r['p95_wait']:>8} {r['occupancy']:>9} "
                  f"{_fmt(it.get('requests')):>11} {_fmt(it.get('within_target_pct')):>15}")
    return 0


def cmd_staffing(args: argparse.Namespace) -> int:
    import csv
    import datetime as dt

    from hotline.cases.store import CaseStore
    from hotline.sim import planner

    settings = _settings(args)
    day = dt.date.fromisoformat(args.date) if args.date else dt.date.today() + dt.timedelta(days=1)
    start = dt.datetime.combine(day - dt.timedelta(weeks=args.weeks), dt.time()).timestamp()
    end = dt.datetime.combine(day, dt.time()).timestamp()

    async def history() -> list[dict[str, Any]]:
        store = CaseStore(settings.database)
        try:
            return await store.half_hour_history(start, end)
        finally:
            await store.close()

    plan = planner.build(settings, asyncio.run(history()), day, args.weeks, confirm=args.confirm)
    if args.live:
        agents = _api(settings, "GET", "/api/agents")["agents"]
        now_in = sum(1 for a in agents if a["state"] not in ("offline",))
        for s in plan.slots:
            s.logged_in = now_in
    rows = plan.csv_rows()
    if args.csv:
        with open(args.csv, "w", newline="") as fh:
            csv.writer(fh).writerows(rows)
        print(f"written {args.csv}")
    print(f"{day} ({day:%A}): forecast from {plan.weeks_of_history} weeks, hotspot factor {plan.hotspot_factor}, "
          f"AHT {plan.aht}s, languages " + ", ".join(f"{k} {v:.1%}" for k, v in sorted(plan.language_mix.items())))
    print(f"first estimate: {plan.model}" + (f" (callers' mean patience {plan.patience}s from {plan.abandoned} "
                                             "abandoned calls)" if plan.patience else
                                             " (too few abandoned calls in the history to estimate patience)"))
    print(f"{'slot':<6} {'calls':>7} {'Erlang C':>8} {'Erlang A':>8} {'confirmed':>9} {'sim SL%':>7} "
          f"{'scheduled':>9} {'logged in':>9} {'gap':>5}")
    for r in rows[1:]:
        if r[1] or r[6]:
            print(f"{r[0]:<6} {r[1]:>7} {r[2]:>8} {_fmt(r[3]):>8} {_fmt(r[4]):>9} {_fmt(r[5]):>7} {_fmt(r[6]):>9} "
                  f"{_fmt(r[7]):>9} {_fmt(r[8]):>5}")
    return 0


def _read_password(args: argparse.Namespace) -> str:
    import getpass

    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    if not sys.stdin.isatty():
        raise SystemExit("hotline: no terminal to ask for the password on; pipe it in with --password-stdin")
    first = getpass.getpass("password: ")
    if first != getpass.getpass("again: "):
        raise SystemExit("hotline: the passwords differ")
    return first


def cmd_users(args: argparse.Namespace) -> int:
    from hotline.auth import passwords
    from hotline.auth.users import UserDirectory, UserError
    from hotline.cases.store import CaseStore

    if args.action == "hash":
        print(passwords.hash_password(_read_password(args)))
        return 0
    settings = _settings(args)

    async def run() -> int:
        store = CaseStore(settings.database)
        users = UserDirectory(store)
        try:
            await users.sync_from_site(settings)
            if args.action == "list":
                for u in await users.all_users():
                    print(f"{u['username']:<20} {u['role']:<12} {u['extension'] or u['department'] or '-':<8} "
                          f"{'disabled' if u['disabled'] else 'active':<9} {'' if u['has_password'] else 'NO PASSWORD'}"
                          f" {u['name'] or ''}")
                return 0
            if not args.username:
                raise SystemExit("hotline: name the user")
            if args.action == "add":
                if not args.role:
                    raise SystemExit("hotline: --role is required")
                await users.add(args.username, args.role, _read_password(args), args.name or "",
                                args.extension or "", settings, args.department or "")
            elif args.action == "passwd":
                await users.set_password(args.username, _read_password(args))
            elif args.action in ("disable", "enable"):
                await users.set_disabled(args.username, args.action == "disable")
            print(f"user {args.username}: {args.action} done")
            return 0
        except (UserError, passwords.WeakPassword) as exc:
            print(f"hotline: {exc}", file=sys.stderr)
            return 1
        finally:
            await store.close()
    return asyncio.run(run())


def cmd_audit(args: argparse.Namespace) -> int:
    """Read the audit log straight from the SQLite file (no service needed): verify its hash
    chain, or show the newest rows."""
    from hotline.cases import audit_chain

    settings = _settings(args)
    try:
        if args.action == "verify":
            head = None
            if args.head:
                rid, _, digest = args.head.partition(":")
                if not rid.isdigit() or len(digest) != 64:
                    raise SystemExit("hotline: --head must be ID:HASH (as 'hotline audit verify' printed it)")
                head = {"id": int(rid), "hash": digest}
            report = audit_chain.verify(settings.database, head)
            print(report.text(), file=sys.stdout if report.ok else sys.stderr)
            return 0 if report.ok else 1
        rows, _head = audit_chain.read(settings.database)
        for r in rows[-args.limit:]:
            print(json.dumps({**r, "detail": json.loads(r["detail"] or "{}")}, ensure_ascii=False))
        return 0
    except (FileNotFoundError, ValueError) as exc:
        print(f"hotline: {exc}", file=sys.stderr)
        return 2


def _in_block(address: str, blocked: str) -> bool:
    import ipaddress
    try:
        ip, net = ipaddress.ip_address(address), ipaddress.ip_network(blocked, strict=False)
    except ValueError:
        return False
    return ip.version == net.version and ip in net


def cmd_sip(args: argparse.Namespace) -> int:
    """The SIP guard's blocked addresses, straight from the ACL file Asterisk reads (no service
    needed): list them, or lift one (in force at Asterisk's next SIP request; audited)."""
    from hotline import privileges
    from hotline.cases.store import CaseStore
    from hotline.pbx.sip_acl import SipAclFile, db_path

    settings = _settings(args)
    if (user := privileges.run_user(settings)) is not None:  # the ACL file and the case file are the user's:
        privileges.drop(user)  # root never writes (or creates) them, SQLite would follow a link planted there
    acl = SipAclFile(db_path(settings.asterisk.instance_dir))
    rows = acl.blocks()
    if args.action == "blocks":
        for r in rows:
            print(json.dumps({"address": r.address, "failures": r.failures, "since": r.since, "until": r.until,
                              **json.loads(r.reason or "{}")}, ensure_ascii=False))
        return 0
    row = next((r for r in rows if r.address == args.address), None) or next(
        (r for r in rows if _in_block(args.address, r.address)), None)  # an address of a blocked IPv6 /64
    if row is None:
        print(f"hotline: {args.address!r} is not blocked", file=sys.stderr)
        return 1
    acl.unblock(row.address)

    async def audit() -> None:
        store = CaseStore(settings.database)
        await store.open()
        try:
            by = config.command_user()
            await store.audit(by, "sip_unblock", row.address, {"address": row.address, "failures": row.failures,
                              "since": row.since, "until": row.until, "why": "lifted by hand (hotline sip unblock)"},
                              time.time(), role="admin")
        finally:
            await store.close()

    asyncio.run(audit())
    print(f"{row.address} unblocked")
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    settings = _settings(args)
    print(f"site file ok: {len(settings.languages)} languages, {len(settings.topics)} topics, "
          f"{len(settings.operators)} operators")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hotline", description="A 12345 citizen-service hotline on Asterisk 22.")
    p.add_argument("--site", default=config.site_file(DEFAULT_SITE),
                   help="the site file (TOML); default $HOTLINE_SITE or %(default)s")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True)

    a = sub.add_parser("asterisk", help="install, render, start, stop, status of Asterisk 22 (in a chroot)")
    a.add_argument("action", choices=["install", "render", "start", "stop", "status", "cli"])
    a.add_argument("command", nargs="*", help="with 'cli': the Asterisk CLI command to run")
    a.set_defaults(fn=cmd_asterisk)

    r = sub.add_parser("run", help="set up and start Asterisk, then run the hotline's services until Ctrl-C")
    r.add_argument("--no-asterisk", action="store_true", help="do not install/render/start Asterisk")
    r.add_argument("--login-all", action="store_true", help="log every configured operator in at start")
    r.set_defaults(fn=cmd_run)

    g = sub.add_parser("agent", help="log an operator in or out, pause or resume them")
    g.add_argument("action", choices=["login", "pause", "unpause", "logout"])
    g.add_argument("extension")
    g.add_argument("--reason", default="", help="why (required with pause)")
    g.set_defaults(fn=cmd_agent)

    sub.add_parser("agents", help="every operator's state").set_defaults(fn=cmd_agents)

    q = sub.add_parser("queues", help="service level, waiting callers, longest wait per queue")
    q.add_argument("--watch", action="store_true", help="refresh until Ctrl-C")
    q.add_argument("--interval", type=float, default=1.0)
    q.set_defaults(fn=cmd_queues)

    c = sub.add_parser("cases", help="the latest cases, one JSON object a line")
    c.add_argument("--limit", type=int, default=20)
    c.set_defaults(fn=cmd_cases)

    sub.add_parser("config", help="validate the site file").set_defaults(fn=cmd_config)

    sp = sub.add_parser("sip", help="the SIP guard's blocked addresses: list them, lift one")
    sp.add_argument("action", choices=["blocks", "unblock"])
    sp.add_argument("address", nargs="?", help="with unblock: the blocked IP address")
    sp.set_defaults(fn=cmd_sip)

    au = sub.add_parser("audit", help="the audit log (read from the database file): verify its hash chain, show rows")
    au.add_argument("action", choices=["verify", "show"])
    au.add_argument("--head", help="with verify: the newest row as recorded elsewhere, ID:HASH (finds deleted "
                    "last rows even if the stored head was changed too)")
    au.add_argument("--limit", type=int, default=50, help="with show: the newest N rows")
    au.set_defaults(fn=cmd_audit)

    from hotline.config import ROLES

    u = sub.add_parser("users", help="web users: add, passwd, list, disable, enable; hash makes a site-file hash")
    u.add_argument("action", choices=["add", "passwd", "list", "disable", "enable", "hash"])
    u.add_argument("username", nargs="?")
    u.add_argument("--role", choices=ROLES)
    u.add_argument("--extension", help="operators: their [[operators]] extension; supervisors: their [[supervisors]] "
                   "phone (for listen, whisper and barge)")
    u.add_argument("--department", help="department users: the code of their [[departments]] entry")
    u.add_argument("--name", help="the name shown on pages")
    u.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    u.set_defaults(fn=cmd_users)

    from hotline.sim.engine import STRATEGIES

    sm = sub.add_parser("sim", help="the call-center simulator: run a scenario, or compare routing strategies")
    sm.add_argument("action", choices=["run", "compare"])
    sm.add_argument("scenario", help="a scenario TOML file (see etc/scenarios/)")
    sm.add_argument("--strategy", choices=STRATEGIES, default="ours", help="with run: the routing (default ours)")
    sm.add_argument("--seed", type=int, default=1)
    sm.add_argument("--json", action="store_true")
    sm.set_defaults(fn=cmd_sim)

    st = sub.add_parser("staffing", help="operators needed per half hour: forecast, Erlang A/C, simulator check")
    st.add_argument("action", choices=["plan"])
    st.add_argument("--date", help="the day to plan, YYYY-MM-DD (default tomorrow)")
    st.add_argument("--weeks", type=int, default=4, help="weeks of history for the forecast")
    st.add_argument("--confirm", action="store_true", help="confirm with the simulator and the real skill mix")
    st.add_argument("--live", action="store_true", help="compare with the operators logged in now (needs the service)")
    st.add_argument("--csv", help="also write the plan as CSV to this file")
    st.set_defaults(fn=cmd_staffing)
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


if __name__ == "__main__":
    sys.exit(main())
