"""The unit of work: one session, one transaction, all repositories (DESIGN.md §8)."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.reception import SqlReception
from storage.repositories import (
    SqlAttachments,
    SqlAudit,
    SqlCases,
    SqlConversations,
    SqlDisclosureRequests,
    SqlFeedback,
    SqlNotices,
    SqlOfficers,
    SqlOutbox,
    SqlProcessedUpdates,
    SqlRateLimits,
    SqlTelegramInbox,
    SqlTelegramRefs,
    SqlWeb,
)
from storage.search import SqlSearch
from storage.statistics import SqlStatistics
from storage.units import SqlUnits
from storage.vault import Vault
from storage.warnings import SqlWarnings
from storage.wecom_inbox import SqlWeComInbox

__all__ = ["SqlUnitOfWork", "UnitOfWorkFactory"]


class SqlUnitOfWork:
    """Owns one AsyncSession; leaving the block without commit() rolls back."""

    cases: SqlCases
    attachments: SqlAttachments
    conversations: SqlConversations
    outbox: SqlOutbox
    officers: SqlOfficers
    audit: SqlAudit
    limits: SqlRateLimits
    telegram: SqlTelegramRefs
    telegram_inbox: SqlTelegramInbox
    wecom_inbox: SqlWeComInbox
    processed: SqlProcessedUpdates
    web: SqlWeb
    feedback: SqlFeedback
    notices: SqlNotices
    statistics: SqlStatistics
    disclosures: SqlDisclosureRequests
    search: SqlSearch
    units: SqlUnits
    reception: SqlReception
    warnings: SqlWarnings
    session: AsyncSession

    def __init__(self, sessions: async_sessionmaker[AsyncSession], vault: Vault) -> None:
        self._sessions = sessions
        self.vault = vault

    async def __aenter__(self) -> Self:
        self.session = self._sessions()
        v = self.vault
        self.units = SqlUnits(self.session)
        self.cases = SqlCases(self.session, v, self.units)
        self.attachments = SqlAttachments(self.session, v)
        self.conversations = SqlConversations(self.session, v)
        self.outbox = SqlOutbox(self.session, v)
        self.officers = SqlOfficers(self.session, v, self.units)
        self.audit = SqlAudit(self.session, v)
        self.limits = SqlRateLimits(self.session, v)
        self.telegram = SqlTelegramRefs(self.session, v)
        self.telegram_inbox = SqlTelegramInbox(self.session, v)
        self.wecom_inbox = SqlWeComInbox(self.session, v)
        self.processed = SqlProcessedUpdates(self.session, v)
        self.web = SqlWeb(self.session, v)
        self.feedback = SqlFeedback(self.session, v)
        self.notices = SqlNotices(self.session, v)
        self.statistics = SqlStatistics(self.session, v)
        self.disclosures = SqlDisclosureRequests(self.session, v)
        self.search = SqlSearch(self.session, v)
        self.reception = SqlReception(self.session, v, self.units)
        self.warnings = SqlWarnings(self.session, v, self.cases)  # issue 16
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # close() ends the transaction (rolling back anything not committed) and detaches
        # loaded objects without expiring them, so values read here stay usable after.
        await self.session.close()

    async def commit(self) -> None:
        """Commit everything done in this unit of work."""
        await self.session.commit()


class UnitOfWorkFactory:
    """Makes units of work; the composition root holds one."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], vault: Vault) -> None:
        self.sessions = sessions
        self.vault = vault

    def __call__(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.sessions, self.vault)
