"""WeCom callback crypto (WXBizMsgCrypt), written from the protocol facts in shared/wecom-protocol.md.

key = base64(EncodingAESKey + "="), 32 bytes; iv = key[:16]; AES-256-CBC with PKCS#7 padding to
32-byte blocks; plaintext = 16 random bytes + big-endian uint32 length + message + receiveid;
signature = sha1 over the sorted [token, timestamp, nonce, encrypt]. Error codes are the official
library's, so a log line can be matched against WeCom's documentation.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import struct
import time
from xml.etree.ElementTree import Element

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from defusedxml import ElementTree as SafeET
from defusedxml.common import DefusedXmlException

BLOCK = 32
MAX_BODY_BYTES = 256 * 1024  # events are a few hundred bytes; anything near this is not WeCom

SIGNATURE_INVALID = -40001
PARSE_XML_ERROR = -40002
AES_KEY_INVALID = -40004
RECEIVEID_MISMATCH = -40005
DECRYPT_ERROR = -40007
BUFFER_INVALID = -40008
BASE64_DECODE_ERROR = -40010


class WeComCryptoError(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def signature(token: str, timestamp: str, nonce: str, encrypt: str) -> str:
    return hashlib.sha1("".join(sorted([token, str(timestamp), nonce, encrypt])).encode()).hexdigest()


def pkcs7_pad(data: bytes) -> bytes:
    k = BLOCK - len(data) % BLOCK
    return data + bytes([k]) * k


def pkcs7_unpad(data: bytes) -> bytes:
    k = data[-1] if data else 0
    # Stricter than the official sample (which reads a bad pad as 0): a wrong pad means a wrong
    # key or a forged body, and nothing after it can be trusted.
    if not 1 <= k <= BLOCK or data[-k:] != bytes([k]) * k:
        raise WeComCryptoError(DECRYPT_ERROR, "bad padding")
    return data[:-k]


class WXBizMsgCrypt:
    def __init__(self, token: str, encoding_aes_key: str, receive_id: str):
        if len(encoding_aes_key) != 43:
            raise WeComCryptoError(AES_KEY_INVALID, "EncodingAESKey must be 43 characters")
        try:
            self.key = base64.b64decode(encoding_aes_key + "=", validate=True)
        except binascii.Error:
            raise WeComCryptoError(AES_KEY_INVALID, "EncodingAESKey is not base64") from None
        if len(self.key) != 32:
            raise WeComCryptoError(AES_KEY_INVALID, "EncodingAESKey must decode to 32 bytes")
        self.token = token
        self.receive_id = receive_id

    def _cipher(self) -> Cipher:
        return Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16]))

    # -- the raw layer ------------------------------------------------------------------------
    def encrypt(self, message: str, random_prefix: bytes | None = None) -> str:
        prefix = random_prefix if random_prefix is not None else "".join(secrets.choice("0123456789") for _ in range(16)).encode()
        if len(prefix) != 16:
            raise ValueError("the random prefix is 16 bytes")
        body = message.encode()
        plain = pkcs7_pad(prefix + struct.pack(">I", len(body)) + body + self.receive_id.encode())
        encryptor = self._cipher().encryptor()
        return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()

    def decrypt(self, encrypted: str) -> str:
        try:
            raw = base64.b64decode(encrypted, validate=True)
        except (binascii.Error, ValueError):
            raise WeComCryptoError(BASE64_DECODE_ERROR, "ciphertext is not valid base64") from None
        if not raw or len(raw) % 16:
            raise WeComCryptoError(DECRYPT_ERROR, "ciphertext length is not a multiple of the AES block")
        decryptor = self._cipher().decryptor()
        plain = pkcs7_unpad(decryptor.update(raw) + decryptor.finalize())
        if len(plain) < 20:
            raise WeComCryptoError(BUFFER_INVALID, "plaintext too short")
        (length,) = struct.unpack(">I", plain[16:20])
        if 20 + length > len(plain):
            raise WeComCryptoError(BUFFER_INVALID, "message length exceeds the plaintext")
        message, receive_id = plain[20 : 20 + length], plain[20 + length :]
        if receive_id.decode(errors="replace") != self.receive_id:
            raise WeComCryptoError(RECEIVEID_MISMATCH, "receiveid does not match this corp")
        try:
            return message.decode()
        except UnicodeDecodeError:
            raise WeComCryptoError(BUFFER_INVALID, "message is not UTF-8") from None

    def check_signature(self, msg_signature: str, timestamp: str, nonce: str, encrypt: str) -> None:
        expected = signature(self.token, timestamp, nonce, encrypt)
        if not hmac.compare_digest(expected, (msg_signature or "").lower()):
            raise WeComCryptoError(SIGNATURE_INVALID, "signature mismatch")

    # -- the protocol layer -------------------------------------------------------------------
    def verify_url(self, msg_signature: str, timestamp: str, nonce: str, echostr: str) -> str:
        """The URL check: answer WeCom with exactly the returned plaintext."""
        self.check_signature(msg_signature, timestamp, nonce, echostr)
        return self.decrypt(echostr)

    def decrypt_message(self, msg_signature: str, timestamp: str, nonce: str, body: bytes | str) -> str:
        """The decrypted inner XML of a POSTed callback body (signature checked over <Encrypt>)."""
        encrypt = parse_xml(body).findtext("Encrypt")
        if not encrypt:
            raise WeComCryptoError(PARSE_XML_ERROR, "no <Encrypt> element")
        self.check_signature(msg_signature, timestamp, nonce, encrypt)
        return self.decrypt(encrypt)

    def encrypt_message(self, message: str, nonce: str | None = None, timestamp: str | None = None) -> tuple[str, dict]:
        """An encrypted envelope as WeCom sends it (the sandbox's side) and the query it signs."""
        nonce = nonce or str(secrets.randbelow(10**10))
        timestamp = timestamp or str(int(time.time()))
        encrypt = self.encrypt(message)
        sig = signature(self.token, timestamp, nonce, encrypt)
        xml = f"<xml><ToUserName><![CDATA[{self.receive_id}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt><AgentID><![CDATA[]]></AgentID></xml>"
        return xml, {"msg_signature": sig, "timestamp": timestamp, "nonce": nonce}


def parse_xml(body: bytes | str) -> Element:
    """Parse untrusted XML: size-capped, no DTDs, no entities (billion laughs, XXE)."""
    data = body.encode() if isinstance(body, str) else body
    if len(data) > MAX_BODY_BYTES:
        raise WeComCryptoError(PARSE_XML_ERROR, "body too large")
    try:
        return SafeET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise WeComCryptoError(PARSE_XML_ERROR, f"forbidden XML construct: {type(exc).__name__}") from None
    except SafeET.ParseError:
        raise WeComCryptoError(PARSE_XML_ERROR, "malformed XML") from None


def jsapi_signature(ticket: str, noncestr: str, timestamp: int | str, url: str) -> str:
    """The JS-SDK's signature (wx.config with the corp ticket, wx.agentConfig with the app's):
    sha1 over "jsapi_ticket=…&noncestr=…&timestamp=…&url=…", keys in that order, nothing
    URL-encoded, the page's URL without its #fragment."""
    page = url.split("#", 1)[0]
    return hashlib.sha1(f"jsapi_ticket={ticket}&noncestr={noncestr}&timestamp={timestamp}&url={page}".encode()).hexdigest()
