"""Replies as JSON for the page; the page renders text with textContent, never as HTML."""

from __future__ import annotations

import base64
from typing import Any

from handlers.inbound import FileOut, Reply

__all__ = ["INLINE_IMAGES", "file_json", "reply_json", "replies_json"]

# Raster images the admin page may show inline; anything else, SVG included, is offered
# as a download only.
INLINE_IMAGES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})


def reply_json(reply: Reply, *, files: bool = False) -> dict[str, Any]:
    """One reply as plain data: text, button rows, case id and (for officers) files."""
    data: dict[str, Any] = {
        "text": reply.text,
        "buttons": [
            [{"label": b.label, "payload": b.payload} for b in row] for row in reply.buttons
        ],
    }
    if reply.case_id is not None:
        data["case_id"] = reply.case_id
    if files and reply.files:
        data["files"] = [file_json(f) for f in reply.files]
    return data


def file_json(file: FileOut) -> dict[str, Any]:
    """A file for the page: a reference to ``/api/officer/evidence/{id}`` when the file is
    stored, so a feed of many cards stays small; the bytes themselves otherwise."""
    inline = file.mime in INLINE_IMAGES
    mime = file.mime if inline else "application/octet-stream"
    if file.attachment_id is not None:
        size = file.size if file.size is not None else len(file.data)
        return {
            "id": file.attachment_id,
            "name": file.name,
            "mime": mime,
            "size": size,
            "inline": inline,
        }
    return {
        "name": file.name,
        "mime": mime,
        "inline": inline,
        "data": base64.b64encode(file.data).decode("ascii"),
    }


def replies_json(replies: list[Reply] | tuple[Reply, ...], *, files: bool = False) -> list[Any]:
    """Several replies as plain data."""
    return [reply_json(r, files=files) for r in replies]
