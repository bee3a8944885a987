"""The audit trail's hash chain: a canonical encoding of each entry and its verification.

Pure functions, no database and no keys: an auditor (or ``xinfang audit verify``) can
check the chain from the rows alone. Each entry's hash is SHA-256 over a canonical JSON
encoding (sorted keys, no whitespace, UTF-8) of its id, time (ISO-8601 UTC with
microseconds), actor, subject, role, action, case, channel, the digest of its encrypted
detail and the previous entry's hash; the first entry follows :data:`GENESIS`.

The detail enters as a digest (``<key id>:<sha256 of the ciphertext>``) taken when the
entry was written, not as the ciphertext itself: ``xinfang keys rotate`` re-encrypts every
ciphertext, audit details included, and a chain over the ciphertext would break at each
rotation. A detail whose key id is still the recorded one must match the digest byte for
byte; one under another key id was re-encrypted by a rotation and is accepted (its
authenticity then rests on AES-GCM with the row-bound associated data, i.e. on the keys).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

__all__ = [
    "GENESIS",
    "ChainChecker",
    "ChainEntry",
    "HeadError",
    "Verdict",
    "canonical",
    "detail_digest",
    "entry_hash",
    "format_at",
    "parse_head",
    "short_head",
    "verify_chain",
]

GENESIS = "0" * 64
_VERSION = 1
# The vault's ciphertext frame (storage/vault.py): version byte, key id length, key id.
_FRAME_VERSION = 1


@dataclass(frozen=True)
class ChainEntry:
    """One audit row as the chain sees it (no decrypted detail)."""

    id: int
    at: datetime
    actor_officer_id: int | None
    subject_officer_id: int | None
    role: str
    action: str
    case_id: int | None
    channel: str | None
    detail_digest: str | None
    prev_hash: str
    hash: str
    detail_ct: bytes | None = None  # as stored now (checked against the digest)


@dataclass(frozen=True)
class Verdict:
    """What verification found: ``ok``, or the first broken entry and why."""

    ok: bool
    checked: int
    head_id: int | None
    head_hash: str
    broken_id: int | None = None
    reason: str = ""  # in English, for logs
    rewrapped: int = 0  # details re-encrypted by key rotation since they were written
    # The reason as a code and its fields, for a UI to word it in its language:
    # not_following (after: an entry id, or None for the start), content_differs,
    # detail_removed, detail_added, detail_changed, tail_removed.
    code: str = ""
    params: Mapping[str, object] = field(default_factory=dict)


class HeadError(ValueError):
    """A published head that cannot be read; ``code`` and ``params`` for a UI to word it
    (``str()`` is the English text)."""

    def __init__(self, message: str, code: str, **params: object) -> None:
        super().__init__(message)
        self.code = code
        self.params = params


def format_at(at: datetime) -> str:
    """ISO-8601 in UTC with microseconds, e.g. ``2026-03-01T08:00:00.000000Z``."""
    if at.tzinfo is None:
        raise ValueError("naive datetime in the audit chain")
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _key_id(blob: bytes) -> str | None:
    if len(blob) < 3 or blob[0] != _FRAME_VERSION or len(blob) < 2 + blob[1]:
        return None
    return blob[2 : 2 + blob[1]].decode("ascii", "replace")


def detail_digest(blob: bytes | None) -> str | None:
    """``<key id>:<sha256 hex>`` of an encrypted detail, or None without one."""
    if blob is None:
        return None
    return f"{_key_id(blob) or '?'}:{hashlib.sha256(blob).hexdigest()}"


def canonical(
    *,
    id: int,
    at: datetime,
    actor_officer_id: int | None,
    subject_officer_id: int | None,
    role: str,
    action: str,
    case_id: int | None,
    channel: str | None,
    detail_digest: str | None,
    prev_hash: str,
) -> bytes:
    """The bytes an entry's hash is taken over (sorted keys, no whitespace, UTF-8)."""
    value = {
        "v": _VERSION,
        "id": id,
        "at": format_at(at),
        "actor": actor_officer_id,
        "subject": subject_officer_id,
        "role": role,
        "action": action,
        "case": case_id,
        "channel": channel,
        "detail": detail_digest,
        "prev": prev_hash,
    }
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def entry_hash(**fields: object) -> str:
    """SHA-256 (hex) of :func:`canonical` of these fields."""
    return hashlib.sha256(canonical(**fields)).hexdigest()  # type: ignore[arg-type]


def _hash_of(entry: ChainEntry) -> str:
    return entry_hash(
        id=entry.id,
        at=entry.at,
        actor_officer_id=entry.actor_officer_id,
        subject_officer_id=entry.subject_officer_id,
        role=entry.role,
        action=entry.action,
        case_id=entry.case_id,
        channel=entry.channel,
        detail_digest=entry.detail_digest,
        prev_hash=entry.prev_hash,
    )


def short_head(entry_id: int | None, hash_hex: str) -> str:
    """The head as published in the digest: ``<id>:<first 16 hex digits>``."""
    return f"{entry_id or 0}:{hash_hex[:16]}"


def _detail_problem(entry: ChainEntry) -> str | None:
    """Why the stored detail does not belong to the entry (a code: detail_removed, ...),
    or None (the flag says rewrap)."""
    if entry.detail_ct is None:
        return "detail_removed" if entry.detail_digest is not None else None
    if entry.detail_digest is None:
        return "detail_added"
    recorded_kid = entry.detail_digest.partition(":")[0]
    now_kid = _key_id(entry.detail_ct)
    if now_kid == recorded_kid and detail_digest(entry.detail_ct) != entry.detail_digest:
        return "detail_changed"
    return None


class ChainChecker:
    """Checks entries fed in id order (page by page); stops at the first broken one."""

    def __init__(self) -> None:
        self.prev = GENESIS
        self.last_id: int | None = None
        self.checked = 0
        self.rewrapped = 0
        self.broken: Verdict | None = None

    def _fail(
        self, entry_id: int | None, reason: str, code: str = "", **params: object
    ) -> Verdict:
        self.broken = Verdict(
            False,
            self.checked,
            self.last_id,
            self.prev,
            entry_id,
            reason,
            self.rewrapped,
            code=code,
            params=params,
        )
        return self.broken

    def feed(self, entry: ChainEntry) -> bool:
        """Check one more entry; False once the chain is broken."""
        if self.broken is not None:
            return False
        if entry.prev_hash != self.prev:
            before = f"entry #{self.last_id}" if self.last_id is not None else "the start"
            reason = f"does not follow {before} (an entry removed or moved?)"
            self._fail(entry.id, reason, "not_following", after=self.last_id)
            return False
        if _hash_of(entry) != entry.hash:
            reason = "content differs from what was hashed (edited?)"
            self._fail(entry.id, reason, "content_differs")
            return False
        problem = _detail_problem(entry)
        if problem is not None:
            self._fail(entry.id, problem.replace("_", " "), problem)
            return False
        if entry.detail_ct is not None and entry.detail_digest is not None:
            if _key_id(entry.detail_ct) != entry.detail_digest.partition(":")[0]:
                self.rewrapped += 1
        self.prev, self.last_id = entry.hash, entry.id
        self.checked += 1
        return True

    def result(self, head: tuple[int | None, str] | None = None) -> Verdict:
        """The verdict; ``head`` is the head record kept beside the chain (last id,
        hash): a chain that ends before it lost its tail."""
        if self.broken is not None:
            return self.broken
        if head is not None:
            head_id, head_hash = head
            if head_id != self.last_id or head_hash != self.prev:
                last = self.last_id
                missing = (
                    head_id if head_id is not None and (last is None or head_id > last) else last
                )
                return self._fail(
                    missing,
                    "the chain does not end at its recorded head (tail removed?)",
                    "tail_removed",
                )
        return Verdict(True, self.checked, self.last_id, self.prev, rewrapped=self.rewrapped)


def verify_chain(
    entries: Iterable[ChainEntry],
    *,
    head: tuple[int | None, str] | None = None,
) -> Verdict:
    """Check entries given in id order; the first broken one is named by its id."""
    checker = ChainChecker()
    for entry in entries:
        if not checker.feed(entry):
            break
    return checker.result(head)


def parse_head(text: str) -> tuple[int | None, str]:
    """Read a published head: ``<id>:<hex prefix>`` or a hex prefix alone (≥ 8 digits)."""
    raw = text.strip().lower()
    entry_id: int | None = None
    if ":" in raw:
        left, _, raw = raw.partition(":")
        if not left.strip().lstrip("#").isdigit():
            example = "1234:3f9a1c2b7d4e5f60"
            raise HeadError(f"a head is ID:HASH, e.g. {example}", "head_form", example=example)
        entry_id = int(left.strip().lstrip("#"))
    raw = raw.strip()
    if len(raw) < 8 or len(raw) > 64 or any(c not in "0123456789abcdef" for c in raw):
        raise HeadError(
            "the hash of a head is 8 to 64 hexadecimal digits", "head_hash", least=8, most=64
        )
    return entry_id, raw
