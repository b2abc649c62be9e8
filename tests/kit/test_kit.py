import pytest

from siyu.kit.crypto import decrypt_secret, encrypt_secret, mask
from siyu.kit.errors import InvalidInput
from siyu.kit.pagination import decode_cursor, encode_cursor


def test_secret_round_trip_and_ciphertext_differs():
    token = encrypt_secret("s3cret-value-123")
    assert "s3cret" not in token
    assert decrypt_secret(token) == "s3cret-value-123"
    assert encrypt_secret("s3cret-value-123") != token  # fresh IV every time
    assert encrypt_secret("") == "" and decrypt_secret("") == ""


def test_changed_key_is_a_clear_error(settings):
    token = encrypt_secret("abc")
    settings.SECRET_KEY = "another-key-entirely-0123456789"
    with pytest.raises(RuntimeError, match="SIYU_SECRET_KEY"):
        decrypt_secret(token)


def test_mask_shows_only_the_tail():
    assert mask("abcdefghijklmnop") == "••••••••mnop"
    assert mask("short") == "•••••"
    assert mask("") == ""


@pytest.mark.parametrize("bad", ["", None])
def test_empty_cursor_is_first_page(bad):
    assert decode_cursor(bad) is None


@pytest.mark.parametrize("bad", ["!!!", "abc", encode_cursor(5)[:-2], "eyJ2IjoxLCJpZCI6LTF9", "eyJ2IjoxLCJpZCI6IngifQ", "一二三"])
def test_malformed_cursor(bad):
    with pytest.raises(InvalidInput) as exc:
        decode_cursor(bad)
    assert exc.value.field == "cursor" and exc.value.code == "invalid_cursor"


def test_cursor_round_trip():
    assert decode_cursor(encode_cursor(123456789)) == 123456789
