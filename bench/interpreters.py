"""Interpreters: the time from the operator's click to the interpreter's phone ringing, and to
all three in the room, on a real Asterisk with pjsua2 phones.

Each round: a caller dials 12345 (English, housing), the operator's phone answers, the operator
asks for an interpreter over the desktop's API (the click: the POST leaves the client); the
interpreter's phone rings (the INVITE reaches it), answers after --answer-after seconds (a
person picking up; 0 by default, so the figures are the system's), hears the announcement
(language, case number) and joins the room (ConfbridgeJoin: caller, operator and interpreter
connected). The caller hangs up; the next round starts after the operator's wrap-up.

Run inside a network namespace:
    unshare --net sh -c 'ip link set lo up && exec "$0" "$@"' env HOTLINE_IN_NETNS=1 \\
        .venv/bin/python bench/interpreters.py --rounds 20
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))  # the test stack and phones (tests/support)

from support.audio import make_tone  # noqa: E402
from support.calls import wait_until  # noqa: E402
from support.stack import SIP_PORT, Stack  # noqa: E402

PASSWORD = "bench-interpreters-1"
SITE = """
[interpreting]
ring_seconds = 10

[[operators]]
extension = "2001"
name = "Bench Operator"
languages = { zh = 5 }
topics = ["housing"]

[[interpreters]]
extension = "2002"
name = "Bench Interpreter A"
languages = { en = 5 }

[[interpreters]]
extension = "2003"
name = "Bench Interpreter B"
languages = { en = 5 }

[[users]]
username = "wang"
role = "operator"
extension = "2001"
"""


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(q * len(s)) - 1))]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--answer-after", type=float, default=0.0, help="the interpreter picks up after (s)")
    args = p.parse_args()
    if os.environ.get("HOTLINE_IN_NETNS") != "1":
        sys.exit("run inside a network namespace (see this file's docstring)")
    from support.phone_process import Phones

    folder = Path(tempfile.mkdtemp(prefix="hotline-interp-bench-"))
    stack = Stack.create(folder, "interp", SITE)
    phones = Phones(folder / "phones", SIP_PORT)
    tone = make_tone(folder / "tone.wav", 600)
    try:
        stack.set_password("wang", PASSWORD)
        stack.start_service()
        op = phones.operator("2001", stack.secrets.sip_passwords["2001"], tone)
        interps = {ext: phones.operator(ext, stack.secrets.sip_passwords[ext], tone, answer_after=args.answer_after)
                   for ext in ("2002", "2003")}
        stack.login("2001")
        for ext in interps:
            stack.api("POST", f"/api/interpreters/{ext}/login")
        wang = stack.web_session("wang", PASSWORD)
        caller = phones.caller("13900000400", tone)
        ringing, answered, joined, announcement = [], [], [], []
        for n in range(args.rounds):
            seen = {ext: len(ph.calls) for ext, ph in interps.items()}
            answered_ops = len(op.calls)
            call = phones.dial(caller, "12345")
            wait_until(lambda call=call: call.connected_at, 10, "the IVR answered")
            for digit in ("2", "1"):  # English, housing
                time.sleep(1.5)
                phones.dtmf(call, digit)
            wait_until(lambda n=answered_ops: len(op.calls) > n and op.calls[-1].connected_at, 20,
                       "the operator answered")
            time.sleep(0.5)
            clicked = time.time()
            status, body = wang.api("POST", "/api/interpreters/request", {"language": "en"})
            assert status == 200, body
            rid = body["request"]["id"]

            def req(rid: int = rid) -> dict:
                return next(r for r in stack.api("GET", "/api/interpreters")["requests"] if r["id"] == rid)

            wait_until(lambda: req()["state"] == "connected", 20, "the interpreter joined")
            r = req()
            ic = interps[r["interpreter"]].calls[seen[r["interpreter"]]]
            ringing.append(ic.started - clicked)
            answered.append((ic.connected_at or 0) - clicked)
            joined.append(r["joined_at"] - clicked)
            announcement.append(r["joined_at"] - (ic.connected_at or r["joined_at"]))
            print(f"round {n + 1}: ringing {ringing[-1] * 1000:.0f} ms, all connected {joined[-1] * 1000:.0f} ms "
                  f"(interpreter {r['interpreter']}, announcement {announcement[-1]:.2f} s)", flush=True)
            phones.hangup(call)
            wait_until(lambda: req()["state"] == "ended", 10, "the room ended")
            time.sleep(3.0)  # the operator's wrap-up (2 s)
        print(f"\n{args.rounds} rounds, interpreter answers after {args.answer_after} s")
        for name, values in (("click -> interpreter's phone ringing", ringing),
                             ("click -> interpreter answered", answered),
                             ("click -> all three connected (after the announcement)", joined),
                             ("announcement (answer -> joined the room)", announcement)):
            print(f"  {name:<56} p50 {pct(values, 0.5) * 1000:7.0f} ms   p99 {pct(values, 0.99) * 1000:7.0f} ms")
    finally:
        phones.close()
        stack.teardown()


if __name__ == "__main__":
    main()
