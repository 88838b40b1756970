"""The archive's error, apart from the archiver (pydub): the recording service catches it without
importing the adapter that raises it."""

from __future__ import annotations

from hotline.errors import HotlineError


class ArchiveError(HotlineError, RuntimeError):
    """transient: worth another attempt (the encoder failed, the copy did not verify); not
    transient: the originals themselves are unusable (they do not decode)."""

    error_id = "recording-archive-failed"
    status = 503

    def __init__(self, message: str, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient
