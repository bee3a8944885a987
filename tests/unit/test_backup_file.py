"""The encrypted backup stream: chunks round-trip, and any change, reordering, loss or
cut is refused; plus the pg_dump look-up's message when it is not installed."""

from __future__ import annotations

import io
import os

import pytest

import storage.backup
from bot.backup.crypto import (
    DamagedBackup,
    DecryptingReader,
    EncryptingWriter,
    WrongPassphrase,
)
from storage.backup import ToolMissing, find_pg_tool

PASS = "a passphrase for the tests"
CHUNK = 1000


def _records(blob: bytes) -> tuple[bytes, list[bytes]]:
    """Split a backup into its header and its chunk records."""
    size = int.from_bytes(blob[8:12], "big")
    at = 12 + size
    head, records = blob[:at], []
    while at < len(blob):
        n = int.from_bytes(blob[at : at + 4], "big")
        records.append(blob[at : at + 4 + n])
        at += 4 + n
    return head, records


@pytest.fixture(scope="module")
def sealed() -> tuple[bytes, bytes]:
    """Plaintext of three and a half chunks, and its backup stream."""
    plain = os.urandom(3 * CHUNK + 500)
    out = io.BytesIO()
    writer = EncryptingWriter(out, PASS, chunk=CHUNK)
    for at in range(0, len(plain), 333):  # writes that do not line up with chunks
        writer.write(plain[at : at + 333])
    writer.close()
    return plain, out.getvalue()


def _read(blob: bytes, passphrase: str = PASS) -> bytes:
    reader = DecryptingReader(io.BytesIO(blob), passphrase)
    data = reader.read()
    reader.finish()
    return data


def test_what_is_written_reads_back_whole_and_stays_unreadable_inside(sealed) -> None:
    plain, blob = sealed
    assert _read(blob) == plain
    assert plain[:64] not in blob
    _head, records = _records(blob)
    assert len(records) == 4


def test_a_wrong_passphrase_is_told_apart_from_damage(sealed) -> None:
    with pytest.raises(WrongPassphrase):
        _read(sealed[1], "another passphrase entirely")


def _damage(blob: bytes, how: str) -> bytes:
    head, records = _records(blob)
    flipped = bytearray(records[1])
    flipped[40] ^= 0x80
    return {
        "changed": lambda: head + records[0] + bytes(flipped) + b"".join(records[2:]),
        "dropped": lambda: head + records[0] + b"".join(records[2:]),
        "swapped": lambda: head + records[1] + records[0] + b"".join(records[2:]),
        "last chunk lost": lambda: head + b"".join(records[:-1]),
        "cut inside": lambda: blob[:-7],
        "trailing data": lambda: blob + b"\x00" * 24,
        "a final chunk early": lambda: head + records[-1],
    }[how]()


@pytest.mark.parametrize(
    "how",
    [
        "changed",
        "dropped",
        "swapped",
        "last chunk lost",
        "cut inside",
        "trailing data",
        "a final chunk early",
    ],
)
def test_a_chunk_changed_dropped_swapped_or_the_end_cut_off_is_refused(sealed, how) -> None:
    with pytest.raises(DamagedBackup):
        _read(_damage(sealed[1], how))


def test_something_that_is_not_a_backup_is_named_so() -> None:
    with pytest.raises(DamagedBackup, match="not an xinfang backup"):
        _read(b"SQLite format 3\x00" + b"\x00" * 100)


def test_a_missing_pg_dump_says_what_to_install(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(storage.backup, "PG_BIN_DIRS", str(tmp_path / "none" / "*"))
    with pytest.raises(ToolMissing, match="postgresql-client-15"):
        find_pg_tool("pg_dump")


def test_pg_dump_is_found_under_the_versioned_directories_when_not_on_path(
    monkeypatch, tmp_path
) -> None:
    for version in ("13", "15"):
        tool = tmp_path / "lib" / version / "bin" / "pg_dump"
        tool.parent.mkdir(parents=True)
        tool.write_text("#!/bin/sh\n")
        tool.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(storage.backup, "PG_BIN_DIRS", str(tmp_path / "lib" / "*" / "bin"))
    assert find_pg_tool("pg_dump") == str(tmp_path / "lib" / "15" / "bin" / "pg_dump")
