"""What the handlers are given by the composition root."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from handlers.inbound import FileIn, Reply
from handlers.ports import SimilarityLookup, UnitOfWork
from handlers.unit_chats import UnitChat
from petitions.deadlines import DeadlinePolicy
from petitions.schedule import SchedulePolicy
from petitions.statistics import MIN_PERIOD_DAYS
from petitions.warnings.urgent import DEFAULT_SIGNS, DangerSign

__all__ = [
    "CleanedFile",
    "Clock",
    "EvidenceScrubber",
    "HandlerConfig",
    "IdentitySealer",
    "Services",
    "StatsReporter",
    "Translate",
]


class Clock(Protocol):
    """Returns the current time, timezone-aware UTC."""

    def __call__(self) -> datetime: ...


class Translate(Protocol):
    """Looks a message id up in a locale."""

    def __call__(self, key: str, locale: str | None = None, /, **params: Any) -> str: ...


class IdentitySealer(Protocol):
    """Seals one identity field to the custodian at once, so no draft holds it readable."""

    def __call__(self, field: str, value: str, /) -> str: ...


@dataclass(frozen=True)
class CleanedFile:
    """Evidence after its identifying metadata was removed (storage.scrub)."""

    status: str  # clean | refused | unscrubbable
    file: FileIn  # the cleaned file with a neutral name (the original when not clean)
    removed: tuple[str, ...] = ()  # what was removed: location, device, author, ...
    reason: str | None = None  # refused / unscrubbable: macro_format, undecodable, unsupported


class EvidenceScrubber(Protocol):
    """Removes what could identify the sender from a file, before it is stored."""

    async def __call__(self, file: FileIn, number: int) -> CleanedFile: ...


class StatsReporter(Protocol):
    """Builds the statistics of a period as admin-chat replies (text, chart, exports):
    of the cases of ``scope`` (an officer's subtree; None for all), with the per-unit
    figures of ``unit_id`` (the officer's unit; None for the whole group) rolled up."""

    async def __call__(
        self,
        uow: UnitOfWork,
        start: datetime,
        end: datetime,
        locale: str,
        now: datetime,
        *,
        unit_id: int | None = None,
        scope: frozenset[int] | None = None,
    ) -> list[Reply]: ...


@dataclass(frozen=True)
class HandlerConfig:
    """Limits and policies of the conversations."""

    policy: DeadlinePolicy = field(default_factory=DeadlinePolicy)
    schedule: SchedulePolicy = field(default_factory=SchedulePolicy)
    draft_ttl: timedelta = timedelta(hours=24)
    # How long a chat stays "in" a case opened by tracking code without activity.
    case_session_ttl: timedelta = timedelta(hours=1)
    # How long a chat's chosen language is remembered after its last use.
    idle_ttl: timedelta = timedelta(days=90)
    # A deployment's staff-number format (regular expression), checked in anonymous texts.
    staff_no_pattern: str | None = None
    admin_channels: tuple[str, ...] = ()
    # (channel, chat id) of the leaders' chat; empty: the admin chats, leaders named.
    leaders_chats: tuple[tuple[str, str], ...] = ()
    # Units' own admin chats and leaders' chats (XINFANG_UNIT_CHATS,
    # XINFANG_UNIT_LEADERS_CHATS; handlers/unit_chats.py). The chats above are the root's.
    unit_chats: tuple[UnitChat, ...] = ()
    unit_leaders_chats: tuple[UnitChat, ...] = ()
    admin_locale: str = "zh_CN"
    default_locale: str = "zh_CN"
    min_description: int = 10
    max_description: int = 10_000
    max_message: int = 4_000
    max_files: int = 10
    max_file_bytes: int = 20 * 1024 * 1024
    allowed_mime_prefixes: tuple[str, ...] = (
        "image/",
        "application/pdf",
        "text/plain",
        "application/msword",
        "application/vnd.openxmlformats-officedocument",
        "application/vnd.ms-excel",
        "audio/",
        "video/",
    )
    tracking_failures: int = 5
    tracking_window: timedelta = timedelta(minutes=15)
    # The shortest statistics period in days (XINFANG_STATS_MIN_DAYS).
    stats_min_days: int = MIN_PERIOD_DAYS
    # Urgent petitions (handlers/urgent.py): the danger signs looked for at submission
    # (XINFANG_DANGER_SIGNS over the defaults) and the hotlines, (name, number), given at
    # once to an employee who wrote of self-harm (XINFANG_HOTLINES; none: 110 / 120).
    danger_signs: tuple[DangerSign, ...] = DEFAULT_SIGNS
    hotlines: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Services:
    """Everything a handler needs from the outside, passed down once."""

    uow: Callable[[], UnitOfWork]
    clock: Clock
    t: Translate
    seal: IdentitySealer
    scrub: EvidenceScrubber
    config: HandlerConfig = field(default_factory=HandlerConfig)
    stats: StatsReporter | None = None
    # The similarity index of the early warning (bot/warnings.py; None: no look-ups).
    warnings: SimilarityLookup | None = None
