"""One person's WeCom callbacks in order when several webhook workers share a PostgreSQL.

WeCom posts each callback to whichever worker the load balancer picks, and every worker
answers once the callback is kept (bot/wecom/inbox.py), so a person's next message can be
kept by worker B while worker A still handles the one before. Within a worker, a person's
callbacks are handled one at a time in arrival order (bot/wecom/admission.py lanes).
Across workers:

- the handling transaction takes the person's lock first (an advisory lock on the blind
  index of the person, bot/wecom/claim.py), so two workers never change one conversation
  at the same moment;
- under that lock it looks for the person's callbacks kept *before* its own and still
  there; while there is one, it gives up (:class:`~bot.wecom.claim.EarlierPending`) and
  waits, backing off from :data:`WAIT_FIRST` to :data:`WAIT_MAX`, for the worker that kept
  it to handle it;
- after :data:`TAKEOVER` seconds of that it handles those earlier callbacks itself: their
  worker stopped or is stuck. If that worker was only slow, the claim of each delivery
  (``processed_updates``, same transaction) lets one of the two handle it, never both;
- a worker that stops (or crashes) leaves kept callbacks of people who write nothing
  more; every worker looks for callbacks kept over :data:`ORPHAN_AGE` ago every
  :data:`SWEEP_EVERY` seconds and handles them (again, the claim keeps it to once).

Callbacks that reach two workers within the same few milliseconds are handled in the
order their rows were committed, which may differ from the order WeCom received them;
a person waits for the bot's answer between messages, so this is about bursts only.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

__all__ = ["ORPHAN_AGE", "SWEEP_EVERY", "TAKEOVER", "WAIT_FIRST", "WAIT_MAX", "Waiting"]

WAIT_FIRST, WAIT_MAX = 0.01, 0.25
# Far above a handling (milliseconds) and a burst's queue on a live worker (a few seconds),
# well under WeCom's patience with a person who waits for an answer.
TAKEOVER = 10.0
ORPHAN_AGE = timedelta(minutes=2)
SWEEP_EVERY = 30.0


class Waiting:
    """The back-off of one callback waiting for the person's earlier one."""

    def __init__(self, clock: Callable[[], float], takeover: float = TAKEOVER) -> None:
        self._clock = clock
        self._until = clock() + takeover
        self._delay = WAIT_FIRST

    def take_over(self) -> bool:
        """Whether the wait is over: handle the earlier callbacks here."""
        return self._clock() >= self._until

    def next_delay(self) -> float:
        """How long to sleep before looking again."""
        delay, self._delay = self._delay, min(self._delay * 2, WAIT_MAX)
        return delay
