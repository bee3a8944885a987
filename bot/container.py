"""The composition root: builds the engine, vault, units of work and handlers once."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.evidence import ThreadedScrubber
from bot.keys import check_keyring, open_keyring
from bot.notices import NoticeRenderer
from bot.notices.issue import NoticeIssuer
from bot.settings import Settings
from bot.stats import StatsService  # matplotlib loads only when a chart is drawn
from bot.warnings import WarningIndex
from handlers.router import Handlers
from handlers.services import HandlerConfig, Services
from i18n import Translator, translator
from storage.db import create_engine, session_factory
from storage.migrate import upgrade
from storage.uow import UnitOfWorkFactory
from storage.vault import Keyring, Vault

__all__ = ["Container", "build_container", "utc_now"]

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    """The real clock."""
    return datetime.now(UTC)


@dataclass
class Container:
    """The running service's long-lived objects."""

    settings: Settings
    engine: AsyncEngine
    vault: Vault
    uow: UnitOfWorkFactory
    translator: Translator
    services: Services
    handlers: Handlers
    # Notices (告知书) for the delivery worker and the pages: templates loaded once.
    notices: NoticeIssuer
    # The early warning's similarity index (bot/warnings.py), built on first use.
    warnings: WarningIndex | None = None

    async def close(self) -> None:
        """Release the database connections."""
        if self.warnings is not None:
            await self.warnings.close()
        await self.engine.dispose()


async def build_container(
    settings: Settings,
    *,
    keyring: Keyring | None = None,
    clock: Callable[[], datetime] = utc_now,
    migrate: bool = True,
    admin_channels: tuple[str, ...] | None = None,
) -> Container:
    """Wire everything from settings; migrates the embedded database on start."""
    # A broken template stops the start before anything is opened, not later while an
    # employee waits for a notice.
    notices = NoticeIssuer(
        NoticeRenderer.from_folder(settings.notice_templates),
        settings.office_name,
        settings.policy,
    )
    engine = create_engine(settings.database_url)
    try:
        # Keys are made only for a database without data, and a keyring that cannot read
        # the database stops the start (bot/keys.py) instead of failing on every read.
        if keyring is None:
            ring = await open_keyring(settings.keyring_file, engine, embedded=settings.embedded)
        else:
            ring = keyring
            await check_keyring(engine, ring, settings.keyring_file)
        # The scheme decides how identities are sealed; a keyring without the custodians
        # it needs stops the start here (storage.vault.Keyring.sealing_custodians).
        vault = Vault(ring, disclosure=settings.disclosure)
    except BaseException:
        await engine.dispose()
        raise
    if migrate:
        await upgrade(engine, vault=vault)
    uow = UnitOfWorkFactory(session_factory(engine), vault)
    if migrate:
        await _warn_unknown_units(uow, settings)
    tr = translator()
    config = HandlerConfig(
        policy=settings.policy,
        draft_ttl=settings.draft_ttl,
        admin_channels=settings.admin_channels if admin_channels is None else admin_channels,
        default_locale=settings.default_locale,
        admin_locale=settings.default_locale,
        leaders_chats=settings.leaders_chats,
        # Only chats of channels this process runs (the console playground runs none).
        unit_chats=tuple(c for c in settings.unit_chats if c.channel in settings.channels),
        unit_leaders_chats=settings.unit_leaders_chats,
        schedule=settings.schedule,
        stats_min_days=settings.stats_min_days,
        danger_signs=settings.danger_signs,
        hotlines=settings.hotlines,
    )
    warnings = WarningIndex(uow, clock, days=settings.warnings_days)
    services = Services(
        uow=uow,
        clock=clock,
        t=tr.t,
        seal=vault.seal_field,
        scrub=ThreadedScrubber(),
        config=config,
        stats=StatsService(tr.t, settings.policy),
        warnings=warnings,
    )
    return Container(
        settings, engine, vault, uow, tr, services, Handlers(services), notices, warnings
    )


async def _warn_unknown_units(uow: UnitOfWorkFactory, settings: Settings) -> None:
    """Say at start which configured units' chats cannot be served yet. Not an error: the
    units may be imported after this start, and routing reads the tree at every use."""
    configured = {
        "XINFANG_UNIT_CHATS": settings.unit_chats,
        "XINFANG_UNIT_LEADERS_CHATS": settings.unit_leaders_chats,
    }
    if not any(configured.values()):
        return
    async with uow() as u:
        tree = await u.units.tree()
    for name, chats in configured.items():
        missing = sorted({c.unit for c in chats if tree.by_code(c.unit) is None})
        if missing:
            log.warning(
                "%s names unit code(s) %s that are not in the unit tree: their chats get "
                "nothing until such units exist (xinfang units import/add)",
                name,
                ", ".join(missing),
            )
