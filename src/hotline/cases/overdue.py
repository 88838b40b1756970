"""The deadline sweep and the wallboard's alert of cases past their deadline.

Every minute the workflow warns the cases near their deadline and escalates the overdue ones
(cases/workflow.py ``sweep``); the cases now past their deadline are kept for the board's alert
("3 case(s) past their deadline (housing_bureau: 2, transport_bureau: 1)"), and the wallboard is
told when that changes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Protocol

from hotline.cases.workflow import Workflow

log = logging.getLogger(__name__)


class OverdueRepository(Protocol):
    async def overdue(self, now: float, limit: int = 500) -> list[dict[str, Any]]: ...


class OverdueCases:
    def __init__(self, workflow: Workflow, repo: OverdueRepository,
                 on_change: Callable[[], None] = lambda: None) -> None:
        self.workflow = workflow
        self.repo = repo
        self.on_change = on_change  # the wallboard re-reads its alerts
        self.cases: list[dict[str, Any]] = []

    def alerts(self) -> list[dict[str, Any]]:
        if not self.cases:
            return []
        by: dict[str, int] = {}
        for c in self.cases:
            by[c.get("department") or "?"] = by.get(c.get("department") or "?", 0) + 1
        text = ", ".join(f"{k}: {v}" for k, v in sorted(by.items()))
        return [{"id": "cases:overdue", "kind": "cases_overdue", "severity": "warning", "since": None,
                 "target": "cases", "text": f"{len(self.cases)} case(s) past their deadline ({text})"}]

    async def sweep(self) -> None:
        """Warn and escalate (the workflow), then the cases past their deadline now."""
        _warned, escalated = await self.workflow.sweep()
        before = len(self.cases)
        self.cases = await self.repo.overdue(self.workflow.clock())
        if escalated or len(self.cases) != before:
            self.on_change()

    async def run(self, every: float = 60.0) -> None:
        while True:
            try:
                await self.sweep()
            except Exception:
                log.exception("deadline sweep failed; retrying")
            await asyncio.sleep(every)
