"""The xinfang command line on a real embedded deployment in a temporary directory."""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
import stat
from pathlib import Path

import pytest

from bot.cli import main
from bot.container import build_container
from bot.settings import load_settings
from storage.vault import Keyring
from tests.helpers.chat import ChatUser
from tests.helpers.cli import english_cli  # noqa: F401 - English output asserted


@pytest.fixture
def deployment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty embedded deployment: environment pointing into tmp_path."""
    for key in list(os.environ):
        if key.startswith(("XINFANG_", "TELEGRAM_", "WECOM_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("XINFANG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("XINFANG_LOG_LEVEL", "WARNING")
    return tmp_path


def _file_real_name_case(data_dir: Path, name: str, phone: str) -> tuple[str, str]:
    """File a real-name petition through the handlers; return (case number, tracking code)."""

    async def go() -> tuple[str, str]:
        container = await build_container(load_settings(), admin_channels=("console",))
        try:
            who = ChatUser(container.handlers, channel="console", chat_id="e1", sender_id="e1")
            await who.say("/new")
            await who.press("cat:labor")
            await who.say("劳动合同到期后单位不续签也不支付经济补偿金。")
            await who.press("ev:done")
            await who.press("anon:no")
            await who.say(name)
            await who.press("id:skip")
            await who.say("第三车间")
            await who.say(phone)
            await who.press("up:push")  # the contact is kept: the rotation must re-encrypt it
            await who.press("rv:submit")
            number = re.search(r"XF-\d{4}-\d{6}", who.text).group(0)
            code = re.search(r"\w{4}-\w{4}-\w{4}-\w{4}", who.text).group(0)
            return number, code
        finally:
            await container.close()

    return asyncio.run(go())


# `xinfang run` with no channel now starts local mode (keys, schema, web channel on
# 127.0.0.1): tests/e2e/test_web_local_mode.py runs it as a process and stops it.


def test_a_bad_setting_is_a_clear_error_not_a_traceback(deployment, monkeypatch, capsys):
    monkeypatch.setenv("XINFANG_HTTP_PORT", "eighty")
    assert main(["migrate"]) == 2
    assert "XINFANG_HTTP_PORT must be a whole number" in capsys.readouterr().err


def test_migrate_creates_the_schema_and_is_idempotent(deployment, capsys):
    assert main(["migrate"]) == 0
    assert "migrated database from empty" in capsys.readouterr().out
    assert main(["migrate"]) == 0
    assert "up to date" in capsys.readouterr().out
    tables = {
        r[0]
        for r in sqlite3.connect(deployment / "data" / "xinfang.db").execute(
            "select name from sqlite_master where type='table'"
        )
    }
    assert {"cases", "outbox", "audit_log", "conversations", "alembic_version"} <= tables


def test_keys_init_refuses_to_replace_an_existing_keyring(deployment, capsys):
    assert main(["keys", "init", "--custodian-out", str(deployment / "c.pem")]) == 0
    assert stat.S_IMODE((deployment / "c.pem").stat().st_mode) == 0o600
    assert main(["keys", "init", "--custodian-out", str(deployment / "d.pem")]) == 2
    assert "refusing to replace" in capsys.readouterr().err


def test_officers_are_added_listed_and_removed(deployment, capsys):
    assert main(["officers", "add", "李四", "--role", "leader", "--telegram", "4242"]) == 0
    assert main(["officers", "add", "王五", "--role", "officer", "--telegram", "4242"]) == 2
    assert main(["officers", "add", "赵六", "--role", "officer"]) == 2
    capsys.readouterr()
    assert main(["officers", "list"]) == 0
    listing = capsys.readouterr().out
    assert "李四" in listing and "leader" in listing and "telegram" in listing
    assert "4242" not in listing  # account ids are stored as blind indexes only
    assert main(["officers", "remove", "1"]) == 0
    assert main(["officers", "remove", "1"]) == 1
    capsys.readouterr()
    main(["officers", "list"])
    assert "李四" not in capsys.readouterr().out


def test_identity_request_and_open_need_the_custodian_key_and_are_audited_and_told(
    deployment, capsys
):
    assert main(["keys", "init", "--custodian-out", str(deployment / "custodian.pem")]) == 0
    main(["migrate"])
    assert main(["officers", "add", "孙保管", "--role", "custodian", "--telegram", "5001"]) == 0
    number, _code = _file_real_name_case(deployment / "data", "张秘密", "13912345678")
    capsys.readouterr()

    # A reason must be written out: a few characters are refused.
    short = ["identity", "request", number, "--custodian", "1", "--reason", "核实身份"]
    assert main(short) == 1
    reason = "依据《信访工作条例》第二十条，核实涉嫌诬告线索，须确认反映人身份"
    assert main(["identity", "request", number, "--custodian", "1", "--reason", reason]) == 0

    # A different key (a second deployment's custodian) cannot open it.
    other = deployment / "other"
    from bot.keys import create_keys

    create_keys(other / "keyring.json", other / "other.pem")
    assert main(["identity", "open", "1", "--key", str(other / "other.pem")]) == 1
    assert "not a custodian key" in capsys.readouterr().err

    assert main(["identity", "open", "1", "--key", str(deployment / "custodian.pem")]) == 0
    out = capsys.readouterr().out
    assert "张秘密" in out and "13912345678" in out and "第三车间" in out
    assert "staff_no" not in out  # skipped fields are not invented
    # An approved request opens once.
    assert main(["identity", "open", "1", "--key", str(deployment / "custodian.pem")]) == 1

    async def check() -> None:
        container = await build_container(load_settings())
        try:
            async with container.uow() as uow:
                case = await uow.cases.by_number(number)
                audit = [
                    a for a in await uow.audit.list(case.id) if a["action"].startswith("identity.")
                ]
                assert [a["action"] for a in audit] == [
                    "identity.request",
                    "identity.open_refused",  # a foreign key, recorded before any decryption
                    "identity.open",
                    "identity.reveal",
                    "identity.open_refused",  # the request was used
                ]
                assert {a["actor_officer_id"] for a in audit} == {1}
                reveal = [a for a in audit if a["action"] == "identity.reveal"]
                assert reveal[0]["detail"]["reason"] == reason
                rows = [r for r in await uow.outbox.for_case(case.id) if r.kind == "disclosure"]
                assert len(rows) == 1
                payload = uow.outbox.payload(rows[0])
                assert payload["role"] == "custodian" and "诬告" in payload["reason"]
        finally:
            await container.close()

    asyncio.run(check())


def test_keys_rotate_reencrypts_everything_and_retires_the_old_keys(deployment, capsys):
    assert main(["keys", "init", "--custodian-out", str(deployment / "custodian.pem")]) == 0
    main(["migrate"])
    assert main(["officers", "add", "孙保管", "--role", "custodian", "--telegram", "5001"]) == 0
    number, code = _file_real_name_case(deployment / "data", "钱保密", "13800000000")
    ring_file = deployment / "data" / "keys" / "keyring.json"
    before = Keyring.load(ring_file)
    # The new custodian key is made off the server; only its public half is added.
    new = deployment / "offline" / "new.key"
    os.environ["XINFANG_CUSTODIAN_PASSPHRASE"] = "正确的马 电池 订书钉 第二把"
    try:
        args = ["keys", "custodian-new", "--out", str(new), "--scrypt-log-n", "14"]
        assert main(args) == 0
        kid = before.active_custodian
        add = ["keys", "custodian-add", f"{new}.pub.pem", "--name", "信访", "--replaces", kid]
        assert main(add) == 0
        rotate = ["keys", "rotate", "--custodian-key", str(deployment / "custodian.pem")]
        assert main(rotate) == 0
    finally:
        del os.environ["XINFANG_CUSTODIAN_PASSPHRASE"]
    after = Keyring.load(ring_file)
    assert set(after.content).isdisjoint(before.content)
    assert set(after.delivery).isdisjoint(before.delivery)
    assert set(after.custodian_public).isdisjoint(before.custodian_public)
    assert after.pepper == before.pepper

    # Everything still opens with the new keys alone, and the tracking code still works.
    async def check() -> None:
        container = await build_container(load_settings(), admin_channels=("console",))
        try:
            who = ChatUser(container.handlers, channel="console", chat_id="x", sender_id="x")
            await who.say(code)
            assert number in who.text and "劳动合同" not in who.text
            async with container.uow() as uow:
                case = await uow.cases.by_number(number)
                assert "经济补偿金" in case.description
                assert (await uow.cases.contact(case.id)).chat_id == "e1"
        finally:
            await container.close()

    asyncio.run(check())
    capsys.readouterr()
    # Only the new custodian key opens the identity now.
    reason = "轮换密钥后的核对：依据保管制度第五条确认新密钥可以打开身份"
    assert main(["identity", "request", number, "--custodian", "1", "--reason", reason]) == 0
    assert main(["identity", "open", "1", "--key", str(deployment / "custodian.pem")]) == 1
    assert main(["identity", "request", number, "--custodian", "1", "--reason", reason]) == 0
    os.environ["XINFANG_CUSTODIAN_PASSPHRASE"] = "正确的马 电池 订书钉 第二把"
    try:
        assert main(["identity", "open", "2", "--key", str(new)]) == 0
    finally:
        del os.environ["XINFANG_CUSTODIAN_PASSPHRASE"]
    assert "钱保密" in capsys.readouterr().out
