"""Generated cases for trends tests and the case-store benchmark: a plausible city's appeals
(topics, districts, addresses, descriptions in Mandarin and English words) spread over days,
with an optional spike of one address and topic today."""

from __future__ import annotations

import datetime as dt
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

DISTRICTS = ("Dongcheng", "Xicheng", "Chaoyang", "Haidian")
STREETS = ("Elm Street", "Guanghua Road", "Jianguo Road", "Xueyuan Road", "Gulou Street", "Wangfujing Street",
           "Chang'an Avenue", "Zhongguancun Street")
PHRASES = {
    "housing": ("楼道漏水严重", "电梯坏了三天", "暖气不热", "water leak in the ceiling", "the lift is broken",
                "no heating in the flat"),
    "transport": ("公交车不按时", "出租车拒载", "路灯坏了", "bus did not stop", "taxi refused the fare",
                  "broken streetlight"),
    "papers": ("办证排队太久", "营业执照办理慢", "passport office closed", "business licence delayed"),
    "other": ("夜间施工噪音", "垃圾没有清运", "noise from construction at night", "rubbish not collected"),
}


@dataclass(frozen=True)
class Spike:
    address: str
    topic: str
    cases: int
    district: str = "Chaoyang"


def cases(days: int, per_day: int, end: float | None = None, spike: Spike | None = None,
          seed: int = 7, topics: tuple[str, ...] = ("housing", "transport", "papers", "other")) -> Iterator[
              tuple[dict[str, Any], dict[str, Any]]]:
    """(case row, form) pairs over ``days`` days ending at ``end`` (default now), ``per_day``
    each; the spike's cases fall in the hours of ``end``'s local day before ``end``."""
    rng = random.Random(seed)
    end = time.time() if end is None else end
    start = end - days * 86400
    n = 0
    for day in range(days):
        for _ in range(per_day):
            n += 1
            at = start + day * 86400 + rng.random() * 86400
            if at >= end:
                at = end - rng.random() * 3600
            topic = rng.choice(topics)
            house = rng.randint(1, 400)
            form = {"category": topic, "district": rng.choice(DISTRICTS),
                    "address": f"{house} {rng.choice(STREETS)}", "description": rng.choice(PHRASES[topic]),
                    "urgency": "normal", "citizen_name": "", "confidential": 0, "notes": ""}
            yield _row(n, at, rng, topic), form
    if spike is not None:
        # the spike's hours: up to 6 before ``end``, never before the local midnight of ``end``'s
        # day (the day counts are local days), so a run just after midnight still has its spike today
        midnight = dt.datetime.fromtimestamp(end).replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
        span = max(1.0, min(3600 * 6, end - midnight - 1))
        for i in range(spike.cases):
            n += 1
            at = end - span + i * (span / max(1, spike.cases))
            form = {"category": spike.topic, "district": spike.district, "address": spike.address,
                    "description": rng.choice(PHRASES.get(spike.topic, PHRASES["other"])), "urgency": "high",
                    "citizen_name": "", "confidential": 0, "notes": ""}
            yield _row(n, at, rng, spike.topic), form


def _row(n: int, at: float, rng: random.Random, topic: str) -> dict[str, Any]:
    return {"uniqueid": f"gen-{int(at)}-{n}", "linkedid": "", "caller_number": f"861390000{n % 100000:05d}",
            "language": rng.choice(("zh", "zh", "zh", "en", "ko")), "topic": topic, "ivr_path": "generated",
            "queue": "", "state": "ended", "queued_at": at, "answered_at": at + 5, "source": "generated"}
