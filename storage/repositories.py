"""Repositories: plaintext records in, ciphertext and blind indexes in the database.

They never commit; :class:`storage.uow.SqlUnitOfWork` owns the transaction.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    BindParameter,
    and_,
    bindparam,
    delete,
    event,
    false,
    func,
    insert,
    literal,
    literal_column,
    not_,
    null,
    or_,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy import case as sql_case
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from handlers.inbound import FileIn
from handlers.ports import (
    AttachmentInfo,
    CaseFilter,
    CaseHistory,
    CaseMessage,
    Contact,
    Conversation,
    DisclosureRequest,
    Feedback,
    Officer,
    OutboxMessage,
    TimelineEntry,
)
from petitions.case import CONFLICT_DISCIPLINE, Case
from petitions.categories import DISCIPLINE_CATEGORIES, Category
from petitions.codes import format_case_number
from petitions.reception import BOOKED
from petitions.retention import tombstone
from petitions.roles import Role
from petitions.schedule import check_after_change
from petitions.states import CLOSED_STATES, TERMINAL_STATES, CaseState, Outcome
from storage.audit_chain import GENESIS, ChainEntry, detail_digest, entry_hash
from storage.ids import next_id
from storage.models import (
    AttachmentRow,
    AuditHeadRow,
    AuditRow,
    CaseEventRow,
    CaseMessageRow,
    CaseRow,
    ConversationRow,
    DisclosureRequestRow,
    FeedbackRow,
    NoticeRow,
    OfficerAccountRow,
    OfficerRow,
    OutboxRow,
    ProcessedUpdateRow,
    RateLimitRow,
    ReceptionBookingRow,
    SchedulerStateRow,
    TelegramInboxRow,
    TelegramRefRow,
    WebCredentialRow,
    WebSessionRow,
)
from storage.search import holding as search_holding
from storage.units import SqlUnits
from storage.vault import Vault, aad, pack_identity

__all__ = [
    "SqlAttachments",
    "SqlAudit",
    "SqlCases",
    "SqlConversations",
    "SqlDisclosureRequests",
    "SqlFeedback",
    "SqlNotices",
    "SqlOfficers",
    "SqlOutbox",
    "SqlProcessedUpdates",
    "SqlRateLimits",
    "SqlTelegramInbox",
    "SqlTelegramRefs",
    "SqlWeb",
    "sender_index",
]


def sender_index(vault: Vault, channel: str, sender_id: str) -> str:
    """Blind index of a channel account (conversations, draft files)."""
    return vault.blind_index("sender", f"{channel}:{sender_id}")


def _limit_index(vault: Vault, key: str) -> str:
    """Blind index of a rate-limit counter's key (SqlRateLimits, SqlCases.lookup)."""
    return vault.blind_index("limit", key)


def _event_aad(event_id: int, case_id: int) -> str:
    return aad("case_events", f"{event_id}.{case_id}", "detail")


def _message_aad(message_id: int, case_id: int) -> str:
    return aad("case_messages", f"{message_id}.{case_id}", "body")


def _outbox_aad(row_id: int, case_id: int | None) -> str:
    return aad("outbox", f"{row_id}.{case_id or 0}", "payload")


def _case_from_row(row: CaseRow, description: str) -> Case:
    return Case(
        id=row.id,
        number=row.number,
        category=Category(row.category),
        description=description,
        channel=row.channel,
        anonymous=row.anonymous,
        locale=row.locale,
        created_at=row.created_at,
        state=CaseState(row.state),
        owner_officer_id=row.owner_officer_id,
        unit_id=row.unit_id,
        origin_unit_id=row.origin_unit_id,
        review_unit_id=row.review_unit_id,
        conflict=row.conflict,
        decided_at=row.decided_at,
        responded_at=row.responded_at,
        review_requested_at=row.review_requested_at,
        reviewed_at=row.reviewed_at,
        recheck_requested_at=row.recheck_requested_at,
        rechecked_at=row.rechecked_at,
        closed_at=row.closed_at,
        extension_days=row.extension_days,
        outcome=Outcome(row.outcome) if row.outcome else None,
        deadline_at=row.deadline_at,
        priority=row.priority,
        linked_case_id=row.linked_case_id,
        excluded_officer_id=row.excluded_officer_id,
        contact_reachable=row.contact_reachable,
        push_updates=row.contact_mode == "push",
        contact_erase_at=row.contact_erase_at,
        has_identity=row.identity_ct is not None,
        supervision_level=row.supervision_level or 0,
        supervised_until=row.supervised_until,
        supervision_count=row.supervision_count or 0,
        review_changed=row.review_changed,
        recheck_changed=row.recheck_changed,
        assigned_by_unit_id=row.assigned_by_unit_id,
        report_due_at=row.report_due_at,
        urgent=row.urgent,
        matter_id=row.matter_id,
        updated_at=row.updated_at,
    )


_MUTABLE = (
    "state",
    "owner_officer_id",
    "unit_id",
    "origin_unit_id",
    "review_unit_id",
    "conflict",
    "decided_at",
    "responded_at",
    "review_requested_at",
    "reviewed_at",
    "recheck_requested_at",
    "rechecked_at",
    "closed_at",
    "extension_days",
    "deadline_at",
    "priority",
    "linked_case_id",
    "excluded_officer_id",
    "contact_reachable",
    "contact_erase_at",
    "locale",
    "supervision_level",
    "supervised_until",
    "supervision_count",
    "review_changed",
    "recheck_changed",
    "assigned_by_unit_id",
    "report_due_at",
    "urgent",
    "matter_id",
)


# The scheduler_state row that names the scheduling configuration in force.
_SCHEDULE_CONFIG = "schedule_config"

# The reads of a tracking-code look-up (an employee's every status message) run statements
# built once, in Core, and read plain rows: building each statement and loading ORM objects
# per call was about a third of the turn's CPU (bench/turn_cpu.py). Core statements skip
# the ORM's autoflush, so these reads flush rows still pending themselves (_flushed).
_CASES = CaseRow.__table__
# What _case_from_row reads: the columns the ORM would load, less those it does not need.
_CASE_COLUMNS = [
    c
    for c in _CASES.c
    if c.name
    not in (
        "tracking_index",
        "contact_ct",
        "next_notice_at",
        "purged_at",
        "feedback_rating",
        "feedback_unsolved",
        "feedback_retaliation",
    )
]
_CASE_BY_ID = select(*_CASE_COLUMNS).where(_CASES.c.id == bindparam("case_id"))
_CASE_BY_ID_LOCKED = _CASE_BY_ID.with_for_update()
_CASE_BY_TRACKING = select(*_CASE_COLUMNS).where(_CASES.c.tracking_index == bindparam("ix"))
# SqlCases.lookup: the sender's failure counter (key ``lk``) and the case of the code
# (``ix``), each joined to one constant row, so that a missing one reads as NULLs.
_LIMIT_TABLE = RateLimitRow.__table__
_LOOKUP = select(
    _LIMIT_TABLE.c.window_start.label("limit_start"),
    _LIMIT_TABLE.c.count.label("limit_count"),
    *_CASE_COLUMNS,
).select_from(
    select(literal_column("1").label("one"))
    .subquery("one")
    .outerjoin(_LIMIT_TABLE, _LIMIT_TABLE.c.key_index == bindparam("lk"))
    .outerjoin(_CASES, _CASES.c.tracking_index == bindparam("ix"))
)
_EV = CaseEventRow.__table__.c
_EVENTS = (
    select(
        _EV.id,
        _EV.at,
        _EV.kind,
        _EV.actor_role,
        _EV.actor_officer_id,
        _EV.from_state,
        _EV.to_state,
        _EV.detail_ct,
    )
    .where(_EV.case_id == bindparam("case_id"))
    .order_by(_EV.id)  # insertion order: employees' times are coarse
)
_MSG = CaseMessageRow.__table__.c
_MESSAGES = (
    select(_MSG.id, _MSG.at, _MSG.kind, _MSG.author_officer_id, _MSG.body_ct)
    .where(_MSG.case_id == bindparam("case_id"))
    .order_by(_MSG.id)
)
_BOOKINGS = ReceptionBookingRow.__table__.c
# SqlCases.history: events (e), messages (m) and the active booking (b) of a case in one
# round trip, each part in id order; a column a part lacks is NULL.
_HISTORY = union_all(
    select(
        literal("e").label("part"),
        _EV.id,
        _EV.at,
        _EV.kind,
        _EV.actor_role.label("role"),
        _EV.actor_officer_id.label("officer_id"),
        _EV.from_state,
        _EV.to_state,
        _EV.detail_ct.label("ct"),
    ).where(_EV.case_id == bindparam("case_id")),
    select(
        literal("m"),
        _MSG.id,
        _MSG.at,
        _MSG.kind,
        null(),
        _MSG.author_officer_id,
        null(),
        null(),
        _MSG.body_ct,
    ).where(_MSG.case_id == bindparam("case_id")),
    select(
        literal("b"),
        _BOOKINGS.slot_id,
        _BOOKINGS.booked_at,
        _BOOKINGS.status,
        null(),
        null(),
        null(),
        null(),
        null(),
    ).where(_BOOKINGS.case_id == bindparam("case_id"), _BOOKINGS.status == BOOKED),
).order_by(text("part"), text("id"))


async def _flushed(session: AsyncSession) -> None:
    """Flush rows added or changed through the ORM, as an ORM read would first."""
    if session.new or session.dirty or session.deleted:
        await session.flush()


class SqlCases:
    """Cases, their timeline and their messages."""

    def __init__(self, session: AsyncSession, vault: Vault, units: SqlUnits | None = None) -> None:
        self._s = session
        self._v = vault
        self._units = units if units is not None else SqlUnits(session)

    def _case(self, row: Any) -> Case:
        text = self._v.decrypt_text(row.description_ct, aad("cases", row.id, "description"))
        return _case_from_row(row, text)

    async def _one(self, row: Any) -> Case | None:
        if row is None:
            return None
        case = (await self._named([self._case(row)]))[0]
        if case.matter_id is not None:
            case.matter_cases = await self._matter_numbers(case.matter_id)
        return case

    async def _matter_numbers(self, matter_id: int) -> tuple[tuple[int, str], ...]:
        rows = await self._s.execute(
            select(CaseRow.id, CaseRow.number)
            .where(CaseRow.matter_id == matter_id)
            .order_by(CaseRow.id != matter_id, CaseRow.id)
        )
        return tuple((int(i), str(n)) for i, n in rows)

    async def matter_members(
        self, matter_id: int, *, for_update: bool = False
    ) -> builtins.list[Case]:
        """The cases of a collective matter (petitions/collective.py), lead first; locked
        for update on PostgreSQL when asked."""
        stmt = (
            select(CaseRow)
            .where(CaseRow.matter_id == matter_id)
            .order_by(CaseRow.id != matter_id, CaseRow.id)
        )
        if for_update:
            stmt = stmt.with_for_update()
        rows = (await self._s.execute(stmt)).scalars().all()
        cases = await self._named([self._case(r) for r in rows])
        numbers = tuple((c.id or 0, c.number or "") for c in cases)
        for case in cases:
            case.matter_cases = numbers
        return cases

    async def _named(self, cases: builtins.list[Case]) -> builtins.list[Case]:
        """Name the cases' units as people see them (the tree is read once per unit of work)."""
        if any(
            c.unit_id is not None
            or c.review_unit_id is not None
            or c.assigned_by_unit_id is not None
            for c in cases
        ):
            tree = await self._units.tree()
            for case in cases:
                case.unit_name = tree.path_name(case.unit_id) or None
                case.review_unit_name = tree.path_name(case.review_unit_id) or None
                case.assigned_by_unit_name = tree.path_name(case.assigned_by_unit_id) or None
        return cases

    def _seal_contact(self, case_id: int, contact: Contact) -> bytes:
        data = {"channel": contact.channel, "chat_id": contact.chat_id}
        return self._v.seal_contact(data, aad("cases", case_id, "contact"))

    def _wrap_identity(self, case_id: int, packed: bytes) -> bytes:
        # The fields inside are sealed to the custodian; this outer layer binds them to
        # the case, so a sealed identity moved to another case no longer opens.
        return self._v.encrypt(packed, aad("cases", case_id, "identity"))

    async def add(
        self,
        case: Case,
        tracking_code: str,
        contact: Contact | None,
        identity: Mapping[str, str] | None,
    ) -> Case:
        """Insert a case; the tracking code is kept only as a blind index.

        ``identity`` holds fields already sealed to the custodian (Vault.seal_field).
        """
        now = case.updated_at or case.created_at
        case_id = await next_id(self._s, "cases")
        row = CaseRow(
            id=case_id,
            number=format_case_number(case.created_at.year, case_id),
            tracking_index=self._v.blind_index("tracking", tracking_code),
            category=case.category.value,
            state=case.state.value,
            channel=case.channel,
            anonymous=case.anonymous,
            locale=case.locale,
            description_ct=self._v.encrypt_text(
                case.description, aad("cases", case_id, "description")
            ),
            identity_ct=(
                self._wrap_identity(case_id, pack_identity(identity)) if identity else None
            ),
            contact_ct=self._seal_contact(case_id, contact) if contact else None,
            contact_reachable=contact is not None,
            contact_mode="push" if contact else "code",
            contact_erase_at=case.contact_erase_at if contact else None,
            owner_officer_id=case.owner_officer_id,
            unit_id=case.unit_id,
            origin_unit_id=case.origin_unit_id,
            review_unit_id=case.review_unit_id,
            conflict=case.conflict,
            urgent=case.urgent,
            priority=case.priority,
            linked_case_id=case.linked_case_id,
            excluded_officer_id=case.excluded_officer_id,
            created_at=case.created_at,
            updated_at=now,
            deadline_at=case.deadline_at,
            next_notice_at=check_after_change(case),
        )
        self._s.add(row)
        await self._s.flush()
        case.id, case.number = row.id, row.number
        case.has_identity = identity is not None
        case.contact_reachable = row.contact_reachable
        case.push_updates = contact is not None
        return case

    async def get(self, case_id: int, *, for_update: bool = False) -> Case | None:
        """Return a case by id; for_update locks the row on PostgreSQL."""
        await _flushed(self._s)
        stmt = _CASE_BY_ID_LOCKED if for_update else _CASE_BY_ID
        return await self._one((await self._s.execute(stmt, {"case_id": case_id})).first())

    async def by_number(self, number: str) -> Case | None:
        """Return a case by its public number."""
        stmt = select(CaseRow).where(CaseRow.number == number.strip().upper())
        return await self._one((await self._s.execute(stmt)).scalar_one_or_none())

    async def by_tracking_code(self, normalized_code: str) -> Case | None:
        """Return the case whose tracking code this is, via its blind index."""
        index = self._v.blind_index("tracking", normalized_code)
        await _flushed(self._s)
        return await self._one((await self._s.execute(_CASE_BY_TRACKING, {"ix": index})).first())

    async def lookup(
        self, normalized_code: str, failures_key: str, window: timedelta, now: datetime
    ) -> tuple[int, Case | None]:
        """The hits counted under ``failures_key`` in the current window (as
        SqlRateLimits.count) and the case whose tracking code this is, in one statement."""
        values = {
            "lk": _limit_index(self._v, failures_key),
            "ix": self._v.blind_index("tracking", normalized_code),
        }
        await _flushed(self._s)
        row = (await self._s.execute(_LOOKUP, values)).one()
        start, count = row.limit_start, row.limit_count
        failures = 0 if start is None or now - start >= window else int(count)
        return failures, await self._one(row if row.id is not None else None)

    async def save(self, case: Case) -> None:
        """Write a case's changed state fields."""
        if case.id is None:
            raise ValueError("case has no id")
        values: dict[str, Any] = {name: getattr(case, name) for name in _MUTABLE}
        values["state"] = case.state.value
        values["outcome"] = case.outcome.value if case.outcome else None
        values["updated_at"] = case.updated_at or case.created_at
        if not case.push_updates:
            values["contact_erase_at"] = None  # nothing to erase
        # The scheduler looks at a changed case in its next pass and stores the exact time
        # then (the configuration that decides it is the scheduler's, not storage's).
        values["next_notice_at"] = check_after_change(case)
        await self._s.execute(update(CaseRow).where(CaseRow.id == case.id).values(**values))

    def _where(self, flt: CaseFilter) -> builtins.list[Any]:
        """The filter's conditions except states and paging (what every state shares), with
        their values (storage/warnings.py builds on them; the lists bind them per run)."""
        return _where_clauses(_where_shape(flt), _where_params(flt))

    async def _plan_for_search(self, flt: CaseFilter) -> None:
        """A token search's statements are planned for their values on PostgreSQL: after
        five runs of a prepared statement it may keep a generic plan, and without the
        tokens, units and states that plan joined every posting of a common word (~0.4 s
        instead of ~40 ms at 1,000,000 cases; bench/README.md, data_scale.py)."""
        if flt.search_tokens and self._s.get_bind().dialect.name == "postgresql":
            await self._s.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))

    async def _rows(self, ids: builtins.list[int]) -> builtins.list[Case]:
        """The cases of these ids, in this order, named."""
        if not ids:
            return []
        stmt = _cached(("rows",), lambda: select(CaseRow).where(CaseRow.id.in_(_ids_param())))
        rows = (await self._s.execute(stmt, {"ids": ids})).scalars()
        by_id = {r.id: r for r in rows}
        return await self._named([self._case(by_id[i]) for i in ids if i in by_id])

    async def list(self, flt: CaseFilter) -> Sequence[Case]:
        """Return a page of the cases matching a filter, most urgent deadline first (cases
        without one last, then by id), starting after ``flt.after``.

        One index range per state, each read only as far as the page needs, merged in SQL:
        a page costs the same at any depth and any number of cases (an ``IN`` over states
        would sort every matching case on each page). The statement is built once per
        shape of filter and reused with the values bound (:func:`_cached`).
        """
        if flt.sort != "deadline" or flt.descending or flt.before is not None:
            return await self.ledger(flt)
        states = tuple(sorted(flt.states if flt.states is not None else CaseState, key=str))
        after, n, shape = flt.after, flt.limit, _where_shape(flt)
        kind = None if after is None else "dated" if after.deadline_at is not None else "undated"
        stmt = _cached(
            ("list", states, shape, kind, n), lambda: _list_statement(states, shape, kind, n)
        )
        if stmt is None:
            return []
        params = _where_params(flt)
        if after is not None:
            params.update(c_at=after.deadline_at, c_id=after.id)
        await self._plan_for_search(flt)
        ids = builtins.list((await self._s.execute(stmt, params)).scalars().all())
        return await self._rows(ids)

    async def count(self, flt: CaseFilter, *, cap: int | None = None) -> int:
        """Return how many cases match a filter (all pages); with ``cap``, at most ``cap``
        (counting stops there: "more than cap - 1" costs the same at any size)."""
        states = None if flt.states is None else tuple(sorted(s.value for s in flt.states))
        shape = _where_shape(flt)

        def build() -> Any:
            where = _where_clauses(shape)
            if states is not None:
                where.append(CaseRow.state.in_(states))
            if cap is None:
                return select(func.count()).select_from(CaseRow).where(*where)
            capped = select(CaseRow.id).where(*where).limit(cap).subquery()
            return select(func.count()).select_from(capped)

        stmt = _cached(("count", states, shape, cap), build)
        await self._plan_for_search(flt)
        return int((await self._s.execute(stmt, _where_params(flt))).scalar_one())

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
    ) -> None:
        """Append to a case's timeline."""
        event_id = await next_id(self._s, "case_events")
        self._s.add(
            CaseEventRow(
                id=event_id,
                case_id=case_id,
                at=at,
                kind=kind,
                actor_role=actor_role.value,
                actor_officer_id=actor_officer_id,
                from_state=from_state.value if from_state else None,
                to_state=to_state.value if to_state else None,
                detail_ct=(
                    self._v.encrypt_json(dict(detail), _event_aad(event_id, case_id))
                    if detail
                    else None
                ),
            )
        )

    async def events(self, case_id: int) -> Sequence[TimelineEntry]:
        """Return a case's timeline, oldest first."""
        await _flushed(self._s)
        rows = await self._s.execute(_EVENTS, {"case_id": case_id})
        return [
            TimelineEntry(
                at=r.at,
                kind=r.kind,
                actor_role=Role(r.actor_role),
                from_state=CaseState(r.from_state) if r.from_state else None,
                to_state=CaseState(r.to_state) if r.to_state else None,
                detail=(
                    self._v.decrypt_json(r.detail_ct, _event_aad(r.id, case_id))
                    if r.detail_ct
                    else {}
                ),
                actor_officer_id=r.actor_officer_id,
            )
            for r in rows
        ]

    async def add_message(
        self, case_id: int, kind: str, body: str, at: datetime, author_officer_id: int | None
    ) -> None:
        """Record text exchanged on a case."""
        message_id = await next_id(self._s, "case_messages")
        self._s.add(
            CaseMessageRow(
                id=message_id,
                case_id=case_id,
                at=at,
                kind=kind,
                author_officer_id=author_officer_id,
                body_ct=self._v.encrypt_text(body, _message_aad(message_id, case_id)),
            )
        )

    async def messages(self, case_id: int) -> Sequence[CaseMessage]:
        """Return a case's messages, oldest first."""
        await _flushed(self._s)
        rows = await self._s.execute(_MESSAGES, {"case_id": case_id})
        return [
            CaseMessage(
                at=r.at,
                kind=r.kind,
                body=self._v.decrypt_text(r.body_ct, _message_aad(r.id, case_id)),
                author_officer_id=r.author_officer_id,
            )
            for r in rows
        ]

    async def history(self, case_id: int) -> CaseHistory:
        """The timeline and the messages, oldest first, and the slot of the active 领导接访
        booking: what an employee's status view reads, in one statement."""
        await _flushed(self._s)
        events: builtins.list[TimelineEntry] = []
        messages: builtins.list[CaseMessage] = []
        slot_id: int | None = None
        for r in await self._s.execute(_HISTORY, {"case_id": case_id}):
            if r.part == "e":
                events.append(
                    TimelineEntry(
                        at=r.at,
                        kind=r.kind,
                        actor_role=Role(r.role),
                        from_state=CaseState(r.from_state) if r.from_state else None,
                        to_state=CaseState(r.to_state) if r.to_state else None,
                        detail=(
                            self._v.decrypt_json(r.ct, _event_aad(r.id, case_id)) if r.ct else {}
                        ),
                        actor_officer_id=r.officer_id,
                    )
                )
            elif r.part == "m":
                messages.append(
                    CaseMessage(
                        at=r.at,
                        kind=r.kind,
                        body=self._v.decrypt_text(r.ct, _message_aad(r.id, case_id)),
                        author_officer_id=r.officer_id,
                    )
                )
            else:
                slot_id = int(r.id)
        return CaseHistory(events, messages, slot_id)

    async def add_linked(self, case: Case, tracking_code: str, source_case_id: int) -> Case:
        """Insert a case that reaches the same employee as another one (a retaliation
        report from a follow-up): contact and sealed identity are copied as ciphertext."""
        source = await self._s.get(CaseRow, source_case_id)
        if source is None:
            raise ValueError("source case not found")
        case.linked_case_id = source_case_id
        contact = await self.contact(source_case_id)
        identity = await self.sealed_identity(source_case_id)
        added = await self.add(case, tracking_code, contact, None)
        assert added.id is not None
        # Re-encrypted for the new row (bound to it), never copied as ciphertext.
        await self._s.execute(
            update(CaseRow)
            .where(CaseRow.id == added.id)
            .values(
                contact_reachable=source.contact_reachable and contact is not None,
                identity_ct=self._wrap_identity(added.id, identity) if identity else None,
            )
        )
        added.contact_reachable = source.contact_reachable and contact is not None
        added.has_identity = identity is not None
        return added

    async def created_between(self, start: datetime, end: datetime) -> Sequence[Case]:
        """Return the cases registered in [start, end), oldest first."""
        stmt = (
            select(CaseRow)
            .where(CaseRow.created_at >= start, CaseRow.created_at < end)
            .order_by(CaseRow.id)
        )
        return await self._named(
            [self._case(r) for r in (await self._s.execute(stmt)).scalars().all()]
        )

    async def due_for_notice(
        self, now: datetime, after: tuple[datetime, int] | None, limit: int
    ) -> builtins.list[tuple[datetime, int]]:
        """(next_notice_at, id) of cases the scheduler must look at by ``now``, in that
        order, after the key ``after``: one range of ``ix_cases_next_notice``."""
        stmt = select(CaseRow.next_notice_at, CaseRow.id).where(CaseRow.next_notice_at <= now)
        if after is not None:
            at, case_id = after
            stmt = stmt.where(
                CaseRow.next_notice_at >= at,
                or_(CaseRow.next_notice_at > at, CaseRow.id > case_id),
            )
        stmt = stmt.order_by(CaseRow.next_notice_at, CaseRow.id).limit(limit)
        rows = (await self._s.execute(stmt)).all()
        return [(at, case_id) for at, case_id in rows if at is not None]

    async def set_next_notice_at(self, case_id: int, at: datetime | None) -> None:
        """Store when the scheduler must next look at a case (None: only after a change)."""
        await self._s.execute(
            update(CaseRow).where(CaseRow.id == case_id).values(next_notice_at=at)
        )

    async def schedule_fingerprint(self) -> str | None:
        """The configuration the stored next-notice times were computed with, if any."""
        row = await self._s.get(SchedulerStateRow, _SCHEDULE_CONFIG)
        return row.value if row else None

    async def set_schedule_fingerprint(self, fingerprint: str, at: datetime) -> None:
        """Record the configuration the next-notice times are now computed with."""
        row = SchedulerStateRow(name=_SCHEDULE_CONFIG, value=fingerprint, updated_at=at)
        await self._s.merge(row)

    async def recheck_batch(self, now: datetime, after_id: int, limit: int) -> int | None:
        """Make the next ``limit`` cases (by id, after ``after_id``) that may still owe a
        notice due at ``now``; return the last id looked at, None when there are no more.

        For a changed configuration: the scheduler then looks at each and stores its time.
        """
        ids_stmt = (
            select(CaseRow.id).where(CaseRow.id > after_id).order_by(CaseRow.id).limit(limit)
        )
        ids = builtins.list((await self._s.execute(ids_stmt)).scalars().all())
        if not ids:
            return None
        followed_up = (
            select(NoticeRow.id)
            .where(NoticeRow.case_id == CaseRow.id, NoticeRow.kind == "follow_up")
            .exists()
        )
        may_owe = or_(
            and_(
                CaseRow.state.not_in(sorted(s.value for s in TERMINAL_STATES)),
                CaseRow.deadline_at.is_not(None),
            ),
            and_(
                # Closed or finalized (三级终结): both are followed up.
                CaseRow.state.in_(sorted(s.value for s in CLOSED_STATES)),
                CaseRow.closed_at.is_not(None),
                ~followed_up,
            ),
        )
        await self._s.execute(
            update(CaseRow)
            .where(CaseRow.id >= ids[0], CaseRow.id <= ids[-1], may_owe)
            .where(or_(CaseRow.next_notice_at.is_(None), CaseRow.next_notice_at > now))
            .values(next_notice_at=now)
        )
        return ids[-1]

    async def sealed_identity(self, case_id: int) -> bytes | None:
        """Return the sealed identity fields of a case, checked to belong to it (only the
        reveal command uses this; the custodian's key opens the fields)."""
        stmt = select(CaseRow.identity_ct).where(CaseRow.id == case_id)
        blob = (await self._s.execute(stmt)).scalar_one_or_none()
        if blob is None:
            return None
        return self._v.decrypt(blob, aad("cases", case_id, "identity"))

    async def mark_unreachable(self, case_id: int) -> None:
        """Remember that pushes to this case's chat fail for good (the bot was blocked)."""
        await self._s.execute(
            update(CaseRow).where(CaseRow.id == case_id).values(contact_reachable=False)
        )

    async def contact(self, case_id: int) -> Contact | None:
        """Decrypt where to push a case's updates (only the delivery worker uses this)."""
        stmt = select(CaseRow.contact_ct).where(CaseRow.id == case_id)
        blob = (await self._s.execute(stmt)).scalar_one_or_none()
        if blob is None:
            return None
        data = self._v.open_contact(blob, aad("cases", case_id, "contact"))
        return Contact(data["channel"], data["chat_id"])

    async def erase_contacts(self, now: datetime, limit: int = 500) -> builtins.list[int]:
        """Erase the push address of cases past their keep time; return their ids.

        A case with a message still waiting for delivery to its employee keeps the
        address until that message went out (or failed for good).
        """
        waiting = (
            select(OutboxRow.id)
            .where(
                OutboxRow.case_id == CaseRow.id,
                OutboxRow.audience == "employee",
                OutboxRow.status == "pending",
            )
            .exists()
        )
        stmt = (
            select(CaseRow.id)
            .where(CaseRow.contact_erase_at <= now, ~waiting)
            .order_by(CaseRow.contact_erase_at)
            .limit(limit)
        )
        ids = builtins.list((await self._s.execute(stmt)).scalars().all())
        if ids:
            await self._s.execute(
                update(CaseRow)
                .where(CaseRow.id.in_(ids))
                .values(contact_ct=None, contact_erase_at=None)
            )
        return ids

    def _purgeable(self, closed_before: datetime) -> builtins.list[Any]:
        # Read through ix_cases_retention (purged_at, closed_at): with nothing due, one probe.
        return [
            CaseRow.purged_at.is_(None),
            CaseRow.closed_at <= closed_before,
            CaseRow.state.in_(sorted(s.value for s in TERMINAL_STATES)),
        ]

    async def due_for_purge(self, closed_before: datetime, limit: int) -> builtins.list[int]:
        """Ids of closed or withdrawn cases, content not yet destroyed, whose closing was at
        or before ``closed_before``; earliest closing first."""
        stmt = (
            select(CaseRow.id)
            .where(*self._purgeable(closed_before))
            .order_by(CaseRow.closed_at)
            .limit(limit)
        )
        return builtins.list((await self._s.execute(stmt)).scalars().all())

    async def count_due_for_purge(self, closed_before: datetime) -> int:
        """How many cases :meth:`due_for_purge` would return without a limit."""
        stmt = select(func.count()).select_from(CaseRow).where(*self._purgeable(closed_before))
        return int((await self._s.execute(stmt)).scalar_one())

    async def count_purged(self) -> int:
        """How many cases' content has been destroyed so far."""
        stmt = select(func.count()).select_from(CaseRow).where(CaseRow.purged_at.is_not(None))
        return int((await self._s.execute(stmt)).scalar_one())

    async def purge_content(self, case_ids: Sequence[int], now: datetime) -> None:
        """Destroy the content of these cases and keep what statistics count.

        Gone: messages and evidence (rows deleted), event details and feedback comments
        (set NULL; the events' kinds and states and the ratings and follow-up answers
        stay), the push address and the sealed identity; the description becomes an
        encrypted tombstone naming ``now`` (the column is NOT NULL, and views say
        "destroyed on …" from it). Stays: number, category, state, channel, unit, owner,
        outcome, every date and the feedback kept on the case (rating, follow-up answers:
        no text, no identity). The caller deletes the cases' outbox rows.
        """
        ids = builtins.list(case_ids)
        if not ids:
            return
        await self._s.execute(delete(CaseMessageRow).where(CaseMessageRow.case_id.in_(ids)))
        await self._s.execute(delete(AttachmentRow).where(AttachmentRow.case_id.in_(ids)))
        await self._s.execute(
            update(CaseEventRow).where(CaseEventRow.case_id.in_(ids)).values(detail_ct=None)
        )
        await self._s.execute(
            update(FeedbackRow).where(FeedbackRow.case_id.in_(ids)).values(comment_ct=None)
        )
        stone = tombstone(now)
        cases = CaseRow.__table__
        # One statement for the batch: each tombstone is bound to its own row.
        await self._s.execute(
            update(cases)
            .where(cases.c.id == bindparam("b_id"))
            .values(
                description_ct=bindparam("b_ct"),
                identity_ct=None,
                contact_ct=None,
                contact_erase_at=None,
                next_notice_at=None,
                purged_at=now,
            ),
            [
                {
                    "b_id": case_id,
                    "b_ct": self._v.encrypt_text(stone, aad("cases", case_id, "description")),
                }
                for case_id in ids
            ],
        )

    async def ledger(self, flt: CaseFilter) -> Sequence[Case]:
        """A page of the ledger: ``flt.sort`` (deadline, created or number) ascending or
        ``flt.descending``, after ``flt.after`` or before ``flt.before``; in display order.

        Like :meth:`list`: one index range per state (ix_cases_state_deadline,
        ix_cases_state_created, ix_cases_state_id), each read only as far as the page
        needs, merged in SQL. Cases without a deadline sort after those with one (before
        them when descending). Paging backwards reads the ranges the other way round.
        """
        backward = flt.before is not None
        cursor = flt.before if backward else flt.after
        down = flt.descending != backward  # the direction the ranges are read in
        sort = flt.sort if flt.sort in ("deadline", "created") else "number"
        nullable = sort == "deadline"
        kind = None
        if cursor is not None:
            kind = "dated" if cursor.deadline_at is not None or not nullable else "undated"
        states = tuple(sorted(flt.states if flt.states is not None else CaseState, key=str))
        shape, n = _where_shape(flt), flt.limit
        stmt = _cached(
            ("ledger", states, shape, sort, down, kind, n),
            lambda: _ledger_statement(states, shape, sort, down, kind, n),
        )
        if stmt is None:
            return []
        params = _where_params(flt)
        if cursor is not None:
            params["c_id"] = cursor.id
            if kind == "dated" and sort != "number":
                params["c_at"] = cursor.deadline_at
        await self._plan_for_search(flt)
        ids = builtins.list((await self._s.execute(stmt, params)).scalars().all())
        if backward:
            ids.reverse()
        return await self._rows(ids)

    async def ledger_ids(self, flt: CaseFilter, limit: int) -> builtins.list[int]:
        """Ids of up to ``limit`` cases matching a filter, in no order (search candidates)."""
        states = None if flt.states is None else tuple(sorted(s.value for s in flt.states))
        shape = _where_shape(flt)

        def build() -> Any:
            stmt = select(CaseRow.id).where(*_where_clauses(shape)).limit(limit)
            if states is not None:
                stmt = stmt.where(CaseRow.state.in_(states))
            return stmt

        stmt = _cached(("ids", states, shape, limit), build)
        await self._plan_for_search(flt)
        return builtins.list((await self._s.execute(stmt, _where_params(flt))).scalars().all())


# --------------------------------------------------------------------------- list statements

# The lists' statements, built once per shape of filter and run with its values bound:
# building a union of up to 24 index ranges in Python took longer than the database ran it
# (bench/README.md, data_scale.py). A shape is which conditions a filter has, its states,
# its sort and cursor kind and its page size; a few dozen occur in practice.
_STATEMENTS: dict[tuple[Any, ...], Any] = {}
_STATEMENTS_MAX = 1024


def _cached(key: tuple[Any, ...], build: Any) -> Any:
    """The statement of this shape, built on first use."""
    try:
        return _STATEMENTS[key]
    except KeyError:
        pass
    if len(_STATEMENTS) >= _STATEMENTS_MAX:
        _STATEMENTS.clear()  # not reached in practice; never unbounded
    stmt = _STATEMENTS[key] = build()
    return stmt


def _ids_param(name: str = "ids", values: dict[str, Any] | None = None) -> Any:
    return bindparam(name, None if values is None else values[name], expanding=True)


def _set_shape(values: frozenset[Any] | None) -> str | None:
    """None (no condition), "empty" (matches nothing) or "some" (a bound list)."""
    return None if values is None else "some" if values else "empty"


def _where_shape(flt: CaseFilter) -> tuple[Any, ...]:
    """Which of :meth:`SqlCases._where`'s conditions a filter has (not their values)."""
    search = None
    if flt.search_ids is not None or flt.search_tokens is not None:
        search = (bool(flt.search_ids), len(flt.search_tokens or ()))
    return (
        flt.owner_officer_id is not None,
        flt.unassigned,
        flt.overdue_at is not None,
        _set_shape(flt.categories),
        bool(flt.exclude_categories),
        flt.discipline,
        flt.viewer_officer_id is not None,
        _set_shape(flt.unit_ids),
        _set_shape(flt.scope),
        flt.urgent,
        flt.created_from is not None,
        flt.created_before is not None,
        search,
    )


def _where_params(flt: CaseFilter) -> dict[str, Any]:
    """The values of a filter's bound conditions (:func:`_where_clauses`)."""
    params: dict[str, Any] = {}
    if flt.owner_officer_id is not None:
        params["w_owner"] = flt.owner_officer_id
    if flt.overdue_at is not None:
        params["w_overdue"] = flt.overdue_at
    if flt.categories:
        params["w_categories"] = sorted(flt.categories)
    if flt.exclude_categories:
        params["w_exclude"] = sorted(flt.exclude_categories)
    if flt.viewer_officer_id is not None:
        params["w_viewer"] = flt.viewer_officer_id
    if flt.unit_ids:
        params["w_units"] = sorted(flt.unit_ids)
    if flt.scope:
        params["w_scope"] = sorted(flt.scope)
    if flt.created_from is not None:
        params["w_from"] = flt.created_from
    if flt.created_before is not None:
        params["w_before"] = flt.created_before
    if flt.search_ids:
        params["w_found"] = sorted(flt.search_ids)
    for i, token in enumerate(flt.search_tokens or ()):
        params[f"w_token{i}"] = token
    return params


def _where_clauses(
    shape: tuple[Any, ...], values: dict[str, Any] | None = None
) -> builtins.list[Any]:
    """The conditions of a filter of this shape, its values as bound parameters (given
    with the statement's execution, or here as ``values``)."""

    (
        owner,
        unassigned,
        overdue,
        categories,
        exclude,
        discipline,
        viewer,
        unit_ids,
        scope,
        urgent,
        created_from,
        created_before,
        search,
    ) = shape

    def value(name: str) -> Any:
        return bindparam(name, None if values is None else values[name])

    where: builtins.list[Any] = []
    if owner:
        where.append(CaseRow.owner_officer_id == value("w_owner"))
    if unassigned:
        where.append(CaseRow.owner_officer_id.is_(None))
    if overdue:
        where.append(CaseRow.deadline_at < value("w_overdue"))
    if categories is not None:
        some = categories == "some"
        where.append(CaseRow.category.in_(_ids_param("w_categories", values)) if some else false())
    if exclude:
        where.append(CaseRow.category.not_in(_ids_param("w_exclude", values)))
    if discipline is not None:
        # Case.handled_by_discipline, in SQL.
        handled = or_(
            CaseRow.category.in_(sorted(c.value for c in DISCIPLINE_CATEGORIES)),
            # NULL would make the negation NULL (no row): no conflict is "".
            func.coalesce(CaseRow.conflict, "") == CONFLICT_DISCIPLINE,
        )
        where.append(handled if discipline else not_(handled))
    if viewer:
        where.append(
            or_(
                CaseRow.excluded_officer_id.is_(None),
                CaseRow.excluded_officer_id != value("w_viewer"),
            )
        )
    if unit_ids is not None:
        some = unit_ids == "some"
        where.append(CaseRow.unit_id.in_(_ids_param("w_units", values)) if some else false())
    if scope is not None:
        some = scope == "some"
        where.append(CaseRow.unit_id.in_(_ids_param("w_scope", values)) if some else false())
    if urgent:
        where.append(CaseRow.urgent.is_not(None))
    if created_from:
        where.append(CaseRow.created_at >= value("w_from"))
    if created_before:
        where.append(CaseRow.created_at < value("w_before"))
    if search is not None:
        # A search: confirmed ids (a few hundred at most) or, past that, the cases that
        # hold every token (storage/search.py); nothing when neither found anything.
        ids, tokens = search
        found: builtins.list[Any] = []
        if ids:
            found.append(CaseRow.id.in_(_ids_param("w_found", values)))
        if tokens:
            hashes = [value(f"w_token{i}") for i in range(tokens)]
            found.append(search_holding(hashes, CaseRow.id))
        where.append(or_(*found) if found else false())
    return where


def _list_statement(
    states: tuple[CaseState, ...], shape: tuple[Any, ...], kind: str | None, n: int
) -> Any:
    """SqlCases.list's statement: one range per state (dated and undated), merged."""
    where = _where_clauses(shape)
    overdue = shape[2]
    parts = []
    for state in states:
        base = [CaseRow.state == state.value, *where]
        if kind != "undated":
            dated = [*base, CaseRow.deadline_at.is_not(None)]
            if kind == "dated":
                at: BindParameter[datetime] = bindparam("c_at")
                case_id: BindParameter[int] = bindparam("c_id")
                dated += [
                    CaseRow.deadline_at >= at,
                    or_(CaseRow.deadline_at > at, CaseRow.id > case_id),
                ]
            parts.append(
                select(CaseRow.id, CaseRow.deadline_at)
                .where(*dated)
                .order_by(CaseRow.deadline_at, CaseRow.id)
                .limit(n)
            )
        undated = [*base, CaseRow.deadline_at.is_(None)]
        if kind == "undated":
            undated.append(CaseRow.id > bindparam("c_id"))
        if not overdue:  # a case without a deadline is never overdue
            parts.append(
                select(CaseRow.id, CaseRow.deadline_at)
                .where(*undated)
                .order_by(CaseRow.id)
                .limit(n)
            )
    if not parts:
        return None
    # SQLite takes ORDER BY .. LIMIT in a compound member only inside a subquery.
    merged = union_all(*(select(p.subquery()) for p in parts)).subquery()
    return (
        select(merged.c.id)
        .order_by(merged.c.deadline_at.is_(None), merged.c.deadline_at, merged.c.id)
        .limit(n)
    )


def _ledger_statement(
    states: tuple[CaseState, ...],
    shape: tuple[Any, ...],
    sort: str,
    down: bool,
    kind: str | None,
    n: int,
) -> Any:
    """SqlCases.ledger's statement (``down``: the direction the ranges are read in)."""
    key: Any = {"deadline": CaseRow.deadline_at, "created": CaseRow.created_at}.get(
        sort, CaseRow.id
    )
    nullable = sort == "deadline"
    where = _where_clauses(shape)
    overdue = shape[2]

    def ordered(conditions: builtins.list[Any], *columns: Any) -> Any:
        order = [c.desc() if down else c.asc() for c in columns]
        return (
            select(CaseRow.id.label("id"), key.label("k"))
            .where(*conditions)
            .order_by(*order)
            .limit(n)
        )

    def beyond() -> Any:
        # (k, id) after the cursor in reading order, written so an index range serves it.
        case_id: BindParameter[int] = bindparam("c_id")
        if key is CaseRow.id:
            return CaseRow.id < case_id if down else CaseRow.id > case_id
        at: BindParameter[datetime] = bindparam("c_at")  # key is a datetime column here
        if down:
            return and_(key <= at, or_(key < at, CaseRow.id < case_id))
        return and_(key >= at, or_(key > at, CaseRow.id > case_id))

    parts = []
    for state in states:
        base = [CaseRow.state == state.value, *where]
        cursor_dated = kind == "dated"
        # The cases with a value: all of them, or those beyond a cursor among them; when
        # reading up from an undated cursor they all came before it.
        if not (nullable and kind == "undated" and not down):
            dated = [*base, key.is_not(None)] if nullable else builtins.list(base)
            if cursor_dated:
                dated.append(beyond())
            parts.append(ordered(dated, key, CaseRow.id))
        if nullable and not overdue:  # an undated case is never overdue
            undated = [*base, key.is_(None)]
            if kind == "undated":
                case_id: BindParameter[int] = bindparam("c_id")
                undated.append(CaseRow.id < case_id if down else CaseRow.id > case_id)
            if kind is None or not cursor_dated or not down:
                parts.append(ordered(undated, CaseRow.id))
    if not parts:
        return None
    merged = union_all(*(select(p.subquery()) for p in parts)).subquery()
    order: builtins.list[Any] = [merged.c.k.is_(None), merged.c.k, merged.c.id]
    if down:
        order = [column.desc() for column in order]
    return select(merged.c.id).order_by(*order).limit(n)


class SqlAttachments:
    """Evidence files, encrypted."""

    def __init__(self, session: AsyncSession, vault: Vault) -> None:
        self._s = session
        self._v = vault

    async def _row(self, file: FileIn, at: datetime, status: str = "ok") -> AttachmentRow:
        row_id = await next_id(self._s, "attachments")
        return AttachmentRow(
            id=row_id,
            at=at,
            kind=file.kind,
            status=status,
            mime=file.mime[:100],
            size=len(file.data),
            name_ct=self._v.encrypt_text(file.name, aad("attachments", row_id, "name")),
            data_ct=self._v.encrypt(file.data, aad("attachments", row_id, "data")),
        )

    async def add_draft(
        self, channel: str, sender_id: str, file: FileIn, at: datetime, *, pending: bool = False
    ) -> int:
        """Keep a file sent during an intake until the petition is submitted."""
        row = await self._row(file, at, "pending" if pending else "ok")
        row.draft_owner_index = sender_index(self._v, channel, sender_id)
        self._s.add(row)
        await self._s.flush()
        return row.id

    async def count_drafts(self, channel: str, sender_id: str) -> int:
        """Count the files of a sender's current draft."""
        owner = sender_index(self._v, channel, sender_id)
        stmt = select(func.count()).where(
            AttachmentRow.draft_owner_index == owner, AttachmentRow.status == "ok"
        )
        return int((await self._s.execute(stmt)).scalar_one())

    async def claim_drafts(self, channel: str, sender_id: str, case_id: int) -> int:
        """Move a draft's files to the submitted case (files still waiting for the
        employee's choice are dropped)."""
        owner = sender_index(self._v, channel, sender_id)
        await self._s.execute(
            delete(AttachmentRow).where(
                AttachmentRow.draft_owner_index == owner, AttachmentRow.status != "ok"
            )
        )
        result = await self._s.execute(
            update(AttachmentRow)
            .where(AttachmentRow.draft_owner_index == owner)
            .values(case_id=case_id, draft_owner_index=None)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def delete_drafts(self, channel: str, sender_id: str) -> int:
        """Drop the files of an abandoned draft."""
        owner = sender_index(self._v, channel, sender_id)
        result = await self._s.execute(
            delete(AttachmentRow).where(AttachmentRow.draft_owner_index == owner)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def add(self, case_id: int, file: FileIn, at: datetime, *, pending: bool = False) -> int:
        """Attach a file to an existing case."""
        row = await self._row(file, at, "pending" if pending else "ok")
        row.case_id = case_id
        self._s.add(row)
        await self._s.flush()
        return row.id

    def _info(self, row: AttachmentRow) -> AttachmentInfo:
        return AttachmentInfo(
            id=row.id,
            kind=row.kind,
            name=self._v.decrypt_text(row.name_ct, aad("attachments", row.id, "name")),
            mime=row.mime,
            size=row.size,
        )

    async def list(self, case_id: int) -> Sequence[AttachmentInfo]:
        """Return the evidence of a case without the bytes."""
        stmt = (
            select(AttachmentRow)
            .where(AttachmentRow.case_id == case_id, AttachmentRow.status == "ok")
            .order_by(AttachmentRow.id)
        )
        # Loading data_ct here would be wasteful, but the row is small next to a round-trip;
        # deferred loading can come when cases hold many large files.
        return [self._info(r) for r in (await self._s.execute(stmt)).scalars().all()]

    async def data(self, attachment_id: int) -> tuple[AttachmentInfo, bytes] | None:
        """Return one file with its bytes, decrypted."""
        row = await self._s.get(AttachmentRow, attachment_id)
        if row is None or row.status != "ok":
            return None
        return self._info(row), self._v.decrypt(row.data_ct, aad("attachments", row.id, "data"))

    async def case_of(self, attachment_id: int) -> int | None:
        """Return the case a stored (not pending) file belongs to."""
        stmt = select(AttachmentRow.case_id).where(
            AttachmentRow.id == attachment_id, AttachmentRow.status == "ok"
        )
        return (await self._s.execute(stmt)).scalar_one_or_none()

    async def pending(self, attachment_id: int) -> AttachmentInfo | None:
        """Return a file waiting for the employee's keep-or-drop choice."""
        row = await self._s.get(AttachmentRow, attachment_id)
        if row is None or row.status != "pending":
            return None
        return self._info(row)

    async def is_draft_of(self, attachment_id: int, channel: str, sender_id: str) -> bool:
        """Whether a file belongs to this sender's draft."""
        stmt = select(AttachmentRow.id).where(
            AttachmentRow.id == attachment_id,
            AttachmentRow.draft_owner_index == sender_index(self._v, channel, sender_id),
        )
        return (await self._s.execute(stmt)).scalar_one_or_none() is not None

    async def pending_of_case(self, attachment_id: int) -> int | None:
        """The case a file waiting for the employee's choice was added to, if any."""
        stmt = select(AttachmentRow.case_id).where(
            AttachmentRow.id == attachment_id, AttachmentRow.status == "pending"
        )
        return (await self._s.execute(stmt)).scalar_one_or_none()

    async def resolve_pending(self, attachment_id: int, keep: bool) -> bool:
        """Keep (as sent) or drop a file that could not be cleaned; False if it is gone."""
        row = await self._s.get(AttachmentRow, attachment_id)
        if row is None or row.status != "pending":
            return False
        if keep:
            row.status = "ok"
        else:
            await self._s.delete(row)
        await self._s.flush()
        return True


# Hot paths (every update reads its conversation and asks whether the sender is an
# officer) use statements built once, in Core: building and ORM-loading them per call was
# a measurable share of the bot's CPU (bench/telegram_load.py, py-spy).
_CONV = ConversationRow.__table__.c
_CONVERSATION = select(
    _CONV.id, _CONV.step, _CONV.locale, _CONV.draft_ct, _CONV.updated_at, _CONV.expires_at
).where(_CONV.sender_index == bindparam("ix"))
_CONVERSATION_UPDATE = (
    update(ConversationRow.__table__)
    .where(_CONV.id == bindparam("row_id"))
    .values(
        step=bindparam("step"),
        locale=bindparam("locale"),
        draft_ct=bindparam("draft_ct"),
        updated_at=bindparam("updated_at"),
        expires_at=bindparam("expires_at"),
    )
)
_CONVERSATION_INSERT = insert(ConversationRow.__table__)
_CONVERSATION_DELETE = delete(ConversationRow.__table__).where(
    _CONV.sender_index == bindparam("ix")
)


class SqlConversations:
    """Conversation state per sender; drafts encrypted."""

    def __init__(self, session: AsyncSession, vault: Vault) -> None:
        self._s = session
        self._v = vault
        # sender index -> row id (0: known to have no row) as seen in this transaction
        self._ids: dict[str, int] = {}

    async def _load(self, index: str) -> Any:
        row = (await self._s.execute(_CONVERSATION, {"ix": index})).first()
        self._ids[index] = row.id if row is not None else 0
        return row

    async def get(self, channel: str, sender_id: str) -> Conversation | None:
        """Return a sender's conversation, if any."""
        index = sender_index(self._v, channel, sender_id)
        row = await self._load(index)
        if row is None:
            return None
        draft = (
            self._v.decrypt_json(row.draft_ct, aad("conversations", index, "draft"))
            if row.draft_ct
            else {}
        )
        return Conversation(
            step=row.step,
            draft=draft,
            locale=row.locale,
            updated_at=row.updated_at,
            expires_at=row.expires_at,
        )

    async def save(self, channel: str, sender_id: str, conversation: Conversation) -> None:
        """Create or update a sender's conversation."""
        if conversation.updated_at is None:
            raise ValueError("conversation.updated_at must be set")
        index = sender_index(self._v, channel, sender_id)
        if index not in self._ids:
            await self._load(index)
        values = {
            "step": conversation.step,
            "locale": conversation.locale,
            "draft_ct": (
                self._v.encrypt_json(conversation.draft, aad("conversations", index, "draft"))
                if conversation.draft
                else None
            ),
            "updated_at": conversation.updated_at,
            "expires_at": conversation.expires_at,
        }
        row_id = self._ids[index]
        if row_id:
            await self._s.execute(_CONVERSATION_UPDATE, {"row_id": row_id, **values})
            return
        result = await self._s.execute(_CONVERSATION_INSERT, {"sender_index": index, **values})
        self._ids[index] = int(result.inserted_primary_key[0])  # type: ignore[attr-defined]

    async def delete(self, channel: str, sender_id: str) -> None:
        """Forget a sender's conversation."""
        index = sender_index(self._v, channel, sender_id)
        await self._s.execute(_CONVERSATION_DELETE, {"ix": index})
        self._ids[index] = 0

    async def purge_expired(self, now: datetime) -> int:
        """Delete conversations and draft files idle past their expiry."""
        expired = select(ConversationRow.sender_index).where(ConversationRow.expires_at < now)
        owners = list((await self._s.execute(expired)).scalars().all())
        if not owners:
            return 0
        await self._s.execute(
            delete(AttachmentRow).where(AttachmentRow.draft_owner_index.in_(owners))
        )
        await self._s.execute(
            delete(ConversationRow).where(ConversationRow.sender_index.in_(owners))
        )
        return len(owners)


class SqlNotices:
    """Scheduler notices already sent, unique per (scope, kind, key)."""

    def __init__(self, session: AsyncSession, vault: Vault) -> None:
        self._s = session
        self._v = vault

    async def sent(self, scope: str) -> set[tuple[str, str]]:
        """Return (kind, key) of every notice sent for a scope (``case:<id>`` or ``all``)."""
        stmt = select(NoticeRow.kind, NoticeRow.due_key).where(NoticeRow.scope == scope)
        return {(k, d) for k, d in (await self._s.execute(stmt)).all()}

    async def claim(
        self, scope: str, kind: str, key: str, at: datetime, case_id: int | None = None
    ) -> bool:
        """Record a notice in this transaction; False if it was recorded before.

        INSERT .. ON CONFLICT DO NOTHING is atomic on both databases, so of two passes
        that race for a notice only one queues its message (written in the same
        transaction).
        """
        values = {"scope": scope, "kind": kind, "due_key": key, "sent_at": at, "case_id": case_id}
        if self._s.get_bind().dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            stmt: Any = pg_insert(NoticeRow).values(**values).on_conflict_do_nothing()
        else:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            stmt = sqlite_insert(NoticeRow).values(**values).on_conflict_do_nothing()
        result = await self._s.execute(stmt)
        return int(result.rowcount) == 1  # type: ignore[attr-defined]


class SqlFeedback:
    """Satisfaction and follow-up questions; tokens as blind indexes, comments encrypted."""

    def __init__(self, session: AsyncSession, vault: Vault) -> None:
        self._s = session
        self._v = vault

    def _feedback(self, row: FeedbackRow) -> Feedback:
        return Feedback(
            id=row.id,
            case_id=row.case_id,
            kind=row.kind,
            created_at=row.created_at,
            answered_at=row.answered_at,
            rating=row.rating,
            comment=(
                self._v.decrypt_text(row.comment_ct, aad("feedback", row.id, "comment"))
                if row.comment_ct
                else None
            ),
            solved=row.solved,
            retaliation=row.retaliation,
            linked_case_id=row.linked_case_id,
        )

    async def open(self, case_id: int, kind: str, token: str, at: datetime) -> Feedback:
        """Record a new question whose buttons carry ``token``."""
        row = FeedbackRow(
            case_id=case_id,
            kind=kind,
            token_index=self._v.blind_index("feedback", token),
            created_at=at,
        )
        self._s.add(row)
        await self._s.flush()
        return self._feedback(row)

    async def by_token(self, token: str) -> Feedback | None:
        """Return the question a button's token belongs to."""
        stmt = select(FeedbackRow).where(
            FeedbackRow.token_index == self._v.blind_index("feedback", token)
        )
        row = (await self._s.execute(stmt)).scalar_one_or_none()
        return self._feedback(row) if row else None

    async def save(self, feedback: Feedback) -> None:
        """Write the answers."""
        await self._s.execute(
            update(FeedbackRow)
            .where(FeedbackRow.id == feedback.id)
            .values(
                answered_at=feedback.answered_at,
                rating=feedback.rating,
                comment_ct=(
                    self._v.encrypt_text(feedback.comment, aad("feedback", feedback.id, "comment"))
                    if feedback.comment
                    else None
                ),
                solved=feedback.solved,
                retaliation=feedback.retaliation,
                linked_case_id=feedback.linked_case_id,
            )
        )
        await self._summarize(feedback.case_id)

    async def _summarize(self, case_id: int) -> None:
        """Write on the case what statistics count of its feedback (the columns of
        migration 0018), worked out again from all its rows, in this transaction."""
        f = FeedbackRow
        mine = f.case_id == case_id
        # The latest rating is the one with the highest id (a later question's answer).
        latest = (
            select(f.rating)
            .where(mine, f.kind == "satisfaction", f.rating.is_not(None), f.rating != "")
            .order_by(f.id.desc())
            .limit(1)
            .scalar_subquery()
        )
        follow_up = and_(mine, f.kind == "follow_up")
        await self._s.execute(
            update(CaseRow)
            .where(CaseRow.id == case_id)
            .values(
                feedback_rating=latest,
                feedback_unsolved=select(f.id).where(follow_up, f.solved.is_(False)).exists(),
                feedback_retaliation=select(f.id)
                .where(follow_up, f.retaliation.is_(True))
                .exists(),
            )
        )

    async def for_cases(self, case_ids: Sequence[int]) -> Sequence[Feedback]:
        """Return the questions of these cases, oldest first."""
        if not case_ids:
            return []
        stmt = (
            select(FeedbackRow)
            .where(FeedbackRow.case_id.in_(list(case_ids)))
            .order_by(FeedbackRow.id)
        )
        return [self._feedback(r) for r in (await self._s.execute(stmt)).scalars().all()]


class SqlOutbox:
    """The outbox table."""

    def __init__(self, session: AsyncSession, vault: Vault) -> None:
        self._s = session
        self._v = vault

    async def add(self, message: OutboxMessage) -> None:
        """Queue a message in the current transaction."""
        row_id = await next_id(self._s, "outbox")
        self._s.add(
            OutboxRow(
                id=row_id,
                created_at=message.created_at,
                case_id=message.case_id,
                audience=message.audience,
                channel=message.channel,
                kind=message.kind,
                payload_ct=self._v.encrypt_json(
                    dict(message.payload), _outbox_aad(row_id, message.case_id)
                ),
                status="pending",
                attempts=0,
                next_attempt_at=message.created_at,
            )
        )

    def payload(self, row: OutboxRow) -> dict[str, Any]:
        """Decrypt a row's payload."""
        result: dict[str, Any] = self._v.decrypt_json(
            row.payload_ct, _outbox_aad(row.id, row.case_id)
        )
        return result

    async def due(self, channels: Sequence[str], now: datetime, limit: int) -> Sequence[OutboxRow]:
        """Return pending rows of these channels, oldest first, including ones not yet due.

        Rows not yet due are returned too so the caller can hold back later rows for the
        same recipient and keep their order.
        """
        stmt = (
            select(OutboxRow)
            .where(OutboxRow.status == "pending", OutboxRow.channel.in_(channels))
            .order_by(OutboxRow.id)
            .limit(limit)
        )
        return (await self._s.execute(stmt)).scalars().all()

    async def mark(
        self,
        row_id: int,
        status: str,
        *,
        now: datetime,
        next_attempt_at: datetime | None = None,
        error: str | None = None,
    ) -> None:
        """Record a delivery attempt's result."""
        values: dict[str, Any] = {"status": status, "attempts": OutboxRow.attempts + 1}
        if status == "sent":
            values["sent_at"] = now
        if next_attempt_at is not None:
            values["next_attempt_at"] = next_attempt_at
        if error is not None:
            values["last_error"] = error[:200]
        await self._s.execute(update(OutboxRow).where(OutboxRow.id == row_id).values(**values))

    async def counts(self) -> dict[str, int]:
        """Return the number of rows per status."""
        stmt = select(OutboxRow.status, func.count()).group_by(OutboxRow.status)
        return {status: int(n) for status, n in (await self._s.execute(stmt)).all()}

    async def for_case(self, case_id: int) -> Sequence[OutboxRow]:
        """Return a case's outbox rows, oldest first."""
        stmt = select(OutboxRow).where(OutboxRow.case_id == case_id).order_by(OutboxRow.id)
        return (await self._s.execute(stmt)).scalars().all()

    async def delete_for_cases(self, case_ids: Sequence[int]) -> int:
        """Delete every row of these cases, whatever its status (their content is purged)."""
        if not case_ids:
            return 0
        stmt = delete(OutboxRow).where(OutboxRow.case_id.in_(builtins.list(case_ids)))
        result = await self._s.execute(stmt)
        return int(result.rowcount)  # type: ignore[attr-defined]

    def _finished(self, status: str, before: datetime) -> builtins.list[Any]:
        # ix_outbox_pending (status, next_attempt_at); a finished row was last due about
        # when it was sent or given up on.
        return [OutboxRow.status == status, OutboxRow.next_attempt_at < before]

    async def purge_finished(self, status: str, before: datetime, limit: int) -> int:
        """Delete up to ``limit`` rows in a finished status (``sent``, ``unreachable``,
        ``failed``; never ``pending``) last due before ``before``; return how many."""
        if status == "pending":
            raise ValueError("pending rows are never purged")
        ids = select(OutboxRow.id).where(*self._finished(status, before)).limit(limit)
        result = await self._s.execute(delete(OutboxRow).where(OutboxRow.id.in_(ids)))
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def count_finished(self, status: str, before: datetime) -> int:
        """How many rows :meth:`purge_finished` would delete without a limit."""
        stmt = select(func.count()).select_from(OutboxRow).where(*self._finished(status, before))
        return int((await self._s.execute(stmt)).scalar_one())


_OFF = OfficerRow.__table__.c
_ACC = OfficerAccountRow.__table__.c
_OFFICER_BY_ACCOUNT = (
    select(_OFF.id, _OFF.name, _OFF.role, _OFF.unit_id, _OFF.active)
    .select_from(
        OfficerRow.__table__.join(OfficerAccountRow.__table__, _ACC.officer_id == _OFF.id)
    )
    .where(_ACC.account_index == bindparam("ix"), _OFF.active.is_(True))
)


class SqlOfficers:
    """Officers and their channel accounts."""

    def __init__(self, session: AsyncSession, vault: Vault, units: SqlUnits | None = None) -> None:
        self._s = session
        self._v = vault
        self._units = units if units is not None else SqlUnits(session)

    async def _officer(self, row: Any) -> Officer:
        return Officer(
            row.id,
            row.name,
            Role(row.role),
            row.unit_id,
            row.active,
            scope=await self._scope(row.unit_id),
        )

    async def _scope(self, unit_id: int | None) -> frozenset[int] | None:
        """The units an officer of this unit sees: its subtree; None (all) for no unit or
        the root."""
        if unit_id is None:
            return None
        tree = await self._units.tree()
        unit = tree.get(unit_id)
        if unit is None:
            return frozenset()  # a unit missing from the tree sees nothing (fail closed)
        if unit.parent_id is None:
            return None
        return tree.subtree(unit_id)

    def _account_index(self, channel: str, account_id: str) -> str:
        return self._v.blind_index("officer", f"{channel}:{account_id}")

    async def by_account(self, channel: str, account_id: str) -> Officer | None:
        """Return the active officer who owns this channel account."""
        ix = self._account_index(channel, account_id)
        row = (await self._s.execute(_OFFICER_BY_ACCOUNT, {"ix": ix})).first()
        if row is None:
            return None
        return await self._officer(row)

    async def get(self, officer_id: int) -> Officer | None:
        """Return an officer by id."""
        row = await self._s.get(OfficerRow, officer_id)
        return await self._officer(row) if row else None

    async def add(
        self,
        name: str,
        role: Role,
        at: datetime,
        *,
        unit_id: int | None = None,
        accounts: Mapping[str, str] | None = None,
    ) -> Officer:
        """Register an officer with accounts per channel."""
        row = OfficerRow(name=name, role=role.value, unit_id=unit_id, active=True, created_at=at)
        self._s.add(row)
        await self._s.flush()
        for channel, account_id in (accounts or {}).items():
            index = self._account_index(channel, account_id)
            self._s.add(
                OfficerAccountRow(
                    officer_id=row.id,
                    channel=channel,
                    account_index=index,
                    account_ct=self._v.seal_contact(
                        {"channel": channel, "chat_id": account_id},
                        aad("officer_accounts", index, "account"),
                    ),
                )
            )
        await self._s.flush()
        return await self._officer(row)

    async def list(self, *, include_inactive: bool = False) -> Sequence[Officer]:
        """Return officers by id."""
        stmt = select(OfficerRow).order_by(OfficerRow.id)
        if not include_inactive:
            stmt = stmt.where(OfficerRow.active.is_(True))
        return [await self._officer(r) for r in (await self._s.execute(stmt)).scalars().all()]

    async def channels_of(self, officer_id: int) -> builtins.list[str]:
        """Return the channels an officer has accounts on."""
        stmt = select(OfficerAccountRow.channel).where(OfficerAccountRow.officer_id == officer_id)
        return sorted((await self._s.execute(stmt)).scalars().all())

    async def accounts(self, channel: str) -> builtins.list[tuple[Officer, str]]:
        """Return active officers with their decrypted account id on a channel."""
        stmt = (
            select(OfficerRow, OfficerAccountRow)
            .join(OfficerAccountRow, OfficerAccountRow.officer_id == OfficerRow.id)
            .where(OfficerAccountRow.channel == channel, OfficerRow.active.is_(True))
        )
        result = []
        for officer, account in (await self._s.execute(stmt)).all():
            data = self._v.open_contact(
                account.account_ct, aad("officer_accounts", account.account_index, "account")
            )
            result.append((await self._officer(officer), data["chat_id"]))
        return result

    async def deactivate(self, officer_id: int) -> bool:
        """Remove an officer: keep the row for the audit trail, drop the accounts."""
        row = await self._s.get(OfficerRow, officer_id)
        if row is None or not row.active:
            return False
        row.active = False
        await self._s.execute(
            delete(OfficerAccountRow).where(OfficerAccountRow.officer_id == officer_id)
        )
        return True


_AUDIT_PENDING = "xinfang.audit_pending"


@dataclass(frozen=True)
class _PendingAudit:
    """An audit entry waiting for its place on the chain (taken when the transaction
    commits)."""

    vault: Vault
    at: datetime
    role: str
    action: str
    actor_officer_id: int | None
    subject_officer_id: int | None
    case_id: int | None
    channel: str | None
    detail: dict[str, Any] | None


def _lock_audit_head(session: Session, postgres: bool) -> tuple[int | None, str]:
    """Lock the chain's head row and return (last id, hash); create it if missing."""
    stmt = (
        select(AuditHeadRow.last_id, AuditHeadRow.hash)
        .where(AuditHeadRow.id == 1)
        .with_for_update()
    )
    found = session.execute(stmt).first()
    if found is None:
        # The migration writes it; only an emptied table lacks it. Start from the last
        # entry there is, so that whatever remains is still checked against the new ones.
        last = session.execute(
            select(AuditRow.id, AuditRow.hash).order_by(AuditRow.id.desc()).limit(1)
        ).first()
        make = pg_insert if postgres else sqlite_insert
        session.execute(
            make(AuditHeadRow)
            .values(id=1, last_id=last[0] if last else None, hash=last[1] if last else GENESIS)
            .on_conflict_do_nothing()
        )
        found = session.execute(stmt).first()
    assert found is not None
    return found[0], str(found[1])


def _append_audit(session: Session) -> None:
    """Chain and insert the transaction's audit entries, just before it commits.

    Everything else is flushed first, so the head lock is the last lock the transaction
    takes (no deadlock with row locks) and is held only for the commit itself. Ids are
    taken under the lock, so on PostgreSQL too the chain's order is the ids' order. Any
    failure here fails the commit: the action and its audit entries go together or not at
    all.
    """
    pending: list[_PendingAudit] | None = session.info.pop(_AUDIT_PENDING, None)
    if not pending:
        return
    session.flush()
    postgres = session.get_bind().dialect.name == "postgresql"
    last_id, prev = _lock_audit_head(session, postgres)
    next_sqlite = None
    if not postgres:
        found = session.execute(select(func.max(AuditRow.id))).scalar_one_or_none()
        next_sqlite = int(found or 0)
    for entry in pending:
        if postgres:
            row_id = int(session.execute(text("SELECT nextval('audit_log_id_seq')")).scalar_one())
        else:
            assert next_sqlite is not None
            next_sqlite += 1
            row_id = next_sqlite
        blob = (
            entry.vault.encrypt_json(entry.detail, aad("audit_log", row_id, "detail"))
            if entry.detail
            else None
        )
        digest = detail_digest(blob)
        fields: dict[str, Any] = {
            "id": row_id,
            "at": entry.at,
            "actor_officer_id": entry.actor_officer_id,
            "subject_officer_id": entry.subject_officer_id,
            "role": entry.role,
            "action": entry.action,
            "case_id": entry.case_id,
            "channel": entry.channel,
            "detail_digest": digest,
            "prev_hash": prev,
        }
        value = entry_hash(**fields)
        session.execute(
            insert(AuditRow).values(
                id=row_id,
                at=entry.at,
                actor_role=entry.role,
                actor_officer_id=entry.actor_officer_id,
                subject_officer_id=entry.subject_officer_id,
                action=entry.action,
                case_id=entry.case_id,
                channel=entry.channel,
                detail_ct=blob,
                detail_digest=digest,
                prev_hash=prev,
                hash=value,
            )
        )
        prev, last_id = value, row_id
    session.execute(
        update(AuditHeadRow).where(AuditHeadRow.id == 1).values(last_id=last_id, hash=prev)
    )


def _forget_audit(session: Session, transaction: Any) -> None:
    if transaction.parent is None:  # the outermost transaction ended (rolled back)
        session.info.pop(_AUDIT_PENDING, None)


event.listen(Session, "before_commit", _append_audit)
event.listen(Session, "after_transaction_end", _forget_audit)


def _chain_entry(row: AuditRow) -> ChainEntry:
    return ChainEntry(
        id=row.id,
        at=row.at,
        actor_officer_id=row.actor_officer_id,
        subject_officer_id=row.subject_officer_id,
        role=row.actor_role,
        action=row.action,
        case_id=row.case_id,
        channel=row.channel,
        detail_digest=row.detail_digest,
        prev_hash=row.prev_hash,
        hash=row.hash,
        detail_ct=bytes(row.detail_ct) if row.detail_ct is not None else None,
    )


class SqlAudit:
    """The audit log: a hash chain (storage/audit_chain.py) appended at commit.

    Reading the chain and listing entries need no keys (``vault`` may be None there)."""

    def __init__(self, session: AsyncSession, vault: Vault | None) -> None:
        self._s = session
        self._v = vault

    @property
    def _vault(self) -> Vault:
        if self._v is None:
            raise RuntimeError("the audit log was opened without keys")
        return self._v

    async def add(
        self,
        at: datetime,
        actor_role: Role,
        action: str,
        *,
        actor_officer_id: int | None = None,
        case_id: int | None = None,
        detail: Mapping[str, Any] | None = None,
        subject_officer_id: int | None = None,
        channel: str | None = None,
    ) -> None:
        """Record an action; it joins the chain when this transaction commits (and a
        failure to write it fails the commit, so the action does not happen either)."""
        pending = self._s.info.setdefault(_AUDIT_PENDING, [])
        pending.append(
            _PendingAudit(
                self._vault,
                at,
                actor_role.value,
                action,
                actor_officer_id,
                subject_officer_id,
                case_id,
                channel,
                dict(detail) if detail else None,
            )
        )

    async def list(self, case_id: int | None = None) -> builtins.list[dict[str, Any]]:
        """Return audit entries (decrypted details), oldest first."""
        stmt = select(AuditRow).order_by(AuditRow.id)
        if case_id is not None:
            stmt = stmt.where(AuditRow.case_id == case_id)
        return [
            {
                "id": r.id,
                "at": r.at,
                "actor_role": r.actor_role,
                "actor_officer_id": r.actor_officer_id,
                "subject_officer_id": r.subject_officer_id,
                "channel": r.channel,
                "action": r.action,
                "case_id": r.case_id,
                "detail": (
                    self._vault.decrypt_json(r.detail_ct, aad("audit_log", r.id, "detail"))
                    if r.detail_ct
                    else {}
                ),
            }
            for r in (await self._s.execute(stmt)).scalars().all()
        ]

    async def entries(
        self,
        *,
        case_id: int | None = None,
        officer_id: int | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        after_id: int | None = None,
        limit: int = 200,
    ) -> builtins.list[dict[str, Any]]:
        """Entries for people to read (time, person, role, action, case number), oldest
        first; never details. ``officer_id`` matches who acted and whom it concerned."""
        stmt = (
            select(
                AuditRow.id,
                AuditRow.at,
                AuditRow.actor_officer_id,
                OfficerRow.name,
                AuditRow.subject_officer_id,
                AuditRow.actor_role,
                AuditRow.action,
                AuditRow.channel,
                CaseRow.number,
            )
            .outerjoin(OfficerRow, OfficerRow.id == AuditRow.actor_officer_id)
            .outerjoin(CaseRow, CaseRow.id == AuditRow.case_id)
            .order_by(AuditRow.id)
            .limit(limit)
        )
        if case_id is not None:
            stmt = stmt.where(AuditRow.case_id == case_id)
        if officer_id is not None:
            stmt = stmt.where(
                or_(
                    AuditRow.actor_officer_id == officer_id,
                    AuditRow.subject_officer_id == officer_id,
                )
            )
        if start is not None:
            stmt = stmt.where(AuditRow.at >= start)
        if end is not None:
            stmt = stmt.where(AuditRow.at < end)
        if after_id is not None:
            stmt = stmt.where(AuditRow.id > after_id)
        return [
            {
                "id": r[0],
                "at": r[1],
                "officer_id": r[2],
                "officer": r[3],
                "subject_officer_id": r[4],
                "role": r[5],
                "action": r[6],
                "channel": r[7],
                "case": r[8],
            }
            for r in (await self._s.execute(stmt)).all()
        ]

    async def chain(self, after_id: int | None = None, limit: int = 1000) -> Sequence[ChainEntry]:
        """A page of the chain in id order, as stored (for verification, no keys)."""
        stmt = select(AuditRow).order_by(AuditRow.id).limit(limit)
        if after_id is not None:
            stmt = stmt.where(AuditRow.id > after_id)
        return [_chain_entry(r) for r in (await self._s.execute(stmt)).scalars().all()]

    async def head(self) -> tuple[int | None, str] | None:
        """The head record (last id, hash), or None when it is missing."""
        found = (
            await self._s.execute(
                select(AuditHeadRow.last_id, AuditHeadRow.hash).where(AuditHeadRow.id == 1)
            )
        ).first()
        return (found[0], str(found[1])) if found else None

    async def last(self) -> tuple[int, str] | None:
        """The chain's last entry (id, hash), or None when the trail is empty."""
        found = (
            await self._s.execute(
                select(AuditRow.id, AuditRow.hash).order_by(AuditRow.id.desc()).limit(1)
            )
        ).first()
        return (int(found[0]), str(found[1])) if found else None


_RATE_LIMITS = RateLimitRow.__table__
# Every tracking-code look-up reads its sender's failures first: built once, in Core.
_LIMIT_CURRENT = select(_RATE_LIMITS.c.window_start, _RATE_LIMITS.c.count).where(
    _RATE_LIMITS.c.key_index == bindparam("ix")
)


def _limit_hit(postgres: bool) -> Any:
    """The upsert of SqlRateLimits.hit for one database: key ``ix``, time ``now``, and
    ``since``, the start of a window still current."""
    table = _RATE_LIMITS
    make = pg_insert if postgres else sqlite_insert
    stmt = make(table).values(key_index=bindparam("ix"), window_start=bindparam("now"), count=1)
    expired = table.c.window_start <= bindparam("since")
    return stmt.on_conflict_do_update(
        index_elements=[table.c.key_index],
        set_={
            "window_start": sql_case(
                (expired, stmt.excluded.window_start), else_=table.c.window_start
            ),
            "count": sql_case((expired, 1), else_=table.c.count + 1),
        },
    ).returning(table.c.count)


_LIMIT_HIT = {True: _limit_hit(True), False: _limit_hit(False)}


class SqlRateLimits:
    """Fixed-window counters under blind indexes."""

    def __init__(self, session: AsyncSession, vault: Vault) -> None:
        self._s = session
        self._v = vault

    def _key(self, key: str) -> str:
        return _limit_index(self._v, key)

    def _postgres(self) -> bool:
        return self._s.get_bind().dialect.name == "postgresql"

    async def count(self, key: str, window: timedelta, now: datetime) -> int:
        """Return the hits in the current window."""
        row = (await self._s.execute(_LIMIT_CURRENT, {"ix": self._key(key)})).first()
        # A window that has run out counts nothing; the row is left as it is (hit() starts
        # a new window): writing ``now`` into it would record when the account asked.
        if row is None or now - row[0] >= window:
            return 0
        return int(row[1])  # by position: a Row's .count is tuple.count

    async def purge(self, before: datetime) -> int:
        """Forget counters whose window started before ``before``: kept any longer, they
        would be a log of when an account tried a tracking code or a password."""
        result = await self._s.execute(
            delete(RateLimitRow).where(RateLimitRow.window_start < before)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def hit(self, key: str, window: timedelta, now: datetime) -> int:
        """Count one more hit and return the total in the current window.

        One INSERT … ON CONFLICT DO UPDATE … RETURNING: atomic on both databases, so
        workers counting at the same moment each get their own number (a read followed
        by a write would let them all see the same count).
        """
        values = {"ix": self._key(key), "now": now, "since": now - window}
        return int((await self._s.execute(_LIMIT_HIT[self._postgres()], values)).scalar_one())

    async def refund(self, key: str) -> None:
        """Take one hit back (an attempt that turned out legitimate)."""
        table = _RATE_LIMITS
        await self._s.execute(
            update(table)
            .where(table.c.key_index == self._key(key), table.c.count > 0)
            .values(count=table.c.count - 1)
        )

    async def forget(self, *keys: str) -> None:
        """Drop these counters altogether."""
        await self._s.execute(
            delete(RateLimitRow).where(RateLimitRow.key_index.in_([self._key(k) for k in keys]))
        )

    async def gate(self, key: str) -> tuple[datetime, int] | None:
        """A wait gate: (time the next attempt may start, failures so far), if any."""
        found = (
            await self._s.execute(
                select(RateLimitRow.window_start, RateLimitRow.count).where(
                    RateLimitRow.key_index == self._key(key)
                )
            )
        ).first()
        return (found[0], int(found[1])) if found else None

    async def claim_gate(
        self, key: str, seen: tuple[datetime, int], until: datetime, now: datetime
    ) -> bool:
        """Take an open gate for one attempt, closing it until ``until``; False if another
        attempt took it first (a compare-and-set on the values read by :meth:`gate`)."""
        table = _RATE_LIMITS
        result = await self._s.execute(
            update(table)
            .where(
                table.c.key_index == self._key(key),
                table.c.window_start == seen[0],
                table.c.count == seen[1],
                table.c.window_start <= now,
            )
            .values(window_start=until, count=seen[1] + 1)
        )
        return int(result.rowcount) == 1  # type: ignore[attr-defined]

    async def close_gate(self, key: str, until: datetime, failures: int) -> None:
        """Close a gate until ``until`` (created if missing), recording ``failures``."""
        table = _RATE_LIMITS
        make = pg_insert if self._postgres() else sqlite_insert
        stmt = make(table).values(key_index=self._key(key), window_start=until, count=failures)
        stmt = stmt.on_conflict_do_update(
            index_elements=[table.c.key_index],
            set_={"window_start": stmt.excluded.window_start, "count": stmt.excluded.count},
        )
        await self._s.execute(stmt)


_MARK = {
    True: pg_insert(ProcessedUpdateRow.__table__).on_conflict_do_nothing(),
    False: sqlite_insert(ProcessedUpdateRow.__table__).on_conflict_do_nothing(),
}


class SqlProcessedUpdates:
    """Inbound updates already handled (Telegram update_id, WeCom MsgId), by blind index."""

    def __init__(self, session: AsyncSession, vault: Vault) -> None:
        self._s = session
        self._v = vault

    async def mark(self, key: str, at: datetime) -> bool:
        """Record ``key`` (e.g. ``wecom:msg:123``); False if it was recorded before."""
        values = {"key_index": self._v.blind_index("update", key), "at": at}
        # INSERT .. ON CONFLICT DO NOTHING is atomic on both databases, so two workers
        # handed the same retry cannot both see it as new.
        stmt = _MARK[self._s.get_bind().dialect.name == "postgresql"]
        result = await self._s.execute(stmt, values)
        fresh = int(result.rowcount) == 1  # type: ignore[attr-defined]
        if fresh and key.startswith("telegram:"):
            # A polled update kept until handled (it holds the sender's account) goes in the
            # same transaction that records it as handled. Only Telegram's: other channels'
            # keys would pay a DELETE that finds nothing (WeCom's inbox row goes by its id).
            await self._s.execute(
                delete(TelegramInboxRow).where(TelegramInboxRow.key_index == values["key_index"])
            )
        return fresh

    async def purge(self, before: datetime) -> int:
        """Forget updates recorded before ``before`` (platforms stop retrying after minutes)."""
        result = await self._s.execute(
            delete(ProcessedUpdateRow).where(ProcessedUpdateRow.at < before)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]


class SqlTelegramRefs:
    """Admin-chat messages and forum topics that belong to a case (Telegram adapter)."""

    def __init__(self, session: AsyncSession, vault: Vault) -> None:
        self._s = session
        self._v = vault

    def _chat(self, chat_id: int) -> str:
        return self._v.blind_index("telegram.chat", str(chat_id))

    async def add(self, chat_id: int, kind: str, ref_id: int, case_id: int, at: datetime) -> None:
        """Remember that message or topic ``ref_id`` in this chat belongs to a case."""
        self._s.add(
            TelegramRefRow(
                chat_index=self._chat(chat_id), kind=kind, ref_id=ref_id, case_id=case_id, at=at
            )
        )
        await self._s.flush()

    async def case_of(self, chat_id: int, kind: str, ref_id: int) -> int | None:
        """Return the case a message or topic belongs to, if any."""
        stmt = select(TelegramRefRow.case_id).where(
            TelegramRefRow.chat_index == self._chat(chat_id),
            TelegramRefRow.kind == kind,
            TelegramRefRow.ref_id == ref_id,
        )
        return (await self._s.execute(stmt)).scalars().first()

    async def topic_of(self, chat_id: int, case_id: int) -> int | None:
        """Return the forum topic (message_thread_id) of a case, if one was created."""
        stmt = (
            select(TelegramRefRow.ref_id)
            .where(
                TelegramRefRow.chat_index == self._chat(chat_id),
                TelegramRefRow.kind == "topic",
                TelegramRefRow.case_id == case_id,
            )
            .order_by(TelegramRefRow.id)
        )
        return (await self._s.execute(stmt)).scalars().first()


class SqlTelegramInbox:
    """Polled Telegram updates kept until handled (see TelegramInboxRow)."""

    def __init__(self, session: AsyncSession, vault: Vault) -> None:
        self._s = session
        self._v = vault

    async def add(self, updates: Sequence[tuple[int, dict[str, Any]]], at: datetime) -> None:
        """Keep these (update_id, update as JSON) pairs; ones kept before are left alone."""
        rows = []
        for update_id, data in updates:
            index = self._v.blind_index("update", f"telegram:{update_id}")
            rows.append(
                {
                    "key_index": index,
                    "update_id": update_id,
                    "payload_ct": self._v.encrypt_json(
                        data, aad("telegram_inbox", index, "payload")
                    ),
                    "at": at,
                }
            )
        if not rows:
            return
        if self._s.get_bind().dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            stmt: Any = pg_insert(TelegramInboxRow).on_conflict_do_nothing()
        else:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            stmt = sqlite_insert(TelegramInboxRow).on_conflict_do_nothing()
        await self._s.execute(stmt, rows)

    async def unhandled(self) -> builtins.list[dict[str, Any]]:
        """Kept updates with no processed_updates record, oldest first."""
        handled = select(ProcessedUpdateRow.key_index).where(
            ProcessedUpdateRow.key_index == TelegramInboxRow.key_index
        )
        stmt = (
            select(TelegramInboxRow.key_index, TelegramInboxRow.payload_ct)
            .where(~handled.exists())
            .order_by(TelegramInboxRow.update_id)
        )
        rows = (await self._s.execute(stmt)).all()
        return [
            self._v.decrypt_json(blob, aad("telegram_inbox", index, "payload"))
            for index, blob in rows
        ]

    async def purge(self, before: datetime) -> int:
        """Forget handled updates, and any kept since before ``before`` (handled or not)."""
        handled = select(ProcessedUpdateRow.key_index)
        result = await self._s.execute(
            delete(TelegramInboxRow).where(
                TelegramInboxRow.key_index.in_(handled) | (TelegramInboxRow.at < before)
            )
        )
        return int(result.rowcount)  # type: ignore[attr-defined]


class SqlWeb:
    """The web channel's officer logins and sessions, and its admin-chat history.

    Login names and session tokens are kept only as blind indexes; an officer's web
    account is ``officer:<id>`` on channel ``web``, so a removed officer (whose accounts
    are dropped) can no longer act even with a live session.
    """

    def __init__(self, session: AsyncSession, vault: Vault) -> None:
        self._s = session
        self._v = vault

    def _login(self, login: str) -> str:
        return self._v.blind_index("web.login", login.strip().casefold())

    def _token(self, token: str) -> str:
        return self._v.blind_index("web.session", token)

    @staticmethod
    def account_of(officer_id: int) -> str:
        """The officer's account id on the web channel (``officers.by_account("web", …)``)."""
        return f"officer:{officer_id}"

    async def set_login(
        self, officer_id: int, login: str, password_hash: str, at: datetime
    ) -> None:
        """Give an officer a web login (or a new password) and their web account; a reset
        signs out every session of theirs, so a stolen or forgotten browser is locked out."""
        row = await self._s.get(WebCredentialRow, officer_id)
        if row is None:
            row = WebCredentialRow(officer_id=officer_id, updated_at=at)
            self._s.add(row)
        else:
            await self._s.execute(
                delete(WebSessionRow).where(WebSessionRow.officer_id == officer_id)
            )
        row.login_index = self._login(login)
        row.password_hash = password_hash
        row.updated_at = at
        account = self.account_of(officer_id)
        # The same index and sealing as SqlOfficers.add, so officers.by_account finds it.
        index = self._v.blind_index("officer", f"web:{account}")
        found = await self._s.execute(
            select(OfficerAccountRow.id).where(OfficerAccountRow.account_index == index)
        )
        if found.scalar_one_or_none() is None:
            self._s.add(
                OfficerAccountRow(
                    officer_id=officer_id,
                    channel="web",
                    account_index=index,
                    account_ct=self._v.seal_contact(
                        {"channel": "web", "chat_id": account},
                        aad("officer_accounts", index, "account"),
                    ),
                )
            )
        await self._s.flush()

    async def login_taken(self, login: str) -> bool:
        """Whether a web login name is in use."""
        stmt = select(WebCredentialRow.officer_id).where(
            WebCredentialRow.login_index == self._login(login)
        )
        return (await self._s.execute(stmt)).scalar_one_or_none() is not None

    async def credentials(self, login: str) -> tuple[int, str] | None:
        """Return (officer id, password hash) of an active officer's login, if any."""
        stmt = (
            select(WebCredentialRow.officer_id, WebCredentialRow.password_hash)
            .join(OfficerRow, OfficerRow.id == WebCredentialRow.officer_id)
            .where(WebCredentialRow.login_index == self._login(login), OfficerRow.active.is_(True))
        )
        found = (await self._s.execute(stmt)).first()
        return (int(found[0]), str(found[1])) if found else None

    async def set_totp(self, officer_id: int, secret: str | None) -> None:
        """Store (or with None, remove) an officer's TOTP secret, encrypted and bound to
        the officer."""
        blob = (
            self._v.encrypt_text(secret, aad("officers", officer_id, "totp"))
            if secret is not None
            else None
        )
        await self._s.execute(
            update(OfficerRow).where(OfficerRow.id == officer_id).values(totp_ct=blob)
        )

    async def totp_secret(self, officer_id: int) -> str | None:
        """An officer's TOTP secret, if they enrolled one."""
        stmt = select(OfficerRow.totp_ct).where(OfficerRow.id == officer_id)
        blob = (await self._s.execute(stmt)).scalar_one_or_none()
        if blob is None:
            return None
        return self._v.decrypt_text(blob, aad("officers", officer_id, "totp"))

    async def update_hash(self, officer_id: int, password_hash: str, at: datetime) -> None:
        """Store a re-computed hash (stronger parameters) after a successful login."""
        await self._s.execute(
            update(WebCredentialRow)
            .where(WebCredentialRow.officer_id == officer_id)
            .values(password_hash=password_hash, updated_at=at)
        )

    async def open_session(
        self, token: str, officer_id: int, now: datetime, lifetime: timedelta
    ) -> None:
        """Record a new signed-in session."""
        self._s.add(
            WebSessionRow(
                token_index=self._token(token),
                officer_id=officer_id,
                created_at=now,
                last_seen_at=now,
                expires_at=now + lifetime,
            )
        )
        await self._s.flush()

    async def session_officer(self, token: str, now: datetime, idle: timedelta) -> int | None:
        """Return the officer of a live session and note the activity; None when expired."""
        row = await self._s.get(WebSessionRow, self._token(token))
        if row is None:
            return None
        if row.expires_at <= now or now - row.last_seen_at >= idle:
            await self._s.delete(row)
            return None
        if now - row.last_seen_at >= timedelta(minutes=1):
            row.last_seen_at = now  # fewer writes: activity is noted once a minute
        return row.officer_id

    async def close_session(self, token: str) -> None:
        """Sign a session out."""
        await self._s.execute(
            delete(WebSessionRow).where(WebSessionRow.token_index == self._token(token))
        )

    async def purge_sessions(self, now: datetime) -> int:
        """Forget sessions past their absolute expiry."""
        stmt = delete(WebSessionRow).where(WebSessionRow.expires_at <= now)
        result = await self._s.execute(stmt)
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def admin_feed(self, limit: int) -> Sequence[OutboxRow]:
        """The web admin chat's latest messages (its outbox rows), oldest first."""
        stmt = (
            select(OutboxRow)
            .where(OutboxRow.channel == "web", OutboxRow.audience == "admin")
            .order_by(OutboxRow.id.desc())
            .limit(limit)
        )
        rows = (await self._s.execute(stmt)).scalars().all()
        return list(reversed(rows))


class SqlDisclosureRequests:
    """Requests to disclose a real-name identity; the reason is encrypted, bound to its row."""

    def __init__(self, session: AsyncSession, vault: Vault) -> None:
        self._s = session
        self._v = vault

    def _to(self, row: DisclosureRequestRow) -> DisclosureRequest:
        reason = self._v.decrypt_text(row.reason_ct, aad("disclosure_requests", row.id, "reason"))
        return DisclosureRequest(
            id=row.id,
            case_id=row.case_id,
            scheme=row.scheme,
            status=row.status,
            requester_officer_id=row.requester_officer_id,
            reason=reason,
            created_at=row.created_at,
            approver_officer_id=row.approver_officer_id,
            approved_at=row.approved_at,
            opened_at=row.opened_at,
        )

    async def add(
        self, case_id: int, scheme: str, requester_officer_id: int, reason: str, now: datetime
    ) -> DisclosureRequest:
        """Record a request; under 1of1 it needs no second custodian and is approved at once."""
        row_id = await next_id(self._s, "disclosure_requests")
        single = scheme == "1of1"
        row = DisclosureRequestRow(
            id=row_id,
            case_id=case_id,
            scheme=scheme,
            status="approved" if single else "pending",
            requester_officer_id=requester_officer_id,
            approver_officer_id=requester_officer_id if single else None,
            reason_ct=self._v.encrypt_text(reason, aad("disclosure_requests", row_id, "reason")),
            created_at=now,
            approved_at=now if single else None,
        )
        self._s.add(row)
        await self._s.flush()
        return self._to(row)

    async def get(self, request_id: int, *, for_update: bool = False) -> DisclosureRequest | None:
        """A request by id (locked for the transaction with ``for_update``)."""
        stmt = select(DisclosureRequestRow).where(DisclosureRequestRow.id == request_id)
        if for_update:
            stmt = stmt.with_for_update()
        row = (await self._s.execute(stmt)).scalar_one_or_none()
        return self._to(row) if row is not None else None

    async def approve(self, request_id: int, approver_officer_id: int, now: datetime) -> None:
        """Record the second custodian's approval of a pending request."""
        await self._s.execute(
            update(DisclosureRequestRow)
            .where(DisclosureRequestRow.id == request_id, DisclosureRequestRow.status == "pending")
            .values(status="approved", approver_officer_id=approver_officer_id, approved_at=now)
        )

    async def mark_opened(self, request_id: int, now: datetime) -> None:
        """Record that an approved request was used; it cannot be used again."""
        await self._s.execute(
            update(DisclosureRequestRow)
            .where(
                DisclosureRequestRow.id == request_id, DisclosureRequestRow.status == "approved"
            )
            .values(status="opened", opened_at=now)
        )

    async def pending(self) -> builtins.list[DisclosureRequest]:
        """Requests waiting for a second custodian, oldest first."""
        stmt = (
            select(DisclosureRequestRow)
            .where(DisclosureRequestRow.status == "pending")
            .order_by(DisclosureRequestRow.id)
        )
        return [self._to(row) for row in (await self._s.execute(stmt)).scalars().all()]
