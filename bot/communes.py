"""Communes of the configured province, from vietnam-provinces (the units in force since 01/07/2025)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from vietnam_provinces import Province, Ward

from bot.text import fold

_UNIT_PREFIXES = ("xa ", "phuong ", "thi tran ", "dac khu ")


@dataclass(frozen=True, slots=True)
class Commune:
    code: int
    name: str  # e.g. "Xã Bình Lư"
    folded: str  # "xa binh lu"
    short_folded: str  # "binh lu": what people type


def _short(folded_name: str) -> str:
    for prefix in _UNIT_PREFIXES:
        if folded_name.startswith(prefix):
            return folded_name[len(prefix) :]
    return folded_name


@cache
def communes_of(province_name: str) -> tuple[Commune, ...]:
    wanted = fold(province_name)
    province = next(
        (p for p in Province.iter_all() if _short(fold(p.name)) in (wanted, _short(wanted))),
        None,
    )
    if province is None:
        raise ValueError(f"unknown province: {province_name!r}")
    communes = []
    for ward in Ward.iter_all():
        if ward.province_code == province.code:
            folded = fold(ward.name)
            communes.append(Commune(int(ward.code), ward.name, folded, _short(folded)))
    return tuple(sorted(communes, key=lambda c: c.short_folded))


def find_communes(province_name: str, query: str, limit: int = 8) -> list[Commune]:
    """Communes whose name contains what was typed, with or without diacritics; exact matches first."""
    wanted = _short(fold(query))
    if not wanted:
        return []
    communes = communes_of(province_name)
    exact = [c for c in communes if c.short_folded == wanted]
    if exact:
        return exact
    starts = [c for c in communes if c.short_folded.startswith(wanted)]
    inside = [c for c in communes if wanted in c.short_folded and c not in starts]
    words = [
        c for c in communes if c not in starts and c not in inside and all(w in c.short_folded for w in wanted.split())
    ]
    return (starts + inside + words)[:limit]


def commune_by_code(province_name: str, code: int) -> Commune | None:
    return next((c for c in communes_of(province_name) if c.code == code), None)
