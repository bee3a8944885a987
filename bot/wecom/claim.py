"""Exactly-once handling of a WeCom delivery: its MsgId (or an event's identity) is recorded
in the same transaction as everything the handlers change, so WeCom's retry, or the same
callback posted to another worker, either finds it done or does it for the first time, and
the callback's row in ``wecom_inbox`` (kept before the answer, bot/wecom/inbox.py) is deleted
in that same transaction: a crash before it leaves the row to be handled on the next start."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Self

from storage.uow import SqlUnitOfWork, UnitOfWorkFactory

__all__ = [
    "Claim",
    "ClaimingUnitOfWorkFactory",
    "DuplicateDelivery",
    "EarlierPending",
    "claim_alone",
]


class DuplicateDelivery(Exception):  # noqa: N818 - a signal
    """This delivery was already handled (by this or another worker)."""


class EarlierPending(Exception):  # noqa: N818 - a signal
    """The person's earlier callback is kept and not handled yet: it goes first."""


@dataclass
class Claim:
    """The delivery being handled: its processed_updates key, time and inbox row; and the
    sender, when other workers may hold the sender's callbacks too (PostgreSQL)."""

    key: str
    at: datetime
    done: bool = False
    row: int | None = None
    person: str | None = None
    # False for an earlier callback being taken over (its own earlier ones come first).
    wait_for_earlier: bool = True
    # Its inbox row was found gone: another worker handled it and recorded that.
    gone: bool = False


class _ClaimingUnitOfWork(SqlUnitOfWork):
    def __init__(self, base: UnitOfWorkFactory, claim: Claim) -> None:
        super().__init__(base.sessions, base.vault)
        self._claim = claim

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        claim = self._claim
        if claim.person is None:
            return self
        try:
            look = not claim.done and claim.row is not None
            earlier, mine = await self.wecom_inbox.lock_person(
                claim.person, claim.row if look else None
            )
            if not mine:
                claim.gone = True
                raise DuplicateDelivery()  # another worker handled it meanwhile
            if earlier and claim.wait_for_earlier:
                raise EarlierPending()
        except BaseException:
            await self.session.close()  # __aexit__ does not run when __aenter__ raises
            raise
        return self

    async def commit(self) -> None:
        claim = self._claim
        if not claim.done:
            if not await self.wecom_inbox.handled(claim.key, claim.row, claim.at):
                raise DuplicateDelivery()
            await super().commit()
            claim.done = True
            return
        await super().commit()


class ClaimingUnitOfWorkFactory(UnitOfWorkFactory):
    """Units of work whose first commit also records ``claim`` (one delivery's handling)."""

    def __init__(self, base: UnitOfWorkFactory, claim: Claim) -> None:
        super().__init__(base.sessions, base.vault)
        self._base = base
        self._claim = claim

    def __call__(self) -> SqlUnitOfWork:
        return _ClaimingUnitOfWork(self._base, self._claim)


async def claim_alone(uow: UnitOfWorkFactory, claim: Claim) -> bool:
    """Record a delivery whose handling changed nothing; False if it was handled before.

    Either way its inbox row goes: a delivery handled before is not handled again.
    """
    if claim.done:
        return True
    if claim.gone:
        return False  # another worker handled it: its row went with that commit
    async with uow() as u:
        fresh = await u.wecom_inbox.handled(claim.key, claim.row, claim.at)
        await u.commit()
    claim.done = fresh
    return fresh
