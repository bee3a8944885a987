"""The audit trail as a hash chain, on SQLite and PostgreSQL: `xinfang audit verify` passes
on an honest database and names the right entry after an edit, a deletion, a cut tail
(with a published head) or a swapped detail; appending is serialized; a failed audit write
undoes the action it records; key rotation keeps the chain verifiable."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from bot.cli import main
from bot.cli.audit import verify_trail
from bot.container import Container, build_container
from bot.keys import create_keys
from bot.settings import load_settings
from petitions.roles import Role
from storage.audit_chain import short_head
from storage.db import create_engine, session_factory
from storage.migrate import downgrade, upgrade
from storage.vault import Keyring, Vault
from tests.helpers.cli import english_cli  # noqa: F401 - English output asserted
from tests.helpers.clock import FakeClock


@pytest.fixture
def deployment(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    """A deployment's environment in tmp_path on the chosen backend, keys made."""
    for key in list(os.environ):
        if key.startswith(("XINFANG_", "TELEGRAM_", "WECOM_")):
            monkeypatch.delenv(key)
    env = {
        "XINFANG_DATA_DIR": str(tmp_path / "data"),
        "XINFANG_DATABASE_URL": database_url,
        "XINFANG_KEYRING_FILE": str(tmp_path / "keys" / "keyring.json"),
        "XINFANG_LOG_LEVEL": "WARNING",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    create_keys(Path(env["XINFANG_KEYRING_FILE"]), tmp_path / "custodian.pem")
    yield env


def _run(env: dict[str, str], work: Any) -> Any:
    """Run ``work(container)`` on a fresh event loop (the CLI makes its own loops too)."""

    async def go() -> Any:
        keyring = Keyring.load(Path(env["XINFANG_KEYRING_FILE"]))
        container = await build_container(load_settings(env), keyring=keyring, clock=FakeClock())
        try:
            return await work(container)
        finally:
            await container.close()

    return asyncio.run(go())


def _sql(env: dict[str, str], *statements: str) -> None:
    async def go() -> None:
        engine = create_engine(env["XINFANG_DATABASE_URL"])
        try:
            async with engine.begin() as conn:
                for statement in statements:
                    await conn.execute(text(statement))
        finally:
            await engine.dispose()

    asyncio.run(go())


def _fill(env: dict[str, str], n: int = 6) -> list[tuple[int, str]]:
    """Write ``n`` audit entries (some with details), one transaction each; return
    (id, hash) of every entry."""

    async def work(c: Container) -> list[tuple[int, str]]:
        officer_id = None
        async with c.uow() as uow:
            officer = await uow.officers.add("张审计", Role.DISCIPLINE, c.services.clock())
            officer_id = officer.id
            await uow.commit()
        for i in range(n):
            async with c.uow() as uow:
                await uow.audit.add(
                    c.services.clock() + timedelta(seconds=i, microseconds=7),
                    Role.DISCIPLINE if i % 2 else Role.SYSTEM,
                    f"test.action{i}",
                    actor_officer_id=officer_id if i % 2 else None,
                    detail={"n": i, "reason": "年度检查"} if i % 3 == 0 else None,
                    channel="cli",
                )
                await uow.commit()
        async with session_factory(c.engine)() as session:
            rows = await session.execute(text("SELECT id, hash FROM audit_log ORDER BY id"))
            return [(int(r[0]), str(r[1])) for r in rows.all()]

    return _run(env, work)  # type: ignore[no-any-return]


def _verify(capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    code = main(["audit", "verify", *extra])
    return code, capsys.readouterr().out


def test_an_honest_trail_verifies_and_shows_its_head(deployment, capsys):
    entries = _fill(deployment)
    code, out = _verify(capsys)
    assert code == 0, out
    assert f"{len(entries)} entries" in out
    last_id, last_hash = entries[-1]
    assert short_head(last_id, last_hash) in out
    code, out = _verify(capsys, "--head", short_head(last_id, last_hash))
    assert code == 0 and "published head" in out


def test_an_edited_entry_is_named(deployment, capsys):
    entries = _fill(deployment)
    target = entries[2][0]
    _sql(deployment, f"UPDATE audit_log SET action = 'case.note' WHERE id = {target}")
    code, out = _verify(capsys)
    assert code == 1
    assert f"#{target}:" in out and "edited" in out


def test_an_edited_time_or_actor_is_named(deployment, capsys):
    entries = _fill(deployment)
    target = entries[1][0]
    _sql(deployment, f"UPDATE audit_log SET actor_officer_id = NULL WHERE id = {target}")
    code, out = _verify(capsys)
    assert (code, f"#{target}:" in out) == (1, True)


def test_a_deleted_entry_is_named_by_the_entry_after_it(deployment, capsys):
    entries = _fill(deployment)
    gone, after = entries[3][0], entries[4][0]
    _sql(deployment, f"DELETE FROM audit_log WHERE id = {gone}")
    code, out = _verify(capsys)
    assert code == 1
    assert f"#{after}:" in out and f"#{entries[2][0]}" in out


def test_a_swapped_detail_is_named(deployment, capsys):
    entries = _fill(deployment, 7)  # entries 0, 3 and 6 have details
    first, target = entries[0][0], entries[3][0]
    _sql(
        deployment,
        f"UPDATE audit_log SET detail_ct = (SELECT detail_ct FROM audit_log WHERE id = {first})"
        f" WHERE id = {target}",
    )
    code, out = _verify(capsys)
    assert code == 1 and f"#{target}:" in out and "detail" in out


def test_a_cut_tail_is_caught_by_the_head_record(deployment, capsys):
    entries = _fill(deployment)
    _sql(deployment, f"DELETE FROM audit_log WHERE id >= {entries[-2][0]}")
    code, out = _verify(capsys)
    assert code == 1 and f"#{entries[-1][0]}:" in out


def test_a_cut_tail_with_a_rewritten_head_record_is_caught_by_the_published_head(
    deployment, capsys
):
    entries = _fill(deployment)
    published = short_head(*entries[-1])
    keep_id, keep_hash = entries[-3]
    _sql(
        deployment,
        f"DELETE FROM audit_log WHERE id > {keep_id}",
        f"UPDATE audit_head SET last_id = {keep_id}, hash = '{keep_hash}'",
    )
    code, out = _verify(capsys)
    assert code == 0  # consistent inside the database: only an outside copy can tell
    code, out = _verify(capsys, "--head", published)
    assert code == 1 and f"#{entries[-1][0]}" in out and "cut" in out


def test_a_rewritten_tail_is_caught_by_the_published_head(deployment, capsys):
    entries = _fill(deployment)
    published = short_head(*entries[-1])
    _sql(deployment, f"DELETE FROM audit_log WHERE id >= {entries[-2][0]}")
    _sql(
        deployment, f"UPDATE audit_head SET last_id = {entries[-3][0]}, hash = '{entries[-3][1]}'"
    )
    _fill(deployment, 3)  # new entries chained honestly onto the cut trail
    assert _verify(capsys)[0] == 0
    code, out = _verify(capsys, "--head", published)
    assert code == 1 and f"#{entries[-1][0]}" in out


def test_a_malformed_head_is_a_usage_error(deployment, capsys):
    _fill(deployment, 1)
    assert main(["audit", "verify", "--head", "xyz"]) == 2


def test_parallel_transactions_never_chain_onto_the_same_entry(deployment, capsys):
    _fill(deployment, 1)

    async def work(c: Container) -> None:
        async def one(i: int) -> None:
            async with c.uow() as uow:
                await uow.audit.add(c.services.clock(), Role.SYSTEM, "test.parallel")
                await uow.commit()

        await asyncio.gather(*(one(i) for i in range(20)))

    _run(deployment, work)
    code, out = _verify(capsys)
    assert code == 0 and "21 entries" in out


def test_a_failed_audit_write_undoes_the_action(deployment, capsys):
    assert main(["officers", "add", "甲", "--role", "officer"]) in (0, 2)
    capsys.readouterr()
    _sql(deployment, "ALTER TABLE audit_log RENAME TO audit_log_away")

    async def act(c: Container) -> None:
        async with c.uow() as uow:
            await uow.officers.add("乙", Role.OFFICER, c.services.clock())
            await uow.audit.add(c.services.clock(), Role.SYSTEM, "officer.add", channel="cli")
            await uow.commit()

    with pytest.raises(Exception):  # noqa: B017 - the database's own error
        _run(deployment, act)
    _sql(deployment, "ALTER TABLE audit_log_away RENAME TO audit_log")

    async def names(c: Container) -> list[str]:
        async with c.uow() as uow:
            return [o.name for o in await uow.officers.list(include_inactive=True)]

    assert "乙" not in _run(deployment, names)


def test_key_rotation_keeps_the_chain_verifiable(deployment, capsys):
    _fill(deployment, 7)
    assert main(["keys", "rotate"]) == 0
    capsys.readouterr()
    code, out = _verify(capsys)
    assert code == 0, out
    assert "re-encrypted by key rotation" in out

    async def details(c: Container) -> list[Any]:
        async with c.uow() as uow:
            return [e["detail"] for e in await uow.audit.list() if e["detail"]]

    assert {"n": 0, "reason": "年度检查"} in _run(deployment, details)

    async def actions(c: Container) -> list[str]:
        async with c.uow() as uow:
            return [e["action"] for e in await uow.audit.list()]

    assert "keys.rotate" in _run(deployment, actions)


async def test_the_migration_chains_the_entries_written_before_it(database_url, tmp_path):
    created = create_keys(tmp_path / "k" / "keyring.json", tmp_path / "c.pem")
    vault = Vault(Keyring.load(created.keyring_file))
    engine = create_engine(database_url)
    try:
        await upgrade(engine, "0007", vault=vault)
        async with engine.begin() as conn:
            for i in (1, 2, 3):
                blob = vault.encrypt_json({"i": i}, f"audit_log/{i}/detail")
                await conn.execute(
                    text(
                        "INSERT INTO audit_log (id, at, actor_role, action, detail_ct) "
                        "VALUES (:id, :at, 'system', 'old.action', :blob)"
                    ),
                    {"id": i, "at": FakeClock()(), "blob": blob},
                )
        await upgrade(engine, vault=vault)
        async with session_factory(engine)() as session:
            ok, line = await verify_trail(session)
        assert ok and "3 entries" in line, line
        await downgrade(engine, "0007", vault=vault)
        await upgrade(engine, vault=vault)
    finally:
        await engine.dispose()


async def test_the_leaders_digest_carries_the_chain_head(container, clock):
    from bot.scheduler import Scheduler
    from handlers.views import render_admin
    from storage.models import OutboxRow
    from tests.helpers.chat import ChatUser, text_of
    from tests.helpers.flow import add_officer, file_petition

    filed = await file_petition(
        container, ChatUser(container.handlers, chat_id="1", sender_id="1")
    )
    officer = await add_officer(container)
    await officer.say(f"/accept {filed.number}")
    clock.now = clock() + timedelta(days=58)  # due soon: the digest lists it
    await Scheduler(container.uow, container.services, clock).run_once(clock())
    async with container.uow() as uow:
        rows = await uow.session.execute(text("SELECT id FROM outbox WHERE kind = 'digest'"))
        [row_id] = [r[0] for r in rows.all()]
        payload = uow.outbox.payload(await uow.session.get(OutboxRow, row_id))
        last = await uow.audit.last()
        shown = text_of(
            await render_admin(uow, container.translator.t, "zh_CN", "digest", payload, clock())
        )
    assert last is not None
    assert payload["audit_head"] == short_head(*last)
    assert f"审计链头：{short_head(*last)}" in shown
    async with session_factory(container.engine)() as session:
        ok, line = await verify_trail(session, payload["audit_head"])
    assert ok, line


def test_changes_to_who_may_do_what_are_audited_and_shown_by_officer(deployment, capsys):
    assert main(["officers", "add", "赵保管", "--role", "custodian", "--web"]) == 0
    assert main(["officers", "totp", "1"]) == 0
    out = capsys.readouterr().out
    assert "otpauth://totp/" in out
    assert main(["officers", "remove", "1"]) == 0
    capsys.readouterr()
    assert main(["audit", "show", "--officer", "1"]) == 0
    shown = capsys.readouterr().out
    for action in ("officer.add", "officer.web_password", "officer.totp", "officer.remove"):
        assert f"{action} (officer #1)" in shown
    assert "cli" in shown and "4 entries" in shown
    code, out = _verify(capsys)
    assert code == 0, out


async def test_the_audit_tables_come_from_the_migration_and_match_the_models(container):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from storage.models import Base

    def diff(sync_conn: Any) -> list[Any]:
        found = compare_metadata(MigrationContext.configure(sync_conn), Base.metadata)
        return [d for d in found if "audit_" in repr(d) or "totp" in repr(d)]

    async with container.engine.connect() as conn:
        assert await conn.run_sync(diff) == []
