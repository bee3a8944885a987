"""Many cases at once: bulk inserts (Core ``insert().values([...])``), encrypted and bound to
their rows as the service would write them, for tests about size (lists, scheduler passes,
event-loop stalls) that would take minutes through the handlers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, text

from bot.container import Container
from petitions.codes import format_case_number
from storage.models import CaseRow
from storage.vault import aad

__all__ = ["seed_cases", "seed_units"]

_CHUNK = 500


async def seed_units(container: Container, names: Sequence[str]) -> dict[str, int]:
    """The ids of units with these names, made (under a root 本集团, code JT) when missing."""
    now = container.services.clock()
    async with container.uow() as uow:
        tree = await uow.units.tree()
        root = tree.root or await uow.units.add("JT", "本集团", None, now)
        found = {u.name: u.id for u in tree}
        for n, name in enumerate(names, start=len(tree) + 1):
            if name not in found:
                found[name] = (await uow.units.add(f"T{n:03d}", name, root.id, now)).id
        await uow.commit()
    return {name: found[name] for name in names}


async def seed_cases(container: Container, rows: Sequence[Mapping[str, Any]]) -> list[int]:
    """Insert cases; each row names CaseRow columns (``state``, ``deadline_at``, …) over
    defaults of a registered, anonymous pay petition, or ``unit``: a unit's name (made under
    the root when missing). Returns the new ids in order."""
    vault = container.uow.vault
    unit_ids = await seed_units(container, sorted({r["unit"] for r in rows if r.get("unit")}))
    async with container.uow() as uow:
        top = (await uow.session.execute(select(func.max(CaseRow.id)))).scalar_one() or 0
        ids: list[int] = []
        values: list[dict[str, Any]] = []
        for offset, row in enumerate(rows, start=1):
            case_id = top + offset
            created: datetime = row.get("created_at") or container.services.clock()
            value: dict[str, Any] = {
                "id": case_id,
                "number": format_case_number(created.year, case_id),
                "tracking_index": vault.blind_index("tracking", f"seeded-{case_id}"),
                "category": "pay",
                "state": "registered",
                "channel": "telegram",
                "anonymous": True,
                "locale": "zh_CN",
                "description_ct": vault.encrypt_text(
                    "批量生成的测试案件", aad("cases", case_id, "description")
                ),
                "contact_reachable": False,
                "contact_mode": "code",
                "priority": 0,
                "created_at": created,
                "updated_at": created,
            }
            value.update(row)
            if "unit" in value:
                name = value.pop("unit")
                value["unit_id"] = value["origin_unit_id"] = unit_ids.get(name)
            for column in CaseRow.__table__.columns:  # one shape for a multi-row VALUES
                value.setdefault(column.name, None)
            values.append(value)
            ids.append(case_id)
        for start in range(0, len(values), _CHUNK):
            await uow.session.execute(insert(CaseRow).values(values[start : start + _CHUNK]))
        if uow.session.get_bind().dialect.name == "postgresql":
            # Explicit ids do not move the sequence the service takes ids from.
            await uow.session.execute(
                text("SELECT setval('cases_id_seq', (SELECT max(id) FROM cases))")
            )
        await uow.commit()
    return ids
