"""WXBizMsgCrypt against the official sample vectors (shared/wecom-protocol.md §6, set A)."""

import base64

import pytest

from siyu.kit.wecom_crypto import (
    AES_KEY_INVALID,
    BASE64_DECODE_ERROR,
    BUFFER_INVALID,
    DECRYPT_ERROR,
    PARSE_XML_ERROR,
    RECEIVEID_MISMATCH,
    SIGNATURE_INVALID,
    WeComCryptoError,
    WXBizMsgCrypt,
    parse_xml,
    pkcs7_pad,
    pkcs7_unpad,
    signature,
)

TOKEN = "hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo"
AES_KEY = "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt"
CORP_ID = "ww1436e0e65a779aee"

A1 = dict(
    msg_signature="012bc692d0a58dd4b10f8dfe5c4ac00ae211ebeb",
    timestamp="1476416373",
    nonce="47744683",
    echostr="fsi1xnbH4yQh0+PJxcOdhhK6TDXkjMyhEPA7xB2TGz6b+g7xyAbEkRxN/3cNXW9qdqjnoVzEtpbhnFyq6SVHyA==",
)
A2_ENCRYPT = (
    "Kl7kjoSf6DMD1zh7rtrHjFaDapSCkaOnwu3bqLc5tAybhhMl9pFeK8NslNPVdMwmBQTNoW4mY7AIjeLvEl3NyeTkAgGzBhzTtRLNshw2AEew+kkYcD+Fq72Kt00fT0WnN87hGrW8"
    "SqGc+NcT3mu87Ha3dz1pSDi6GaUA6A0sqfde0VJPQbZ9U+3JWcoD4Z5jaU0y9GSh010wsHF8KZD24YhmZH4ch4Ka7ilEbjbfvhKkNL65HHL0J6EYJIZUC2pFrdkJ7MhmEbU2qARR"
    "4iQHE7wy24qy0cRX3Mfp6iELcDNfSsPGjUQVDGxQDCWjayJOpcwocugux082f49HKYg84EpHSGXAyh+/oxwaWbvL6aSDPOYuPDGOCI8jmnKiypE+"
)
A2 = dict(msg_signature="0c3914025cb4b4d68103f6bfc8db550f79dcf48e", timestamp="1476422779", nonce="1597212914")
A2_PLAIN = (
    "<xml><ToUserName>ww1436e0e65a779aee</ToUserName><FromUserName>ChenJiaShun</FromUserName><CreateTime>1476422779</CreateTime>"
    "<MsgType>text</MsgType><Content>你好</Content><MsgId>1456453720</MsgId><AgentID>1000002</AgentID></xml>"
)
A3 = dict(
    msg_signature="e3647471e395139e2308c1fa963f2d648a00b90e",
    timestamp="1409659813",
    nonce="1372623149",
    encrypt="cjhLUX7UU4yCSelv1vz7T0zT8huF51bAMVWriNvO1FMegHrQZNrtvRxbwf0fUPsFvwqR0U0fgiJNEA5Y30F2MoI2S7vv3EjVQ68C0cjw9frBoUE2Hj0BvFp9h3u6Vbsg4lc1C8AtHdaN8orKuNKkLRLuYEL52R1J3v8olJGZRLnRdVKIivixmX/eQpzgeExtp20jI1HxRP1AAZ6xZoILdqDPO549LO4WeG+685JRUTdiwcY5fjZlqeMxuT4PpMn1X9OWsS7NRj06Wa5E3Tvg4twjWp39KPfOdRte6P1T4JU=",
)


@pytest.fixture
def crypt():
    return WXBizMsgCrypt(TOKEN, AES_KEY, CORP_ID)


def envelope(encrypt: str) -> str:
    return f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt><AgentID><![CDATA[1000002]]></AgentID></xml>"


def code_of(call):
    with pytest.raises(WeComCryptoError) as exc:
        call()
    return exc.value.code


def test_a1_verify_url(crypt):
    assert crypt.verify_url(**A1) == "1288432023552776189"


def test_a2_decrypt_message(crypt):
    assert crypt.decrypt_message(body=envelope(A2_ENCRYPT), **A2) == A2_PLAIN


def test_a2_random_prefix_and_padding_match_the_vector(crypt):
    # Re-encrypting with the vector's random prefix gives the official ciphertext byte for byte.
    assert crypt.encrypt(A2_PLAIN, random_prefix=b"694ce5a83ae07fe3") == A2_ENCRYPT
    assert len(A2_PLAIN.encode()) == 228 and (16 + 4 + 228 + len(CORP_ID)) % 32 == 32 - 22


def test_a3_json_variant(crypt):
    crypt.check_signature(A3["msg_signature"], A3["timestamp"], A3["nonce"], A3["encrypt"])
    # The official JSON sample is itself not valid JSON ("FromUserName": :mycreate"); what
    # matters is that it decrypts, exactly, with this corp's receiveid.
    assert crypt.decrypt(A3["encrypt"]) == (
        '{ "ToUserName": "wx5823bf96d3bd56c7", "FromUserName": :mycreate", "CreateTime": 1409659813, '
        '"MsgType": "text", "Content": "hello", "MsgId": 4561255354251345929, "AgentID": 218}'
    )


def test_round_trip_with_fresh_random_prefix(crypt):
    xml, query = crypt.encrypt_message("<xml><Event>change_external_contact</Event><Name>王小丫</Name></xml>")
    assert crypt.decrypt_message(body=xml, **query) == "<xml><Event>change_external_contact</Event><Name>王小丫</Name></xml>"
    assert crypt.encrypt("same") != crypt.encrypt("same")


@pytest.mark.parametrize("length", [0, 1, 31, 32, 33, 64])
def test_padding_is_to_32_byte_blocks(length):
    padded = pkcs7_pad(b"x" * length)
    assert len(padded) % 32 == 0 and 1 <= len(padded) - length <= 32
    assert pkcs7_unpad(padded) == b"x" * length


def test_tampered_signature(crypt):
    assert code_of(lambda: crypt.verify_url(**{**A1, "msg_signature": "0" * 40})) == SIGNATURE_INVALID
    assert code_of(lambda: crypt.decrypt_message(body=envelope(A2_ENCRYPT), **{**A2, "nonce": "1"})) == SIGNATURE_INVALID
    assert code_of(lambda: crypt.decrypt_message(body=envelope(A2_ENCRYPT[:-8] + "AAAAAAA="), **A2)) == SIGNATURE_INVALID


def test_wrong_corp_id():
    other = WXBizMsgCrypt(TOKEN, AES_KEY, "wwsomeoneelse")
    assert code_of(lambda: other.verify_url(**A1)) == RECEIVEID_MISMATCH


def test_bad_padding_and_wrong_key(crypt):
    raw = base64.b64decode(A2_ENCRYPT)
    broken = base64.b64encode(raw[:-16] + bytes(16)).decode()  # last block garbled
    assert code_of(lambda: crypt.decrypt(broken)) in (DECRYPT_ERROR, BUFFER_INVALID, RECEIVEID_MISMATCH)
    wrong_key = WXBizMsgCrypt(TOKEN, "a" * 43, CORP_ID)
    assert code_of(lambda: wrong_key.decrypt(A2_ENCRYPT)) in (DECRYPT_ERROR, BUFFER_INVALID, RECEIVEID_MISMATCH)


def test_truncated_and_malformed_base64(crypt):
    assert code_of(lambda: crypt.decrypt(A2_ENCRYPT[:-5])) == BASE64_DECODE_ERROR
    assert code_of(lambda: crypt.decrypt(A2_ENCRYPT[:40])) == DECRYPT_ERROR  # valid base64, not whole blocks
    assert code_of(lambda: crypt.decrypt("not base64 at all!")) == BASE64_DECODE_ERROR
    assert code_of(lambda: crypt.decrypt("")) == DECRYPT_ERROR


def test_bad_aes_key():
    assert code_of(lambda: WXBizMsgCrypt(TOKEN, "short", CORP_ID)) == AES_KEY_INVALID
    assert code_of(lambda: WXBizMsgCrypt(TOKEN, "!" * 43, CORP_ID)) == AES_KEY_INVALID


def test_signature_is_over_sorted_parts():
    assert signature("b", "a", "c", "d") == signature("d", "c", "b", "a")
    assert signature("b", "a", "c", "d") != signature("b", "a", "c", "e")
    assert signature(TOKEN, A1["timestamp"], A1["nonce"], A1["echostr"]) == A1["msg_signature"]


BOMB = """<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><xml><Encrypt>&lol2;</Encrypt></xml>"""
XXE = """<?xml version="1.0"?><!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><xml><Encrypt>&xxe;</Encrypt></xml>"""


@pytest.mark.parametrize("body", [BOMB, XXE, "<xml><Encrypt>unclosed", "x" * 300_000, "<xml></xml>"])
def test_hostile_or_broken_xml_is_rejected(crypt, body):
    assert code_of(lambda: crypt.decrypt_message(body=body, **A2)) == PARSE_XML_ERROR


def test_parse_xml_reads_plain_events():
    assert parse_xml("<xml><Event><![CDATA[change_external_contact]]></Event></xml>").findtext("Event") == "change_external_contact"
