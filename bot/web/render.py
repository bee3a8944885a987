"""Replies as JSON for the page; the page renders text with textContent, never as HTML."""

from __future__ import annotations

import base64
from typing import Any

from handlers.inbound import Reply

__all__ = ["INLINE_IMAGES", "reply_json", "replies_json"]

# Raster images the admin page may show inline (as data: URLs); anything else, SVG
# included, is offered as a download only.
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
        data["files"] = [
            {
                "name": f.name,
                "mime": f.mime if f.mime in INLINE_IMAGES else "application/octet-stream",
                "inline": f.mime in INLINE_IMAGES,
                "data": base64.b64encode(f.data).decode("ascii"),
            }
            for f in reply.files
        ]
    return data


def replies_json(replies: list[Reply] | tuple[Reply, ...], *, files: bool = False) -> list[Any]:
    """Several replies as plain data."""
    return [reply_json(r, files=files) for r in replies]
