"""The ports the handlers need; ``storage`` implements them (DESIGN.md §2).

Repositories take and return plaintext records; encryption and blind indexes happen
behind them. Repositories never commit: the unit of work does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, Self

from handlers.inbound import FileIn
from petitions.case import Case
from petitions.deadlines import DeadlinePolicy
from petitions.reception import Booking, Slot, SlotDraft
from petitions.roles import Role
from petitions.states import CaseState
from petitions.statistics import PeriodCounts
from petitions.units import UnitTree

if TYPE_CHECKING:  # numpy and OpenCC load only where the early warning runs
    from petitions.warnings import Cluster, ClusterConfig, Match, Petition

__all__ = [
    "COUNT_CAP",
    "SEARCH_COUNT_CAP",
    "Conflict",
    "AttachmentInfo",
    "AttachmentRepository",
    "AuditRepository",
    "CaseCursor",
    "CaseFilter",
    "CaseHistory",
    "CaseMessage",
    "CaseRepository",
    "Contact",
    "Conversation",
    "ConversationRepository",
    "DisclosureRequest",
    "DisclosureRequestRepository",
    "Feedback",
    "FeedbackRepository",
    "NoticeRepository",
    "Officer",
    "OfficerRepository",
    "OutboxMessage",
    "OutboxRepository",
    "PetitionRecord",
    "RateLimitRepository",
    "ReceptionRepository",
    "SearchIndex",
    "SimilarityLookup",
    "StatisticsRepository",
    "TimelineEntry",
    "UnitOfWork",
    "UnitRepository",
    "WarningAlert",
    "WarningRepository",
]


class Conflict(Exception):  # noqa: N818 - a condition, not a programming error
    """The database undid this unit of work to settle a conflict with another one running
    at the same time (a deadlock, a serialization failure): nothing of it was kept, and
    doing it again is safe (storage raises it; handlers/router.py tries again)."""


@dataclass(frozen=True)
class Contact:
    """Where to push updates for a case; stored only sealed with the delivery key."""

    channel: str
    chat_id: str

    def __repr__(self) -> str:
        return f"Contact(channel={self.channel!r}, chat_id=<redacted>)"


@dataclass(frozen=True)
class Officer:
    """A registered member of staff."""

    id: int
    name: str
    role: Role
    unit_id: int | None = None
    active: bool = True
    # The units whose cases they see: their unit's subtree; None for everything (an
    # officer of the root unit, or of a deployment without a unit tree).
    scope: frozenset[int] | None = None


@dataclass(frozen=True)
class TimelineEntry:
    """One entry of a case's timeline."""

    at: datetime
    kind: str
    actor_role: Role
    from_state: CaseState | None
    to_state: CaseState | None
    detail: Mapping[str, Any]
    actor_officer_id: int | None = None


@dataclass(frozen=True)
class CaseMessage:
    """Text on a case: ``employee`` (added information), ``answer`` or ``note`` (internal)."""

    at: datetime
    kind: str
    body: str
    author_officer_id: int | None = None


@dataclass(frozen=True)
class CaseHistory:
    """What an employee's status view of a case reads besides the case: its timeline and
    messages, oldest first, and the slot of its active 领导接访 booking (None: none)."""

    events: Sequence[TimelineEntry]
    messages: Sequence[CaseMessage]
    booked_slot_id: int | None = None


@dataclass(frozen=True)
class AttachmentInfo:
    """Evidence metadata; the bytes are fetched separately."""

    id: int
    kind: str
    name: str
    mime: str
    size: int


@dataclass
class Conversation:
    """Where a chat stands in a guided conversation."""

    step: str
    draft: dict[str, Any] = field(default_factory=dict)
    locale: str | None = None
    updated_at: datetime | None = None
    expires_at: datetime | None = None


@dataclass(frozen=True)
class OutboxMessage:
    """A message to deliver later: to the employee of a case, an admin chat, or an officer."""

    audience: str  # employee | admin | officer
    channel: str
    kind: str
    payload: Mapping[str, Any]
    created_at: datetime
    case_id: int | None = None


@dataclass
class Feedback:
    """A question put to the employee: ``satisfaction`` with an answer, or the
    ``follow_up`` (回头望) after closing, and what they answered."""

    id: int
    case_id: int
    kind: str
    created_at: datetime
    answered_at: datetime | None = None
    rating: str | None = None  # satisfied | basic | unsatisfied
    comment: str | None = None
    solved: bool | None = None
    retaliation: bool | None = None
    linked_case_id: int | None = None


@dataclass(frozen=True)
class CaseCursor:
    """Where a page of a case list ended: the last case's deadline (None sorts last) and id.

    Lists are ordered by (deadline, id), so the next page starts strictly after this key
    (keyset paging: every page costs the same, however deep).
    """

    deadline_at: datetime | None
    id: int

    def to_text(self) -> str:
        """A compact form for a button payload: microseconds since 1970 and the id, in hex."""
        if self.deadline_at is None:
            return f"n{self.id:x}"
        micros = (self.deadline_at - _EPOCH) // timedelta(microseconds=1)
        return f"{micros:x}.{self.id:x}"

    @classmethod
    def from_text(cls, text: str) -> CaseCursor | None:
        """Read :meth:`to_text`'s form; None for anything else."""
        try:
            if text.startswith("n"):
                return cls(None, int(text[1:], 16))
            micros, _, case_id = text.partition(".")
            at = _EPOCH + timedelta(microseconds=int(micros, 16))
            return cls(at, int(case_id, 16))
        except (ValueError, OverflowError):
            return None


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# Lists show how many cases match up to this many, and "more than COUNT_CAP" past it: a
# count stops at COUNT_CAP + 1 rows, so it costs the same at any size (CaseRepository.count).
COUNT_CAP = 10_000
# The same for a text search past its confirmation limit (matched by tokens, each case
# checked as it is read): counting 10,000 of them read ~120,000 cases (0.2 s at 1,000,000).
SEARCH_COUNT_CAP = 1_000


@dataclass(frozen=True)
class CaseFilter:
    """Which cases an officer lists, in order of deadline (none last), then id.

    Who may see what is part of the filter, so that counts and pages are right: a role's
    ``categories`` (or ``exclude_categories``) and ``viewer_officer_id``, which leaves out
    the cases that keep that officer away (``Case.excluded_officer_id``).
    """

    states: frozenset[CaseState] | None = None
    owner_officer_id: int | None = None
    unassigned: bool = False
    overdue_at: datetime | None = None  # only cases whose deadline is before this time
    categories: frozenset[str] | None = None
    exclude_categories: frozenset[str] | None = None
    # Only the cases 纪检 handles (True), none of them (False), or both (None): see
    # Case.handled_by_discipline, a category or an employee's choice.
    discipline: bool | None = None
    viewer_officer_id: int | None = None
    after: CaseCursor | None = None  # the page after this key (ignored by count)
    limit: int = 20
    # The ledger (bot/web/ledger.py): its filters, its sorts and paging backwards.
    # Only cases handled by these units (the ledger's unit filter: a unit's subtree).
    unit_ids: frozenset[int] | None = None
    # The viewer's scope (Officer.scope): cases of other units are not counted or listed.
    scope: frozenset[int] | None = None
    # Only the cases marked urgent at submission (Case.urgent; the ledger's 紧急 filter).
    urgent: bool = False
    created_from: datetime | None = None  # registered at or after this time
    created_before: datetime | None = None  # registered before this time
    # A search: the cases in ``search_ids`` or holding every token of ``search_tokens``
    # (storage/search.py); both None for no search, an empty set for "nothing found".
    search_ids: frozenset[int] | None = None
    search_tokens: tuple[int, ...] | None = None
    # deadline | created | number (the number is the year and the id: it sorts as the id).
    # Under another sort than deadline, a cursor's ``deadline_at`` holds the sort column's
    # value (created_at; nothing for number).
    sort: str = "deadline"
    descending: bool = False
    before: CaseCursor | None = None  # the page before this key (ignored by count)


class CaseRepository(Protocol):
    """Cases and their timeline, messages and sealed fields."""

    async def add(
        self,
        case: Case,
        tracking_code: str,
        contact: Contact | None,
        identity: Mapping[str, str] | None,
    ) -> Case: ...
    async def get(self, case_id: int, *, for_update: bool = False) -> Case | None: ...
    async def by_number(self, number: str) -> Case | None: ...
    async def by_tracking_code(self, normalized_code: str) -> Case | None: ...
    async def lookup(
        self, normalized_code: str, failures_key: str, window: timedelta, now: datetime
    ) -> tuple[int, Case | None]:
        """``RateLimitRepository.count(failures_key, window, now)`` and
        ``by_tracking_code(normalized_code)`` in one read (every look-up by code)."""
        ...

    async def save(self, case: Case) -> None: ...
    async def matter_members(self, matter_id: int, *, for_update: bool = False) -> Sequence[Case]:
        """The cases of a collective matter (集体诉求), lead first."""
        ...

    async def list(self, flt: CaseFilter) -> Sequence[Case]: ...
    async def count(self, flt: CaseFilter, *, cap: int | None = None) -> int:
        """How many cases match (all pages); with ``cap``, at most ``cap``."""
        ...

    async def set_next_notice_at(self, case_id: int, at: datetime | None) -> None: ...
    async def add_event(
        self,
        case_id: int,
        kind: str,
        at: datetime,
        actor_role: Role,
        *,
        actor_officer_id: int | None = None,
        from_state: CaseState | None = None,
        to_state: CaseState | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> None: ...
    async def events(self, case_id: int) -> Sequence[TimelineEntry]: ...
    async def add_message(
        self, case_id: int, kind: str, body: str, at: datetime, author_officer_id: int | None
    ) -> None: ...
    async def messages(self, case_id: int) -> Sequence[CaseMessage]: ...
    async def history(self, case_id: int) -> CaseHistory:
        """The timeline, the messages and the active booking's slot, in one read."""
        ...

    async def add_linked(self, case: Case, tracking_code: str, source_case_id: int) -> Case: ...
    async def erase_contacts(self, now: datetime, limit: int = 500) -> Sequence[int]: ...
    async def created_between(self, start: datetime, end: datetime) -> Sequence[Case]: ...


class FeedbackRepository(Protocol):
    """Satisfaction and follow-up questions, found by the token their buttons carry."""

    async def open(self, case_id: int, kind: str, token: str, at: datetime) -> Feedback: ...
    async def by_token(self, token: str) -> Feedback | None: ...
    async def save(self, feedback: Feedback) -> None: ...
    async def for_cases(self, case_ids: Sequence[int]) -> Sequence[Feedback]: ...


class NoticeRepository(Protocol):
    """Notices the scheduler has sent, each exactly once."""

    async def sent(self, scope: str) -> set[tuple[str, str]]: ...
    async def claim(
        self, scope: str, kind: str, key: str, at: datetime, case_id: int | None = None
    ) -> bool: ...


class AttachmentRepository(Protocol):
    """Evidence files, encrypted at rest."""

    async def add_draft(
        self, channel: str, sender_id: str, file: FileIn, at: datetime, *, pending: bool = False
    ) -> int: ...
    async def count_drafts(self, channel: str, sender_id: str) -> int: ...
    async def claim_drafts(self, channel: str, sender_id: str, case_id: int) -> int: ...
    async def delete_drafts(self, channel: str, sender_id: str) -> int: ...
    async def add(
        self, case_id: int, file: FileIn, at: datetime, *, pending: bool = False
    ) -> int: ...
    async def pending(self, attachment_id: int) -> AttachmentInfo | None: ...
    async def is_draft_of(self, attachment_id: int, channel: str, sender_id: str) -> bool: ...
    async def pending_of_case(self, attachment_id: int) -> int | None: ...
    async def resolve_pending(self, attachment_id: int, keep: bool) -> bool: ...
    async def list(self, case_id: int) -> Sequence[AttachmentInfo]: ...
    async def data(self, attachment_id: int) -> tuple[AttachmentInfo, bytes] | None: ...


class ConversationRepository(Protocol):
    """Conversation state per sender, so a restart resumes an intake."""

    async def get(self, channel: str, sender_id: str) -> Conversation | None: ...
    async def save(self, channel: str, sender_id: str, conversation: Conversation) -> None: ...
    async def delete(self, channel: str, sender_id: str) -> None: ...


class OutboxRepository(Protocol):
    """Messages waiting for delivery."""

    async def add(self, message: OutboxMessage) -> None: ...


class OfficerRepository(Protocol):
    """Staff and their channel accounts."""

    async def by_account(self, channel: str, account_id: str) -> Officer | None: ...
    async def get(self, officer_id: int) -> Officer | None: ...
    async def list(self, *, include_inactive: bool = False) -> Sequence[Officer]: ...


class AuditRepository(Protocol):
    """The audit log."""

    async def add(
        self,
        at: datetime,
        actor_role: Role,
        action: str,
        *,
        actor_officer_id: int | None = None,
        case_id: int | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> None: ...
    async def last(self) -> tuple[int, str] | None: ...


@dataclass(frozen=True)
class DisclosureRequest:
    """A custodian's request to open a case's sealed identity, and where it stands:
    ``pending`` (waits for a second custodian), ``approved`` (may be opened once),
    ``opened``."""

    id: int
    case_id: int
    scheme: str  # 1of1 | 2of3, fixed when the request is made
    status: str
    requester_officer_id: int
    reason: str
    created_at: datetime
    approver_officer_id: int | None = None
    approved_at: datetime | None = None
    opened_at: datetime | None = None

    def __repr__(self) -> str:  # the reason may name people; keep it out of logs
        return f"DisclosureRequest(id={self.id}, case_id={self.case_id}, status={self.status!r})"


class DisclosureRequestRepository(Protocol):
    """Requests to disclose a real-name identity (the reason is stored encrypted)."""

    async def add(
        self, case_id: int, scheme: str, requester_officer_id: int, reason: str, now: datetime
    ) -> DisclosureRequest: ...
    async def get(
        self, request_id: int, *, for_update: bool = False
    ) -> DisclosureRequest | None: ...
    async def approve(self, request_id: int, approver_officer_id: int, now: datetime) -> None: ...
    async def mark_opened(self, request_id: int, now: datetime) -> None: ...
    async def pending(self) -> Sequence[DisclosureRequest]: ...


class RateLimitRepository(Protocol):
    """Fixed-window counters keyed by a blind index of the given key."""

    async def count(self, key: str, window: timedelta, now: datetime) -> int: ...
    async def hit(self, key: str, window: timedelta, now: datetime) -> int: ...


class StatisticsRepository(Protocol):
    """Aggregated figures of a period, computed where the data is (no case is loaded)."""

    async def period_counts(
        self,
        start: datetime,
        end: datetime,
        as_of: datetime,
        policy: DeadlinePolicy,
        *,
        scope: frozenset[int] | None = None,
    ) -> PeriodCounts: ...


class SearchIndex(Protocol):
    """The blind-indexed tokens of petition text that the ledger's search reads."""

    async def index(self, case_id: int, text: str) -> None: ...
    async def forget(self, case_id: int) -> None: ...


class UnitRepository(Protocol):
    """The group's units (petitions.units); changed by ``xinfang units``."""

    async def tree(self) -> UnitTree: ...


class ReceptionRepository(Protocol):
    """Leaders' reception slots and the cases booked into them (petitions.reception)."""

    async def add_slot(
        self, leader_officer_id: int, unit_id: int | None, draft: SlotDraft, at: datetime
    ) -> Slot: ...
    async def slot(self, slot_id: int) -> Slot | None: ...
    async def upcoming(
        self, after: datetime, *, units: frozenset[int] | None = None, limit: int = 20
    ) -> Sequence[Slot]: ...
    async def of_leader(self, leader_officer_id: int, since: datetime) -> Sequence[Slot]: ...
    async def book(
        self,
        slot_id: int,
        case_id: int,
        *,
        starts_after: datetime,
        booked_at: datetime,
        remind_at: datetime | None,
    ) -> Booking | None: ...
    async def active_for_case(self, case_id: int) -> Booking | None: ...
    async def booking(self, booking_id: int) -> Booking | None: ...
    async def bookings_of(self, slot_ids: Sequence[int]) -> Sequence[Booking]: ...
    async def cancel(self, booking_id: int, at: datetime) -> bool: ...
    async def record_held(self, booking_id: int, outcome: str, at: datetime) -> bool: ...
    async def due_reminders(self, now: datetime, limit: int = 200) -> Sequence[Booking]: ...
    async def reminded(self, booking_id: int) -> None: ...


@dataclass(frozen=True)
class PetitionRecord:
    """A petition as the early warning reads it (petitions/warnings): id, unit, category,
    registration time, and its text still encrypted: :meth:`open` decrypts it (CPU work,
    which callers run off the event loop)."""

    id: int
    unit_id: int | None
    category: str
    created_at: datetime
    opener: Callable[[], str] = field(repr=False, compare=False)

    def open(self) -> str:
        """The petition's text."""
        return self.opener()


@dataclass(frozen=True)
class WarningAlert:
    """An early-warning alert already given: a ``cluster`` (its cases, the most central
    one, figures) or a ``spike`` (unit, category, week and figures). No text, no identity."""

    id: int
    kind: str
    key: str
    unit_id: int | None
    central_id: int | None
    case_ids: tuple[int, ...]
    detail: Mapping[str, Any]
    created_at: datetime
    updated_at: datetime


class WarningRepository(Protocol):
    """Similar-case links, the petitions the similarity index reads (纪检's never), and the
    alerts given (storage/warnings.py)."""

    async def petition_ids(self, since: datetime, after_id: int, limit: int) -> Sequence[int]: ...
    async def petitions(
        self,
        since: datetime,
        *,
        after_id: int = 0,
        limit: int = 1000,
        ids: Sequence[int] | None = None,
    ) -> Sequence[PetitionRecord]: ...
    async def events(
        self, since: datetime, until: datetime, *, after_id: int = 0, limit: int = 50_000
    ) -> Sequence[tuple[int, int | None, str, datetime]]: ...
    async def add_links(
        self, case_id: int, links: Sequence[tuple[int, float]], at: datetime
    ) -> int: ...
    async def linked(self, case_ids: Sequence[int]) -> Mapping[int, Sequence[int]]: ...
    async def links(
        self, case_ids: Sequence[int], flt: CaseFilter, *, unexcluded: bool = False
    ) -> Mapping[int, Sequence[tuple[int, str]]]: ...
    async def alerts(self, kind: str, since: datetime) -> Sequence[WarningAlert]: ...
    async def alert(self, alert_id: int) -> WarningAlert | None: ...
    async def add_alert(
        self,
        kind: str,
        key: str,
        unit_id: int | None,
        central_id: int | None,
        case_ids: Sequence[int],
        detail: Mapping[str, Any],
        at: datetime,
    ) -> int | None: ...
    async def update_alert(
        self,
        alert_id: int,
        case_ids: Sequence[int],
        detail: Mapping[str, Any],
        at: datetime,
        *,
        unit_id: int | None = None,
        central_id: int | None = None,
    ) -> None: ...


class SimilarityLookup(Protocol):
    """The similarity index the service keeps in memory (bot/warnings.py), as the handlers
    use it (handlers/warnings.py)."""

    @property
    def ready(self) -> bool: ...
    async def wait(self) -> None: ...
    async def similar(
        self, uow: UnitOfWork, petition: Petition, units: frozenset[int] | None
    ) -> Sequence[Match] | None: ...
    async def clusters(
        self,
        petitions: Sequence[Petition],
        *,
        now: datetime,
        tree: UnitTree,
        config: ClusterConfig,
    ) -> Sequence[Cluster]: ...


class UnitOfWork(Protocol):
    """One transaction; leaving without commit() rolls back."""

    # Read-only members: the handlers never replace a repository, and a settable member
    # would be invariant, so storage could not hold its own, richer repository types.
    @property
    def cases(self) -> CaseRepository: ...
    @property
    def attachments(self) -> AttachmentRepository: ...
    @property
    def conversations(self) -> ConversationRepository: ...
    @property
    def outbox(self) -> OutboxRepository: ...
    @property
    def officers(self) -> OfficerRepository: ...
    @property
    def audit(self) -> AuditRepository: ...
    @property
    def limits(self) -> RateLimitRepository: ...
    @property
    def feedback(self) -> FeedbackRepository: ...
    @property
    def notices(self) -> NoticeRepository: ...
    @property
    def statistics(self) -> StatisticsRepository: ...
    @property
    def disclosures(self) -> DisclosureRequestRepository: ...
    @property
    def search(self) -> SearchIndex: ...
    @property
    def units(self) -> UnitRepository: ...
    @property
    def reception(self) -> ReceptionRepository: ...
    @property
    def warnings(self) -> WarningRepository: ...

    async def __aenter__(self) -> Self: ...
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
    async def commit(self) -> None: ...
