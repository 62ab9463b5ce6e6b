"""Typed buttons: what a handler declares is what comes back, and nothing else gets through."""

from __future__ import annotations

import pytest

from bot.callbacks import MAX_BYTES, Button, registered
from bot.messages import Choice


class _Item(Button, prefix="t:item"):
    dossier: int
    item: str


class _Flag(Button, prefix="t:flag"):
    on: bool


class _Home(Button, prefix="t"):
    pass


class _Family(Button):
    """A family: no prefix of its own, its members share a handler."""


class _Member(_Family, prefix="t:member"):
    number: int


def test_a_button_packs_and_parses_back() -> None:
    pressed = _Item(dossier=7, item="registration")
    assert pressed.pack() == "t:item:7:registration"
    assert Button.parse("t:item:7:registration") == pressed
    assert Button.parse(_Flag(on=True).pack()) == _Flag(on=True)
    assert Button.parse("t") == _Home()
    assert _Item.parse("t:item:7:registration") == pressed
    assert _Flag.parse("t:item:7:registration") is None  # another class's button
    assert Choice("📄 Phiếu", pressed).payload == "t:item:7:registration"


def test_only_the_last_text_field_may_hold_a_colon() -> None:
    assert Button.parse("t:item:7:a:b") == _Item(dossier=7, item="a:b")
    with pytest.raises(ValueError):
        _Item(dossier=-1, item="x").pack()


@pytest.mark.parametrize(
    "forged",
    [
        None,
        "",
        "t:item",  # fields missing
        "t:item:x:registration",  # not a number
        "t:item:-3:registration",
        "t:item:1234567890123:registration",  # longer than any id
        "t:item:7:",  # empty text
        "t:flag:2",  # neither 1 nor 0
        "t:extra",  # a field-less button with something after it
        "nobody:knows:this",
        "t:item:7:" + "x" * MAX_BYTES,  # longer than Telegram allows
    ],
)
def test_anything_else_parses_to_none(forged: str | None) -> None:
    assert Button.parse(forged) is None


def test_packing_refuses_what_cannot_come_back() -> None:
    with pytest.raises(ValueError):
        _Item(dossier=1, item="x" * MAX_BYTES).pack()
    with pytest.raises(ValueError):
        _Item(dossier=1, item="").pack()


def test_a_prefix_is_taken_once() -> None:
    with pytest.raises(ValueError):

        class _Again(Button, prefix="t:item"):
            other: int

    assert registered()["t:item"] is _Item


def test_a_family_collects_its_members() -> None:
    pressed = Button.parse("t:member:3")
    assert pressed == _Member(number=3) and isinstance(pressed, _Family)
    assert _Family.parse("t:member:3") == _Member(number=3)
    assert _Family.parse("t") is None
