"""The id grammar (remediator.idents): every id that carries authority is checked before it is used."""

import pytest

from remediator import idents
from remediator.errors import InputError


@pytest.mark.parametrize("value", ["0123456789ab", "deadbeef0000"])
def test_approval_ids_pass(value: str) -> None:
    assert idents.check("approval id", value) == value


@pytest.mark.parametrize("value", ["0123456789ab/approve?", "0123456789ab#", "0123%2F4567", "0123 456789a", "01234\n6789ab",
                                   "", "../../x", "0123456789abc", "0123456789AB"])
def test_hostile_approval_ids_are_refused_and_shown_escaped(value: str) -> None:
    with pytest.raises(InputError) as exc:
        idents.check("approval id", value, where="approve")
    text = str(exc.value)
    assert text.startswith("approve: ") and "\n" not in text and "not a valid approval id" in text


def test_one_of_accepts_either_kind_and_names_both_when_it_refuses() -> None:
    assert idents.one_of(("approval id", "incident id"), "20261205T123456-abcdef") == "20261205T123456-abcdef"
    with pytest.raises(InputError, match="approval id or incident id"):
        idents.one_of(("approval id", "incident id"), "h/release?")


def test_shown_bounds_and_escapes() -> None:
    assert idents.shown("a\x1b[31mb") == "a\\x1b[31mb"
    assert idents.shown("x" * 5000).endswith("(5000 characters)") and len(idents.shown("x" * 5000)) < 120
