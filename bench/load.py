"""Load run: sipp callers through the real IVR into real queues, answered by scripted operators.

N operators (Mandarin, transport) have fixed contacts on a sipp UAS that answers every call and
echoes the RTP it gets. sipp callers dial 12345 at a set rate, press 1 (Mandarin) and 2
(transport) as RFC 2833 DTMF, stay on the line, and hang up. With --voice they speak while on
the line: 24 s of G.711 speech (bench/sipp/speech_pcap.py makes the pcap), echoed by the
operator side, so every recording carries audio both ways.

Printed: concurrent channels held (peak), the share answered within 15 s (both definitions)
from the hotline's own counters and Asterisk's; the recordings: archived, silent, failed, still
pending once the archive has caught up (or --drain seconds have passed), the archive's delay
(last copy done minus last hang-up; p50/p99 per recording from hang-up to verified copy) and
the CPU of Asterisk, of the Python service and of the archive (its worker threads and the
ffmpeg they start) over the calls and over the whole run. Every sipp this script starts is
stopped by its pid at the end, also on Ctrl-C or an error.

Run inside a network namespace (make bench does):
    unshare --net sh -c 'ip link set lo up && exec "$0" "$@"' env HOTLINE_IN_NETNS=1 \
        .venv/bin/python bench/load.py --calls 150 --rate 1.5 [--voice]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))  # the test stack and phones (tests/support)
sys.path.insert(0, str(ROOT / "bench" / "sipp"))

import speech_pcap  # noqa: E402

from hotline import config  # noqa: E402
from hotline.pbx import asterisk  # noqa: E402
from support.stack import SIP_PORT, Stack  # noqa: E402

UAS_PORT = 5070
ARCHIVE_THREAD = "rec-archive"  # the recordings' archive workers name their threads so


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds(pid: int) -> float:
    """CPU of the process's children it has waited for (the service: ffmpeg started by pydub)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")


def thread_cpu_seconds(pid: int, name: str) -> float:
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            comm, rest = task.joinpath("stat").read_text().split("(", 1)[1].rsplit(")", 1)
        except OSError:
            continue  # the thread ended
        if comm == name:
            fields = rest.split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def recordings(db: Path) -> list[dict[str, Any]]:
    if not db.exists():
        return []
    con = sqlite3.connect(db, timeout=10)
    con.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in con.execute("select * from recordings")]
    except sqlite3.OperationalError:
        return []
    finally:
        con.close()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))] if ordered else float("nan")


def stop(proc: subprocess.Popen[Any], name: str) -> None:
    """Stop one process this script started, by its pid: SIGTERM, then SIGKILL."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        print(f"{name} (pid {proc.pid}) did not stop on SIGTERM: killed", file=sys.stderr)
        proc.kill()
        proc.wait(5)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--operators", type=int, default=40)
    p.add_argument("--calls", type=int, default=150)
    p.add_argument("--rate", type=float, default=1.5, help="new calls per second")
    p.add_argument("--voice", action="store_true", help="callers speak (G.711 speech, echoed by the operator side)")
    p.add_argument("--archive-workers", type=int, default=0,
                   help="the service's recordings.archive_workers (0: its default, half the cores)")
    p.add_argument("--drain", type=float, default=600.0,
                   help="seconds after the last call to wait for the archive to catch up")
    p.add_argument("--keep", action="store_true", help="keep the run's folder")
    args = p.parse_args()
    if os.environ.get("HOTLINE_IN_NETNS") != "1":
        sys.exit("run inside a network namespace: make bench (or see this file's docstring)")

    folder = Path(tempfile.mkdtemp(prefix="hotline-load-"))
    operators = "".join(
        f'\n[[operators]]\nextension = "{3000 + i}"\nname = "Load {i}"\nlanguages = {{ zh = 5 }}\n'
        f'topics = ["transport"]\ncontact = "127.0.0.1:{UAS_PORT}"\n' for i in range(args.operators))
    if "carrier_sources" in getattr(getattr(config, "SipSecurity", None), "__dataclass_fields__", {}):
        # sipp is one source relaying every caller, as a carrier is: the per-source call limits
        # count per caller number (sipp's 139<n>) instead of refusing the 21st call from 127.0.0.1
        operators += '\n[sip_security]\ncarrier_sources = ["127.0.0.1"]\n'
    scenario = ROOT / "bench/sipp" / ("caller_voice.xml" if args.voice else "caller.xml")
    if args.voice:
        speech_pcap.make(folder / "speech.pcap", 24.0)  # played from sipp's folder
    stack = Stack.create(folder, "load", operators)
    sipps: list[tuple[str, subprocess.Popen[Any]]] = []  # every sipp started here, stopped in finally
    stop_sampling = threading.Event()
    sampler: threading.Thread | None = None
    try:
        env = {"HOTLINE_RECORDINGS_ARCHIVE_WORKERS": str(args.archive_workers)} if args.archive_workers else {}
        stack.start_service(env=env)
        stack.login(*[str(3000 + i) for i in range(args.operators)])
        # no -bg: a backgrounded sipp forks and its Popen pid is gone at once; this one is stopped by pid
        uas = subprocess.Popen(["sipp", "-sn", "uas", "-i", "127.0.0.1", "-p", str(UAS_PORT), "-rtp_echo",
                                "-mp", "30000", "-nostdin", "-trace_err", "-error_file",
                                str(folder / "uas-errors.log")],
                               cwd=folder, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
        sipps.append(("sipp UAS", uas))
        ast_pid = asterisk.running_pid(stack.settings)
        svc_pid = stack.service.pid if stack.service else None
        assert ast_pid and svc_pid
        db = stack.settings.database
        peak = {"channels": 0, "pending": 0}

        def sample() -> None:
            while not stop_sampling.is_set():
                try:
                    out = stack.asterisk_cli("core show channels count")
                    m = re.search(r"(\d+) active channels?", out)
                    if m:
                        peak["channels"] = max(peak["channels"], int(m.group(1)))
                    waiting = sum(r["status"] == "pending" for r in recordings(db))
                    peak["pending"] = max(peak["pending"], waiting)
                except Exception:
                    pass
                stop_sampling.wait(1.0)

        sampler = threading.Thread(target=sample, daemon=True)

        def cpu() -> tuple[float, ...]:
            return (cpu_seconds(ast_pid), cpu_seconds(svc_pid), thread_cpu_seconds(svc_pid, ARCHIVE_THREAD),
                    children_cpu_seconds(svc_pid), time.time())
        c0 = cpu()
        sampler.start()
        uac = subprocess.Popen(
            ["sipp", f"127.0.0.1:{SIP_PORT}", "-sf", str(scenario), "-i", "127.0.0.1",
             "-p", "5080", "-mp", "32000", "-r", str(args.rate), "-m", str(args.calls), "-l", str(args.calls),
             "-timeout", str(int(args.calls / args.rate) + 120), "-recv_timeout", "60000", "-trace_stat",
             "-stf", str(folder / "uac.csv"), "-nostdin", "-nd"],
            cwd=folder, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        sipps.append(("sipp caller", uac))
        try:
            _, uac_err = uac.communicate(timeout=args.calls / args.rate + 180)
        except subprocess.TimeoutExpired:
            print("the sipp caller did not finish in time: stopped", file=sys.stderr)
            stop(uac, "sipp caller")
            uac_err = b""
        time.sleep(3)
        c1 = cpu()
        # the calls are over: wait for the archive to catch up
        drain_end = time.time() + args.drain
        while time.time() < drain_end:
            rows = recordings(db)
            if rows and not any(r["status"] in ("recording", "pending") for r in rows):
                break
            time.sleep(1.0)
        c2 = cpu()
        stop_sampling.set()
        sampler.join()
        queues = stack.api("GET", "/api/queues")
        ast = stack.asterisk_cli("queue show hl-zh-transport")
        cases = stack.cases()
        overall = queues["overall"]
        m = re.search(r"C:(\d+), A:(\d+), SL:([\d.]+)%, SL2:([\d.]+)%", ast)
        print(f"calls offered {args.calls} at {args.rate}/s to {args.operators} operators"
              f"{' with voice' if args.voice else ' (DTMF only)'}; sipp exit {uac.returncode}")
        if uac.returncode:
            print(f"  sipp: {(uac_err or b'').decode(errors='replace').strip()[-300:]}")
        print(f"cases recorded: {len(cases)}; answered {overall['answered']}, abandoned {overall['abandoned']}")
        print(f"peak active channels: {peak['channels']}")
        print(f"answered within 15 s: {overall['sl_over_answered']}% of answered, "
              f"{overall['sl_over_offered']}% of offered; average wait {overall['average_wait']} s")
        if m:
            print(f"Asterisk's own figures: completed {m.group(1)}, abandoned {m.group(2)}, SL {m.group(3)}%, "
                  f"SL2 {m.group(4)}%")
        rows = recordings(db)
        by: dict[str, int] = {}
        for r in rows:
            by[r["status"]] = by.get(r["status"], 0) + 1
        print("recordings: " + ", ".join(f"{k} {v}" for k, v in sorted(by.items()))
              + f" (of {len(rows)}); most pending at once {peak['pending']}")
        for r in rows:
            if r["status"] == "failed":
                print(f"  failed {r['case_uniqueid']}: {r['error']}")
        done = [r for r in rows if r["status"] == "archived" and r.get("ended_at")]
        ended = [r["ended_at"] for r in rows if r.get("ended_at")]
        if done and ended:
            delays = [r["verified_at"] - r["ended_at"] for r in done]
            print(f"archive delay: last copy {max(r['verified_at'] for r in done) - max(ended):.1f} s after the "
                  f"last hang-up; hang-up to verified copy p50 {percentile(delays, 0.5):.1f} s, "
                  f"p99 {percentile(delays, 0.99):.1f} s, max {max(delays):.1f} s; "
                  f"audio archived {sum(r['seconds'] or 0 for r in done) / 60:.1f} min")
        for label, a, b in (("the calls", c0, c1), ("the whole run (calls + archive catching up)", c0, c2)):
            wall = b[4] - a[4]
            print(f"CPU over {label}, {wall:.0f} s: Asterisk {100 * (b[0] - a[0]) / wall:.1f}% of a core, "
                  f"Python service {100 * (b[1] - a[1] - (b[2] - a[2])) / wall:.1f}%, archive workers "
                  f"{100 * (b[2] - a[2]) / wall:.1f}% + their ffmpeg {100 * (b[3] - a[3]) / wall:.1f}%")
    finally:
        stop_sampling.set()
        if sampler is not None:
            sampler.join(5)
        for name, proc in reversed(sipps):
            stop(proc, name)
        stack.teardown()
        if args.keep:
            print(f"run folder kept: {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)  # the case file, the recordings, the logs of the run


if __name__ == "__main__":
    main()
