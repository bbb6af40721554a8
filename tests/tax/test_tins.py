"""TIN validation says exactly what is wrong; sealing round-trips and hides the digits."""

from __future__ import annotations

import pytest

from laurel.tax import tins


@pytest.mark.parametrize(
    ("value", "kind", "digits"),
    [
        ("123-45-6780", "SSN", "123456780"),
        ("123456780", "SSN", "123456780"),
        ("912-78-1234", "ITIN", "912781234"),
        ("12-3456780", "EIN", "123456780"),
        (" 12 3456780 ", "EIN", "123456780"),
    ],
)
def test_valid_numbers(value: str, kind: str, digits: str) -> None:
    tin = tins.parse(value, kind)
    assert (tin.digits, tin.type.value, tin.last4) == (digits, kind, digits[-4:])


@pytest.mark.parametrize(
    ("value", "kind", "message"),
    [
        ("", "SSN", "Enter the SSN."),
        ("12345678", "SSN", "An SSN has 9 digits; this one has 8."),
        ("1234567801", "EIN", "An EIN has 9 digits; this one has 10."),
        ("123-45-678O", "SSN", "An SSN has only digits and hyphens."),
        ("12-3456780", "SSN", "Write the SSN as 9 digits or as 123-45-6789."),
        ("123-45-6780", "EIN", "Write the EIN as 9 digits or as 12-3456789."),
        ("111-11-1111", "SSN", "This is a placeholder number, not a real SSN."),
        ("123-45-6789", "SSN", "This is a placeholder number, not a real SSN."),
        ("000-12-3456", "SSN", "An SSN never starts with 000, 666 or 9"),
        ("666-12-3456", "SSN", "An SSN never starts with 000, 666 or 9"),
        ("912-34-5678", "SSN", "numbers starting with 9 are ITINs"),
        ("123-00-4567", "SSN", "The middle two digits of an SSN are never 00."),
        ("123-45-0000", "SSN", "The last four digits of an SSN are never 0000."),
        ("812-78-1234", "ITIN", "An ITIN starts with 9."),
        ("912-45-1234", "ITIN", "The fourth and fifth digits of an ITIN are 50-65"),
        ("07-1234567", "EIN", "No EIN starts with 07."),
        ("12-3456780", "TIN", "The TIN type must be SSN, ITIN or EIN."),
    ],
)
def test_invalid_numbers_say_why(value: str, kind: str, message: str) -> None:
    with pytest.raises(tins.TinError) as caught:
        tins.parse(value, kind)
    assert message in str(caught.value)


def test_sealed_tins_open_only_with_the_same_key(monkeypatch: pytest.MonkeyPatch) -> None:
    from laurel.config import get_settings

    sealed = tins.seal("123456780")
    assert "123456780" not in sealed
    assert tins.unseal(sealed) == "123456780"
    monkeypatch.setenv("LAUREL_SECRET_KEY", "another-key-entirely")
    get_settings.cache_clear()
    try:
        assert tins.unseal(sealed) is None
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


def test_connector_secret_keys_do_not_open_tins() -> None:
    from laurel.config import get_settings
    from laurel.events.connectors.secretbox import SecretBox

    box = SecretBox(get_settings().secret_key)
    assert box.open(tins.seal("123456780")) is None


def test_masks() -> None:
    assert tins.mask("SSN", "6780") == "***-**-6780"
    assert tins.mask("EIN", "6780") == "**-***6780"
    assert tins.mask("SSN", None) is None
