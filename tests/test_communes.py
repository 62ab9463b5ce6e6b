"""Communes of the configured province (2025 units), found by typing part of a name."""

from __future__ import annotations

from bot.communes import communes_of, find_communes


def test_lai_chau_has_38_communes_and_wards() -> None:
    assert len(communes_of("Lai Châu")) == 38


def test_found_with_or_without_diacritics_and_prefix() -> None:
    for typed in ("Bình Lư", "binh lu", "xa binh lu", "BINH LU"):
        assert [c.name for c in find_communes("Lai Châu", typed)] == ["Xã Bình Lư"]


def test_a_fragment_offers_several() -> None:
    names = {c.name for c in find_communes("Lai Châu", "muong")}
    assert {"Xã Mường Tè", "Xã Mường Khoa"} <= names


def test_nonsense_finds_nothing() -> None:
    assert find_communes("Lai Châu", "zzzz") == []
    assert find_communes("Lai Châu", "   ") == []


def test_another_province_is_a_setting() -> None:
    assert len(communes_of("Lào Cai")) == 99
