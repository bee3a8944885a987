"""The vault: AES-GCM with purpose binding and key ids, identities sealed to the custodian,
blind indexes, and the keyring file."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from storage.vault import (
    Keyring,
    KeyringError,
    Vault,
    VaultError,
    generate_custodian_key,
    load_custodian_private_key,
    open_identity,
    open_sealed,
    pack_identity,
)


@pytest.fixture
def custodian():
    return generate_custodian_key()


@pytest.fixture
def ring(custodian) -> Keyring:
    return Keyring.generate(custodian.public_raw, custodian.kid)


@pytest.fixture
def vault(ring: Keyring) -> Vault:
    return Vault(ring)


# --- symmetric encryption ------------------------------------------------------------------


@pytest.mark.parametrize("data", [b"", b"x", "工资拖欠三个月😀".encode(), bytes(range(256)) * 40])
def test_content_round_trips_through_aes_gcm(vault: Vault, data: bytes):
    blob = vault.encrypt(data, "case.description")
    assert vault.decrypt(blob, "case.description") == data
    if len(data) >= 8:  # a 1-byte plaintext appears in random ciphertext by chance
        assert data not in blob


def test_text_and_json_round_trip(vault: Vault):
    assert vault.decrypt_text(vault.encrypt_text("张三 说", "m"), "m") == "张三 说"
    value = {"step": "intake", "identity": {"name": "sealed"}, "n": [1, 2]}
    assert vault.decrypt_json(vault.encrypt_json(value, "d"), "d") == value


def test_the_same_plaintext_encrypts_differently_each_time(vault: Vault):
    assert vault.encrypt(b"same", "p") != vault.encrypt(b"same", "p")


def test_a_ciphertext_cannot_be_opened_for_another_purpose(vault: Vault):
    blob = vault.encrypt_text("机密", "case.description")
    with pytest.raises(VaultError):
        vault.decrypt(blob, "case.message")
    contact = vault.seal_contact(
        {"channel": "telegram", "chat_id": "8123456789"}, "cases/1/contact"
    )
    with pytest.raises(VaultError):
        vault.open_contact(contact, "officer.account")
    with pytest.raises(VaultError):
        vault.open_contact(contact, "cases/2/contact")  # another row


@pytest.mark.parametrize("position", [3, 20, -1])
def test_tampering_with_any_byte_is_detected(vault: Vault, ring: Keyring, position: int):
    blob = bytearray(vault.encrypt(b"payload to protect", "p"))
    offset = 2 + len(ring.active_content)
    blob[offset + position if position >= 0 else position] ^= 0x01
    with pytest.raises(VaultError):
        vault.decrypt(bytes(blob), "p")


@pytest.mark.parametrize("keep", [0, 1, 2, 5, 12, 20, 27])
def test_a_truncated_ciphertext_is_a_vault_error(vault: Vault, keep: int):
    blob = vault.encrypt(b"payload", "p")
    with pytest.raises(VaultError):
        vault.decrypt(blob[:keep], "p")


def test_an_unknown_format_version_is_refused(vault: Vault):
    blob = bytearray(vault.encrypt(b"x", "p"))
    blob[0] = 9
    with pytest.raises(VaultError, match="format"):
        vault.decrypt(bytes(blob), "p")


def test_a_ciphertext_from_another_keyring_names_the_unknown_key_id(vault: Vault, custodian):
    other = Vault(Keyring.generate(custodian.public_raw, custodian.kid))
    blob = other.encrypt(b"x", "p")
    with pytest.raises(VaultError, match=other.keyring.active_content) as raised:
        vault.decrypt(blob, "p")
    assert "no key" in str(raised.value)


def test_contacts_use_the_delivery_key_not_the_content_key(vault: Vault, ring: Keyring):
    contact = {"channel": "telegram", "chat_id": "8123456789"}
    blob = vault.seal_contact(contact, "contact")
    assert vault.open_contact(blob, "contact") == contact
    assert vault.key_id_of(blob) == ring.active_delivery
    assert b"8123456789" not in blob
    with pytest.raises(VaultError):
        vault.decrypt(blob, "contact")  # the content keys do not have its key id


def test_each_ciphertext_records_the_key_that_made_it_and_old_keys_stay_readable(
    vault: Vault, ring: Keyring
):
    old_kid = ring.active_content
    old = vault.encrypt(b"before rotation", "p")
    assert vault.key_id_of(old) == old_kid
    ring.content["c-new"] = b"\x07" * 32
    ring.active_content = "c-new"
    new = vault.encrypt(b"after rotation", "p")
    assert vault.key_id_of(new) == "c-new"
    assert vault.decrypt(old, "p") == b"before rotation"
    assert vault.decrypt(new, "p") == b"after rotation"
    del ring.content[old_kid]
    with pytest.raises(VaultError, match=old_kid):
        vault.decrypt(old, "p")


# --- identity sealed to the custodian --------------------------------------------------------


def test_a_sealed_identity_opens_only_with_the_custodians_private_key(vault: Vault, custodian):
    sealed = {
        "name": vault.seal_field("name", "张秘密"),
        "phone": vault.seal_field("phone", "13912345678"),
    }
    blob = pack_identity(sealed)
    assert "张秘密".encode() not in blob and b"13912345678" not in blob
    private = load_custodian_private_key(custodian.private_pem)
    assert open_identity(private, blob) == {"name": "张秘密", "phone": "13912345678"}

    stranger = load_custodian_private_key(generate_custodian_key().private_pem)
    with pytest.raises(VaultError):
        open_identity(stranger, blob)


def test_a_sealed_field_cannot_be_moved_to_another_field(vault: Vault, custodian):
    token = vault.seal_field("name", "张秘密")
    private = load_custodian_private_key(custodian.private_pem)
    with pytest.raises(VaultError):
        open_identity(private, pack_identity({"phone": token}))


def test_the_server_keyring_cannot_open_a_sealed_identity(vault: Vault, custodian):
    token = base64.b64decode(vault.seal_field("name", "张秘密"))
    assert vault.key_id_of(token) == custodian.kid
    with pytest.raises(VaultError):
        vault.decrypt(token, "name")
    # Tampering with the sealed bytes is detected as well.
    private = load_custodian_private_key(custodian.private_pem)
    broken = token[:-1] + bytes([token[-1] ^ 1])
    with pytest.raises(VaultError):
        open_sealed(private, broken, aad=b"name")


def test_garbage_is_not_a_sealed_identity(custodian):
    private = load_custodian_private_key(custodian.private_pem)
    with pytest.raises(VaultError):
        open_identity(private, b"not json")


def test_a_key_file_that_is_not_an_x25519_pem_is_refused_without_echoing_it():
    with pytest.raises(KeyringError) as raised:
        load_custodian_private_key(b"-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n")
    assert "c2VjcmV0" not in str(raised.value)
    ed = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(KeyringError, match="X25519"):
        load_custodian_private_key(ed)


# --- blind indexes ------------------------------------------------------------------------------


def test_a_blind_index_is_stable_and_reveals_nothing(vault: Vault, ring: Keyring):
    index = vault.blind_index("tracking", "7K3MQ9XD2F8HWB4T")
    assert index == vault.blind_index("tracking", "7K3MQ9XD2F8HWB4T")
    assert index == Vault(ring).blind_index("tracking", "7K3MQ9XD2F8HWB4T")
    assert len(index) == 64 and int(index, 16) >= 0
    assert "7K3M" not in index
    assert index != vault.blind_index("tracking", "7K3MQ9XD2F8HWB4V")
    assert index != vault.blind_index("sender", "7K3MQ9XD2F8HWB4T")


def test_a_blind_index_depends_on_the_pepper(ring: Keyring, custodian):
    other = Keyring.generate(custodian.public_raw, custodian.kid)
    assert other.pepper != ring.pepper
    value = "telegram:8123456789"
    assert Vault(ring).blind_index("sender", value) != Vault(other).blind_index("sender", value)


# --- the keyring file ---------------------------------------------------------------------------


def test_the_keyring_round_trips_through_json(ring: Keyring):
    again = Keyring.from_json(ring.to_json())
    assert again == ring
    data = json.loads(ring.to_json())
    assert data["version"] == 1 and data["active_content"] in data["content"]


def test_the_keyring_file_is_written_with_mode_0600(ring: Keyring, tmp_path: Path):
    path = tmp_path / "keys" / "keyring.json"
    path.parent.mkdir()
    path.write_text("old")
    path.chmod(0o644)
    ring.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert Keyring.load(path) == ring
    assert not list(path.parent.glob("*.tmp"))


def _material(ring: Keyring) -> list[str]:
    keys = [*ring.content.values(), *ring.delivery.values(), ring.pepper]
    return [base64.b64encode(k).decode() for k in keys]


def _broken_keyrings(ring: Keyring) -> list[str]:
    good = json.loads(ring.to_json())
    cases: list[str] = []
    for key, value in [
        ("pepper", "not base64 !!"),
        ("content", ["a list"]),
        ("active_content", "missing"),
        ("delivery", {"d1": base64.b64encode(b"short").decode()}),
        ("active_custodian", "nobody"),
    ]:
        broken = dict(good, **{key: value})
        cases.append(json.dumps(broken))
    without = dict(good)
    del without["delivery"]
    cases.append(json.dumps(without))
    cases.append(ring.to_json()[:-40])  # cut off mid-file
    cases.append("[" + ring.to_json() + "]")
    cases.append(json.dumps(dict(good, pepper=base64.b64encode(b"p" * 8).decode())))
    return cases


def test_a_malformed_keyring_is_refused_without_key_material_in_the_error(ring: Keyring):
    material = _material(ring)
    for text in _broken_keyrings(ring):
        with pytest.raises(KeyringError) as raised:
            Keyring.from_json(text)
        message = str(raised.value) + repr(raised.value)
        error = raised.value
        # A chained error (a JSON or base64 error) could carry the text into a traceback.
        assert error.__cause__ is None
        assert error.__context__ is None or error.__suppress_context__
        for secret in material:
            assert secret not in message and secret[:12] not in message, message


def test_a_missing_keyring_file_is_a_keyring_error(tmp_path: Path):
    with pytest.raises(KeyringError, match="cannot read keyring"):
        Keyring.load(tmp_path / "nope.json")


def test_associated_data_names_table_row_and_field():
    from storage.vault import aad

    assert aad("cases", 3, "identity") == "cases/3/identity"
    assert aad("cases", 3, "identity") != aad("cases", 1, "identity")


def test_tracking_codes_are_never_kept_in_the_index_cache(vault: Vault):
    code = "ABCD-EFGH-JKMN-PQRS"
    first = vault.blind_index("tracking", code)
    assert vault.blind_index("tracking", code) == first
    assert not any(code in key for key in vault._index_cache)
    vault.blind_index("feedback", "token-123")
    vault.blind_index("web.session", "cookie-value")
    assert not any("token-123" in k or "cookie-value" in k for k in vault._index_cache)


def test_cached_sender_indexes_expire_within_seconds(vault: Vault, monkeypatch):
    import storage.vault as module

    clock = [1000.0]
    monkeypatch.setattr(module.time, "monotonic", lambda: clock[0])
    vault.blind_index("sender", "telegram:42")
    assert "sender:telegram:42" in vault._index_cache
    clock[0] += module._CACHE_SECONDS + 1
    vault.blind_index("sender", "telegram:43")
    assert "sender:telegram:42" not in vault._index_cache
