"""Producers read on small phones, slowly: no message of a producer's conversation is longer than eight lines
on a phone screen, in Vietnamese or English, with buttons or as a numbered list.

Which catalogue entries are producer-facing: the sentences extracted (as ``scripts/i18n`` extracts them) from
the modules a producer's conversations and notices are written in. Each is rendered with representative
values for its placeholders and wrapped at a phone's width; the few legal texts that must say everything
the law asks for are allowed by name, with the reason.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po

from bot.i18n import LOCALES_DIR, NUMBERED

ROOT = Path(__file__).resolve().parent.parent
# The modules whose sentences a producer reads: their conversations, the notices and reminders sent to them,
# and what the engine and the channels say to anyone.
PRODUCER_MODULES = (
    "handlers/onboarding.py",
    "handlers/menu.py",
    "handlers/idea.py",
    "handlers/idea_return.py",
    "handlers/commune_contact.py",
    "handlers/dossier.py",
    "handlers/dossier_files.py",
    "handlers/dossier_reuse.py",
    "handlers/status.py",
    "handlers/calendar.py",
    "handlers/privacy.py",
    "handlers/link.py",
    "handlers/certificate_share.py",
    "handlers/province_notices.py",
    "handlers/privacy_notices.py",
    "bot/reminders.py",
    "bot/engine.py",
    "bot/flow.py",
    "bot/typed_answers.py",
    "bot/channels/zalo_bot.py",
)
MAX_LINES = 8
# Characters per line of a chat bubble on a common 360-point-wide phone at the default text size.
PHONE_WIDTH = 40
# A placeholder stands for a typical value: a product or a commune's name, a date, a count.
PLACEHOLDER = "Chè Shan tuyết Tả Van"
NUMBERS = {"count", "done", "total", "number", "hours", "days", "limit", "low", "high", "size", "position"}
DATES = {"day", "deadline", "meeting", "until", "date", "expires"}

# Longer on purpose, with the reason. Match on the start of the msgid.
ALLOWED = {
    # Consent before anything is kept: the notice itself names the controller, the purposes, the data and
    # the rights, not a link to them.
    "🔒 Your data is looked after by {controller}": "legal consent notice",
    "ℹ️ Your rights under {law}": "legal: the rights are listed in full as the law names them",
    # A deletion request says, before it is made, what is deleted and what the province must keep.
    "🗑 We stop using your data now": "legal: what deletion removes and what stays",
    # Staff help lives in handlers.menu beside the producer's; staff read it at a desk.
    "You are a commune officer": "staff help, not producer-facing",
    "You are a province OCOP officer": "staff help, not producer-facing",
    "You are an administrator": "staff help, not producer-facing",
}

# Questions of more than two sentences on purpose, with the reason.
WORDY = {
    # Another app asks to join this account: the question and the warning against strangers go together.
    "🔗 The {app} account": "security: the warning must stay with the question",
}


def _value(name: str) -> str:
    if name in NUMBERS:
        return "12"
    if name in DATES:
        return "31/12/2026"
    return PLACEHOLDER


def rendered_lines(text: str, width: int = PHONE_WIDTH) -> int:
    """Lines on the phone: each line of the text, wrapped at ``width``; an empty line counts as one."""
    filled = re.sub(r"\{(\w+)\}", lambda match: _value(match.group(1)), text)
    return sum(max(1, len(textwrap.wrap(line, width))) for line in filled.split("\n"))


def producer_msgids() -> dict[str, str]:
    """Each producer-facing msgid and the first module it is used in."""
    found: dict[str, str] = {}
    for module in PRODUCER_MODULES:
        for _line, message, _comments, _context in extract_from_file(
            "python", str(ROOT / module), keywords={"_": None, "N_": None}
        ):
            if isinstance(message, str) and message:
                found.setdefault(message, module)
    return found


def _allowed(msgid: str) -> bool:
    return any(msgid.startswith(start) for start in ALLOWED)


def test_the_line_count_wraps_at_the_phone_width() -> None:
    assert rendered_lines("short") == 1
    assert rendered_lines("a\n\nb") == 3
    assert rendered_lines("word " * 20) == 3  # 100 characters
    assert rendered_lines("{count} ảnh này là “{item}”?") == 1


def test_every_producer_message_fits_a_phone_screen() -> None:
    msgids = producer_msgids()
    assert len(msgids) > 300, "the extraction found the producer's sentences"
    too_long: list[str] = []
    for locale in ("vi", "en"):
        with (LOCALES_DIR / locale / "LC_MESSAGES" / "messages.po").open("rb") as handle:
            catalog = read_po(handle)
        variants: list[tuple[str, str | None]] = [(msgid, None) for msgid in msgids]
        variants += [(str(m.id), NUMBERED) for m in catalog if m.context == NUMBERED and m.id in msgids]
        for msgid, context in variants:
            entry = catalog.get(msgid, context=context)
            text = str(entry.string) if entry is not None and entry.string else msgid
            lines = rendered_lines(text)
            if lines > MAX_LINES and not _allowed(msgid):
                too_long.append(f"{locale} {context or ''} {lines} lines ({msgids[msgid]}): {msgid[:60]!r}")
    assert too_long == []


def test_the_allowed_long_texts_are_still_used_and_still_long() -> None:
    """An allowance for a text that was shortened or removed would hide the next long text of that name."""
    msgids = producer_msgids()
    for start, reason in ALLOWED.items():
        used = [msgid for msgid in msgids if msgid.startswith(start)]
        assert len(used) == 1, (start, reason)
        assert rendered_lines(used[0]) > MAX_LINES or reason.startswith("staff"), (start, reason)


def sentences(text: str) -> int:
    return len([part for part in re.split(r"(?<=[.!?…])\s+", text.strip()) if part.strip()])


def test_every_producer_question_is_at_most_two_sentences() -> None:
    """A question a producer must answer is at most two short sentences in Vietnamese (the question and what to
    press or type), with buttons or numbered: a third sentence is where slow readers stop."""
    msgids = producer_msgids()
    with (LOCALES_DIR / "vi" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalog = read_po(handle)
    wordy: list[str] = []
    for msgid, module in msgids.items():
        if "?" not in msgid or _allowed(msgid) or any(msgid.startswith(start) for start in WORDY):
            continue
        for context in (None, NUMBERED):
            entry = catalog.get(msgid, context=context)
            if entry is None or not entry.string:
                continue
            if sentences(str(entry.string)) > 2:
                wordy.append(f"{context or ''} ({module}): {entry.string!r}")
    assert sentences("Ở đâu? Chọn rồi bấm Xong.") == 2
    assert wordy == []
