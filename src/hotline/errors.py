"""The one base of the hotline's own errors: a stable ``error_id`` a client or script can act on,
the HTTP ``status`` it answers with, and ``details`` (extra JSON fields, never secrets).

Every domain error derives from ``HotlineError`` and states its status: a class with one id sets
``error_id`` and ``status``; a class whose instances carry one of several ids (``AgentError``,
``WorkflowError``, ``UserError``) lists them in ``statuses``. The web maps any ``HotlineError`` to
``{"error": id, "message": str(exc), **details}`` in one place (web/errors.py); what is
not a ``HotlineError`` is a defect and answers 500 ``internal``.

This module imports nothing: services, stores, the PBX layer and the web all import it.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, ClassVar


def by_id(table: dict[str, int]) -> Mapping[str, int]:
    """A read-only status table, for ``HotlineError.statuses``."""
    return MappingProxyType(table)


class HotlineError(Exception):
    """A refusal or failure the hotline knows how to name. ``status`` 500 here only marks a
    subclass that forgot to say (tests/test_errors.py checks none does)."""

    error_id: str = "internal"
    status: int = 500
    statuses: ClassVar[Mapping[str, int]] = {}  # per error id, for classes that carry several

    def __init__(self, message: str = "", *, error_id: str | None = None, status: int | None = None,
                 details: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        if error_id is not None:
            self.error_id = error_id
        self.status = status if status is not None else self.statuses.get(self.error_id, type(self).status)
        self.details: dict[str, Any] = dict(details or {})

    @property
    def message(self) -> str:
        return str(self)

    def as_json(self) -> dict[str, Any]:
        """The body of the HTTP answer (details first, so they cannot replace the id or message)."""
        return {**self.details, "error": self.error_id, "message": self.message}
