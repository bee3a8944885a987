"""The early warning's tables (issue 16): links between similar cases and the alerts given.

Petition text is read here only as ciphertext: :class:`~handlers.ports.PetitionRecord`
opens it when its caller asks (in a worker thread: decrypting thousands of petitions is CPU
work that must not hold the event loop). Cases 纪检 handles are never read for the early
warning (docs/early-warning.md): officers must not learn of them through a link, a cluster
or a count.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import func, not_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.ports import CaseFilter, PetitionRecord, WarningAlert
from petitions.case import CONFLICT_DISCIPLINE
from petitions.categories import DISCIPLINE_CATEGORIES
from storage.models import CaseRow, SimilarCaseRow, WarningAlertRow
from storage.repositories import SqlCases
from storage.vault import Vault, aad

__all__ = ["SqlWarnings"]

# Cases 纪检 handles (Case.handled_by_discipline), in SQL.
_DISCIPLINE = or_(
    CaseRow.category.in_(sorted(c.value for c in DISCIPLINE_CATEGORIES)),
    func.coalesce(CaseRow.conflict, "") == CONFLICT_DISCIPLINE,
)


def _open(vault: Vault, case_id: int, blob: bytes) -> str:
    return vault.decrypt_text(blob, aad("cases", case_id, "description"))


class SqlWarnings:
    """Similar-case links, the petitions the similarity index reads, and alerts given."""

    def __init__(self, session: AsyncSession, vault: Vault, cases: SqlCases) -> None:
        self._s = session
        self._v = vault
        self._cases = cases

    # -- what the index reads ------------------------------------------------------------

    async def petition_ids(self, since: datetime, after_id: int, limit: int) -> list[int]:
        """Ids above ``after_id`` of the petitions registered since ``since`` (纪检's left
        out), in order."""
        stmt = (
            select(CaseRow.id)
            .where(CaseRow.id > after_id, CaseRow.created_at >= since, not_(_DISCIPLINE))
            .order_by(CaseRow.id)
            .limit(limit)
        )
        return builtins.list((await self._s.execute(stmt)).scalars().all())

    async def petitions(
        self,
        since: datetime,
        *,
        after_id: int = 0,
        limit: int = 1000,
        ids: Sequence[int] | None = None,
    ) -> list[PetitionRecord]:
        """The petitions registered since ``since`` (纪检's left out) with ids above
        ``after_id`` (or among ``ids``), in order of id, their text still encrypted."""
        conditions: builtins.list[Any] = [CaseRow.created_at >= since, not_(_DISCIPLINE)]
        if ids is not None:
            if not ids:
                return []
            conditions.append(CaseRow.id.in_(sorted(ids)))
        else:
            conditions.append(CaseRow.id > after_id)
        stmt = (
            select(
                CaseRow.id,
                CaseRow.unit_id,
                CaseRow.category,
                CaseRow.created_at,
                CaseRow.description_ct,
            )
            .where(*conditions)
            .order_by(CaseRow.id)
            .limit(limit)
        )
        return [
            PetitionRecord(
                row.id, row.unit_id, row.category, row.created_at, partial(
                    _open, self._v, row.id, row.description_ct
                )
            )
            for row in (await self._s.execute(stmt)).all()
        ]  # fmt: skip

    async def events(
        self, since: datetime, until: datetime, *, after_id: int = 0, limit: int = 50_000
    ) -> list[tuple[int, int | None, str, datetime]]:
        """(id, unit, category, time) of the petitions registered in [since, until) (纪检's
        left out), in order of id from ``after_id``: what spikes count, no text."""
        stmt = (
            select(CaseRow.id, CaseRow.unit_id, CaseRow.category, CaseRow.created_at)
            .where(
                CaseRow.id > after_id,
                CaseRow.created_at >= since,
                CaseRow.created_at < until,
                not_(_DISCIPLINE),
            )
            .order_by(CaseRow.id)
            .limit(limit)
        )
        return [
            (row.id, row.unit_id, row.category, row.created_at)
            for row in (await self._s.execute(stmt)).all()
        ]

    # -- links ---------------------------------------------------------------------------

    async def add_links(
        self, case_id: int, links: Sequence[tuple[int, float]], at: datetime
    ) -> int:
        """Link a case with similar ones, both ways; pairs linked before (or with a case
        that is gone) are left as they are. Returns how many pairs were new."""
        wanted = {other: score for other, score in links if other != case_id}
        if not wanted:
            return 0
        existing = await self._s.execute(select(CaseRow.id).where(CaseRow.id.in_(sorted(wanted))))
        present = set(existing.scalars().all())
        linked = await self._s.execute(
            select(SimilarCaseRow.similar_id).where(
                SimilarCaseRow.case_id == case_id,
                SimilarCaseRow.similar_id.in_(sorted(wanted)),
            )
        )
        new = sorted(present - set(linked.scalars().all()))
        for other in new:
            score = float(wanted[other])
            self._s.add(
                SimilarCaseRow(case_id=case_id, similar_id=other, score=score, found_at=at)
            )
            self._s.add(
                SimilarCaseRow(case_id=other, similar_id=case_id, score=score, found_at=at)
            )
        if new:
            await self._s.flush()
        return len(new)

    async def linked(self, case_ids: Sequence[int]) -> dict[int, builtins.list[int]]:
        """Every case linked with each of these, best first (no visibility applied: for
        the scan, never for display)."""
        if not case_ids:
            return {}
        stmt = (
            select(SimilarCaseRow.case_id, SimilarCaseRow.similar_id)
            .where(SimilarCaseRow.case_id.in_(sorted(set(case_ids))))
            .order_by(
                SimilarCaseRow.case_id, SimilarCaseRow.score.desc(), SimilarCaseRow.similar_id
            )
        )
        out: dict[int, builtins.list[int]] = {}
        for case_id, other in (await self._s.execute(stmt)).all():
            out.setdefault(case_id, []).append(other)
        return out

    async def links(
        self, case_ids: Sequence[int], flt: CaseFilter, *, unexcluded: bool = False
    ) -> dict[int, builtins.list[tuple[int, str]]]:
        """The similar cases of each case that ``flt`` lets through (the viewer's
        :func:`handlers.access.scoped_filter`), as (id, number), best first. With
        ``unexcluded``, also only cases that keep no officer away (a card many read)."""
        if not case_ids:
            return {}
        bare = replace(flt, states=None, after=None, before=None, search_ids=None,
                       search_tokens=None)  # fmt: skip
        # The ledger's own conditions (role, scope, exclusion), so a link shows exactly
        # when the case would be listed for this viewer.
        where = self._cases._where(bare)
        if unexcluded:
            where.append(CaseRow.excluded_officer_id.is_(None))
        stmt = (
            select(SimilarCaseRow.case_id, CaseRow.id, CaseRow.number)
            .join(CaseRow, CaseRow.id == SimilarCaseRow.similar_id)
            .where(SimilarCaseRow.case_id.in_(sorted(set(case_ids))), *where)
            .order_by(SimilarCaseRow.case_id, SimilarCaseRow.score.desc(), CaseRow.id)
        )
        if flt.states is not None:
            stmt = stmt.where(CaseRow.state.in_(sorted(s.value for s in flt.states)))
        out: dict[int, builtins.list[tuple[int, str]]] = {}
        for case_id, other, number in (await self._s.execute(stmt)).all():
            out.setdefault(case_id, []).append((other, number or ""))
        return out

    # -- alerts --------------------------------------------------------------------------

    @staticmethod
    def _alert(row: WarningAlertRow) -> WarningAlert:
        return WarningAlert(
            id=row.id,
            kind=row.kind,
            key=row.alert_key,
            unit_id=row.unit_id,
            central_id=row.central_id,
            case_ids=tuple(json.loads(row.case_ids)),
            detail=json.loads(row.detail),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    async def alerts(self, kind: str, since: datetime) -> builtins.list[WarningAlert]:
        """The alerts of a kind updated since ``since``, newest first."""
        stmt = (
            select(WarningAlertRow)
            .where(WarningAlertRow.kind == kind, WarningAlertRow.updated_at >= since)
            .order_by(WarningAlertRow.updated_at.desc(), WarningAlertRow.id.desc())
        )
        return [self._alert(r) for r in (await self._s.execute(stmt)).scalars().all()]

    async def alert(self, alert_id: int) -> WarningAlert | None:
        """One alert by id (the 合并为集体诉求 button of a cluster alert names it)."""
        row = await self._s.get(WarningAlertRow, alert_id)
        return None if row is None else self._alert(row)

    async def add_alert(
        self,
        kind: str,
        key: str,
        unit_id: int | None,
        central_id: int | None,
        case_ids: Sequence[int],
        detail: Mapping[str, Any],
        at: datetime,
    ) -> int | None:
        """Record an alert and return its id; None when one of this kind and key was
        recorded before."""
        found = await self._s.execute(
            select(WarningAlertRow.id).where(
                WarningAlertRow.kind == kind, WarningAlertRow.alert_key == key
            )
        )
        if found.first() is not None:
            return None
        row = WarningAlertRow(
            kind=kind,
            alert_key=key,
            unit_id=unit_id,
            central_id=central_id,
            case_ids=json.dumps(list(case_ids)),
            detail=json.dumps(dict(detail), ensure_ascii=False),
            created_at=at,
            updated_at=at,
        )
        self._s.add(row)
        await self._s.flush()
        return int(row.id)

    async def update_alert(
        self,
        alert_id: int,
        case_ids: Sequence[int],
        detail: Mapping[str, Any],
        at: datetime,
        *,
        unit_id: int | None = None,
        central_id: int | None = None,
    ) -> None:
        """A cluster found again: its members and figures as they are now."""
        await self._s.execute(
            update(WarningAlertRow)
            .where(WarningAlertRow.id == alert_id)
            .values(
                case_ids=json.dumps(list(case_ids)),
                detail=json.dumps(dict(detail), ensure_ascii=False),
                updated_at=at,
                unit_id=unit_id,
                central_id=central_id,
            )
        )
