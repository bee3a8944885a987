"""``xinfang run`` settles its heap once it has started (bot/heap.py): the garbage of
starting up is collected, and what lives on is frozen, so that later full collections walk
only what was made since, not every imported module's objects."""

from __future__ import annotations

import asyncio
import gc
import weakref
from pathlib import Path

from bot.container import build_container
from bot.keys import create_keys
from bot.runner import run_service
from bot.settings import load_settings


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


async def test_the_running_service_collects_then_freezes_its_start_up_objects(
    env: dict[str, str], tmp_path: Path
) -> None:
    create_keys(Path(env["XINFANG_KEYRING_FILE"]), tmp_path / "custodian.pem")
    container = await build_container(load_settings({**env, "XINFANG_HTTP_PORT": "0"}))
    gc.unfreeze()
    # Start-up garbage in the oldest generation: only a full collection frees it, and
    # freezing without collecting first would keep it for the life of the process.
    a, b = _Node(), _Node()
    a.other, b.other = b, a
    gone = weakref.ref(a)
    gc.collect()
    del a, b
    stop, up = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(run_service(container, [], stop, started=lambda _u: up.set()))
    try:
        await asyncio.wait_for(up.wait(), 10)
        for _ in range(200):  # settled once the channels have started (none here)
            if gc.get_freeze_count():
                break
            await asyncio.sleep(0.01)
        assert gc.get_freeze_count() > 10_000  # the imported modules' objects at least
        assert not any(o is container for o in gc.get_objects())
        assert gone() is None
    finally:
        stop.set()
        await task
        await container.close()
        gc.unfreeze()  # the test process goes on with ordinary collections
