"""``xinfang officers import FILE.csv``: bulk onboarding, all or nothing, on both databases."""

from __future__ import annotations

import asyncio
import csv
import logging
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from bot.cli import main
from bot.cli.officers import parse_officers_csv
from bot.cli.service import EXAMPLE_GROUP
from bot.container import build_container
from bot.settings import load_settings
from bot.web.passwords import verify_password
from petitions.roles import Role
from storage.vault import Keyring
from tests.helpers.cli import english_cli  # noqa: F401 - English output asserted

HEADER = "name,role,unit,telegram,wecom,web_login\n"
GOOD = (
    HEADER
    + "张三,信访专员,JT-A-1,4201,,\n"
    + "李四,领导,,,LiSi,lisi\n"
    + "王五,discipline,JT-A,4203,WangWu,\n"
    + "赵六,保管人,,,,zhaoliu\n"
)


@pytest.fixture
def deployment(env: dict[str, str], keys: tuple[Keyring, Path], monkeypatch) -> dict[str, str]:
    """The CLI's environment: the test's database and keyring, nothing else; the units of
    the example group (bot/cli/example-group.csv), which the import file names by code."""
    for key in list(os.environ):
        if key.startswith(("XINFANG_", "TELEGRAM_", "WECOM_")):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("XINFANG_LOG_LEVEL", "WARNING")
    assert main(["units", "import", str(EXAMPLE_GROUP)]) == 0
    return env


async def _cli(*args: str) -> int:
    # main() runs its own event loop (asyncio.run), so it gets a thread of its own.
    return await asyncio.to_thread(main, list(args))


def _write(tmp_path: Path, text: str, *, bom: bool = False, name: str = "staff.csv") -> Path:
    path = tmp_path / name
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


async def _officers(env: dict[str, str], keyring: Keyring) -> dict[str, Any]:
    container = await build_container(load_settings(env), keyring=keyring, migrate=False)
    try:
        async with container.uow() as uow:
            officers = await uow.officers.list()
            tree = await uow.units.tree()
            found = {
                o.name: {
                    "id": o.id,
                    "role": o.role,
                    "unit": unit.code if (unit := tree.get(o.unit_id)) else None,
                    "channels": await uow.officers.channels_of(o.id),
                }
                for o in officers
            }
            lisi = await uow.officers.by_account("wecom", "LiSi")
            login = await uow.web.credentials("lisi")
            return {
                "officers": found,
                "by_wecom": lisi.name if lisi else None,
                "lisi_hash": login[1] if login else None,
                "audit": await uow.audit.list(),
            }
    finally:
        await container.close()


async def _migrated(env: dict[str, str], keyring: Keyring) -> None:
    container = await build_container(load_settings(env), keyring=keyring)
    await container.close()


async def test_a_good_file_with_a_bom_registers_everyone_and_writes_private_passwords(
    deployment, keys, tmp_path, capsys, caplog
):
    path = _write(tmp_path, GOOD, bom=True)
    with caplog.at_level(logging.DEBUG):
        assert await _cli("officers", "import", str(path)) == 0
    out = capsys.readouterr()
    assert "added 4 officer(s)" in out.out
    state = await _officers(deployment, keys[0])
    officers = state["officers"]
    assert {n: o["role"] for n, o in officers.items()} == {
        "张三": Role.OFFICER,
        "李四": Role.LEADER,
        "王五": Role.DISCIPLINE,
        "赵六": Role.CUSTODIAN,
    }
    assert officers["张三"]["unit"] == "JT-A-1" and officers["李四"]["unit"] is None
    assert officers["王五"]["unit"] == "JT-A"
    assert officers["王五"]["channels"] == ["telegram", "wecom"]
    assert officers["赵六"]["channels"] == ["web"]
    assert state["by_wecom"] == "李四"

    passwords = tmp_path / "staff-web-passwords.csv"
    assert stat.S_IMODE(passwords.stat().st_mode) == 0o600
    rows = list(csv.DictReader(passwords.read_text(encoding="utf-8-sig").splitlines()))
    assert [(r["name"], r["web_login"]) for r in rows] == [("李四", "lisi"), ("赵六", "zhaoliu")]
    assert verify_password(state["lisi_hash"], rows[0]["password"])
    # The passwords are in the file only: not on the terminal, not in any log record.
    for row in rows:
        assert row["password"] not in out.out + out.err
        assert row["password"] not in caplog.text
    actions = [a["action"] for a in state["audit"]]
    assert actions.count("officer.add") == 4
    assert actions.count("officer.web_password") == 2
    assert actions.count("officer.import") == 1


async def test_bad_rows_are_reported_by_line_and_nothing_is_changed(
    deployment, keys, tmp_path, capsys
):
    await _migrated(deployment, keys[0])
    text = (
        HEADER
        + "张三,信访专员,,4201,,\n"
        + "李四,主任,,4202,,\n"  # line 3: unknown role
        + ",officer,,4203,,\n"  # line 4: no name
        + "王五,officer,,@wangwu,,\n"  # line 5: not a numeric id
        + "赵六,officer,,,,\n"  # line 6: no account at all
        + "钱七,officer,,4201,,\n"  # line 7: same account as line 2
        + "孙八,officer,,4208\n"  # line 8: too few fields
        + "周九,officer,一车间,4209,,\n"  # line 9: a name where the unit's code goes
    )
    path = _write(tmp_path, text)
    assert await _cli("officers", "import", str(path)) == 1
    err = capsys.readouterr().err
    assert "line 3: role '主任' is not one of" in err
    assert "line 4: name is empty" in err
    assert "line 5: telegram must be the numeric Telegram user id" in err
    assert "line 6: give at least one of telegram, wecom, web_login" in err
    assert "line 7: the same telegram as line 2" in err
    assert "line 8: 4 fields, the header has 6" in err
    assert "line 9: unit '一车间' is not a unit code (xinfang units list)" in err
    assert "line 2" not in err.replace("as line 2", "")
    assert "nothing imported" in err
    assert (await _officers(deployment, keys[0]))["officers"] == {}
    assert not (tmp_path / "staff-web-passwords.csv").exists()


async def test_an_account_already_registered_refuses_the_file_unless_skipped(
    deployment, keys, tmp_path, capsys
):
    assert await _cli("officers", "add", "老张", "--role", "officer", "--telegram", "4203") == 0
    path = _write(tmp_path, GOOD)
    assert await _cli("officers", "import", str(path)) == 1
    err = capsys.readouterr().err
    assert "line 4: already registered: the telegram account already belongs to officer #1" in err
    assert set((await _officers(deployment, keys[0]))["officers"]) == {"老张"}
    assert not (tmp_path / "staff-web-passwords.csv").exists()

    assert await _cli("officers", "import", str(path), "--skip-existing") == 0
    out = capsys.readouterr()
    assert "line 4: skipped" in out.err and "added 3 officer(s)" in out.out
    assert set((await _officers(deployment, keys[0]))["officers"]) == {
        "老张",
        "张三",
        "李四",
        "赵六",
    }


async def test_an_existing_passwords_file_is_never_overwritten(deployment, keys, tmp_path, capsys):
    path = _write(tmp_path, GOOD)
    target = tmp_path / "given.csv"
    target.write_text("someone else's file")
    assert await _cli("officers", "import", str(path), "--passwords-out", str(target)) == 2
    assert "refusing to overwrite" in capsys.readouterr().err
    assert target.read_text() == "someone else's file"
    assert (await _officers(deployment, keys[0]))["officers"] == {}


async def test_a_dry_run_reports_and_changes_nothing(deployment, keys, tmp_path, capsys):
    path = _write(tmp_path, GOOD)
    assert await _cli("officers", "import", str(path), "--dry-run") == 0
    assert "4 officer(s) to add, 0 skipped; nothing changed" in capsys.readouterr().out
    assert (await _officers(deployment, keys[0]))["officers"] == {}
    assert not (tmp_path / "staff-web-passwords.csv").exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("name,role,unit,telegram,wecom\n张三,officer,,1,\n".encode(), "missing web_login"),
        (
            b"name,role,unit,telegram,wecom,web_login,phone\n",
            "unknown phone",
        ),
        (HEADER.encode(), "no officers in the file"),
        (b"", "the file is empty"),
        ((HEADER + "张三,信访专员,,1,,\n").encode("gbk"), "not UTF-8"),
    ],
)
def test_a_file_of_the_wrong_shape_says_why(data: bytes, message: str) -> None:
    rows, errors = parse_officers_csv(data)
    assert rows == []
    assert any(message in e for e in errors), errors


def test_roles_read_in_chinese_or_english_and_web_logins_compare_without_case() -> None:
    rows, errors = parse_officers_csv(
        (HEADER + "甲,LEADER,,,,a\n乙,纪检,,,,B\n丙,officer,,,,b\n").encode()
    )
    assert [r.role for r in rows] == [Role.LEADER, Role.DISCIPLINE, Role.OFFICER]
    assert errors == ["line 4: the same web login as line 3"]


async def test_unknown_and_retired_unit_codes_are_reported_by_line_before_anything_is_written(
    deployment, keys, tmp_path, capsys
):
    assert await _cli("units", "retire", "JT-B-2") == 0
    text = (
        HEADER
        + "张三,信访专员,JT-A-1,4201,,zhangsan\n"
        + "李四,领导,JT-X,4202,,lisi\n"  # line 3: no such unit
        + "王五,officer,JT-B-2,4203,,\n"  # line 4: retired
        + "赵六,officer,,4204,,\n"
    )
    path = _write(tmp_path, text)
    capsys.readouterr()
    for extra in ((), ("--dry-run",), ("--skip-existing",)):
        assert await _cli("officers", "import", str(path), *extra) == 1
        err = capsys.readouterr().err
        assert "staff.csv: line 3: no unit with the code 'JT-X' (xinfang units list)" in err
        assert "staff.csv: line 4: the unit JT-B-2 is retired" in err
        assert "nothing imported: 2 error(s)" in err
    assert (await _officers(deployment, keys[0]))["officers"] == {}
    assert not (tmp_path / "staff-web-passwords.csv").exists()


async def test_the_list_shows_each_officers_unit_code_and_name(deployment, keys, tmp_path, capsys):
    assert await _cli("officers", "import", str(_write(tmp_path, GOOD))) == 0
    capsys.readouterr()
    assert await _cli("officers", "list") == 0
    rows = {line.split("\t")[1]: line.split("\t") for line in capsys.readouterr().out.splitlines()}
    assert rows["张三"][3] == "JT-A-1 甲一厂"
    assert rows["王五"][3] == "JT-A 甲能源公司"
    assert rows["李四"][3] == "-"
