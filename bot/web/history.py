"""What an employee's page shows again after a reload, re-rendered from what the server
already keeps: the conversation row (its step and draft) and, for a case opened by its
tracking code, the case itself. Nothing is stored for this: a page's messages are not kept,
so a reload shows where the conversation stands, not a transcript."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from handlers.inbound import Button, Inbound, Reply
from handlers.intake import ask_current
from handlers.turn import Turn
from handlers.views import employee_status

if TYPE_CHECKING:
    from bot.container import Container

__all__ = ["Resumed", "resume_conversation"]


@dataclass(frozen=True)
class Resumed:
    """The replies to show again, and the case the page had open by its code (if any)."""

    replies: list[Reply]
    case_id: int | None = None


async def resume_conversation(
    container: Container, channel: str, chat: str, page_locale: str | None
) -> Resumed:
    """The current question of a petition being written, or the status of the case the chat
    opened by its tracking code; nothing for an idle (or expired) conversation."""
    services = container.services
    # Read only: the unit of work is never committed, so asking a question again changes
    # nothing (no expiry refreshed, no step moved).
    async with container.uow() as uow:
        conversation = await uow.conversations.get(channel, chat)
        now = services.clock()
        if conversation is None or conversation.step == "idle":
            return Resumed([])
        if conversation.expires_at is not None and conversation.expires_at < now:
            return Resumed([])
        locale = conversation.locale or page_locale or services.config.default_locale
        inbound = Inbound(channel, chat, chat, locale=locale)
        turn = Turn(inbound, uow, services, now, locale, conversation)
        step, t = conversation.step, turn.t
        if step.startswith("intake."):
            return Resumed([Reply(t("intake.resuming")), *await ask_current(turn)])
        if step == "track.code":
            return Resumed([Reply(t("track.ask_code"))])
        case_id = conversation.draft.get("case_id")
        if not step.startswith("track.") or not case_id:
            return Resumed([])  # a feedback question: the page starts from the menu
        case = await uow.cases.get(int(case_id))
        if case is None or case.id is None:
            return Resumed([])
        status = employee_status(
            t, case, await uow.cases.events(case.id), await uow.cases.messages(case.id)
        )
        if step == "track.case":
            return Resumed([status], case.id)
        # In the middle of adding information, asking for review or withdrawing: the
        # status, then that step's question again.
        back = (Button(t("button.back"), "cs:back"),)
        questions = {
            "track.add": Reply(t("track.ask_info"), (back,)),
            "track.review": Reply(t("track.ask_review_reason"), (back,)),
            "track.withdraw": Reply(
                t("track.confirm_withdraw"),
                ((Button(t("button.withdraw_confirm"), "cs:withdraw_yes"),), back),
            ),
        }
        question = questions.get(step, Reply(t("track.resume_back"), (back,)))
        return Resumed([replace(status, buttons=()), question], case.id)
