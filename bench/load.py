"""Load run: sipp callers through the real IVR into real queues, answered by scripted operators.

N operators (Mandarin, transport) have fixed contacts on a sipp UAS that answers every call.
sipp callers dial 12345 at a set rate, press 1 (Mandarin) and 2 (transport) as RFC 2833 DTMF,
stay on the line, and hang up. Printed: concurrent channels held (peak), the share answered
within 15 s (both definitions) from the hotline's own counters and Asterisk's, and the CPU of
Asterisk and of the Python service over the run.

Run inside a network namespace (make bench does):
    unshare --net sh -c 'ip link set lo up && .venv/bin/python bench/load.py --calls 150 --rate 1.5'
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from hotline.pbx import asterisk  # noqa: E402
from hotline.sim.stack import SIP_PORT, Stack  # noqa: E402

UAS_PORT = 5070


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--operators", type=int, default=40)
    p.add_argument("--calls", type=int, default=150)
    p.add_argument("--rate", type=float, default=1.5, help="new calls per second")
    p.add_argument("--keep", action="store_true", help="keep the run's folder")
    args = p.parse_args()
    if os.environ.get("HOTLINE_IN_NETNS") != "1":
        sys.exit("run inside a network namespace: make bench (or see this file's docstring)")

    folder = Path(tempfile.mkdtemp(prefix="hotline-load-"))
    operators = "".join(
        f'\n[[operators]]\nextension = "{3000 + i}"\nname = "Load {i}"\nlanguages = {{ zh = 5 }}\n'
        f'topics = ["transport"]\ncontact = "127.0.0.1:{UAS_PORT}"\n' for i in range(args.operators))
    stack = Stack.create(folder, "load", operators)
    uas = None
    try:
        stack.start_service()
        stack.login(*[str(3000 + i) for i in range(args.operators)])
        uas = subprocess.Popen(["sipp", "-sn", "uas", "-i", "127.0.0.1", "-p", str(UAS_PORT), "-rtp_echo",
                                "-mp", "30000", "-bg", "-trace_err", "-error_file", str(folder / "uas-errors.log")],
                               cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ast_pid = asterisk.running_pid(stack.settings)
        svc_pid = stack.service.pid if stack.service else None
        assert ast_pid and svc_pid
        peak = [0]
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                try:
                    out = stack.asterisk_cli("core show channels count")
                    m = re.search(r"(\d+) active channels?", out)
                    if m:
                        peak[0] = max(peak[0], int(m.group(1)))
                except Exception:
                    pass
                stop.wait(1.0)

        sampler = threading.Thread(target=sample, daemon=True)
        c0 = (cpu_seconds(ast_pid), cpu_seconds(svc_pid), time.time())
        sampler.start()
        uac = subprocess.run(
            ["sipp", f"127.0.0.1:{SIP_PORT}", "-sf", str(ROOT / "bench/sipp/caller.xml"), "-i", "127.0.0.1",
             "-p", "5080", "-mp", "32000", "-r", str(args.rate), "-m", str(args.calls), "-l", str(args.calls),
             "-timeout", str(int(args.calls / args.rate) + 120), "-trace_stat", "-stf", str(folder / "uac.csv"),
             "-nostdin", "-nd"],
            cwd=folder, capture_output=True, text=True, check=False)
        time.sleep(3)
        c1 = (cpu_seconds(ast_pid), cpu_seconds(svc_pid), time.time())
        stop.set()
        sampler.join()
        queues = stack.api("GET", "/api/queues")
        ast = stack.asterisk_cli("queue show hl-zh-transport")
        cases = stack.cases()
        wall = c1[2] - c0[2]
        overall = queues["overall"]
        m = re.search(r"C:(\d+), A:(\d+), SL:([\d.]+)%, SL2:([\d.]+)%", ast)
        print(f"calls offered {args.calls} at {args.rate}/s to {args.operators} operators; sipp exit {uac.returncode}")
        print(f"cases recorded: {len(cases)}; answered {overall['answered']}, abandoned {overall['abandoned']}")
        print(f"peak active channels: {peak[0]}")
        print(f"answered within 15 s: {overall['sl_over_answered']}% of answered, "
              f"{overall['sl_over_offered']}% of offered; average wait {overall['average_wait']} s")
        if m:
            print(f"Asterisk's own figures: completed {m.group(1)}, abandoned {m.group(2)}, SL {m.group(3)}%, "
                  f"SL2 {m.group(4)}%")
        print(f"CPU over {wall:.0f} s: Asterisk {100 * (c1[0] - c0[0]) / wall:.1f}% of a core, "
              f"Python service {100 * (c1[1] - c0[1]) / wall:.1f}% of a core")
    finally:
        if uas is not None:
            uas.terminate()
            uas.wait(10)
        stack.teardown()
        if args.keep:
            print(f"run folder kept: {folder}")


if __name__ == "__main__":
    main()
