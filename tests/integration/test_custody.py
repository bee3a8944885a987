"""Two-person disclosure end to end: custodian keys made off the server, a request in the
command line, an approval in the admin chat, the opening with two keys; every step audited
by person before anything is decrypted; rotation under both schemes; `run` refusing a key
on the server. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.cli import main
from bot.container import Container, build_container
from bot.keys import create_keys
from bot.settings import load_settings
from handlers.disclosure import DisclosureRefused, request_disclosure
from petitions.roles import Role
from storage.custody import load_private_key, new_custodian_files
from storage.vault import Keyring, VaultError, open_identity_with, public_raw_of
from tests.helpers.chat import ChatUser
from tests.helpers.cli import english_cli  # noqa: F401 - English output asserted
from tests.helpers.flow import add_officer, file_petition, queued

PASSPHRASE = "保管人的口令 至少十二个字"
NAMES = ("信访", "纪检", "工会")
REASON = "依据《信访工作条例》第二十条，核实涉嫌诬告线索，须确认反映人身份"
IDENTITY = {"name": "张秘密", "staff_no": None, "unit": "第三车间", "phone": "13912345678"}


@dataclass
class Site:
    """A deployment whose custodians hold their keys off the server."""

    tmp: Path
    env: dict[str, str]
    keys: dict[str, Path]  # custodian name → private key file (offline)
    kids: dict[str, str]  # custodian name → key id

    def private(self, name: str) -> Any:
        return load_private_key(self.keys[name].read_bytes(), lambda: PASSPHRASE)

    async def container(self) -> Container:
        return await build_container(load_settings(self.env))


def _site(tmp_path: Path, env: dict[str, str], scheme: str) -> Site:
    offline = tmp_path / "offline"
    offline.mkdir()
    keys, publics = {}, {}
    for name in NAMES if scheme == "2of3" else NAMES[:1]:
        private, public = new_custodian_files(offline / f"{name}.key", PASSPHRASE, log_n=14)
        keys[name], publics[name] = private, public
    ring_file = Path(env["XINFANG_KEYRING_FILE"])
    first = NAMES[0]
    created = create_keys(
        ring_file,
        custodian_public=public_raw_of(
            load_private_key(keys[first].read_bytes(), lambda: PASSPHRASE)
        ),
        custodian_name=first,
    )
    ring = Keyring.load(ring_file)
    # Officers 1, 2, 3 (added below in this order on a fresh database) hold the keys.
    ring.custodian_officers[created.custodian_kid] = 1
    kids = {first: created.custodian_kid}
    for officer_id, name in enumerate(NAMES[1 : len(keys)], start=2):
        private = load_private_key(keys[name].read_bytes(), lambda: PASSPHRASE)
        kids[name] = ring.add_custodian(public_raw_of(private), name, officer_id=officer_id)
    ring.save(ring_file)
    env = {**env, "XINFANG_DISCLOSURE": scheme, "XINFANG_CUSTODIAN_PASSPHRASE": PASSPHRASE}
    return Site(tmp_path, env, keys, kids)


@pytest.fixture
def cli_env(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """The deployment's environment, also for commands run through `main`."""
    import os

    for key in list(os.environ):
        if key.startswith(("XINFANG_", "TELEGRAM_", "WECOM_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("XINFANG_LOG_LEVEL", "WARNING")
    # After the clearing above: the English the tests assert (english_cli set it before).
    monkeypatch.setenv("XINFANG_DEFAULT_LOCALE", "en")
    yield env


def _env(monkeypatch: pytest.MonkeyPatch, site: Site) -> None:
    for key, value in site.env.items():
        monkeypatch.setenv(key, value)


async def cli(*argv: str) -> int:
    """Run one `xinfang` command as a person would (its own event loop and connections)."""
    return await asyncio.to_thread(main, list(argv))


async def _custodians(container: Container, count: int) -> list[ChatUser]:
    people = []
    for i, name in enumerate(NAMES[:count], start=1):
        people.append(await add_officer(container, Role.CUSTODIAN, f"500{i}", f"{name}保管人"))
    return people


async def _identity_audit(container: Container, case_id: int) -> list[tuple[str, int | None]]:
    async with container.uow() as uow:
        rows = await uow.audit.list(case_id)
    return [
        (a["action"], a["actor_officer_id"]) for a in rows if a["action"].startswith("identity.")
    ]


async def test_a_two_of_three_disclosure_needs_a_request_a_second_custodian_and_two_keys(
    tmp_path, cli_env, monkeypatch, capsys
):
    site = _site(tmp_path, cli_env, "2of3")
    _env(monkeypatch, site)
    container = await site.container()
    try:
        xinfang, jijian, gonghui = await _custodians(container, 3)
        clerk = await add_officer(container, Role.OFFICER, "6001", "王专员")
        filed = await file_petition(container, ChatUser(container.handlers), identity=IDENTITY)

        # The request, in the command line, by 信访 (officer 1); the admin chat is told.
        assert (
            await cli("identity", "request", filed.number, "--custodian", "1", "--reason", REASON)
            == 0
        )
        notices = [
            q for q in await queued(container, filed.case_id) if q.kind == "disclosure_request"
        ]
        assert notices and notices[0].audience == "admin" and "reason" not in notices[0].payload

        # One custodian cannot open it: the request is not approved yet.
        assert await cli("identity", "open", "1", "--key", str(site.keys["信访"])) == 1
        assert "second custodian" in capsys.readouterr().err

        # The approval, in the admin chat: not by the requester, not by a clerk.
        await xinfang.say("/approve_disclosure 1")
        assert "另一位保管人" in xinfang.text
        await clerk.say("/approve_disclosure 1")
        assert "保管人" in clerk.text and "已批准" not in clerk.text
        await jijian.say("/disclosures")
        assert REASON in jijian.text
        await jijian.press(next(p for p in jijian.buttons if p.endswith(":1")))
        assert "已批准" in jijian.text

        # Two keys are needed, and they must be the requester's and the approver's.
        assert await cli("identity", "open", "1", "--key", str(site.keys["信访"])) == 1
        three = ("--key", str(site.keys["信访"]), "--key", str(site.keys["工会"]))
        assert await cli("identity", "open", "1", *three) == 1
        assert "neither made nor approved" in capsys.readouterr().err
        two = ("--key", str(site.keys["信访"]), "--key", str(site.keys["纪检"]))
        capsys.readouterr()
        assert await cli("identity", "open", "1", *two) == 0
        out = capsys.readouterr().out
        assert "张秘密" in out and "13912345678" in out

        # Every step by person, and the refusals too; the employee is told.
        assert await _identity_audit(container, filed.case_id) == [
            ("identity.request", 1),
            ("identity.open_refused", 1),  # not approved yet
            ("identity.approve", 2),
            ("identity.open_refused", 1),  # one key
            ("identity.open_refused", 2),
            ("identity.open_refused", 1),  # 工会's key: not a party
            ("identity.open_refused", 2),
            ("identity.open", 1),
            ("identity.open", 2),
            ("identity.reveal", 1),
        ]
        told = [q for q in await queued(container, filed.case_id) if q.kind == "disclosure"]
        assert told and told[0].audience == "employee" and told[0].payload["reason"] == REASON
        async with container.uow() as uow:
            events = [e.kind for e in await uow.cases.events(filed.case_id)]
        assert "identity_disclosed" in events
        del gonghui
    finally:
        await container.close()


async def test_any_two_custodians_open_a_two_of_three_identity_and_no_one_alone(
    tmp_path, cli_env, monkeypatch
):
    site = _site(tmp_path, cli_env, "2of3")
    _env(monkeypatch, site)
    container = await site.container()
    try:
        people = await _custodians(container, 3)
        filed = await file_petition(container, ChatUser(container.handlers), identity=IDENTITY)
        async with container.uow() as uow:
            sealed = await uow.cases.sealed_identity(filed.case_id)
        assert sealed is not None
        for name in NAMES:
            with pytest.raises(VaultError):
                open_identity_with({site.kids[name]: site.private(name)}, sealed)
        for n, (a, b) in enumerate(itertools.combinations(range(3), 2), start=1):
            request = ("identity", "request", filed.number, "--custodian", str(a + 1))
            assert await cli(*request, "--reason", REASON) == 0
            await people[b].say(f"/approve_disclosure {n}")
            keys = ("--key", str(site.keys[NAMES[a]]), "--key", str(site.keys[NAMES[b]]))
            assert await cli("identity", "open", str(n), *keys) == 0
    finally:
        await container.close()


async def test_an_opening_that_fails_after_its_checks_left_its_audit_rows(
    tmp_path, cli_env, monkeypatch, capsys
):
    # 1of1 with a second custodian known to the keyring but not sealed to: the checks
    # pass, the decryption fails, and the trail shows the attempt by person.
    site = _site(tmp_path, cli_env, "1of1")
    ring_file = Path(site.env["XINFANG_KEYRING_FILE"])
    ring = Keyring.load(ring_file)
    spare, _pub = new_custodian_files(tmp_path / "offline" / "spare.key", PASSPHRASE, log_n=14)
    ring.add_custodian(
        public_raw_of(load_private_key(spare.read_bytes(), lambda: PASSPHRASE)), "备用"
    )
    ring.save(ring_file)
    _env(monkeypatch, site)
    container = await site.container()
    try:
        await _custodians(container, 1)
        filed = await file_petition(container, ChatUser(container.handlers), identity=IDENTITY)
        assert (
            await cli("identity", "request", filed.number, "--custodian", "1", "--reason", REASON)
            == 0
        )
        assert await cli("identity", "open", "1", "--key", str(spare)) == 1
        assert "cannot open" in capsys.readouterr().err
        assert await _identity_audit(container, filed.case_id) == [
            ("identity.request", 1),
            ("identity.open", 1),
            ("identity.open_failed", 1),
        ]
        assert not [q for q in await queued(container, filed.case_id) if q.kind == "disclosure"]
        # The same request opens with the right key afterwards.
        assert await cli("identity", "open", "1", "--key", str(site.keys["信访"])) == 0
        assert "张秘密" in capsys.readouterr().out
    finally:
        await container.close()


async def test_a_reason_under_twenty_characters_is_refused_and_records_nothing(
    tmp_path, cli_env, monkeypatch
):
    site = _site(tmp_path, cli_env, "1of1")
    _env(monkeypatch, site)
    container = await site.container()
    try:
        await _custodians(container, 1)
        filed = await file_petition(container, ChatUser(container.handlers), identity=IDENTITY)
        assert (
            await cli(
                "identity", "request", filed.number, "--custodian", "1", "--reason", "核实身份需要"
            )
            == 1
        )
        async with container.uow() as uow:
            officer = await uow.officers.get(1)
            case = await uow.cases.get(filed.case_id)
            assert officer is not None and case is not None
            with pytest.raises(DisclosureRefused):
                await request_disclosure(
                    uow, officer, case, "x" * 19, "1of1", container.services.clock()
                )
            assert await uow.disclosures.get(1) is None
        assert await _identity_audit(container, filed.case_id) == []
    finally:
        await container.close()


@pytest.mark.parametrize("scheme", ["1of1", "2of3"])
async def test_rotation_reseals_identities_to_a_replacing_custodian(
    tmp_path, cli_env, monkeypatch, capsys, scheme
):
    site = _site(tmp_path, cli_env, scheme)
    _env(monkeypatch, site)
    container = await site.container()
    try:
        await _custodians(container, 3 if scheme == "2of3" else 1)
        filed = await file_petition(container, ChatUser(container.handlers), identity=IDENTITY)
    finally:
        await container.close()
    # The last custodian leaves; a successor makes a key off the server.
    leaving = NAMES[-1] if scheme == "2of3" else NAMES[0]
    successor = tmp_path / "offline" / "successor.key"
    assert await cli("keys", "custodian-new", "--out", str(successor), "--scrypt-log-n", "14") == 0
    add = ("keys", "custodian-add", f"{successor}.pub.pem", "--name", leaving)
    assert await cli(*add, "--replaces", site.kids[leaving]) == 0
    # The keys that open the identities now: one under 1of1, two under 2of3.
    openers = NAMES[:2] if scheme == "2of3" else NAMES[:1]
    rotate = ["keys", "rotate"]
    for name in openers:
        rotate += ["--custodian-key", str(site.keys[name])]
    assert await cli(*rotate) == 0
    ring = Keyring.load(Path(site.env["XINFANG_KEYRING_FILE"]))
    assert site.kids[leaving] not in ring.custodian_public
    new_kid = ring.custodian_kid_of(
        public_raw_of(load_private_key(successor.read_bytes(), lambda: PASSPHRASE))
    )
    assert new_kid is not None
    container = await site.container()
    try:
        async with container.uow() as uow:
            sealed = await uow.cases.sealed_identity(filed.case_id)
        assert sealed is not None
        old = {site.kids[leaving]: site.private(leaving)}
        successor_key = {new_kid: load_private_key(successor.read_bytes(), lambda: PASSPHRASE)}
        if scheme == "2of3":
            first = {site.kids[NAMES[0]]: site.private(NAMES[0])}
            with pytest.raises(VaultError):
                open_identity_with({**first, **old}, sealed)
            assert open_identity_with({**first, **successor_key}, sealed)["name"] == "张秘密"
        else:
            with pytest.raises(VaultError):
                open_identity_with(old, sealed)
            assert open_identity_with(successor_key, sealed)["name"] == "张秘密"
    finally:
        await container.close()


async def test_keys_show_names_the_scheme_and_the_custodians(
    tmp_path, cli_env, monkeypatch, capsys
):
    site = _site(tmp_path, cli_env, "2of3")
    _env(monkeypatch, site)
    capsys.readouterr()
    assert await cli("keys", "show") == 0
    out = capsys.readouterr().out
    assert "2of3" in out
    for name in NAMES:
        assert name in out and site.kids[name] in out


def _copy_key_into_data_dir(site: Site) -> None:
    data = Path(site.env["XINFANG_DATA_DIR"])
    data.mkdir(parents=True, exist_ok=True)
    (data / "custodian-copy.private.pem").write_bytes(site.keys["信访"].read_bytes())


async def test_run_refuses_with_a_private_key_in_the_data_directory_and_starts_with_the_override(
    tmp_path, cli_env, monkeypatch, capsys
):
    site = _site(tmp_path, cli_env, "1of1")
    _env(monkeypatch, site)
    _copy_key_into_data_dir(site)
    started: list[bool] = []

    async def run_service(container: Any, channels: Any, **_: Any) -> None:
        started.append(True)

    monkeypatch.setattr("bot.runner.run_service", run_service)
    monkeypatch.setattr("bot.runner.build_channels", lambda container: [])
    assert await cli("run") == 2
    assert "private key" in capsys.readouterr().err and not started
    monkeypatch.setenv("XINFANG_ALLOW_CUSTODIAN_KEY_ON_SERVER", "true")
    assert await cli("run") == 0
    assert started == [True]
