"""WXBizMsgCrypt: official vectors, round-trips and every rejection path."""

from __future__ import annotations

import base64
import json
import os
import struct
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from bot.wecom.crypto import (
    DecodeBase64Error,
    DecryptAESError,
    GenReturnXmlError,
    IllegalAesKey,
    IllegalBuffer,
    ParseXmlError,
    ValidateCorpidError,
    ValidateSignatureError,
    WeComCrypto,
    WeComCryptoError,
    compute_signature,
    parse_xml,
)
from tests.fakes.wecom_api import CB_AES_KEY, CB_TOKEN, CORP_ID, wecom_encrypt, wecom_sign

VECTORS: list[dict[str, Any]] = json.loads(
    (Path(__file__).parents[1] / "data" / "wecom_vectors.json").read_text("utf-8")
)


def _vectors(kind: str) -> list[dict[str, Any]]:
    return [v for v in VECTORS if kind in v["name"]]


def _crypto(v: dict[str, Any]) -> WeComCrypto:
    return WeComCrypto(v["token"], v["aes_key"], v["receiveid"])


def _raw_encrypt(plain: bytes, key_b64: str = CB_AES_KEY) -> str:
    key = base64.b64decode(key_b64 + "=")
    enc = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(enc.update(plain) + enc.finalize()).decode()


@pytest.fixture
def crypto() -> WeComCrypto:
    return WeComCrypto(CB_TOKEN, CB_AES_KEY, CORP_ID)


def test_vector_file_covers_all_three_operations() -> None:
    assert _vectors("verify_url") and _vectors("decrypt_msg") and _vectors("encrypt_")


@pytest.mark.parametrize("v", _vectors("verify_url"), ids=lambda v: v["name"])
def test_official_url_verification_vectors_yield_the_echo(v: dict[str, Any]) -> None:
    plain = _crypto(v).verify_url(v["msg_signature"], v["timestamp"], v["nonce"], v["encrypt"])
    assert plain == v["expected_plaintext"]


@pytest.mark.parametrize("v", _vectors("decrypt_msg"), ids=lambda v: v["name"])
def test_official_message_vectors_decrypt_to_the_inner_xml(v: dict[str, Any]) -> None:
    body = f"<xml><ToUserName><![CDATA[{v['receiveid']}]]></ToUserName>"
    body += f"<Encrypt><![CDATA[{v['encrypt']}]]></Encrypt></xml>"
    inner = _crypto(v).decrypt_message(
        v["msg_signature"], v["timestamp"], v["nonce"], body.encode()
    )
    assert inner == v["expected_plaintext"]


@pytest.mark.parametrize("v", _vectors("encrypt_"), ids=lambda v: v["name"])
def test_official_encryption_vectors_are_reproduced_exactly(v: dict[str, Any]) -> None:
    reply = _crypto(v).encrypt_reply(
        v["plaintext"], v["nonce"], v["timestamp"], random16=v["random16"].encode()
    )
    root = parse_xml(reply)
    assert root.findtext("Encrypt") == v["expected_encrypt"]
    assert root.findtext("MsgSignature") == v["expected_msg_signature"]
    assert root.findtext("TimeStamp") == v["timestamp"]
    assert root.findtext("Nonce") == v["nonce"]


@pytest.mark.parametrize("v", _vectors("verify_url"), ids=lambda v: v["name"])
def test_official_vectors_fail_under_another_token(v: dict[str, Any]) -> None:
    other = WeComCrypto("not-the-token", v["aes_key"], v["receiveid"])
    with pytest.raises(ValidateSignatureError):
        other.verify_url(v["msg_signature"], v["timestamp"], v["nonce"], v["encrypt"])


@pytest.mark.parametrize(
    "message",
    ["hello", "你好，我要反映食堂的问题。", "", "x" * 2048, "字" * 700, "<xml>]]></xml>"],
    ids=["ascii", "chinese", "empty", "2048-bytes", "multibyte-2100-bytes", "cdata-terminator"],
)
def test_messages_survive_an_encrypt_decrypt_round_trip(crypto: WeComCrypto, message: str) -> None:
    assert crypto.decrypt(crypto.encrypt(message)) == message


def test_random_messages_round_trip(crypto: WeComCrypto) -> None:
    for size in range(0, 200, 7):
        message = os.urandom(size).hex()
        assert crypto.decrypt(crypto.encrypt(message)) == message


def test_encryption_is_randomised_unless_the_prefix_is_injected(crypto: WeComCrypto) -> None:
    assert crypto.encrypt("same") != crypto.encrypt("same")
    fixed = b"0123456789abcdef"
    assert crypto.encrypt("same", fixed) == crypto.encrypt("same", fixed)


def test_ciphertext_is_padded_to_32_byte_blocks(crypto: WeComCrypto) -> None:
    for size in (0, 11, 12, 13, 44, 45):
        raw = base64.b64decode(crypto.encrypt("a" * size))
        assert len(raw) % 32 == 0


def test_our_encryption_decrypts_with_an_independent_implementation(
    crypto: WeComCrypto,
) -> None:
    message = "独立实现互通"
    encrypted = wecom_encrypt(message, random16=b"R" * 16)
    assert crypto.decrypt(encrypted) == message
    assert crypto.encrypt(message, b"R" * 16) == encrypted


def test_reply_envelope_verifies_and_decrypts_on_the_receiving_side(crypto: WeComCrypto) -> None:
    reply = crypto.encrypt_reply("<xml><Content>回复</Content></xml>", "nonce1", "1700000000")
    root = parse_xml(reply)
    encrypt = root.findtext("Encrypt") or ""
    assert root.findtext("MsgSignature") == wecom_sign(CB_TOKEN, "1700000000", "nonce1", encrypt)
    assert crypto.decrypt(encrypt) == "<xml><Content>回复</Content></xml>"


def test_signature_matches_the_sorted_concatenation_rule() -> None:
    # sha1("1" + "2" + "a" + "b") for inputs given out of order
    assert compute_signature("b", "1", "a", "2") == compute_signature("a", "2", "b", "1")
    assert compute_signature("b", "1", "a", "2") == wecom_sign("2", "a", "1", "b")


def test_forged_signature_is_rejected(crypto: WeComCrypto) -> None:
    encrypt = crypto.encrypt("echo")
    forged = "0" * 40
    with pytest.raises(ValidateSignatureError) as info:
        crypto.verify_url(forged, "1700000000", "n", encrypt)
    assert info.value.code == -40001


def test_signature_for_other_timestamp_is_rejected(crypto: WeComCrypto) -> None:
    encrypt = crypto.encrypt("echo")
    signature = crypto.signature("1700000000", "n", encrypt)
    with pytest.raises(ValidateSignatureError):
        crypto.verify_url(signature, "1700000001", "n", encrypt)


def test_non_ascii_signature_is_rejected_not_crashing(crypto: WeComCrypto) -> None:
    with pytest.raises(ValidateSignatureError):
        crypto.check_signature("签名", "1", "n", "e")


def _flip(encrypted: str, index: int) -> str:
    raw = bytearray(base64.b64decode(encrypted))
    raw[index] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


def test_ciphertext_tampered_near_the_end_fails_the_padding_check(crypto: WeComCrypto) -> None:
    # 16 + 4 + 84 + 17 bytes -> 7 pad bytes; in CBC, flipping ciphertext byte -20 flips
    # plaintext byte -4, which is one of them.
    encrypted = crypto.encrypt("please do not tamper " * 4)
    with pytest.raises(DecryptAESError):
        crypto.decrypt(_flip(encrypted, -20))


def test_ciphertext_tampered_at_the_start_corrupts_the_length(crypto: WeComCrypto) -> None:
    # Flipping ciphertext byte 0 flips plaintext byte 16: the top byte of the length prefix.
    with pytest.raises(IllegalBuffer):
        crypto.decrypt(_flip(crypto.encrypt("please do not tamper"), 0))


def test_tampered_length_prefix_is_an_illegal_buffer(crypto: WeComCrypto) -> None:
    plain = b"R" * 16 + struct.pack(">I", 1000) + b"short" + CORP_ID.encode()
    pad = 32 - len(plain) % 32
    with pytest.raises(IllegalBuffer):
        crypto.decrypt(_raw_encrypt(plain + bytes([pad]) * pad))


@pytest.mark.parametrize(
    "tail",
    [b"\x00" * 32, b"\x21" * 33, b"\x05\x05\x05\x04\x05"],
    ids=["zero", "over-32", "inconsistent"],
)
def test_bad_padding_is_rejected(crypto: WeComCrypto, tail: bytes) -> None:
    body = b"R" * 16 + struct.pack(">I", 2) + b"hi" + CORP_ID.encode()
    filler = b"F" * (-(len(body) + len(tail)) % 32)
    with pytest.raises(DecryptAESError) as info:
        crypto.decrypt(_raw_encrypt(body + filler + tail))
    assert info.value.code == -40007


def test_ciphertext_not_a_multiple_of_the_block_is_rejected(crypto: WeComCrypto) -> None:
    with pytest.raises(DecryptAESError):
        crypto.decrypt(base64.b64encode(b"x" * 33).decode())


def test_invalid_base64_is_rejected(crypto: WeComCrypto) -> None:
    with pytest.raises(DecodeBase64Error) as info:
        crypto.decrypt("not base64 at all!")
    assert info.value.code == -40010


def test_message_for_another_corp_is_rejected(crypto: WeComCrypto) -> None:
    encrypted = wecom_encrypt("hello", corp_id="wwsomeoneelse")
    with pytest.raises(ValidateCorpidError) as info:
        crypto.decrypt(encrypted)
    assert info.value.code == -40005


def test_receive_id_prefix_of_the_corp_id_is_rejected(crypto: WeComCrypto) -> None:
    with pytest.raises(ValidateCorpidError):
        crypto.decrypt(wecom_encrypt("hello", corp_id=CORP_ID[:-1]))


@pytest.mark.parametrize(
    "key", ["short", CB_AES_KEY + "A", "!" * 43], ids=["short", "44-chars", "not-base64"]
)
def test_illegal_aes_keys_are_refused(key: str) -> None:
    with pytest.raises(IllegalAesKey) as info:
        WeComCrypto(CB_TOKEN, key, CORP_ID)
    assert info.value.code == -40004


@pytest.mark.parametrize(
    "body",
    [
        b"<xml><Encrypt>",
        b"<xml><ToUserName>x</ToUserName></xml>",
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><xml><Encrypt>&a;</Encrypt></xml>',
        b'<!doctype xml SYSTEM "file:///etc/passwd"><xml/>',
        b"\xff\xfe<\x00x\x00m\x00l\x00/\x00>\x00",
    ],
    ids=["truncated", "no-encrypt", "entity", "external-doctype", "utf16"],
)
def test_unsafe_or_malformed_outer_xml_is_a_parse_error(crypto: WeComCrypto, body: bytes) -> None:
    with pytest.raises(ParseXmlError) as info:
        crypto.decrypt_message("sig", "1", "n", body)
    assert info.value.code == -40002


def test_oversized_xml_is_refused_before_parsing() -> None:
    with pytest.raises(ParseXmlError):
        parse_xml(b"<xml>" + b"a" * 100 + b"</xml>", max_size=50)


def test_reply_with_unsafe_nonce_is_refused(crypto: WeComCrypto) -> None:
    with pytest.raises(GenReturnXmlError) as info:
        crypto.encrypt_reply("<xml/>", "]]><evil/>", "1700000000")
    assert info.value.code == -40011


def test_error_messages_never_contain_message_content(crypto: WeComCrypto) -> None:
    secret = "举报内容-机密"
    with pytest.raises(WeComCryptoError) as info:
        crypto.decrypt(wecom_encrypt(secret, corp_id="wwother"))
    assert secret not in str(info.value) and "wwother" not in str(info.value)
