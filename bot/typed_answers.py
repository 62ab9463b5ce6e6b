"""What is wrong with a typed answer (a name, a reason, a description), said as a hint the user can act on.

Every conversation that takes typed text checks it the same way, so the limits and the wording are one."""

from __future__ import annotations

from bot.i18n import _
from bot.text import has_words


def text_problem(text: str | None, *, minimum: int, maximum: int) -> str | None:
    """What is wrong with a typed answer, as a hint for the user; None when it is fine."""
    if text is None:
        return _("Please type your answer in a message.")
    if not has_words(text):
        return _("Please answer with words, not only emoji or signs.")
    if len(text) < minimum:
        return _("That is too short. Please type at least {count} letters.").format(count=minimum)
    if len(text) > maximum:
        return _("That is too long ({length} characters). Please keep it under {count}.").format(
            length=len(text), count=maximum
        )
    return None
