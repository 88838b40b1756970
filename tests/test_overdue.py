"""The deadline sweep's alert (cases/overdue.py): the cases past their deadline, per department,
and the wallboard told only when that changes or a case was escalated."""

from __future__ import annotations

from typing import Any

from hotline.cases.overdue import OverdueCases


class Workflow:
    def __init__(self) -> None:
        self.escalated: list[dict[str, Any]] = []

    def clock(self) -> float:
        return 1000.0

    async def sweep(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        return [], self.escalated


class Repo:
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.asked: list[float] = []

    async def overdue(self, now: float, limit: int = 500) -> list[dict[str, Any]]:
        self.asked.append(now)
        return list(self.rows)


async def test_the_alert_counts_per_department_and_the_board_is_told_on_a_change() -> None:
    workflow, repo, told = Workflow(), Repo(), []
    watch = OverdueCases(workflow, repo, lambda: told.append(1))  # type: ignore[arg-type]
    await watch.sweep()
    assert watch.alerts() == [] and told == [] and repo.asked == [1000.0]
    repo.rows = [{"department": "housing_bureau"}, {"department": "housing_bureau"}, {"department": None}]
    await watch.sweep()
    assert told == [1]
    assert watch.alerts() == [{"id": "cases:overdue", "kind": "cases_overdue", "severity": "warning", "since": None,
                               "target": "cases", "text": "3 case(s) past their deadline (?: 1, housing_bureau: 2)"}]
    await watch.sweep()  # the same three: nothing to tell
    assert told == [1]
    workflow.escalated = [{"id": 7}]
    await watch.sweep()  # one escalated now: the audit and the alerts change
    assert told == [1, 1]
