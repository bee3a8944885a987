"""``xinfang outbox failed | retry``: rows the delivery worker gave up on, on both databases."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.cli import main
from bot.container import build_container
from bot.settings import load_settings
from handlers.ports import OutboxMessage
from storage.models import OutboxRow
from storage.outbox_admin import failed_rows, retry_failed
from storage.vault import Keyring
from tests.helpers.cli import english_cli  # noqa: F401 - English output asserted

CHAT_ID = "7777123456"  # an employee's Telegram chat id: must never be printed
SECRET_TEXT = "车间主任克扣加班费"  # payload text: never decrypted or printed


@pytest.fixture
def deployment(env: dict[str, str], keys: tuple[Keyring, Path], monkeypatch) -> dict[str, str]:
    """The CLI's environment: the test's database and keyring, nothing else."""
    for key in list(os.environ):
        if key.startswith(("XINFANG_", "TELEGRAM_", "WECOM_")):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("XINFANG_LOG_LEVEL", "WARNING")
    return env


async def _seed(env: dict[str, str], keyring: Keyring) -> dict[str, int]:
    """Three outbox rows: one failed after all attempts, one rejected, one sent."""
    created = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    container = await build_container(load_settings(env), keyring=keyring)
    ids: dict[str, int] = {}
    try:
        async with container.uow() as uow:
            for name in ("gave_up", "rejected", "sent"):
                await uow.outbox.add(
                    OutboxMessage(
                        audience="officer",
                        channel="telegram",
                        kind="officer.card",
                        payload={"chat_id": CHAT_ID, "text": SECRET_TEXT},
                        created_at=created,
                    )
                )
            await uow.commit()
        async with container.uow() as uow:
            rows = (await uow.session.execute(OutboxRow.__table__.select())).all()
            for name, row in zip(("gave_up", "rejected", "sent"), rows, strict=True):
                ids[name] = row.id
            when = created + timedelta(hours=1)
            for _ in range(49):
                await uow.outbox.mark(ids["gave_up"], "pending", now=when, error="flood")
            await uow.outbox.mark(
                ids["gave_up"], "failed", now=when, error=f"gave up: chat {CHAT_ID} flood"
            )
            await uow.outbox.mark(ids["rejected"], "failed", now=when, error="wecom errcode 40003")
            await uow.outbox.mark(ids["sent"], "sent", now=when)
            await uow.commit()
    finally:
        await container.close()
    return ids


async def _state(env: dict[str, str], keyring: Keyring) -> dict[str, Any]:
    container = await build_container(load_settings(env), keyring=keyring, migrate=False)
    try:
        async with container.uow() as uow:
            rows = (await uow.session.execute(OutboxRow.__table__.select())).all()
            audit = await uow.audit.list()
            return {
                "rows": {r.id: (r.status, r.attempts, r.next_attempt_at) for r in rows},
                "audit": audit,
            }
    finally:
        await container.close()


async def _cli(*args: str) -> int:
    # main() runs its own event loop (asyncio.run), so it gets a thread of its own.
    return await asyncio.to_thread(main, list(args))


async def test_failed_rows_are_listed_without_contents_or_recipients(deployment, keys, capsys):
    ids = await _seed(deployment, keys[0])
    capsys.readouterr()
    assert await _cli("outbox", "failed") == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split("\t")[:5] == ["id", "channel", "audience", "kind", "attempts"]
    listed = {int(line.split("\t")[0]) for line in lines[1:-1]}
    assert listed == {ids["gave_up"], ids["rejected"]}  # the sent row is not failed
    gave_up = next(line for line in lines if line.startswith(f"{ids['gave_up']}\t"))
    assert "\ttelegram\tofficer\tofficer.card\t50\t2026-03-02 09:00\t" in gave_up
    assert "wecom errcode 40003" in out  # short error codes stay readable
    assert CHAT_ID not in out and SECRET_TEXT not in out
    assert "2 failed row(s)" in lines[-1]


async def test_retry_puts_the_named_rows_back_to_pending_now_and_is_audited(
    deployment, keys, capsys
):
    ids = await _seed(deployment, keys[0])
    before = datetime.now(UTC)
    assert await _cli("outbox", "retry", str(ids["gave_up"])) == 0
    assert "1 row(s) pending again" in capsys.readouterr().out
    state = await _state(deployment, keys[0])
    status, attempts, next_at = state["rows"][ids["gave_up"]]
    assert (status, attempts) == ("pending", 0)
    assert next_at.replace(tzinfo=next_at.tzinfo or UTC) >= before - timedelta(seconds=1)
    assert state["rows"][ids["rejected"]][0] == "failed"
    assert state["rows"][ids["sent"]][0] == "sent"
    [entry] = [a for a in state["audit"] if a["action"] == "outbox.retry"]
    assert entry["detail"]["outbox_ids"] == [ids["gave_up"]]
    assert entry["actor_role"] == "system"


async def test_retry_of_a_row_that_is_not_failed_changes_nothing(deployment, keys, capsys):
    ids = await _seed(deployment, keys[0])
    assert await _cli("outbox", "retry", str(ids["gave_up"]), str(ids["sent"])) == 1
    assert f"not failed rows (absent, pending or sent): {ids['sent']}" in capsys.readouterr().out
    state = await _state(deployment, keys[0])
    assert state["rows"][ids["gave_up"]][0] == "failed"
    assert not [a for a in state["audit"] if a["action"] == "outbox.retry"]


async def test_retry_all_reschedules_every_failed_row_once(deployment, keys, capsys):
    ids = await _seed(deployment, keys[0])
    assert await _cli("outbox", "retry", "--all") == 0
    assert "2 row(s) pending again" in capsys.readouterr().out
    state = await _state(deployment, keys[0])
    assert state["rows"][ids["gave_up"]][:2] == ("pending", 0)
    assert state["rows"][ids["rejected"]][:2] == ("pending", 0)
    assert state["rows"][ids["sent"]][0] == "sent"
    assert await _cli("outbox", "retry", "--all") == 0
    assert "no failed outbox rows" in capsys.readouterr().out
    assert await _cli("outbox", "failed") == 0
    assert "no failed outbox rows" in capsys.readouterr().out


async def test_the_storage_functions_read_no_payload_and_ignore_other_statuses(deployment, keys):
    ids = await _seed(deployment, keys[0])
    container = await build_container(load_settings(deployment), keyring=keys[0])
    try:
        async with container.uow() as uow:
            rows = await failed_rows(uow.session)
            assert [r.id for r in rows] == [ids["gave_up"], ids["rejected"]]
            assert not hasattr(rows[0], "payload_ct")
            assert await failed_rows(uow.session, limit=1) == rows[:1]
            assert await retry_failed(uow.session, datetime.now(UTC), []) == []
            assert await retry_failed(uow.session, datetime.now(UTC), [ids["sent"]]) == []
            assert await retry_failed(uow.session, datetime.now(UTC)) == sorted(
                [ids["gave_up"], ids["rejected"]]
            )
            await uow.commit()
    finally:
        await container.close()
