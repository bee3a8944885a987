"""No identity, chat id, tracking code or petition text in the clear: not in the database
(the SQLite file and its WAL, every column on PostgreSQL), not in the logs at DEBUG, and
no identity or chat id on the admin chat's case cards."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url

from bot.container import Container
from handlers.inbound import Reply
from handlers.views import render_admin, render_employee
from petitions.codes import generate_tracking_code
from petitions.roles import Role
from tests.helpers.chat import ChatUser, text_of
from tests.helpers.databases import (  # noqa: F401 - fixtures
    reused_database_url,
    shared_postgres_database,
)
from tests.helpers.flow import Filed, add_officer, file_petition

ANON_CHAT, ANON_SENDER = "8123456789", "7712345601"
NAMED_CHAT, NAMED_SENDER = "8123456790", "7712345602"
NAME, PHONE, STAFF_NO, UNIT = "张秘密", "13912345678", "GH20260417", "保密车间第九班组"
ANON_TEXT = "匿名标记：锅炉房的压力表已经坏了两个月，值班长不让上报。"
NAMED_TEXT = "实名标记：我的岗位津贴从去年十月起被无故扣发，共计四千二百元。"
INFO_TEXT = "补充标记：扣发通知是口头传达的，没有书面文件。"
ANSWER_TEXT = "答复标记：人事部已核实，将于下月补发津贴。"
FILE_NAME, FILE_BYTES = "标记工资条.pdf", b"%PDF-1.4 FILE-CONTENT-MARKER-93817"

IDENTITY_MARKERS = (ANON_CHAT, ANON_SENDER, NAMED_CHAT, NAMED_SENDER, NAME, PHONE, STAFF_NO, UNIT)
CONTENT_MARKERS = (ANON_TEXT, NAMED_TEXT, INFO_TEXT, ANSWER_TEXT, FILE_NAME)


async def run_scenarios(container: Container) -> tuple[list[str], list[Reply]]:
    """An anonymous and a real-name petition, handled and followed up; returns the tracking
    codes (as shown and as typed) and everything the admin chat was shown."""
    anon = ChatUser(container.handlers, chat_id=ANON_CHAT, sender_id=ANON_SENDER)
    named = ChatUser(container.handlers, chat_id=NAMED_CHAT, sender_id=NAMED_SENDER)
    first: Filed = await file_petition(
        container,
        anon,
        description=ANON_TEXT,
        files=[(FILE_BYTES, FILE_NAME, "application/pdf", "document")],
    )
    identity = {"name": NAME, "staff_no": STAFF_NO, "unit": UNIT, "phone": PHONE}
    second = await file_petition(container, named, description=NAMED_TEXT, identity=identity)

    officer = await add_officer(container)
    shown: list[Reply] = []
    shown += await officer.say(f"/close {second.number}")  # refused: logs a domain error
    for command in ("accept", "begin"):
        shown += await officer.say(f"/{command} {second.number}")
    shown += await officer.say("请提供扣发通知", case_ref=second.case_id)

    await named.say(second.code)
    await named.press("cs:add")
    await named.say(INFO_TEXT)
    await named.send_file(FILE_BYTES, name=FILE_NAME, mime="application/pdf", kind="document")
    wrong = generate_tracking_code()
    await named.say(f"/status {wrong}")

    shown += await officer.say(f"/respond {second.number} supported {ANSWER_TEXT}")
    shown += await officer.say("/cases all")
    shown += await officer.say(f"/case {second.number}")
    shown += await officer.press(f"o:view:{first.case_id}")
    await anon.say(first.code.lower())

    async with container.uow() as uow:
        for case_id in (first.case_id, second.case_id):
            for row in await uow.outbox.for_case(case_id):
                payload = uow.outbox.payload(row)
                if row.audience == "admin":
                    shown += await render_admin(
                        uow,
                        container.translator.t,
                        "zh_CN",
                        row.kind,
                        payload,
                        container.services.clock(),
                    )
                else:
                    shown.append(render_employee(container.translator.t, row.kind, payload))
    codes = []
    for code in (first.code, second.code, wrong):
        codes += [code, code.replace("-", ""), code.lower()]
    return codes, shown


def assert_absent(blob: bytes, markers: tuple[str, ...] | list[str], where: str) -> None:
    for marker in markers:
        assert marker.encode("utf-8") not in blob, f"{marker!r} found in {where}"


def sqlite_files(database: Path) -> dict[str, bytes]:
    """The bytes of the database file and its WAL and shared-memory files."""
    return {
        p.name: p.read_bytes()
        for p in sorted(database.parent.glob(database.name + "*"))
        if p.is_file()
    }


def checkpoint(database: Path) -> None:
    connection = sqlite3.connect(database)
    try:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    finally:
        connection.close()


async def every_column_value(container: Container) -> list[tuple[str, bytes]]:
    """Every value of every column of every table, as bytes (text as UTF-8)."""
    async with container.engine.connect() as conn:

        def _schema(sync_conn: object) -> dict[str, list[str]]:
            inspector = inspect(sync_conn)
            return {
                table: [c["name"] for c in inspector.get_columns(table)]
                for table in inspector.get_table_names()
            }

        schema = await conn.run_sync(_schema)
        found: list[tuple[str, bytes]] = []
        for table, columns in schema.items():
            for column in columns:
                result = await conn.execute(text(f'SELECT "{column}" FROM "{table}"'))
                for (value,) in result:
                    if value is None:
                        continue
                    raw = bytes(value) if isinstance(value, bytes | memoryview) else None
                    found.append((f"{table}.{column}", raw or str(value).encode("utf-8")))
    assert {"cases", "outbox", "conversations", "attachments"} <= set(schema)
    return found


async def test_nothing_identifying_or_readable_is_stored_in_the_clear(
    container: Container, backend: str
):
    codes, _shown = await run_scenarios(container)
    markers = [*IDENTITY_MARKERS, *CONTENT_MARKERS, *codes]

    values = await every_column_value(container)
    assert len(values) > 50  # the scenario did write rows
    for where, value in values:
        assert_absent(value, markers, where)
        assert b"FILE-CONTENT-MARKER" not in value, where

    if backend == "sqlite":
        database = Path(make_url(container.settings.database_url).database or "")
        before = sqlite_files(database)
        assert database.name in before and sum(map(len, before.values())) > 50_000
        await container.close()
        checkpoint(database)
        after = sqlite_files(database)
        for name, blob in [*before.items(), *after.items()]:
            assert_absent(blob, markers, name)
            assert b"FILE-CONTENT-MARKER" not in blob, name


async def test_no_identity_chat_id_tracking_code_or_content_reaches_the_logs(
    container: Container, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG)
    # SQLAlchemy holds its own loggers at WARNING unless told; open them up too, so that
    # statements, parameters and result rows are all under test.
    caplog.set_level(logging.DEBUG, logger="sqlalchemy")
    codes, _shown = await run_scenarios(container)
    markers = [*IDENTITY_MARKERS, *CONTENT_MARKERS, *codes]

    logged = [
        "\n".join(
            [record.getMessage(), repr(record.args), record.exc_text or "", str(record.exc_info)]
        )
        for record in caplog.records
    ]
    assert any(r.name.startswith("sqlalchemy.engine") for r in caplog.records)
    assert any(r.getMessage() == "refused: invalid_transition" for r in caplog.records)
    everything = "\n".join([*logged, caplog.text]).encode("utf-8")
    assert_absent(everything, markers, "the logs")
    assert b"FILE-CONTENT-MARKER" not in everything


async def test_the_admin_chat_is_shown_no_identity_chat_id_or_tracking_code(
    container: Container,
):
    codes, shown = await run_scenarios(container)
    admin_text = text_of([r for r in shown if r.case_id is not None]).encode("utf-8")
    assert NAMED_TEXT.encode() in admin_text  # the content itself is for the officers
    assert "实名信访".encode() in admin_text
    assert_absent(admin_text, [*IDENTITY_MARKERS, *codes], "the admin chat")
    for reply in shown:
        assert_absent(
            "".join(b.payload + b.label for row in reply.buttons for b in row).encode(),
            [*IDENTITY_MARKERS, *codes],
            "the buttons",
        )


async def test_a_leader_sees_the_real_name_case_without_its_identity(container: Container):
    named = ChatUser(container.handlers, chat_id=NAMED_CHAT, sender_id=NAMED_SENDER)
    identity = {"name": NAME, "staff_no": STAFF_NO, "unit": UNIT, "phone": PHONE}
    filed = await file_petition(container, named, description=NAMED_TEXT, identity=identity)
    leader = await add_officer(container, Role.LEADER, account="888", name="赵领导")
    await leader.say(f"/case {filed.number}")
    assert NAMED_TEXT in leader.text and "实名信访" in leader.text
    assert_absent(leader.text.encode(), list(IDENTITY_MARKERS), "the leader's view")


async def test_a_database_error_names_no_statement_parameter(container: Container) -> None:
    from sqlalchemy.exc import IntegrityError

    from storage.models import ProcessedUpdateRow

    index = container.uow.vault.blind_index("update", "telegram:4242")
    async with container.uow() as uow:
        assert await uow.processed.mark("telegram:4242", container.services.clock())
        await uow.commit()
    # The same key once more, past the repository's ON CONFLICT: the database refuses it,
    # and the error (which a traceback in the logs would quote) must not carry the value.
    with pytest.raises(IntegrityError) as refused:
        async with container.engine.begin() as conn:
            await conn.execute(
                ProcessedUpdateRow.__table__.insert(),
                {"key_index": index, "at": container.services.clock()},
            )
    assert index not in str(refused.value) and index not in repr(refused.value)
