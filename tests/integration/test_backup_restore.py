"""The restore drill (backup → wipe → restore → the same ledger, statistics, tracking-code
look-ups and identity reveal), the refusals around it, and the start-up key checks, on
SQLite and PostgreSQL, through the real ``xinfang`` command line."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import stat
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from bench.pg import throwaway_database
from bot.cli import main
from bot.container import Container, build_container
from bot.keys import create_keys
from bot.settings import load_settings
from bot.stats import build_report, report_text
from petitions.roles import Role
from petitions.statistics import shown
from storage.db import create_engine
from storage.vault import Keyring, KeyringError
from tests.helpers.chat import ChatUser
from tests.helpers.cli import english_cli  # noqa: F401 - English output asserted
from tests.helpers.clock import FakeClock
from tests.helpers.flow import Filed, add_officer, admin_chat, file_petition

PASSPHRASE = "演练用口令 correct horse battery staple"
PG_URL = os.environ.get("XINFANG_TEST_PG_URL")
IDENTITY = {"name": "张三丰", "staff_no": None, "unit": "第三车间", "phone": "13912345678"}


@dataclass(frozen=True)
class Site:
    """One deployment: data directory, database and keyring (the custodian key is kept
    apart, as it would be offline)."""

    data_dir: Path
    database_url: str
    keyring_file: Path

    def env(self) -> dict[str, str]:
        """Its environment variables."""
        return {
            "XINFANG_DATA_DIR": str(self.data_dir),
            "XINFANG_DATABASE_URL": self.database_url,
            "XINFANG_KEYRING_FILE": str(self.keyring_file),
            "XINFANG_LOG_LEVEL": "WARNING",
            "TELEGRAM_BOT_TOKEN": "123:TEST",
            "TELEGRAM_ADMIN_CHAT_ID": "-1001",
        }


@asynccontextmanager
async def _new_database(backend: str, place: Path) -> AsyncIterator[str]:
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{place / 'data' / 'xinfang.db'}"
        return
    assert PG_URL is not None
    async with throwaway_database(PG_URL, "xf_drill") as url:
        yield url


@pytest.fixture
async def sites(backend: str, tmp_path: Path) -> AsyncIterator[tuple[Site, Site]]:
    """The deployment that is backed up, and a new, empty one to restore into."""
    async with (
        _new_database(backend, tmp_path / "a") as first,
        _new_database(backend, tmp_path / "b") as second,
    ):
        yield (
            Site(tmp_path / "a" / "data", first, tmp_path / "a" / "data" / "keys" / "ring.json"),
            Site(tmp_path / "b" / "data", second, tmp_path / "b" / "data" / "keys" / "ring.json"),
        )


@pytest.fixture
def use(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """Point the process environment (what ``xinfang`` reads) at a site."""
    for key in list(os.environ):
        if key.startswith(("XINFANG_", "TELEGRAM_", "WECOM_")):
            monkeypatch.delenv(key)

    def point(site: Site, passphrase: str | None = PASSPHRASE) -> None:
        for key, value in site.env().items():
            monkeypatch.setenv(key, value)
        if passphrase is None:
            monkeypatch.delenv("XINFANG_BACKUP_PASSPHRASE", raising=False)
        else:
            monkeypatch.setenv("XINFANG_BACKUP_PASSPHRASE", passphrase)

    yield point


async def xinfang(*argv: str) -> int:
    """Run the command line as an operator would (it runs its own event loop)."""
    return await asyncio.to_thread(main, list(argv))


async def open_site(site: Site, clock: FakeClock) -> Container:
    """The service's objects on a site, keys read from its keyring file."""
    return await build_container(load_settings(site.env()), clock=clock)


@dataclass(frozen=True)
class Seeded:
    """What the drill compares: the cases filed and the custodian's key file."""

    filed: tuple[Filed, ...]
    custodian: Path


async def seed(site: Site, clock: FakeClock, custodian: Path) -> Seeded:
    """Petitions filed through the handlers, officers acting on them, a real-name case."""
    create_keys(site.keyring_file, custodian)
    container = await open_site(site, clock)
    try:
        await add_officer(container)
        await add_officer(container, Role.CUSTODIAN, "888", "纪检保管人")
        pay = await file_petition(
            container, ChatUser(container.handlers, "telegram", "201", "201")
        )
        clock.advance(days=3)
        coded = await file_petition(
            container,
            ChatUser(container.handlers, "telegram", "202", "202"),
            category="safety",
            description="车间消防通道被堆放的原料堵住了，多次反映没有人处理。",
            updates="code",
        )
        clock.advance(days=2)
        named = await file_petition(
            container,
            ChatUser(container.handlers, "telegram", "203", "203"),
            category="labor",
            description="劳动合同到期后单位不续签也不支付经济补偿金。",
            identity=IDENTITY,
        )
        officer = admin_chat(container, "777")
        await officer.say(f"/accept {pay.number}")
        await officer.say(f"/begin {pay.number}")
        await officer.say(f"/respond {pay.number} supported 已安排财务补发。")
        assert "已答复" in officer.text, officer.text
        await officer.say(f"/accept {named.number}")
        clock.advance(days=1)
    finally:
        await container.close()
    return Seeded((pay, coded, named), custodian)


async def custodian_opens_identity(site: Site, clock: FakeClock, seeded: Seeded) -> dict[str, str]:
    """The recorded disclosure of the real-name case: a custodian's request, then the
    opening with the custodian's private key."""
    from bot.disclosure import open_identity_request, request_identity
    from storage.custody import load_private_key

    container = await open_site(site, clock)
    try:
        async with container.uow() as uow:
            staff = await uow.officers.list()
        custodian = next(o for o in staff if o.role is Role.CUSTODIAN)
        assert custodian.id is not None
        request, _number = await request_identity(
            container.uow,
            seeded.filed[2].number,
            custodian.id,
            "恢复演练：核对实名信访人身份信息能否由保管人密钥打开",
            container.settings.disclosure,
            clock(),
        )
        key = load_private_key(seeded.custodian.read_bytes(), lambda: "")
        number, identity = await open_identity_request(
            container.uow, container.vault.keyring, request.id, [key], clock()
        )
    finally:
        await container.close()
    assert number == seeded.filed[2].number
    return identity


@dataclass(frozen=True)
class Views:
    """What officers, leaders and employees see."""

    ledger: str
    report: str
    stats_reply: str
    statuses: tuple[str, ...]


async def views(site: Site, clock: FakeClock, seeded: Seeded) -> Views:
    """Read the ledger, the statistics and every tracking-code look-up of a site."""
    container = await open_site(site, clock)
    try:
        officer = admin_chat(container, "777")
        await officer.say("/cases all")
        ledger = officer.text
        await officer.say("/stats 2026-01-01 2026-12-31")
        stats_reply = officer.text
        settings = container.settings
        now = clock()
        async with container.uow() as uow:
            report = await build_report(
                uow, now - timedelta(days=365), now + timedelta(days=1), now, settings.policy
            )
        text = report_text(shown(report), container.translator.t, settings.policy)
        statuses = []
        for n, filed in enumerate(seeded.filed):
            asker = ChatUser(container.handlers, "telegram", f"30{n}", f"30{n}")
            await asker.say(f"/status {filed.code}")
            assert filed.number in asker.text, asker.text
            statuses.append(asker.text)
    finally:
        await container.close()
    return Views(ledger, text, stats_reply, tuple(statuses))


async def test_the_restore_drill_gives_back_the_same_ledger_statistics_and_look_ups(
    sites: tuple[Site, Site], use, clock: FakeClock, tmp_path: Path, capsys
) -> None:
    old, new = sites
    seeded = await seed(old, clock, tmp_path / "custodian.pem")
    before = await views(old, clock, seeded)
    assert all(f.number in before.ledger for f in seeded.filed)

    use(old)
    backup = tmp_path / "backups" / "xinfang.xfbak"
    backup.parent.mkdir()
    assert await xinfang("backup", "--out", str(backup)) == 0
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert [p.name for p in backup.parent.iterdir()] == ["xinfang.xfbak"]  # no leftovers
    # No key in the clear: neither raw nor as the keyring file writes it.
    data = backup.read_bytes()
    ring = Keyring.load(old.keyring_file)
    for key in [*ring.content.values(), *ring.delivery.values(), ring.pepper]:
        assert key not in data and base64.b64encode(key) not in data
    assert b"keyring" not in data and b"manifest" not in data
    capsys.readouterr()

    # The old deployment is gone; restore onto a new data directory and database.
    use(new)
    assert await xinfang("restore", str(backup)) == 0
    out = capsys.readouterr().out
    assert "checksums:   ok" in out and "rows:        ok" in out
    assert ", 0 failed" in out and "MISMATCH" not in out
    assert stat.S_IMODE(new.keyring_file.stat().st_mode) == 0o600

    after = await views(new, clock, seeded)
    assert after == before

    # The custodian's key (never in a backup) still opens the real-name identity.
    identity = await custodian_opens_identity(new, clock, seeded)
    assert identity["name"] == "张三丰" and identity["phone"] == "13912345678"


async def test_the_manifest_names_versions_counts_and_checksums(
    sites: tuple[Site, Site], use, clock: FakeClock, tmp_path: Path, backend: str
) -> None:
    import tarfile

    from bot.backup.crypto import DecryptingReader

    old, _new = sites
    await seed(old, clock, tmp_path / "custodian.pem")
    use(old)
    backup = tmp_path / "b.xfbak"
    assert await xinfang("backup", "--out", str(backup)) == 0
    with backup.open("rb") as fh:
        reader = DecryptingReader(fh, PASSPHRASE)
        with tarfile.open(fileobj=reader, mode="r|") as tar:  # type: ignore[call-overload]
            first = next(iter(tar))
            assert first.name == "manifest.json"
            manifest = json.loads(tar.extractfile(first).read())
    assert manifest["format"] == 1 and manifest["xinfang_version"]
    assert manifest["created_at"]
    database = manifest["database"]
    assert database["kind"] == ("sqlite" if backend == "sqlite" else "postgresql")
    assert database["schema_revision"]
    assert database["tables"]["cases"] == 3 and database["tables"]["officers"] == 2
    assert set(manifest["members"]) == {"keyring.json", database["member"]}
    assert all(len(m["sha256"]) == 64 for m in manifest["members"].values())


async def test_a_wrong_passphrase_is_one_clear_line_and_touches_nothing(
    sites: tuple[Site, Site], use, clock: FakeClock, tmp_path: Path, capsys
) -> None:
    old, new = sites
    await seed(old, clock, tmp_path / "custodian.pem")
    use(old)
    backup = tmp_path / "b.xfbak"
    assert await xinfang("backup", "--out", str(backup)) == 0
    capsys.readouterr()
    use(new, passphrase="not the passphrase at all")
    assert await xinfang("restore", str(backup)) == 2
    err = capsys.readouterr().err.strip()
    assert err == "xinfang: wrong passphrase for this backup"
    assert not new.keyring_file.exists() and not new.data_dir.exists()


@pytest.mark.parametrize("damage", ["flip", "cut", "header"])
async def test_a_tampered_or_cut_backup_is_refused_and_nothing_is_restored(
    sites: tuple[Site, Site], use, clock: FakeClock, tmp_path: Path, capsys, damage: str
) -> None:
    old, new = sites
    await seed(old, clock, tmp_path / "custodian.pem")
    use(old)
    backup = tmp_path / "b.xfbak"
    assert await xinfang("backup", "--out", str(backup)) == 0
    data = bytearray(backup.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0x01
    elif damage == "cut":
        data = data[: len(data) - 40]
    else:  # the chunk size in the (authenticated) header
        at = data.index(b'"chunk": ') + len(b'"chunk": ')
        data[at] = ord("2") if data[at] != ord("2") else ord("3")
    backup.write_bytes(bytes(data))
    capsys.readouterr()
    use(new)
    assert await xinfang("restore", str(backup)) == 2
    err = capsys.readouterr().err
    assert "damaged or was altered" in err or "cut short" in err, err
    assert not new.keyring_file.exists()
    engine = create_engine(new.database_url)
    try:
        from storage.backup import holds_data

        assert await holds_data(engine) is None
    finally:
        await engine.dispose()


async def test_restore_refuses_a_database_that_holds_data_unless_forced(
    sites: tuple[Site, Site], use, clock: FakeClock, tmp_path: Path, capsys
) -> None:
    old, _new = sites
    await seed(old, clock, tmp_path / "custodian.pem")
    use(old)
    backup = tmp_path / "b.xfbak"
    assert await xinfang("backup", "--out", str(backup)) == 0
    capsys.readouterr()
    assert await xinfang("restore", str(backup)) == 2
    err = capsys.readouterr().err
    assert "refusing to restore: the database holds" in err and "(3 cases)" in err
    assert f"a keyring exists at {old.keyring_file}" in err and "--force" in err
    assert await xinfang("restore", str(backup), "--force") == 0
    assert "0 failed" in capsys.readouterr().out


async def test_the_service_refuses_to_start_on_data_whose_keyring_is_missing(
    sites: tuple[Site, Site], clock: FakeClock, tmp_path: Path
) -> None:
    old, _new = sites
    await seed(old, clock, tmp_path / "custodian.pem")
    old.keyring_file.unlink()  # a database restored by hand, without its keyring
    with pytest.raises(KeyringError) as refused:
        await open_site(old, clock)
    message = str(refused.value)
    assert "holds data (3 cases)" in message and str(old.keyring_file) in message
    assert "xinfang restore" in message
    assert not old.keyring_file.exists()  # no new keys that could not read anything


async def test_the_service_refuses_a_keyring_that_does_not_belong_to_the_database(
    sites: tuple[Site, Site], clock: FakeClock, tmp_path: Path
) -> None:
    old, _new = sites
    await seed(old, clock, tmp_path / "custodian.pem")
    other = create_keys(tmp_path / "other" / "ring.json", tmp_path / "other.pem")
    old.keyring_file.write_bytes(other.keyring_file.read_bytes())
    with pytest.raises(KeyringError) as refused:
        await open_site(old, clock)
    message = str(refused.value)
    assert f"the keyring at {old.keyring_file} does not belong to this database" in message
    assert "xinfang restore" in message


async def test_a_new_embedded_deployment_still_gets_its_keys_on_first_run(
    tmp_path: Path, clock: FakeClock
) -> None:
    site = Site(
        tmp_path / "data",
        f"sqlite+aiosqlite:///{tmp_path / 'data' / 'xinfang.db'}",
        tmp_path / "data" / "keys" / "keyring.json",
    )
    container = await open_site(site, clock)
    await container.close()
    assert site.keyring_file.exists()
    container = await open_site(site, clock)  # and reads them on the next start
    await container.close()


async def test_backup_without_a_passphrase_off_a_terminal_is_refused(
    sites: tuple[Site, Site], use, clock: FakeClock, tmp_path: Path, capsys
) -> None:
    old, _new = sites
    await seed(old, clock, tmp_path / "custodian.pem")
    use(old, passphrase=None)
    assert await xinfang("backup", "--out", str(tmp_path / "b.xfbak")) == 2
    assert "XINFANG_BACKUP_PASSPHRASE" in capsys.readouterr().err
    assert not (tmp_path / "b.xfbak").exists()
    use(old, passphrase="short")
    assert await xinfang("backup", "--out", str(tmp_path / "b.xfbak")) == 2
    assert "at least 12 characters" in capsys.readouterr().err


async def test_the_start_up_key_check_copes_with_a_database_at_an_older_revision(
    sites: tuple[Site, Site], clock: FakeClock, tmp_path: Path
) -> None:
    from storage.backup import holds_data
    from storage.migrate import upgrade

    old, _new = sites
    create_keys(old.keyring_file, tmp_path / "custodian.pem")
    engine = create_engine(old.database_url)
    try:
        await upgrade(engine, "0001")  # tables and columns of later revisions are missing
        assert await holds_data(engine) is None
    finally:
        await engine.dispose()
    container = await open_site(old, clock)  # checks the keys, then migrates to the head
    await container.close()
