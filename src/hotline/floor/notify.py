"""The notifier port: how the live floor reaches the pages, without knowing the web (issue 15).

The web hub (``hotline.web.hub.Hub``) satisfies these protocols structurally; the floor's
services take them, never the hub itself, so ``floor/`` imports nothing of ``hotline.web``.
What is sent is built with ``floor/messages.py`` (checked against messages.json).
"""

from __future__ import annotations

from typing import Any, Protocol


class ExtensionNotifier(Protocol):
    """The pages of the user on an extension: an operator's desktop, an interpreter's page."""

    def to_extension(self, extension: str, msg: dict[str, Any]) -> int:
        """To every open page of the user on ``extension``; returns how many."""
    def extensions(self) -> set[str]:
        """The extensions with a page open now."""


class BoardNotifier(Protocol):
    """The shift managers' wallboards."""

    def to_boards(self, msg: dict[str, Any]) -> int:
        """To every open wallboard; returns how many."""
    def boards(self) -> int:
        """How many wallboards are open."""


class Notifier(ExtensionNotifier, BoardNotifier, Protocol):
    """Everything the floor sends to (the web hub)."""
