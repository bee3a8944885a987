"""The group's units (petitions.units) in the ``units`` table."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from petitions.states import TERMINAL_STATES
from petitions.units import Unit, UnitTree
from petitions.units_file import ImportPlan
from storage.models import CaseRow, UnitRow

__all__ = ["SqlUnits"]

_ALL = select(UnitRow.id, UnitRow.code, UnitRow.name, UnitRow.parent_id, UnitRow.retired)


class SqlUnits:
    """Reads the tree once per unit of work; changes go through the methods below."""

    def __init__(self, session: AsyncSession) -> None:
        self._s = session
        self._tree: UnitTree | None = None

    async def tree(self) -> UnitTree:
        """Every unit, retired ones included (a few hundred rows: read whole, once)."""
        if self._tree is None:
            rows = (await self._s.execute(_ALL)).all()
            self._tree = UnitTree(Unit(r.id, r.code, r.name, r.parent_id, r.retired) for r in rows)
        return self._tree

    def _changed(self) -> None:
        self._tree = None

    async def add(self, code: str, name: str, parent_id: int | None, at: datetime) -> Unit:
        """Insert a unit in service."""
        row = UnitRow(code=code, name=name, parent_id=parent_id, retired=False, created_at=at)
        self._s.add(row)
        await self._s.flush()
        self._changed()
        return Unit(row.id, row.code, row.name, row.parent_id, False)

    async def update(
        self,
        unit_id: int,
        *,
        name: str | None = None,
        parent_id: int | None = None,
        move: bool = False,
        retired: bool | None = None,
        code: str | None = None,
    ) -> None:
        """Rename, move (``move=True`` with the new ``parent_id``) or retire/revive a unit;
        ``code`` recodes it (only the root an import takes over)."""
        values: dict[str, object] = {}
        if code is not None:
            values["code"] = code
        if name is not None:
            values["name"] = name
        if move:
            values["parent_id"] = parent_id
        if retired is not None:
            values["retired"] = retired
        if values:
            await self._s.execute(update(UnitRow).where(UnitRow.id == unit_id).values(**values))
            self._changed()

    async def apply(self, plan: ImportPlan, at: datetime) -> None:
        """Carry out an import plan (petitions.units_file) in this transaction."""
        ids = {u.code: u.id for u in await self.tree()}
        # The taken-over root first: new units may name it by its new code.
        for change in plan.changed:
            if change.recoded:
                await self.update(change.unit.id, code=change.code)
                del ids[change.unit.code]
                ids[change.code] = change.unit.id
        for new in plan.added:  # parents first
            parent_id = ids[new.parent] if new.parent is not None else None
            ids[new.code] = (await self.add(new.code, new.name, parent_id, at)).id
        for change in plan.changed:
            await self.update(
                change.unit.id,
                name=change.name if change.renamed else None,
                parent_id=ids[change.parent] if change.parent is not None else None,
                move=change.moved,
                retired=False if change.revived else None,
            )
        for unit in plan.retired:
            await self.update(unit.id, retired=True)

    async def case_counts(self, *, open_only: bool = True) -> dict[int, int]:
        """How many cases each unit handles (open ones only by default)."""
        stmt = select(CaseRow.unit_id, func.count()).where(CaseRow.unit_id.is_not(None))
        if open_only:
            stmt = stmt.where(CaseRow.state.not_in(sorted(s.value for s in TERMINAL_STATES)))
        rows = (await self._s.execute(stmt.group_by(CaseRow.unit_id))).all()
        return {unit_id: int(n) for unit_id, n in rows if unit_id is not None}  # where() drops it

    async def has_cases(self, unit_id: int) -> bool:
        """Whether any case, open or not, names this unit (such a unit is retired, never
        deleted)."""
        stmt = (
            select(CaseRow.id)
            .where(
                (CaseRow.unit_id == unit_id)
                | (CaseRow.origin_unit_id == unit_id)
                | (CaseRow.review_unit_id == unit_id)
            )
            .limit(1)
        )
        return (await self._s.execute(stmt)).first() is not None
