"""Evidence cleaning for the handlers: storage.scrub in a worker thread.

Decoding and re-encoding a photo takes tens of milliseconds of CPU; it runs off the event
loop so one upload never stalls every other chat.
"""

from __future__ import annotations

import asyncio

from handlers.inbound import FileIn
from handlers.services import CleanedFile
from storage.scrub import scrub

__all__ = ["ThreadedScrubber"]


class ThreadedScrubber:
    """Cleans one file at a time per call, in the default thread pool."""

    async def __call__(self, file: FileIn, number: int) -> CleanedFile:
        """Remove identifying metadata; the name becomes neutral in every case."""
        result = await asyncio.to_thread(scrub, file.data, file.mime, file.name, number)
        kind = file.kind if file.kind in ("photo", "voice") else "document"
        if result.status == "clean" and not result.mime.startswith("image/"):
            kind = "document"
        cleaned = FileIn(kind, result.name, result.mime, result.data)
        return CleanedFile(result.status, cleaned, result.removed, result.reason)
