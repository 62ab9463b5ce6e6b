"""Text helpers: folding, phones, splitting, the progress bar."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.text import fold, has_words, nfc, normalise_phone, progress_bar, shorten, split_message, tidy


@pytest.mark.parametrize(
    ("typed", "folded"),
    [
        ("Hồ sơ của tôi", "ho so cua toi"),
        ("ĐẾN ĐÂU RỒI", "den dau roi"),
        ("  kiểm   tra  hồ sơ ", "kiem tra ho so"),
        ("Mường Tè", "muong te"),
    ],
)
def test_fold_strips_diacritics_and_case(typed: str, folded: str) -> None:
    assert fold(typed) == folded


def test_fold_treats_combining_and_precomposed_letters_alike() -> None:
    combining = "Hô\u0300 so\u031b"  # "Hồ sơ" typed with combining marks, as some keyboards do
    assert fold(combining) == fold("Hồ sơ") == "ho so"
    assert nfc(combining) == "Hồ sơ"


@given(st.text(max_size=100))
def test_a_short_text_folds_through_the_cache_as_a_long_one_does(text: str) -> None:
    # Short texts (labels, typed answers) are folded through a cache, long ones (a pasted paragraph) are not;
    # trailing spaces are dropped by folding, so the padded copy must fold the same way by the long path.
    assert fold(text) == fold(text + " " * 200) == fold(text)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0912345678", "0912345678"),
        ("0912 345 678", "0912345678"),
        ("+84 912.345.678", "0912345678"),
        ("84912345678", "0912345678"),
        ("091234567", None),
        ("0212345678", None),
        ("abc", None),
        ("", None),
    ],
)
def test_normalise_phone(raw: str, expected: str | None) -> None:
    assert normalise_phone(raw) == expected


@given(st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=3000), st.integers(50, 4096))
def test_split_message_keeps_every_character_within_the_limit(text: str, limit: int) -> None:
    parts = split_message(text, limit)
    assert all(len(part) <= limit for part in parts)
    assert "".join(parts).replace("\n", "") == text.replace("\n", "")


def test_split_message_cuts_on_lines() -> None:
    text = "\n".join(f"dòng {i}" for i in range(1000))
    parts = split_message(text, 2000)
    assert len(parts) > 1 and all(part.startswith("dòng") for part in parts)


def test_progress_bar() -> None:
    assert progress_bar(3, 5) == "▰▰▰▱▱"
    assert progress_bar(0, 0) == "▱▱▱▱▱"
    assert progress_bar(5, 5) == "▰▰▰▰▰"


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("HTX Chè Tả Van", True),
        ("ho so 2", True),
        ("2024", True),
        ("", False),
        ("   ", False),
        ("👍🙏", False),
        ("...!?", False),
    ],
)
def test_has_words_wants_a_letter_or_a_digit(typed: str, expected: bool) -> None:
    assert has_words(typed) is expected


def test_tidy_puts_a_typed_answer_on_one_line() -> None:
    assert tidy("  Chè   Shan\n tuyết ") == "Chè Shan tuyết"
    assert tidy(None) == ""


def test_shorten_cuts_with_an_ellipsis() -> None:
    assert shorten("Chè Shan", 20) == "Chè Shan"
    assert shorten("Chè Shan tuyết Tả Van", 10) == "Chè Shan…"
    assert len(shorten("x" * 100, 48)) == 48
