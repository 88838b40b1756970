"""The commands that ask the running service over its HTTP API (with the API token): agent,
agents, queues, cases; ``api`` is also ``staffing plan --live``'s."""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
from typing import Any

from hotline import config
from hotline import secrets as secrets_mod
from hotline.cli.common import fmt, load_settings, log


def api(settings: config.Settings, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    token = secrets_mod.api_token(settings)  # read only: asking the service creates no secrets
    url = f"http://{settings.http.host}:{settings.http.port}{path}"
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=15) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        raise SystemExit(f"hotline: {api_error(exc.code, exc.reason, exc.read())}") from None
    except urllib.error.URLError as exc:
        raise SystemExit(f"hotline: the hotline service is not reachable at {url} ({exc.reason}); "
                         "is 'hotline run' running?") from None


def api_error(status: int, reason: str, raw: bytes) -> str:
    """The service's JSON error as one line: ``unsafe-value (422): reason holds U+000A ...``; an
    answer that is not ours (a proxy's page) as its status and reason."""
    try:
        detail = json.loads(raw or b"{}")
    except ValueError:
        detail = None
    if not isinstance(detail, dict) or "error" not in detail:
        return f"HTTP {status} {reason} from the service"
    return f"{detail['error']} ({status}): {detail.get('message', reason)}"


def cmd_agent(args: argparse.Namespace) -> int:
    settings = load_settings(args)
    body = {"reason": args.reason} if args.action == "pause" else None
    out = api(settings, "POST", f"/api/agents/{args.extension}/{args.action}", body)
    print(f"{args.extension}: {args.action} ok")
    log.debug("%s", out)
    return 0


def cmd_agents(args: argparse.Namespace) -> int:
    data = api(load_settings(args), "GET", "/api/agents")
    if args.json:
        print(json.dumps(data["agents"], ensure_ascii=False))
        return 0
    print(f"{'ext':<6} {'name':<20} {'state':<9} {'for':>6}  {'calls':>5}  note")
    for a in data["agents"]:
        secs = "" if a["seconds_in_state"] is None else f"{a['seconds_in_state']:.0f}s"
        note = a["pause_reason"]
        if a["logged_in"] and a["phone"] == "unregistered":
            note = "logged in, phone not registered"
        print(f"{a['extension']:<6} {a['name'][:20]:<20} {a['state']:<9} {secs:>6}  {a['calls_today']:>5}  {note}")
    return 0


def cmd_queues(args: argparse.Namespace) -> int:
    settings = load_settings(args)
    while True:
        data = api(settings, "GET", "/api/queues")
        if args.json:  # one JSON object a line (with --watch, one a refresh)
            print(json.dumps(data), flush=True)
            if not args.watch:
                return 0
            time.sleep(args.interval)
            continue
        lines = queue_lines(data)
        if args.watch:
            sys.stdout.write("\x1b[2J\x1b[H")
        print("\n".join(lines), flush=True)
        if not args.watch:
            return 0
        time.sleep(args.interval)


def queue_lines(data: dict[str, Any]) -> list[str]:
    """``hotline queues``: answered within the target on both clocks, named plainly: from the first
    ring (the citizen's, the headline; the IVR hang-ups are offered here, overall) and from queue
    entry (Asterisk's, its ServicelevelPerf)."""
    t = data["target_seconds"]
    lines = [f"answered within {t} s: from the first ring (ring%, the headline) and from queue entry (queue%, "
             "Asterisk's); of offered / of answered",
             f"{'':<16} {'waiting':>7} {'longest':>7} {'offered':>7} {'answered':>8} {'abandon':>7} {'in IVR':>6} "
             f"{'short':>5} {'ring/off':>8} {'ring/ans':>8} {'queue/off':>9} {'queue/ans':>9}"]
    for name, q in [("overall", data["overall"]), *data["queues"].items()]:
        lines.append(f"{name:<16} {q['waiting']:>7} {q['longest_wait']:>7} {q.get('first_ring_offered', ''):>7} "
                     f"{q['answered']:>8} {q['abandoned']:>7} {q.get('ivr_abandoned', 0):>6} "
                     f"{q.get('short_abandoned', 0):>5} {fmt(q.get('first_ring_sl_over_offered')):>8} "
                     f"{fmt(q.get('first_ring_sl_over_answered')):>8} {fmt(q['sl_over_offered']):>9} "
                     f"{fmt(q['sl_over_answered']):>9}")
    return lines


def cmd_cases(args: argparse.Namespace) -> int:
    data = api(load_settings(args), "GET", f"/api/cases?limit={args.limit}")
    if not data["cases"]:
        print("no cases yet", file=sys.stderr)
    for c in data["cases"]:
        print(json.dumps(c, ensure_ascii=False))
    return 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    g = sub.add_parser("agent", help="log an operator in or out, pause or resume them")
    g.add_argument("action", choices=["login", "pause", "unpause", "logout"])
    g.add_argument("extension")
    g.add_argument("--reason", default="", help="why (required with pause)")
    g.set_defaults(fn=cmd_agent)

    ag = sub.add_parser("agents", help="every operator's state")
    ag.add_argument("--json", action="store_true", help="the API's JSON instead of the table")
    ag.set_defaults(fn=cmd_agents)

    q = sub.add_parser("queues", help="service level, waiting callers, longest wait per queue")
    q.add_argument("--watch", action="store_true", help="refresh until Ctrl-C")
    q.add_argument("--interval", type=float, default=1.0)
    q.add_argument("--json", action="store_true", help="the API's JSON instead of the table")
    q.set_defaults(fn=cmd_queues)

    c = sub.add_parser("cases", help="the latest cases, one JSON object a line")
    c.add_argument("--limit", type=int, default=20)
    c.set_defaults(fn=cmd_cases)
