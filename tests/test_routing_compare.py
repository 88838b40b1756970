"""bench/routing_compare.py end to end on a tiny scenario (subprocess, --quick): both clocks
printed, the IVR of before and after, no crash without interpreter requests."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

TINY = """
ring_delay = 1.0
[traffic]
calls = 1500
profile = "beijing"
hours = [8, 9]
handle_mean = 200
handle_cv = 0.5
patience_mean = 120
any_share = 0.05
languages = { zh = 0.9, en = 0.1 }
topics = { housing = 0.5, transport = 0.5 }
[staff]
shift_hours = 8
topics_per_operator = 2
second_language = { en = 0.2 }
[routing]
target_seconds = 15
goal_percent = 96
[interpreting]
languages = ["ko"]
pool = { ko = 1 }
"""


def test_the_benchmark_runs_quick_on_a_tiny_scenario_and_prints_both_clocks(tmp_path: Path) -> None:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    out = subprocess.run([sys.executable, str(ROOT / "bench/routing_compare.py"), str(path), "--quick",
                          "--ivr", "before,after", "--low", "0.8", "--high", "1.2", "--short-abandon", "5",
                          "--jobs", "1"],
                         capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    text = out.stdout
    for words in ("SL 1st ring", "SL queue", "IVR before", "IVR after", "from the first ring:",
                  "from the queue entry:", "pooled (limit)", "app_queue 5/9", "app_queue 10/20",
                  "each language, SL first ring", "short abandons apart"):
        assert words in text, (words, text[-3000:])
    # today's IVR keeps nearly every caller longer than 15 s before the queue: never reached
    before = text.split("== IVR before: smallest")[1].split("== IVR after")[0]
    assert "ours             from the first ring:\n    seed 1: not reached" in before
