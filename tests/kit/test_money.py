"""Yuan to fen: the plain-digits path a history file takes reads every amount as the full path does."""

import re
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from siyu.kit import money
from siyu.kit.errors import InvalidInput
from siyu.kit.money import fen_from_yuan


def by_decimal(text: str) -> int:
    """The full path alone (the plain path made to miss)."""
    original = money.PLAIN_YUAN
    try:
        money.PLAIN_YUAN = re.compile(r"(?!)")
        return fen_from_yuan(text)
    finally:
        money.PLAIN_YUAN = original


@given(whole=st.integers(0, 10**13 - 1), cents=st.one_of(st.none(), st.text("0123456789", min_size=1, max_size=2)))
def test_plain_amounts_read_as_the_full_path_reads_them(whole, cents):
    text = f"{whole}" if cents is None else f"{whole}.{cents}"
    assert fen_from_yuan(text) == by_decimal(text) == int(Decimal(text) * 100)


@pytest.mark.parametrize("text", ["89.999", "-1", "1e3", "", " ", "１２", "12.", ".5", "¥12", "1,000.5", "99999999999999"])
def test_other_amounts_take_the_full_path(text):
    try:
        expected = by_decimal(text)
    except InvalidInput as exc:
        with pytest.raises(InvalidInput) as raised:
            fen_from_yuan(text)
        assert raised.value.code == exc.code
    else:
        assert fen_from_yuan(text) == expected
