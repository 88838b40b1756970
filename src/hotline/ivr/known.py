"""A known caller's earlier language (issue 16): the dialplan asks over FastAGI (``/known``)
before the greeting; a caller who then presses nothing is queued in that language instead of
the default one (and hears the default language's offer first, as every other queue does)."""

from __future__ import annotations

import logging
from typing import Any, Protocol

from hotline.config import Settings

log = logging.getLogger(__name__)


class CallerHistory(Protocol):
    async def caller_history(self, caller_number: str, exclude: str, limit: int = 5) -> list[dict[str, Any]]: ...


async def known_language(settings: Settings, history: CallerHistory, uniqueid: str,
                         caller_number: str) -> dict[str, str]:
    """``HL_KNOWN``: the site language of the caller's last case when it is not the default one
    (nothing else: the dialplan queues in the default language then)."""
    if not settings.ivr.known_caller or not caller_number:
        return {}
    # the newest case with a language (a hang-up in the greeting leaves a row without one)
    earlier = await history.caller_history(caller_number, uniqueid, 5)
    code = next((str(row["language"]) for row in earlier if row.get("language")), "")
    if not settings.language(code) or code == settings.default_language.code:
        return {}
    log.info("known caller uniqueid=%s: last case in %s", uniqueid, code)
    return {"HL_KNOWN": code}
