"""AMI events per second on one core: panoramisk's own parse rate (the baseline) against the
hotline's path (parse -> translate -> bus -> roster, service level, router state), in one run.

The stream is the recorded trace tests/data/ami_trace.txt (real Asterisk 22 events: queue
members, callers joining, agents called and connected, hang-ups), repeated with fresh ids.

    .venv/bin/python bench/ami_events.py [--events 200000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from panoramisk.ami_protocol import AMIProtocol  # noqa: E402

from hotline import config  # noqa: E402
from hotline import events as ev  # noqa: E402
from hotline.bus import Bus  # noqa: E402
from hotline.pbx.translate import translate  # noqa: E402
from hotline.queue.roster import Roster  # noqa: E402
from hotline.queue.service_level import ServiceLevel  # noqa: E402


def stream(n_events: int) -> tuple[bytes, int]:
    blocks = [b for b in (ROOT / "tests/data/ami_trace.txt").read_bytes().decode().split("\r\n\r\n") if b.strip()]
    out = []
    i = 0
    while len(out) < n_events:
        for b in blocks:
            # fresh uniqueids per round so nothing is deduplicated away
            out.append(re.sub(r"(Uniqueid|Linkedid): (\d+)\.(\d+)", rf"\1: \2.{i}\3", b) + "\r\n\r\n")
            if len(out) >= n_events:
                break
        i += 1
    return "".join(out).encode(), len(out)


class _Factory:
    def __init__(self, on_event: Any) -> None:
        self.on_event = on_event
        self.count = 0

    def dispatch(self, message: Any) -> None:
        self.count += 1
        self.on_event(message)


def feed(data: bytes, on_event: Any, chunk: int = 4096) -> tuple[float, int]:
    proto = AMIProtocol()
    proto.connection_made(transport=None)
    factory = _Factory(on_event)
    proto.factory = factory
    t0 = time.perf_counter()
    for i in range(0, len(data), chunk):
        proto.data_received(data[i:i + chunk])
    return time.perf_counter() - t0, factory.count


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=int, default=200_000)
    args = p.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    data, n = stream(args.events)
    settings = config.load(ROOT / "etc/site.example.toml", {})

    async def run() -> None:
        # baseline: panoramisk parses and dispatches to a no-op
        base_s, base_n = feed(data, lambda m: None)
        # hotline: parse + translate + publish + the state services applying each event
        bus: Bus[ev.Event] = Bus()
        sub = bus.subscribe("state", maxsize=n + 10)
        roster, sl = Roster(settings), ServiceLevel(15)

        def on_event(m: Any) -> None:
            e = translate(m, time.time())
            if e is not None:
                bus.publish(e)

        t0 = time.perf_counter()
        ours_s, ours_n = feed(data, on_event)
        applied = 0
        while not sub.queue.empty():
            e = sub.queue.get_nowait()
            roster.apply(e)
            sl.apply(e)
            applied += 1
        total_s = time.perf_counter() - t0
        print(f"events in stream:                  {n}")
        print(f"panoramisk parse (baseline):       {base_n / base_s:12,.0f} events/s")
        print(f"hotline parse+translate+bus:       {ours_n / ours_s:12,.0f} events/s"
              f"   ratio {base_s / ours_s:.2f} of baseline")
        print(f"hotline end to end (+ state apply): {n / total_s:12,.0f} events/s"
              f"   ratio {base_s / total_s:.2f} of baseline; {applied} domain events applied")

    asyncio.run(run())


if __name__ == "__main__":
    main()
