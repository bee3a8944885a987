"""The process's long-lived objects kept out of the cyclic garbage collector's walks.

A full collection walks every container object the process holds, holding the GIL: the
imported modules alone (aiohttp, SQLAlchemy, python-telegram-bot, the catalogs) are
~160,000 of them, 35–45 ms a walk on this project's 2-core machine, and a running service
holds more (compiled statements, the channels' state). CPython starts one whenever enough
objects have outlived two younger collections, so every few minutes of traffic it froze
the event loop for 50–65 ms (measured in the 1,000,000-case benchmark's statistics phase,
``bench/data_scale.py``). Freezing what exists once the service has started moves it to
the permanent generation, which collections skip; they then walk only what was made since.
"""

from __future__ import annotations

import gc

__all__ = ["settle"]


def settle() -> None:
    """Collect the garbage of starting up, then freeze everything still alive.

    The collection first, so no start-up garbage cycle is frozen (frozen objects are never
    freed). Call once, when the process is set up, before it serves load: the collection
    itself is a full walk."""
    gc.collect()
    gc.freeze()
