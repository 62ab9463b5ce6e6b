"""The short public code of a certificate: printed as a QR code on the label, typed by anyone to check it.

Eight characters from an alphabet without look-alikes (no 0/O, 1/I/L), so a code read off a label and typed
on a phone is found; at least one letter and one digit, so it is never mistaken for a word, nor for the
8-digit code that links two accounts (``handlers.link``). 31⁸ ≈ 8.5·10¹¹ codes: guessing one is hopeless
under the lookup rate limit.
"""

from __future__ import annotations

import re
import secrets

from sqlalchemy.ext.asyncio import AsyncSession

from storage import certificates

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
LENGTH = 8
DEEP_LINK_PREFIX = "cert_"
_TYPED = re.compile(r"^\s*(?:/start\s+)?(?:cert[_\s-]*|ocop[_\s-]*)?([0-9a-z][0-9a-z\s-]{6,12}[0-9a-z])\s*$", re.I)


def _mixed(code: str) -> bool:
    """Letters and digits both: a plain word or number typed in a conversation is never taken for a code."""
    return any(ch.isdigit() for ch in code) and any(ch.isalpha() for ch in code)


def generate() -> str:
    while True:
        code = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
        if _mixed(code):
            return code


async def new_public_code(session: AsyncSession) -> str:
    """A code no other certificate has (the unique column is the last word; a clash is astronomically rare)."""
    while True:
        code = generate()
        if not await certificates.code_taken(session, code):
            return code


def parse(text: str | None) -> tuple[str, bool] | None:
    """The code in what was typed or opened ("cert_K7M2Q9XA", "/start cert_k7m2q9xa", "K7M2 Q9XA"), and whether
    it was explicitly marked as a certificate code (the prefix); None when it cannot be one."""
    match = _TYPED.match(text or "")
    if match is None:
        return None
    code = re.sub(r"[\s-]", "", match.group(1)).upper()
    if len(code) != LENGTH or not _mixed(code) or any(ch not in ALPHABET for ch in code):
        return None
    marked = bool(re.match(r"^\s*(?:/start\s+)?(?:cert|ocop)", text or "", re.I))
    return code, marked


def telegram_link(bot_username: str, code: str) -> str:
    return f"https://t.me/{bot_username}?start={DEEP_LINK_PREFIX}{code}"
