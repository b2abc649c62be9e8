"""Secrets at rest: corp credentials are stored Fernet-encrypted and only ever shown masked."""

import base64
import functools

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings


@functools.cache
def _fernet(secret_key: str, encryption_key: str) -> Fernet:
    if encryption_key:
        return Fernet(encryption_key.encode())
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"siyu-credentials", info=b"fernet").derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(derived))


def fernet() -> Fernet:
    return _fernet(settings.SECRET_KEY, settings.SIYU_ENCRYPTION_KEY)


def encrypt_secret(plaintext: str) -> str:
    if not plaintext:
        return ""
    return fernet().encrypt(plaintext.encode()).decode()


def decrypt_secret(ciphertext: str) -> str:
    if not ciphertext:
        return ""
    try:
        return fernet().decrypt(ciphertext.encode()).decode()
    except InvalidToken as exc:
        raise RuntimeError("A stored credential cannot be decrypted: SIYU_SECRET_KEY or SIYU_ENCRYPTION_KEY changed.") from exc


def mask(plaintext: str, visible: int = 4) -> str:
    if not plaintext:
        return ""
    if len(plaintext) <= visible * 2:
        return "•" * len(plaintext)
    return "•" * 8 + plaintext[-visible:]
