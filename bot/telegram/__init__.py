"""Telegram channel adapter (python-telegram-bot 22): see docs/telegram.md."""

import os

# Opt in to PTB 23's timedelta durations (RetryAfter.retry_after and friends) so PTB 22.8
# does not warn whenever a 429 is raised; bot.telegram.limiter reads either form.
os.environ.setdefault("PTB_TIMEDELTA", "true")

from bot.telegram.adapter import WEBHOOK_PATH, TelegramChannel
from bot.telegram.limiter import SendLimiter, SendLimits, TelegramRateLimiter
from bot.telegram.sender import TelegramSender

__all__ = [
    "WEBHOOK_PATH",
    "SendLimiter",
    "SendLimits",
    "TelegramChannel",
    "TelegramRateLimiter",
    "TelegramSender",
]
