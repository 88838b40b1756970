"""Hotspots (pure): a topic or an address whose count today is far above its own baseline."""

from __future__ import annotations

from typing import Any

from hotline.config import Trends


def hotspots(today: dict[tuple[str, str], int], baseline: dict[tuple[str, str], int], baseline_days: int,
             cfg: Trends, labels: dict[tuple[str, str], str] | None = None) -> list[dict[str, Any]]:
    """``today``/``baseline``: counts by (kind, key) for today and summed over the ``baseline_days``
    before it. A hotspot has at least ``hotspot_min_cases`` today and at least ``hotspot_factor``
    times its mean per day (a key never seen before needs only the minimum). Loudest first."""
    out = []
    for (kind, key), count in today.items():
        mean = baseline.get((kind, key), 0) / max(1, baseline_days)
        if count >= cfg.hotspot_min_cases and count >= cfg.hotspot_factor * mean:
            out.append({"kind": kind, "key": key, "label": (labels or {}).get((kind, key), key), "today": count,
                        "baseline_per_day": round(mean, 2),
                        "ratio": round(count / mean, 1) if mean else None})
    return sorted(out, key=lambda h: (-(h["ratio"] or 1e9), -h["today"]))
