"""Local mode's demo officer: a leader with a web login and a password that is new on
every start, printed once in the terminal."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from bot.web.passwords import generate_password, hash_password
from petitions.roles import Role

if TYPE_CHECKING:
    from bot.container import Container

__all__ = ["DEMO_LOGIN", "DEMO_NAME", "ensure_demo_officer"]

DEMO_LOGIN = "demo"
# Chinese only: the pages show the role after the name, in the page's language.
DEMO_NAME = "演示领导"


async def ensure_demo_officer(container: Container) -> str:
    """Create (or keep) the demo leader, give it a fresh password and return that."""
    password = generate_password()
    hashed = await asyncio.to_thread(hash_password, password)
    now = container.services.clock()
    async with container.uow() as uow:
        found = await uow.web.credentials(DEMO_LOGIN)
        if found is None:
            officer = await uow.officers.add(DEMO_NAME, Role.LEADER, now)
            officer_id = officer.id
            await uow.audit.add(now, Role.SYSTEM, "officer.add", detail={"officer_id": officer_id})
        else:
            officer_id = found[0]
        await uow.web.set_login(officer_id, DEMO_LOGIN, hashed, now)
        await uow.commit()
    return password
