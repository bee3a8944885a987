"""Alerts as a WeCom member reads them, for the early-warning tests on WeCom
(tests/e2e/test_warnings_wecom.py, tests/e2e/test_urgent_wecom.py).

A message with buttons reaches WeCom as one template card, or, when its text is too long for
a card, as a text followed by a card carrying the buttons; more buttons than a card holds
take further cards, marked "2/2" (bot/wecom/render.py). Counting alerts counts messages the
way the member reads them: the cards that belong to an alert's text are part of it."""

from __future__ import annotations

from typing import Any

from tests.e2e.test_wecom_flow import Harness, _visible

__all__ = ["alerts_to"]


def alerts_to(h: Harness, userid: str, marker: str) -> list[list[dict[str, Any]]]:
    """The alerts whose text holds ``marker`` that the fake WeCom API got for ``userid``,
    each as its message bodies (a text and its cards, or cards alone), oldest first."""
    alerts: list[list[dict[str, Any]]] = []
    # Only the alerts' own messages: the delivery worker sends rows for other chats at the
    # same time (a case card to several officers, say), which may come in between.
    for body in (b for b in h.sent_to(userid) if marker in _visible(b)):
        if alerts and _continues(alerts[-1][-1], body):
            alerts[-1].append(body)
        else:
            alerts.append([body])
    return alerts


def _continues(previous: dict[str, Any], body: dict[str, Any]) -> bool:
    """Whether ``body``, sent right after ``previous``, is part of the same message: the
    card after its text, or the second of a message's cards ("2/2" beside the title)."""
    if body["msgtype"] != "template_card":
        return False
    if previous["msgtype"] == "text":
        return True
    desc = str(body["template_card"]["main_title"].get("desc", ""))
    return bool(desc) and not desc.startswith("1/")
