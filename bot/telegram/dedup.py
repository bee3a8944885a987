"""Exactly-once handling of an update: its update_id is recorded in the same transaction
as everything the handlers change, so a redelivered update (polling after a crash, a
webhook retry, another worker) either finds it done or does it for the first time."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime

from storage.uow import SqlUnitOfWork, UnitOfWorkFactory

__all__ = [
    "Claim",
    "ClaimingUnitOfWorkFactory",
    "DuplicateUpdate",
    "claim_alone",
    "current_claim",
]


class DuplicateUpdate(Exception):  # noqa: N818 - a signal
    """This update was already handled (by this or another worker)."""


@dataclass
class Claim:
    """The update being handled in the current task."""

    key: str
    at: datetime
    done: bool = False


current_claim: ContextVar[Claim | None] = ContextVar("telegram_update_claim", default=None)


class _ClaimingUnitOfWork(SqlUnitOfWork):
    async def commit(self) -> None:
        claim = current_claim.get()
        if claim is not None and not claim.done:
            if not await self.processed.mark(claim.key, claim.at):
                raise DuplicateUpdate()
            await super().commit()
            claim.done = True
            return
        await super().commit()


class ClaimingUnitOfWorkFactory(UnitOfWorkFactory):
    """Units of work whose first commit also records the current task's update."""

    def __init__(self, base: UnitOfWorkFactory) -> None:
        super().__init__(base.sessions, base.vault)

    def __call__(self) -> SqlUnitOfWork:
        return _ClaimingUnitOfWork(self.sessions, self.vault)


async def claim_alone(uow: UnitOfWorkFactory, claim: Claim) -> bool:
    """Record an update whose handling changed nothing; False if it was handled before."""
    async with uow() as u:
        fresh = await u.processed.mark(claim.key, claim.at)
        await u.commit()
    claim.done = fresh
    return fresh
