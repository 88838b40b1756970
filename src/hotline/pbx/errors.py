"""The error of Asterisk's lifecycle (install, render, start, stop, the CLI): one error id, 503."""

from __future__ import annotations

from hotline.errors import HotlineError


class AsteriskError(HotlineError, RuntimeError):
    error_id = "asterisk-error"
    status = 503

