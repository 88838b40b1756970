"""The Prometheus metrics (``/metrics``, web/health.py), in the text format of the official
client library (prometheus-client): read at each scrape from what the service already keeps, so
nothing is counted twice and nothing runs between scrapes.

Today's figures (the service level's counts restart each local day, as the wallboard's) are
gauges; the AMI's reconnects since the service started are a counter."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from hotline.config import Settings
from hotline.storage.database import Database
from hotline.web.probes import Probes

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# the service level's figures by their name in ServiceLevel.report() -> the metric's definition label
# (first_ring_*: the clock from the first ring, exported when the service level has them)
SL_DEFINITIONS = {"sl_over_answered": "over_answered", "sl_over_offered": "over_offered",
                  "asterisk_sl2": "asterisk_sl2", "first_ring_sl_over_offered": "first_ring_over_offered",
                  "first_ring_sl_over_answered": "first_ring_over_answered"}


class HotlineCollector(Collector):
    def __init__(self, settings: Settings, report: dict[str, Any], db: Database, probes: Probes) -> None:
        self.settings, self.report, self.db, self.probes = settings, report, db, probes

    def collect(self) -> Iterator[Metric]:
        r = self.report
        rows = [("overall", r["overall"]), *sorted(r["queues"].items())]
        target = GaugeMetricFamily("hotline_service_level_target_seconds", "The service level's answer target")
        target.add_metric([], float(r["target_seconds"]))
        yield target
        sl = GaugeMetricFamily("hotline_service_level_percent",
                               "Today's service level (answered within the target), by definition and queue",
                               labels=["queue", "definition"])
        calls = GaugeMetricFamily("hotline_calls_today", "Today's calls answered and abandoned, by queue",
                                  labels=["queue", "outcome"])
        waiting = GaugeMetricFamily("hotline_callers_waiting", "Callers waiting in a queue now", labels=["queue"])
        longest = GaugeMetricFamily("hotline_longest_wait_seconds", "The longest current wait, by queue",
                                    labels=["queue"])
        for queue, figures in rows:
            for key, definition in SL_DEFINITIONS.items():
                if figures.get(key) is not None:
                    sl.add_metric([queue, definition], float(figures[key]))
            calls.add_metric([queue, "answered"], float(figures["answered"]))
            calls.add_metric([queue, "abandoned"], float(figures["abandoned"]))
            waiting.add_metric([queue], float(figures["waiting"]))
            longest.add_metric([queue], float(figures["longest_wait"]))
        yield from (sl, calls, waiting, longest)
        queued = GaugeMetricFamily("hotline_store_queued_writes",
                                   "Writes handed to the case store's writer thread and not finished")
        queued.add_metric([], float(self.db.queued_writes))
        yield queued
        p = self.probes
        if p.ami_connected is not None:
            up = GaugeMetricFamily("hotline_ami_connected", "1 while the AMI session to Asterisk is logged in")
            up.add_metric([], 1.0 if p.ami_connected() else 0.0)
            yield up
        if p.ami_reconnects is not None:
            again = CounterMetricFamily("hotline_ami_reconnects", "AMI logins after the first since the service "
                                        "started")
            again.add_metric([], float(p.ami_reconnects()))
            yield again
        if p.transcription_lag is not None:
            lag = GaugeMetricFamily("hotline_transcription_lag_seconds",
                                    "Audio queued for the recognizer on the slowest call leg")
            lag.add_metric([], float(p.transcription_lag()))
            yield lag
        free = GaugeMetricFamily("hotline_disk_free_bytes", "Free space where the case file and the recordings "
                                 "are", labels=["volume"])
        free.add_metric(["database"], float(p.free_bytes(self.settings.database.parent)))
        free.add_metric(["recordings"], float(p.free_bytes(self.settings.recordings.folder)))
        yield free


def exposition(settings: Settings, report: dict[str, Any], db: Database, probes: Probes) -> bytes:
    """The metrics in Prometheus' text format, read now."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(HotlineCollector(settings, report, db, probes))
    return generate_latest(registry)
