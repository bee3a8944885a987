"""SQLAlchemy models. Columns ending in ``_ct`` hold ciphertext made by the vault;
columns ending in ``_index`` hold HMAC blind indexes. Nothing else identifies a person.
The schema is created only by Alembic migrations (``storage/migrations``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "AttachmentRow",
    "AuditHeadRow",
    "AuditRow",
    "Base",
    "CaseEventRow",
    "CaseMessageRow",
    "CaseRow",
    "ConversationRow",
    "DisclosureRequestRow",
    "FeedbackRow",
    "NoticeRow",
    "OfficerAccountRow",
    "OfficerRow",
    "OutboxRow",
    "ProcessedUpdateRow",
    "RateLimitRow",
    "SchedulerStateRow",
    "SearchTokenRow",
    "TelegramRefRow",
    "WeComInboxRow",
    "WebCredentialRow",
    "WebSessionRow",
]


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every database (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
Id = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    """Declarative base with a naming convention so migrations are stable."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), bytes: LargeBinary()}

    if TYPE_CHECKING:  # every model here maps one Table; SQLAlchemy types it as any FromClause
        __table__: ClassVar[Table]


class UnitRow(Base):
    """A unit of the enterprise group (petitions.units); never deleted once it has cases."""

    __tablename__ = "units"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    retired: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime]


class OfficerRow(Base):
    """A person who handles cases; their name is staff data, not petitioner data."""

    __tablename__ = "officers"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(20))
    # Their unit: they see its subtree's cases; NULL sees all (no unit tree yet).
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    # The TOTP secret of their web sign-in (content key, bound to the officer); required
    # for custodians (bot/web/officer.py).
    totp_ct: Mapped[bytes | None]


class OfficerAccountRow(Base):
    """An officer's account on one channel: an index to find them, ciphertext to reach them."""

    __tablename__ = "officer_accounts"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    officer_id: Mapped[int] = mapped_column(ForeignKey("officers.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(20))
    account_index: Mapped[str] = mapped_column(String(64), unique=True)
    account_ct: Mapped[bytes]


class CaseRow(Base):
    """A petition."""

    __tablename__ = "cases"
    __table_args__ = (
        # The scheduler's selection of what is due, in order (keyset on the id).
        Index("ix_cases_next_notice", "next_notice_at", "id"),
        # Lists: an officer's own cases, and unassigned ones (owner NULL), by deadline.
        Index("ix_cases_owner_state", "owner_officer_id", "state", "deadline_at"),
        # Lists by state, most urgent first (the digest, /cases open|overdue|all).
        Index("ix_cases_state_deadline", "state", "deadline_at"),
        # The retention pass: cases not yet purged, by closing time (bot/retention.py).
        Index("ix_cases_retention", "purged_at", "closed_at"),
        # The ledger's sorts by registration date and by number (= id), each a keyset on
        # an indexed pair within a state (bot/web/ledger.py, SqlCases.ledger).
        Index("ix_cases_state_created", "state", "created_at", "id"),
        Index("ix_cases_state_id", "state", "id"),
        # Lists of one part of the group, by deadline (officers scoped to a subtree).
        Index("ix_cases_unit_state", "unit_id", "state", "deadline_at"),
        # Statistics of one part of the group by period (per-unit figures).
        Index("ix_cases_unit_created", "unit_id", "created_at"),
        # Lists' ranges of cases without a deadline, by id (SqlCases.list, ledger): a
        # state with none (open states) is then an empty range, not a scan of the
        # state's every case (migration 0020; bench/README.md, data_scale.py).
        Index(
            "ix_cases_state_undated",
            "state",
            "id",
            sqlite_where=text("deadline_at IS NULL"),
            postgresql_where=text("deadline_at IS NULL"),
        ),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    number: Mapped[str | None] = mapped_column(String(20), unique=True)
    tracking_index: Mapped[str] = mapped_column(String(64), unique=True)
    category: Mapped[str] = mapped_column(String(20), index=True)
    state: Mapped[str] = mapped_column(String(20), index=True)
    channel: Mapped[str] = mapped_column(String(20))
    anonymous: Mapped[bool] = mapped_column(Boolean)
    locale: Mapped[str] = mapped_column(String(10))
    description_ct: Mapped[bytes]
    identity_ct: Mapped[bytes | None]
    contact_ct: Mapped[bytes | None]
    contact_reachable: Mapped[bool] = mapped_column(Boolean, default=True)
    # push: updates go to the chat the petition came from (address kept encrypted until
    # contact_erase_at); code: no address at all, progress only by tracking code.
    contact_mode: Mapped[str] = mapped_column(String(10), default="push", server_default="push")
    contact_erase_at: Mapped[datetime | None] = mapped_column(index=True)
    owner_officer_id: Mapped[int | None] = mapped_column(ForeignKey("officers.id"))
    # 承办单位, the unit the matter concerns as the employee chose it, the unit deciding
    # the current review step, and why the case went above the chosen unit.
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    origin_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    review_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    conflict: Mapped[str | None] = mapped_column(String(12))
    priority: Mapped[int] = mapped_column(Integer, default=0)
    linked_case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    excluded_officer_id: Mapped[int | None] = mapped_column(ForeignKey("officers.id"))
    outcome: Mapped[str | None] = mapped_column(String(20))
    extension_days: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(index=True)  # statistics by period
    updated_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]
    responded_at: Mapped[datetime | None]
    review_requested_at: Mapped[datetime | None]
    reviewed_at: Mapped[datetime | None]
    recheck_requested_at: Mapped[datetime | None]
    rechecked_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    deadline_at: Mapped[datetime | None] = mapped_column(index=True)
    # 督办 (docs/ladder.md): the level the overdue alert of the current step reached above
    # the office of the step, the working deadline the last 督办 set (the statutory
    # deadline_at stays), and how many 督办 the case had. NULL reads as 0 (rows written in
    # bulk name every column: tests/helpers/seeding.py, bench/data_scale.py).
    supervision_level: Mapped[int | None] = mapped_column(Integer, default=0, server_default="0")
    supervised_until: Mapped[datetime | None]
    supervision_count: Mapped[int | None] = mapped_column(Integer, default=0, server_default="0")
    # Whether the 复查 / 复核 decided another outcome than the one before (NULL: not decided).
    review_changed: Mapped[bool | None] = mapped_column(Boolean)
    recheck_changed: Mapped[bool | None] = mapped_column(Boolean)
    # 交办: the unit that assigned the case down, and when its report back is due.
    assigned_by_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    report_due_at: Mapped[datetime | None]
    # The danger signs found at submission (petitions/warnings/urgent.py): their kinds,
    # sorted and joined by commas ("group_action,self_harm"); NULL for none. Never the text.
    urgent: Mapped[str | None] = mapped_column(String(40))
    # The employee's feedback as the statistics count it (migration 0018), so that they
    # read no feedback row: the latest rating (satisfied | basic | unsatisfied), and
    # whether a follow-up was answered unsolved / with retaliation (NULL reads as no).
    # Written from the case's feedback rows with each answer (SqlFeedback.save). No text,
    # no identity: like the answers on those rows they stay through the retention purge,
    # and go only with the case (feedback rows are deleted only with it, by cascade).
    feedback_rating: Mapped[str | None] = mapped_column(String(20))
    feedback_unsolved: Mapped[bool | None] = mapped_column(Boolean)
    feedback_retaliation: Mapped[bool | None] = mapped_column(Boolean)
    # 集体诉求 (petitions/collective.py): the lead petition's id of the collective matter the
    # case belongs to (the lead's own id for the lead); NULL: handled alone. No foreign key,
    # like the units' columns on SQLite: a plain id the application keeps consistent.
    matter_id: Mapped[int | None] = mapped_column(Integer, index=True)
    # When the scheduler must next look at the case: the earliest time a notice may fall
    # due (petitions.schedule.next_notice_at), or at once after a change; NULL when the
    # case owes nothing. Written in the transaction of every change (SqlCases.save/add).
    next_notice_at: Mapped[datetime | None]
    # When the content (description, messages, evidence, event details, comments, contact
    # and sealed identity) was destroyed under the retention period; the row stays for
    # statistics (bot/retention.py, docs/retention.md).
    purged_at: Mapped[datetime | None]


class CaseEventRow(Base):
    """One entry of a case's timeline: a transition or another recorded fact."""

    __tablename__ = "case_events"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(30))
    actor_role: Mapped[str] = mapped_column(String(20))
    actor_officer_id: Mapped[int | None] = mapped_column(ForeignKey("officers.id"))
    from_state: Mapped[str | None] = mapped_column(String(20))
    to_state: Mapped[str | None] = mapped_column(String(20))
    detail_ct: Mapped[bytes | None]


class CaseMessageRow(Base):
    """Text exchanged on a case: from the employee, answers to them, or internal notes."""

    __tablename__ = "case_messages"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(20))  # employee | answer | note
    author_officer_id: Mapped[int | None] = mapped_column(ForeignKey("officers.id"))
    body_ct: Mapped[bytes]


class AttachmentRow(Base):
    """Evidence: the file itself, encrypted; a draft's files belong to its sender index."""

    __tablename__ = "attachments"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    case_id: Mapped[int | None] = mapped_column(
        ForeignKey("cases.id", ondelete="CASCADE"), index=True
    )
    draft_owner_index: Mapped[str | None] = mapped_column(String(64), index=True)
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(20))  # photo | document
    # ok: stored after its metadata was removed (or kept as is by the employee's choice);
    # pending: could not be cleaned, waiting for the employee to keep or drop it.
    status: Mapped[str] = mapped_column(String(10), default="ok", server_default="ok")
    mime: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    name_ct: Mapped[bytes]
    data_ct: Mapped[bytes]


class ConversationRow(Base):
    """Where a chat stands in a guided conversation; the draft is encrypted."""

    __tablename__ = "conversations"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    sender_index: Mapped[str] = mapped_column(String(64), unique=True)
    step: Mapped[str] = mapped_column(String(40))
    locale: Mapped[str | None] = mapped_column(String(10))
    draft_ct: Mapped[bytes | None]
    updated_at: Mapped[datetime]
    expires_at: Mapped[datetime | None] = mapped_column(index=True)


class OutboxRow(Base):
    """A message waiting to be delivered, written in the transaction that caused it."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_pending", "status", "next_attempt_at"),
        # A case's rows (purged with the case's content; SqlOutbox.for_case).
        Index("ix_outbox_case", "case_id"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime]
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    audience: Mapped[str] = mapped_column(String(20))  # employee | admin | officer
    channel: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(30))
    payload_ct: Mapped[bytes]
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(200))


class AuditRow(Base):
    """Who did what to which case; details encrypted; each entry hashed onto the one
    before it (storage/audit_chain.py), so an edited or removed entry shows."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    actor_role: Mapped[str] = mapped_column(String(20))
    actor_officer_id: Mapped[int | None] = mapped_column(ForeignKey("officers.id"))
    action: Mapped[str] = mapped_column(String(40))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="SET NULL"))
    detail_ct: Mapped[bytes | None]
    # The officer an action was about (added, removed, given a role or a login), so that
    # `xinfang audit show --officer` finds changes to a person without decrypting details.
    subject_officer_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    channel: Mapped[str | None] = mapped_column(String(20))  # cli, web, ... when known
    detail_digest: Mapped[str | None] = mapped_column(String(100))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHeadRow(Base):
    """The audit chain's last entry (one row, id 1). Appending locks it (SELECT … FOR
    UPDATE), so two transactions never chain onto the same predecessor; verification
    compares it with the chain's end, so a removed tail shows."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_id: Mapped[int | None] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))


class ProcessedUpdateRow(Base):
    """Inbound updates already handled (Telegram update_id, WeCom MsgId), for idempotency."""

    __tablename__ = "processed_updates"
    key_index: Mapped[str] = mapped_column(String(64), primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)


class RateLimitRow(Base):
    """A fixed-window counter, e.g. failed tracking-code look-ups per sender."""

    __tablename__ = "rate_limits"
    key_index: Mapped[str] = mapped_column(String(64), primary_key=True)
    window_start: Mapped[datetime]
    count: Mapped[int] = mapped_column(Integer)


class TelegramRefRow(Base):
    """Which admin-chat message (kind ``message``) or forum topic (kind ``topic``, by
    message_thread_id) belongs to which case; the chat is kept as a blind index."""

    __tablename__ = "telegram_refs"
    __table_args__ = (UniqueConstraint("chat_index", "kind", "ref_id"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    chat_index: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(10))  # message | topic
    ref_id: Mapped[int] = mapped_column(BigInteger)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime]


class TelegramInboxRow(Base):
    """Updates fetched by long polling and not yet known to be handled: written before the
    next getUpdates confirms them to Telegram, so a crash in between loses none. The update
    (ids, names, text) is encrypted; ``key_index`` matches ``processed_updates``."""

    __tablename__ = "telegram_inbox"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    key_index: Mapped[str] = mapped_column(String(64), unique=True)
    update_id: Mapped[int] = mapped_column(BigInteger, index=True)
    payload_ct: Mapped[bytes] = mapped_column(LargeBinary)
    at: Mapped[datetime] = mapped_column(index=True)


class WeComInboxRow(Base):
    """WeCom callbacks answered and not yet handled: kept (in group commits) before the
    answer, since WeCom never resends a callback answered 200, and deleted in the handling
    transaction. The message (userid, text) is encrypted; ``key_index`` is the MsgId's
    blind index, the same as in ``processed_updates``, and the claim of a delivery."""

    __tablename__ = "wecom_inbox"
    __table_args__ = (Index("ix_wecom_inbox_person_id", "person", "id"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    key_index: Mapped[str] = mapped_column(String(64), unique=True)
    payload_ct: Mapped[bytes] = mapped_column(LargeBinary)
    at: Mapped[datetime] = mapped_column(index=True)
    # The sender's blind index (its own purpose: it matches no other table's key), so that
    # several webhook workers handle one person's callbacks in order (migration 0022).
    person: Mapped[str | None] = mapped_column(String(64))


class WebCredentialRow(Base):
    """An officer's web login: the login name as a blind index and an Argon2id hash."""

    __tablename__ = "web_credentials"
    officer_id: Mapped[int] = mapped_column(
        ForeignKey("officers.id", ondelete="CASCADE"), primary_key=True
    )
    login_index: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime]


class WebSessionRow(Base):
    """A signed-in officer's browser session; the cookie value is kept as a blind index."""

    __tablename__ = "web_sessions"
    token_index: Mapped[str] = mapped_column(String(64), primary_key=True)
    officer_id: Mapped[int] = mapped_column(
        ForeignKey("officers.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)


class NoticeRow(Base):
    """A scheduler notice already sent (reminder, overdue alert, automatic close,
    follow-up, digest), keyed so that catch-up after downtime sends each exactly once.

    ``scope`` is ``case:<id>`` or ``all`` (the digest): a unique constraint cannot use a
    nullable case id, since NULLs never collide."""

    __tablename__ = "notices"
    __table_args__ = (UniqueConstraint("scope", "kind", "due_key"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    case_id: Mapped[int | None] = mapped_column(
        ForeignKey("cases.id", ondelete="CASCADE"), index=True
    )
    scope: Mapped[str] = mapped_column(String(30))
    kind: Mapped[str] = mapped_column(String(30))
    due_key: Mapped[str] = mapped_column(String(40))
    sent_at: Mapped[datetime]


class SchedulerStateRow(Base):
    """What the scheduler keeps about itself: e.g. a digest of the configuration its stored
    next-notice times were computed with (a change makes every case due for a new look)."""

    __tablename__ = "scheduler_state"
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime]


class FeedbackRow(Base):
    """A question put to the employee of a case: satisfaction with an answer, or the
    follow-up (回头望) after closing. The buttons carry a random token kept here only as a
    blind index, so a button works from the employee's chat and nowhere else."""

    __tablename__ = "feedback"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # satisfaction | follow_up
    token_index: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    answered_at: Mapped[datetime | None]
    rating: Mapped[str | None] = mapped_column(String(20))  # satisfied | basic | unsatisfied
    comment_ct: Mapped[bytes | None]
    solved: Mapped[bool | None] = mapped_column(Boolean)
    retaliation: Mapped[bool | None] = mapped_column(Boolean)
    linked_case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="SET NULL"))


class DisclosureRequestRow(Base):
    """A custodian's request to open a case's sealed identity: who asked, who approved,
    when it was opened; the reason is encrypted with the content key."""

    __tablename__ = "disclosure_requests"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    scheme: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(12))
    requester_officer_id: Mapped[int] = mapped_column(ForeignKey("officers.id"))
    approver_officer_id: Mapped[int | None] = mapped_column(ForeignKey("officers.id"))
    reason_ct: Mapped[bytes]
    created_at: Mapped[datetime]
    approved_at: Mapped[datetime | None]
    opened_at: Mapped[datetime | None]


class SearchTokenRow(Base):
    """One token of a case's petition text (a CJK bigram or a Latin word) as a keyed hash:
    the ledger's search intersects them (storage/search.py); no text can be read back."""

    __tablename__ = "search_tokens"
    __table_args__ = (Index("ix_search_tokens_case", "case_id"),)
    # The first 64 bits of HMAC-SHA256(pepper, "search:" + token), as a signed integer.
    token: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    case_id: Mapped[int] = mapped_column(
        BigInteger,
        ForeignKey("cases.id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    )


class ReceptionSlotRow(Base):
    """A time a leader receives employees (领导接访, petitions.reception). The place (a
    room, or the link of an online reception) is staff data, yet encrypted with the content
    key: a meeting link may let anyone join."""

    __tablename__ = "reception_slots"
    __table_args__ = (
        # A leader's own slots by time (/slots), and the upcoming slots an employee is offered.
        Index("ix_reception_slots_leader", "leader_officer_id", "starts_at"),
        Index("ix_reception_slots_starts", "starts_at"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    leader_officer_id: Mapped[int] = mapped_column(ForeignKey("officers.id"))
    # The leader's unit when published: the cases of its subtree are offered the slot.
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    starts_at: Mapped[datetime]
    minutes: Mapped[int] = mapped_column(Integer)
    online: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    place_ct: Mapped[bytes]
    capacity: Mapped[int] = mapped_column(Integer)
    # Active bookings, kept beside the capacity so that booking is one conditional UPDATE
    # (booked < capacity): two employees can never take the last place together.
    booked: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime]


class ReceptionBookingRow(Base):
    """A case's place in a reception slot. It links the case to the slot and nothing else:
    no chat, no name (the reminder goes to the push address kept on the case)."""

    __tablename__ = "reception_bookings"
    __table_args__ = (
        Index("ix_reception_bookings_slot", "slot_id"),
        # The scheduler's day-before reminders that are due (NULL once sent).
        Index("ix_reception_bookings_remind", "remind_at"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    slot_id: Mapped[int] = mapped_column(ForeignKey("reception_slots.id"))
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(12))  # booked | cancelled | held
    booked_at: Mapped[datetime]
    remind_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    held_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(12))  # resolved | continue


# One active booking per case, enforced by the database as well (a partial unique index;
# declared after the class to name its columns).
Index(
    "uq_reception_bookings_active",
    ReceptionBookingRow.case_id,
    unique=True,
    sqlite_where=ReceptionBookingRow.status == "booked",
    postgresql_where=ReceptionBookingRow.status == "booked",
)

__all__ += ["ReceptionBookingRow", "ReceptionSlotRow"]


class SimilarCaseRow(Base):
    """Two petitions about the same matter (petitions/warnings, issue 16): one row each way,
    so a case's similar cases are one index range. The score only; no text, no identity."""

    __tablename__ = "similar_cases"
    # The other direction, for the foreign key's cascade.
    __table_args__ = (Index("ix_similar_cases_similar_id", "similar_id"),)
    case_id: Mapped[int] = mapped_column(
        ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True
    )
    similar_id: Mapped[int] = mapped_column(
        ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True
    )
    score: Mapped[float]  # cosine similarity, 0–1 (a double)
    found_at: Mapped[datetime]


class WarningAlertRow(Base):
    """An early-warning alert already given: a cluster (its case ids, kept so that a later
    scan finding the same cluster again updates it instead of alerting again) or a spike
    (unit, category and week, alerted once). Figures and ids only, never petition text."""

    __tablename__ = "warning_alerts"
    __table_args__ = (
        UniqueConstraint("kind", "alert_key"),
        # The current alerts (/warnings, the web 预警 view) and the clusters a scan
        # compares with: the recently updated ones.
        Index("ix_warning_alerts_kind_updated", "kind", "updated_at"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(10))  # cluster | spike
    alert_key: Mapped[str] = mapped_column(String(80))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    # A cluster's most central petition (the matter is its opening, read when shown).
    central_id: Mapped[int | None] = mapped_column(Id)
    case_ids: Mapped[str] = mapped_column(String())  # JSON list of case ids
    detail: Mapped[str] = mapped_column(String())  # JSON figures: count, trend, baseline, …
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


__all__ += ["SimilarCaseRow", "WarningAlertRow"]
