"""One person's WeCom callbacks in order when several webhook workers share a PostgreSQL.

WeCom posts each callback to whichever worker the load balancer picks, and every worker
answers once the callback is kept (bot/wecom/inbox.py), so a person's next message can be
kept by worker B while worker A has not handled the one before. Within a worker, a
person's callbacks are handled one at a time in arrival order (bot/wecom/admission.py
lanes). Across workers:

- the handling transaction takes the person's lock first (an advisory lock on the blind
  index of the person, bot/wecom/claim.py), so two workers never change one conversation
  at the same moment, and under it looks at the person's kept rows;
- if callbacks the person sent before are still kept, the worker handles those first,
  itself, oldest first, each in its own transaction under the same lock, then its own:
  whoever holds the lock finishes the person's queue in order. Waiting for the worker that
  kept them instead cost a wait per message while it held a handling slot: a backlog of 20
  messages each from 200 people, spread over two workers, crawled at 84 handled/s
  (bench/README.md);
- the worker that kept such a callback finds its row gone when it gets to it, and skips
  it in the same statement (the claim in ``processed_updates`` would stop it anyway);
- a worker that stops (or crashes) leaves kept callbacks of people who write nothing
  more; every worker looks for callbacks kept over :data:`ORPHAN_AGE` ago every
  :data:`SWEEP_EVERY` seconds and handles them (again, the claim keeps it to once).

Callbacks that reach two workers within the same few milliseconds are handled in the
order their rows were committed, which may differ from the order WeCom received them;
a person waits for the bot's answer between messages, so this is about bursts only.
"""

from __future__ import annotations

from datetime import timedelta

__all__ = ["ORPHAN_AGE", "SWEEP_EVERY"]

# Far above a live worker's queue (seconds, even in a burst): only left rows are this old.
ORPHAN_AGE = timedelta(minutes=2)
SWEEP_EVERY = 30.0
