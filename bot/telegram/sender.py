"""The outbox sender for Telegram: pushes go through the same limiter as interactive
replies (with lower priority) and Bot API errors become the outbox's signals."""

from __future__ import annotations

import logging
from collections.abc import Callable

from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)

from bot.channels import Delivery, Rejected, RetryLater, Unreachable
from bot.metrics import count_throttled
from bot.telegram.limiter import retry_after_seconds
from bot.telegram.output import Output

__all__ = ["TelegramSender"]

log = logging.getLogger(__name__)

# 400s that mean the person is gone rather than that our request was wrong.
_GONE = ("chat not found", "user is deactivated", "bot was kicked", "user not found")


class TelegramSender:
    """Sends outbox rows to Telegram; raises RetryLater, Unreachable or Rejected."""

    channel = "telegram"

    def __init__(self, output: Output, ready: Callable[[], bool]) -> None:
        self._output = output
        self._ready = ready
        # Messages of a multi-message row already accepted, so a retry resumes after them.
        self._progress: dict[int, int] = {}

    async def send(self, delivery: Delivery) -> None:
        """Send one rendered outbox row."""
        if not self._ready():
            raise RetryLater(1.0, "telegram not started")
        if delivery.chat_id is None:
            chat = self._output.admin_chat_id
            if chat is None:
                raise Rejected("no TELEGRAM_ADMIN_CHAT_ID configured")
        else:
            try:
                chat = int(delivery.chat_id)  # a person, a leaders' chat or a unit's group
            except ValueError:
                raise Rejected("not a Telegram chat") from None
        row = delivery.row_id

        def progress(n: int) -> None:
            self._progress[row] = n

        try:
            await self._output.send(
                chat,
                delivery.replies,
                push=True,
                skip=self._progress.get(row, 0),
                progress=progress,
            )
        except RetryAfter as error:
            count_throttled("telegram")
            raise RetryLater(retry_after_seconds(error), "telegram flood control") from None
        except Forbidden:
            self._progress.pop(row, None)
            raise Unreachable("blocked by the recipient") from None
        except BadRequest as error:
            self._progress.pop(row, None)
            text = error.message.lower()
            if any(marker in text for marker in _GONE):
                raise Unreachable("chat gone") from None
            raise Rejected(error.message) from None
        except InvalidToken:
            raise RetryLater(60.0, "telegram token rejected") from None
        except NetworkError as error:  # 5xx, timeouts, connection errors (after BadRequest)
            raise RetryLater(0.0, f"telegram: {type(error).__name__}") from None
        except ChatMigrated:
            self._progress.pop(row, None)
            raise Rejected("chat migrated to a supergroup; update the chat id") from None
        except TelegramError as error:
            raise RetryLater(0.0, f"telegram: {type(error).__name__}") from None
        self._progress.pop(row, None)
