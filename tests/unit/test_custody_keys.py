"""Custodian key files under a passphrase, the two-person seal, and the keyring's custodians."""

from __future__ import annotations

import base64
import itertools
import json
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from bot.keys import refuse_private_keys_on_server
from bot.settings import SettingsError, load_settings
from storage.custody import (
    CustodyError,
    decrypt_private_key,
    encrypt_private_key,
    find_private_keys,
    load_private_key,
    load_public_key,
    new_custodian_files,
)
from storage.vault import (
    Keyring,
    KeyringError,
    Vault,
    VaultError,
    generate_custodian_key,
    open_identity_with,
    pack_identity,
    public_raw_of,
)

PASSPHRASE = "七个随机的词 组成 一句 口令"
FAST = 14  # the lowest scrypt work factor the format accepts; keeps tests quick


def _raw(key: X25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )


def test_an_encrypted_key_file_holds_no_raw_key_and_opens_with_its_passphrase():
    key = X25519PrivateKey.generate()
    data = encrypt_private_key(key, PASSPHRASE, log_n=FAST)
    raw = _raw(key)
    assert raw not in data
    assert base64.b64encode(raw) not in data.replace(b"\n", b"")
    assert b"PRIVATE KEY" not in data  # not a PKCS#8 PEM a tool would read without asking
    assert _raw(decrypt_private_key(data, PASSPHRASE)) == raw


def test_a_wrong_passphrase_is_a_clean_error_that_names_no_key_material():
    key = X25519PrivateKey.generate()
    data = encrypt_private_key(key, PASSPHRASE, log_n=FAST)
    with pytest.raises(CustodyError, match="wrong passphrase") as caught:
        decrypt_private_key(data, PASSPHRASE + "x")
    assert _raw(key).hex() not in str(caught.value)


def test_changing_the_work_factor_in_the_file_makes_it_fail_to_open():
    data = encrypt_private_key(X25519PrivateKey.generate(), PASSPHRASE, log_n=FAST)
    body = data.split(b"\n")[1:-2]
    blob = bytearray(base64.b64decode(b"".join(body)))
    blob[2] = FAST + 1  # an attacker lowering or raising N changes the bound header
    forged = b"-----BEGIN XINFANG CUSTODIAN KEY-----\n" + base64.encodebytes(bytes(blob))
    forged += b"-----END XINFANG CUSTODIAN KEY-----\n"
    with pytest.raises(CustodyError):
        decrypt_private_key(forged, PASSPHRASE)


def test_a_short_passphrase_is_refused_when_a_key_is_made():
    with pytest.raises(CustodyError, match="at least 12"):
        encrypt_private_key(X25519PrivateKey.generate(), "short", log_n=FAST)


def test_custodian_files_are_a_private_file_only_its_owner_reads_and_a_public_pem(tmp_path):
    private, public = new_custodian_files(tmp_path / "jijian.key", PASSPHRASE, log_n=FAST)
    assert stat.S_IMODE(os.stat(private).st_mode) == 0o600
    assert public.name == "jijian.key.pub.pem"
    key = load_private_key(private.read_bytes(), lambda: PASSPHRASE)
    assert load_public_key(public.read_bytes()) == public_raw_of(key)
    with pytest.raises(CustodyError, match="already exists"):
        new_custodian_files(tmp_path / "jijian.key", PASSPHRASE, log_n=FAST)


def test_the_server_refuses_a_private_key_where_a_public_one_belongs(tmp_path):
    private, _public = new_custodian_files(tmp_path / "a.key", PASSPHRASE, log_n=FAST)
    with pytest.raises(CustodyError, match="PRIVATE"):
        load_public_key(private.read_bytes())
    trial = generate_custodian_key().private_pem
    with pytest.raises(CustodyError, match="PRIVATE"):
        load_public_key(trial)


def _three() -> tuple[Keyring, dict[str, X25519PrivateKey]]:
    first = generate_custodian_key()
    ring = Keyring.generate(first.public_raw, first.kid, "信访")
    keys = {first.kid: serialization.load_pem_private_key(first.private_pem, None)}
    for name in ("纪检", "工会"):
        private = X25519PrivateKey.generate()
        keys[ring.add_custodian(public_raw_of(private), name)] = private
    return ring, keys  # type: ignore[return-value]


def test_under_2of3_no_single_key_opens_an_identity_and_every_pair_does():
    ring, keys = _three()
    vault = Vault(ring, disclosure="2of3")
    blob = pack_identity({"name": vault.seal_field("name", "张秘密")})
    for kid in keys:
        with pytest.raises(VaultError):
            open_identity_with({kid: keys[kid]}, blob)
    for a, b in itertools.combinations(keys, 2):
        assert open_identity_with({a: keys[a], b: keys[b]}, blob) == {"name": "张秘密"}


def test_a_two_person_seal_is_bound_to_its_field():
    ring, keys = _three()
    token = Vault(ring, disclosure="2of3").seal_field("name", "张秘密")
    with pytest.raises(VaultError):
        open_identity_with(keys, pack_identity({"phone": token}))


def test_2of3_refuses_to_start_without_three_custodians():
    first = generate_custodian_key()
    with pytest.raises(KeyringError, match="three active custodians"):
        Vault(Keyring.generate(first.public_raw, first.kid), disclosure="2of3")


def test_the_keyring_keeps_custodian_names_and_still_reads_an_older_keyring():
    ring, _keys = _three()
    again = Keyring.from_json(ring.to_json())
    assert again.custodian_names == ring.custodian_names
    assert again.active_custodians == ring.active_custodians
    old = json.loads(ring.to_json())
    for key in ("custodians", "active_custodians"):
        del old[key]
    older = Keyring.from_json(json.dumps(old))
    assert older.active_custodians == [ring.active_custodian]
    assert older.custodian_public == ring.custodian_public


def test_a_replacing_custodian_takes_the_place_of_the_one_who_leaves():
    ring, keys = _three()
    leaving = ring.active_custodians[1]
    new = ring.add_custodian(public_raw_of(X25519PrivateKey.generate()), "纪检", replaces=leaving)
    assert ring.active_custodians[1] == new and leaving in ring.custodian_public
    assert ring.retire_custodians() == [leaving]
    assert leaving not in ring.custodian_public
    with pytest.raises(KeyringError, match="already"):
        ring.add_custodian(public_raw_of(keys[ring.active_custodian]), "again")


def test_private_keys_in_the_data_directory_are_found_and_public_ones_are_not(tmp_path):
    data = tmp_path / "data"
    (data / "keys").mkdir(parents=True)
    trial = data / "keys" / "custodian-k1.private.pem"
    trial.write_bytes(b"anything")
    renamed = data / "backup-of-key.txt"
    renamed.write_bytes(generate_custodian_key().private_pem)
    _private, public = new_custodian_files(tmp_path / "offline.key", PASSPHRASE, log_n=FAST)
    (data / "pub.pem").write_bytes(public.read_bytes())
    assert find_private_keys([data]) == sorted([trial, renamed])


def test_run_refuses_a_private_key_on_the_server_unless_explicitly_allowed(tmp_path: Path):
    env = {"XINFANG_DATA_DIR": str(tmp_path / "data")}
    (tmp_path / "data").mkdir()
    encrypted, _ = new_custodian_files(tmp_path / "data" / "x.key", PASSPHRASE, log_n=FAST)
    with pytest.raises(KeyringError, match="private key"):
        refuse_private_keys_on_server(load_settings(env))
    allowed = {**env, "XINFANG_ALLOW_CUSTODIAN_KEY_ON_SERVER": "true"}
    refuse_private_keys_on_server(load_settings(allowed))  # no error
    encrypted.unlink()
    refuse_private_keys_on_server(load_settings(env))  # only the public half is left


def test_the_disclosure_scheme_is_1of1_or_2of3():
    assert load_settings({}).disclosure == "1of1"
    assert load_settings({"XINFANG_DISCLOSURE": "2OF3"}).disclosure == "2of3"
    with pytest.raises(SettingsError, match="XINFANG_DISCLOSURE"):
        load_settings({"XINFANG_DISCLOSURE": "3of5"})
    assert "secret" not in repr(load_settings({"XINFANG_CUSTODIAN_PASSPHRASE": "secret"}))
