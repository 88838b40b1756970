"""Wallboard update latency and the server's CPU, with many pages connected.

The server (this process) is the hotline's web side as runtime.py wires it: the bus, the state
pump (roster, service level, router, board), the wallboard and desktop pumps and ticks, the
aiohttp app. A second process opens the pages: ``--boards`` supervisor wallboards and
``--desktops`` operator desktops, each a real WebSocket with its own session cookie. AMI events
(QueueMemberPause of a random operator, as Asterisk sends them) go through translate -> bus at
``--rate`` per second; each carries its send time in the pause reason, and every wallboard page
notes when the update showing it arrives. Latency = arrival - send, over every page and event.
CPU: this process's user+system time per second of the steady run, first with no pages (the
baseline, same process), then with all pages connected.

    .venv/bin/python bench/wallboard.py [--boards 50 --desktops 1000 --rate 100 --seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402

from hotline import config  # noqa: E402
from hotline import events as ev  # noqa: E402
from hotline.bus import Bus  # noqa: E402
from hotline.cases.store import CaseStore  # noqa: E402
from hotline.graph import build_services  # noqa: E402
from hotline.pbx.translate import translate  # noqa: E402
from hotline.queue.skills import memberships  # noqa: E402
from hotline.web.app import build_app  # noqa: E402

PORT = 8499


class NoPbx:
    async def queue_add(self, *a: Any) -> None: ...
    async def queue_remove(self, *a: Any) -> None: ...
    async def queue_pause(self, *a: Any) -> None: ...
    async def queue_penalty(self, *a: Any) -> None: ...
    async def supervise(self, *a: Any) -> None: ...
    async def hangup(self, *a: Any) -> None: ...


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


# -- the pages (a separate process) ---------------------------------------------------------------

def pages(boards: list[str], desktops: list[str], seconds: float, ready: Any, out: Any) -> None:
    async def main() -> dict[str, Any]:
        latencies: list[float] = []
        messages = {"board": 0, "desktop": 0}
        origin = f"http://127.0.0.1:{PORT}"
        conn = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=conn) as s:
            async def board(cookie: str) -> None:
                seen: set[str] = set()
                async with s.ws_connect(f"{origin}/ws/wallboard", max_msg_size=0, headers={
                        "Origin": origin, "Cookie": f"hl_session={cookie}"}) as ws:
                    async for msg in ws:
                        now = time.time()
                        messages["board"] += 1
                        data = json.loads(msg.data)
                        if data["type"] != "wallboard_update":  # the snapshot shows earlier pauses too
                            continue
                        for a in data.get("agents", ()):
                            reason = a.get("pause_reason", "")
                            if reason.startswith("b") and ":" in reason and reason not in seen:
                                seen.add(reason)
                                latencies.append(now - float(reason.split(":", 1)[1]))

            async def desktop(cookie: str) -> None:
                async with s.ws_connect(f"{origin}/ws/desktop", headers={
                        "Origin": origin, "Cookie": f"hl_session={cookie}"}) as ws:
                    async for _msg in ws:
                        messages["desktop"] += 1

            tasks = [asyncio.create_task(desktop(c)) for c in desktops]
            tasks += [asyncio.create_task(board(c)) for c in boards]
            await asyncio.sleep(3 + len(tasks) / 400)
            ready.set()
            await asyncio.sleep(seconds + 2)
            for t in tasks:
                t.cancel()
            failed = [r for r in await asyncio.gather(*tasks, return_exceptions=True)
                      if isinstance(r, Exception) and not isinstance(r, asyncio.CancelledError)]
            if failed:
                print(f"{len(failed)} pages failed, e.g. {failed[0]!r}", flush=True)
        return {"latencies": latencies, "messages": messages}

    out.put(asyncio.run(main()))


# -- the server ------------------------------------------------------------------------------------

async def run(args: argparse.Namespace) -> None:
    base = config.load(ROOT / "etc/site.example.toml", {})
    langs = [lang.code for lang in base.languages]
    topics = [t.code for t in base.topics]
    rnd = random.Random(7)
    ops = tuple(config.Operator(str(10000 + i), f"Operator {i}", {rnd.choice(langs): 5, "zh": 4},
                                tuple(rnd.sample(topics, 2))) for i in range(args.desktops))
    tmp = Path(tempfile.mkdtemp(prefix="hl-bench-wallboard-"))
    s = replace(base, operators=ops, users=(), supervisors=(),
                http=replace(base.http, port=PORT), state_dir=tmp, database=tmp / "b.db")
    store = CaseStore(s.database)
    await store.open()
    bus: Bus[ev.Event] = Bus()
    # the graph the runtime builds, with a PBX that does nothing; its pumps and clocks as the runtime runs them
    graph = build_services(s, store, NoPbx(), bus, since_day=lambda: time.time() - 3600)  # type: ignore[arg-type]
    users, hub = graph.users, graph.hub
    graph.start()

    # every operator logged in (as Asterisk would report), sessions for every page (no password hashing)
    now = time.time()
    for op in ops:
        for q in memberships(op):
            bus.publish(ev.MemberStatus(q, f"PJSIP/{op.extension}", op.extension, 1, False, "", False, now))

    def add_users(db: Any) -> None:
        rows = [{"username": f"op{op.extension}", "role": "operator", "name": op.name, "extension": op.extension,
                 "password_hash": "-", "disabled": 0} for op in ops]
        rows += [{"username": f"boss{i}", "role": "supervisor", "name": "", "extension": "", "password_hash": "-",
                  "disabled": 0} for i in range(args.boards)]
        db["users"].insert_all(rows, alter=True)
    await store.db.run(add_users)
    desk_cookies = [(await users.open_session(f"op{op.extension}", "bench"))[0] for op in ops]
    board_cookies = [(await users.open_session(f"boss{i}", "bench"))[0] for i in range(args.boards)]
    app = build_app(graph.web("bench-token"))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", PORT).start()

    seq = 0

    async def drive(seconds: float) -> float:
        """AMI events at the rate; returns this process's CPU seconds per wall second."""
        nonlocal seq
        interval = 1.0 / args.rate
        c0, t0 = cpu(), time.time()
        nxt = time.monotonic()
        while time.time() - t0 < seconds:
            seq += 1
            op = ops[rnd.randrange(len(ops))]
            message = {"Event": "QueueMemberPause", "Queue": "hl-all", "Interface": f"PJSIP/{op.extension}",
                       "MemberName": op.extension, "Status": "1", "Paused": str(seq % 2),
                       "PausedReason": f"b{seq}:{time.time():.6f}" if seq % 2 else "", "InCall": "0"}
            event = translate(message, time.time())
            assert event is not None
            bus.publish(event)
            nxt += interval
            await asyncio.sleep(max(0.0, nxt - time.monotonic()))
        return (cpu() - c0) / (time.time() - t0)

    await asyncio.sleep(1.5)
    baseline = await drive(min(10.0, args.seconds))
    ctx = mp.get_context("spawn")
    ready, out = ctx.Event(), ctx.Queue()
    proc = ctx.Process(target=pages, args=(board_cookies, desk_cookies, args.seconds, ready, out))
    proc.start()
    await asyncio.get_running_loop().run_in_executor(None, ready.wait)
    print(f"connected: {hub.boards()} wallboards, {len(hub.extensions())} operator desktops")
    loaded = await drive(args.seconds)
    result = await asyncio.get_running_loop().run_in_executor(None, out.get)
    proc.join(10)
    lat = sorted(result["latencies"])
    q = statistics.quantiles(lat, n=100) if len(lat) > 100 else [float("nan")] * 99
    expected = args.boards * (args.rate * args.seconds // 2)
    print(f"events: {args.rate}/s for {args.seconds} s; updates seen on wallboards: {len(lat)} of ~{expected:.0f}")
    print(f"latency AMI event -> wallboard page: p50 {q[49] * 1000:.1f} ms, p99 {q[98] * 1000:.1f} ms, "
          f"max {lat[-1] * 1000 if lat else float('nan'):.1f} ms")
    print(f"messages received: wallboards {result['messages']['board']}, desktops {result['messages']['desktop']}")
    print(f"server CPU at {args.rate} events/s: {baseline * 100:.1f}% of a core with no pages (baseline), "
          f"{loaded * 100:.1f}% with {args.boards} wallboards + {args.desktops} desktops "
          f"(ratio {loaded / baseline if baseline else float('nan'):.2f})")
    await runner.cleanup()
    await graph.stop()
    await store.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--boards", type=int, default=50)
    p.add_argument("--desktops", type=int, default=1000)
    p.add_argument("--rate", type=float, default=100)
    p.add_argument("--seconds", type=float, default=20)
    args = p.parse_args()
    os.environ.setdefault("PYTHONHASHSEED", "0")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)  # a socket per page, on both sides
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
