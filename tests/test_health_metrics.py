"""/health and /metrics over HTTP against the web app in-process: the health check needs no login
and says only one word per check (200 when calls can be taken, 503 when not: AMI down, the case
file not taking a write, the disk low; a late transcription is "degraded", still 200); /metrics
needs the scrape token (which opens nothing else) or a supervisor's or admin's session, and its
figures are the service's own: today's service level, calls, waiting callers, the longest wait, the
AMI's state and reconnects, the store's queued writes, the transcription lag, free disk."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer, unused_port
from prometheus_client.parser import text_string_to_metric_families
from test_api import PASSWORD, RecordingPbx, session

from hotline import config
from hotline import events as ev
from hotline.bus import Bus
from hotline.cases.store import CaseStore
from hotline.graph import build_services
from hotline.web import health
from hotline.web.app import build_app
from hotline.web.probes import Probes

SITE = Path(__file__).resolve().parents[1] / "etc/site.example.toml"
TOKEN, SCRAPE = "service-token", "scrape-token"


@dataclass
class Outside:
    """The probes' answers, as the runtime's AMI session and transcription would give them."""

    ami: bool = True
    logins: int = 1
    lag: float = 0.0
    free: int = 50 * 2**30

    def probes(self) -> Probes:
        return Probes(ami_connected=lambda: self.ami, ami_reconnects=lambda: max(0, self.logins - 1),
                      transcription_lag=lambda: self.lag, free_bytes=lambda _p: self.free)


class Site:
    def __init__(self, tmp_path: Path) -> None:
        site = config.load(SITE, {})
        self.port = unused_port()
        self.settings = replace(site, http=replace(site.http, port=self.port))
        self.store = CaseStore(tmp_path / "c.db")
        self.outside = Outside()
        self.graph = build_services(self.settings, self.store, RecordingPbx(), Bus())  # type: ignore[arg-type]

    async def start(self) -> TestClient[Any, Any]:
        for name, role, ext in (("op1", "operator", "1001"), ("boss", "supervisor", "")):
            await self.graph.users.add(name, role, PASSWORD, extension=ext, settings=self.settings)
        self.graph.start(clocks=False)
        self.app = build_app(replace(self.graph.web(TOKEN), probes=self.outside.probes(), metrics_token=SCRAPE))
        self.client = TestClient(TestServer(self.app, port=self.port))
        await self.client.start_server()
        return self.client

    async def health(self) -> tuple[int, dict[str, Any]]:
        self.app[health._CACHE].clear()  # the next check runs now, not from the 5 s cache
        r = await self.client.get("/health")
        return r.status, await r.json()

    async def close(self) -> None:
        await self.client.close()
        await self.graph.stop()
        await self.store.close()


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    s = Site(tmp_path)
    await s.start()
    yield s
    await s.close()


async def test_health_needs_no_login_and_says_one_word_per_check(site: Site) -> None:
    status, body = await site.health()
    assert status == 200
    assert body == {"status": "ok", "checks": {"ami": "ok", "store": "ok", "disk": "ok", "transcription": "ok"}}

    site.outside.lag = 12.0  # the recognizer 12 s behind: transcripts late, calls fine
    assert await site.health() == (200, {"status": "degraded", "checks": {
        "ami": "ok", "store": "ok", "disk": "ok", "transcription": "behind"}})
    site.outside.lag = 0.0

    site.outside.ami = False
    status, body = await site.health()
    assert (status, body["status"], body["checks"]["ami"]) == (503, "failing", "down")
    site.outside.ami = True

    site.outside.free = 10 * 2**20  # 10 MB left: below recordings.min_free_mb
    status, body = await site.health()
    assert (status, body["checks"]["disk"]) == (503, "low")
    site.outside.free = 50 * 2**30
    assert (await site.health())[0] == 200


async def test_health_fails_when_the_case_file_takes_no_write(site: Site) -> None:
    await site.store.db.open()
    other = sqlite3.connect(site.store.path, isolation_level=None)  # another process holding the write lock
    other.execute("begin immediate")
    try:
        t0 = time.monotonic()
        status, body = await site.health()
        assert (status, body["checks"]["store"]) == (503, "failing")
        assert time.monotonic() - t0 < health.STORE_TIMEOUT + 1.5
    finally:
        other.execute("rollback")
        other.close()


async def test_health_is_cached_so_anonymous_requests_cost_little(site: Site) -> None:
    assert (await site.health())[0] == 200
    site.outside.ami = False
    for _ in range(20):  # within the cache's seconds: the same answer, no new write
        r = await site.client.get("/health")
        assert r.status == 200
    assert (await site.health())[0] == 503  # a fresh check sees it


def metric(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    raise AssertionError(f"no {name} {labels} in the metrics")


async def test_metrics_need_the_scrape_token_or_a_supervisor(site: Site) -> None:
    c = site.client
    assert (await c.get("/metrics")).status == 401
    assert (await c.get("/metrics", headers={"Authorization": "Bearer wrong"})).status == 401
    r = await c.get("/metrics", headers={"Authorization": f"Bearer {SCRAPE}"})
    assert r.status == 200 and r.headers["Content-Type"].startswith("text/plain")
    for path in ("/api/agents", "/api/queues", "/api/cases"):  # the scrape token opens nothing else
        r = await c.get(path, headers={"Authorization": f"Bearer {SCRAPE}"})
        assert r.status == 403, path
    operator, _ = await session(site, "op1")  # type: ignore[arg-type]
    boss, _ = await session(site, "boss")  # type: ignore[arg-type]
    try:
        assert (await operator.get("/metrics")).status == 403
        assert (await boss.get("/metrics")).status == 200
    finally:
        await operator.close()
        await boss.close()
    assert (await c.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})).status == 200  # the CLI's (admin)


async def test_metrics_are_the_service_figures(site: Site) -> None:
    g, now = site.graph, time.time()
    for e in (ev.CallerJoined("a", "a", "hl-zh-housing", "139", "zh", "housing", "", 1, now - 30),
              ev.CallerJoined("b", "b", "hl-zh-housing", "139", "zh", "housing", "", 2, now - 20),
              ev.CallerJoined("c", "c", "hl-en-general", "139", "en", "", "", 1, now - 8),
              ev.AgentConnected("a", "hl-zh-housing", "PJSIP/1001", "1001", 4, now - 26),
              ev.CallerAbandoned("b", "hl-zh-housing", 18, now - 2)):
        g.apply(e)
    site.outside.logins, site.outside.lag = 3, 1.6
    r = await site.client.get("/metrics", headers={"Authorization": f"Bearer {SCRAPE}"})
    text = await r.text()
    assert metric(text, "hotline_calls_today", queue="hl-zh-housing", outcome="answered") == 1
    assert metric(text, "hotline_calls_today", queue="overall", outcome="abandoned") == 1
    assert metric(text, "hotline_service_level_percent", queue="overall", definition="over_answered") == 100.0
    assert metric(text, "hotline_service_level_percent", queue="overall", definition="over_offered") == 50.0
    assert metric(text, "hotline_callers_waiting", queue="overall") == 1
    assert metric(text, "hotline_callers_waiting", queue="hl-en-general") == 1
    assert 7.0 <= metric(text, "hotline_longest_wait_seconds", queue="overall") <= 12.0
    assert metric(text, "hotline_service_level_target_seconds") == site.settings.routing.target_seconds
    assert metric(text, "hotline_ami_connected") == 1.0
    assert metric(text, "hotline_ami_reconnects_total") == 2
    assert metric(text, "hotline_transcription_lag_seconds") == 1.6
    assert metric(text, "hotline_store_queued_writes") >= 0
    assert metric(text, "hotline_disk_free_bytes", volume="database") == 50 * 2**30
    # the first-ring clock: the same two calls counted from their arrival (the same 50% here)
    assert metric(text, "hotline_service_level_percent", queue="overall", definition="first_ring_over_offered") == 50.0


async def test_the_store_queue_depth_counts_writes_not_finished(site: Site) -> None:
    db = site.store.db
    await db.open()
    assert db.queued_writes == 0
    gate = threading.Event()
    tasks = [asyncio.ensure_future(db.run(lambda _d: gate.wait(5))) for _ in range(3)]
    await asyncio.sleep(0.05)
    assert db.queued_writes == 3
    r = await site.client.get("/metrics", headers={"Authorization": f"Bearer {SCRAPE}"})
    assert metric(await r.text(), "hotline_store_queued_writes") == 3
    gate.set()
    await asyncio.gather(*tasks)
    assert db.queued_writes == 0


class SlowStream:
    """A recognizer that takes each batch only when let through."""

    def __init__(self, gate: threading.Event) -> None:
        self.gate = gate

    def accept(self, pcm: bytes) -> list[Any]:
        self.gate.wait(10)
        return []

    def finish(self) -> list[Any]:
        return []


class SlowEngine:
    name = "slow"

    def __init__(self, gate: threading.Event) -> None:
        self.gate = gate

    def stream(self, sample_rate: int) -> SlowStream:
        return SlowStream(self.gate)


async def test_the_transcription_lag_is_the_audio_not_yet_recognised() -> None:
    from concurrent.futures import ThreadPoolExecutor

    from hotline.transcribe.pipeline import Leg, TranscriptionService

    gate, pool = threading.Event(), ThreadPoolExecutor(1)
    svc = TranscriptionService(None, pool, lambda e: None, None, "127.0.0.1", 0)  # type: ignore[arg-type]
    leg = Leg("l1", "u1", "caller", "zh", time.time(), SlowEngine(gate), lambda e: None, pool)  # type: ignore[arg-type]
    svc.active["l1"] = leg
    task = asyncio.create_task(leg.run())
    try:
        assert svc.lag_seconds() == 0.0
        for _ in range(250):  # 5 s of 20 ms frames at 8 kHz, the recognizer stuck on the first batch
            leg.feed(b"\x01\x00" * 160)
        await asyncio.sleep(0.1)
        assert svc.lag_seconds() == pytest.approx(5.0)
        gate.set()  # it catches up
        for _ in range(100):
            if svc.lag_seconds() == 0.0:
                break
            await asyncio.sleep(0.02)
        assert svc.lag_seconds() == 0.0
    finally:
        gate.set()
        leg.close("test")
        await asyncio.wait_for(task, 5)
        pool.shutdown()
