"""The audit chain's canonical encoding and its verification, without a database."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from storage.audit_chain import (
    GENESIS,
    ChainEntry,
    canonical,
    detail_digest,
    entry_hash,
    format_at,
    parse_head,
    short_head,
    verify_chain,
)

AT = datetime(2026, 3, 2, 1, 0, 0, 7, tzinfo=UTC)


def _blob(kid: str, body: bytes) -> bytes:
    return bytes([1, len(kid)]) + kid.encode() + body


def _chain(n: int) -> list[ChainEntry]:
    entries, prev = [], GENESIS
    for i in range(1, n + 1):
        blob = _blob("c1", bytes([i]) * 40) if i % 2 else None
        fields = dict(
            id=i,
            at=AT + timedelta(seconds=i),
            actor_officer_id=i if i % 3 else None,
            subject_officer_id=None,
            role="officer",
            action=f"case.act{i}",
            case_id=10 + i,
            channel="web",
            detail_digest=detail_digest(blob),
            prev_hash=prev,
        )
        value = entry_hash(**fields)
        entries.append(ChainEntry(**fields, hash=value, detail_ct=blob))
        prev = value
    return entries


def test_the_encoding_is_sorted_compact_utf8_json():
    data = canonical(
        id=1,
        at=AT,
        actor_officer_id=None,
        subject_officer_id=2,
        role="custodian",
        action="identity.request",
        case_id=None,
        channel="cli",
        detail_digest=None,
        prev_hash=GENESIS,
    )
    text = data.decode("utf-8")
    assert text.startswith(
        '{"action":"identity.request","actor":null,"at":"2026-03-02T01:00:00.000007Z"'
    )
    assert " " not in text and '"prev":"' + GENESIS + '"' in text


def test_times_are_utc_with_microseconds_whatever_zone_they_come_in():
    beijing = AT.astimezone(timezone(timedelta(hours=8)))
    assert format_at(beijing) == format_at(AT) == "2026-03-02T01:00:00.000007Z"
    with pytest.raises(ValueError):
        format_at(AT.replace(tzinfo=None))


def test_the_hash_is_sha256_of_the_encoding():
    entry = _chain(1)[0]
    fields = {
        k: getattr(entry, k)
        for k in (
            "id",
            "at",
            "actor_officer_id",
            "subject_officer_id",
            "role",
            "action",
            "case_id",
            "channel",
            "detail_digest",
            "prev_hash",
        )
    }
    assert entry.hash == hashlib.sha256(canonical(**fields)).hexdigest()


def test_a_detail_digest_names_its_key_and_hashes_the_ciphertext():
    blob = _blob("c9", b"x" * 30)
    assert detail_digest(blob) == "c9:" + hashlib.sha256(blob).hexdigest()
    assert detail_digest(None) is None


def test_an_honest_chain_verifies():
    entries = _chain(5)
    verdict = verify_chain(entries, head=(5, entries[-1].hash))
    assert verdict.ok and verdict.checked == 5 and verdict.head_id == 5


@pytest.mark.parametrize(
    "change",
    [
        {"action": "case.view"},
        {"actor_officer_id": 99},
        {"case_id": 1},
        {"role": "leader"},
        {"at": AT},
        {"channel": "cli"},
    ],
)
def test_any_edited_field_names_that_entry(change):
    entries = _chain(5)
    entries[2] = replace(entries[2], **change)
    verdict = verify_chain(entries)
    assert (verdict.ok, verdict.broken_id) == (False, 3)


def test_a_removed_entry_names_the_one_after_it():
    entries = _chain(5)
    del entries[1]
    verdict = verify_chain(entries)
    assert (verdict.ok, verdict.broken_id) == (False, 3)
    assert "#1" in verdict.reason


def test_a_removed_first_entry_is_noticed():
    verdict = verify_chain(_chain(3)[1:])
    assert (verdict.ok, verdict.broken_id) == (False, 2)


def test_a_cut_tail_is_noticed_against_the_head_record():
    entries = _chain(5)
    verdict = verify_chain(entries[:3], head=(5, entries[-1].hash))
    assert (verdict.ok, verdict.broken_id) == (False, 5)


def test_a_changed_detail_under_the_same_key_is_noticed():
    entries = _chain(5)
    entries[2] = replace(entries[2], detail_ct=_blob("c1", b"\0" * 40))
    assert verify_chain(entries).broken_id == 3


def test_a_removed_detail_is_noticed():
    entries = _chain(5)
    entries[0] = replace(entries[0], detail_ct=None)
    assert verify_chain(entries).broken_id == 1


def test_a_detail_re_encrypted_under_a_new_key_is_accepted_and_counted():
    entries = _chain(5)
    entries[2] = replace(entries[2], detail_ct=_blob("c2", b"\1" * 40))
    verdict = verify_chain(entries)
    assert verdict.ok and verdict.rewrapped == 1


def test_published_heads_are_read_with_or_without_the_id():
    assert parse_head("1234:3F9A1C2B7D4E5F60") == (1234, "3f9a1c2b7d4e5f60")
    assert parse_head("3f9a1c2b") == (None, "3f9a1c2b")
    assert short_head(7, "ab" * 32) == "7:" + "ab" * 8
    for bad in ("12:xyz", "abc", "x:12345678"):
        with pytest.raises(ValueError):
            parse_head(bad)
