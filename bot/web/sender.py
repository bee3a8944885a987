"""The web channel's outbox sender.

A web page has no address to push to when it is closed. The sender hands a row to every
open page that listens for it (Server-Sent Events) and otherwise counts the row as
delivered *by code*: the employee sees the status and the answers when they come back
with the tracking code, and the officers' page loads the admin chat's recent messages
from the outbox when it opens. So a web row is never retried and never unreachable.

A staff event names its case (``case_id``): every officer's stream checks, for that officer,
whether they may see the case before sending it on (bot/web/officer.py). Evidence is never
in an event, only references the page fetches one file at a time.
"""

from __future__ import annotations

import logging
from typing import Any

from bot.channels import Delivery
from bot.web.hub import ADMIN_TOPIC, Hub, employee_topic, officer_topic
from bot.web.render import replies_json
from petitions.notices import parse_notice_number

__all__ = ["WebSender"]

log = logging.getLogger(__name__)


class WebSender:
    """Pushes rendered outbox rows to open pages."""

    channel = "web"
    needs_file_data = False  # the page fetches evidence per file, after the role check

    def __init__(self, hub: Hub) -> None:
        self._hub = hub

    async def send(self, delivery: Delivery) -> None:
        """Push to the pages that are open; closed pages read it later (never raises)."""
        staff = delivery.audience != "employee"
        event: dict[str, Any] = {
            "row": delivery.row_id,
            "replies": replies_json(delivery.replies, files=staff),
        }
        if staff:
            event["case_id"] = _case_of(delivery)
        else:
            # A formal act's notice (告知书): a link the page offers; the PDF is fetched by
            # the session that follows the case (bot/web/employee.py).
            notices = [_notice_link(f.name) for r in delivery.replies for f in r.files]
            if any(notices):
                event["notices"] = [n for n in notices if n]
        if delivery.audience == "employee":
            topics = (employee_topic(delivery.chat_id),) if delivery.chat_id else ()
            reached = self._hub.publish(event, *topics, case_id=delivery.case_id)
        elif delivery.audience == "officer" and delivery.chat_id:
            reached = self._hub.publish(event, officer_topic(delivery.chat_id))
        else:
            reached = self._hub.publish(event, ADMIN_TOPIC)
        log.debug(
            "web row %s (%s) reached %d open page(s)", delivery.row_id, delivery.kind, reached
        )


def _notice_link(name: str) -> dict[str, str] | None:
    parsed = parse_notice_number(name.removesuffix(".pdf"))
    if parsed is None:
        return None
    case_number, kind, _issue = parsed
    return {"name": name, "url": f"/api/chat/notice/{case_number}/{kind.value}"}


def _case_of(delivery: Delivery) -> int | None:
    # The row's case; failing that, any case a reply names (so no case content goes out
    # unchecked). None only for rows about no case at all (the digest).
    if delivery.case_id is not None:
        return delivery.case_id
    return next((r.case_id for r in delivery.replies if r.case_id is not None), None)
