"""What the bot is made of: every conversation, in the order it is wired, and every module that writes a
notice. The composition root (``bot.app``) builds the engine's registry here and the sender (``bot.sender``)
imports it for the templates, so a process that sends knows every kind of notice a handler can queue.

Everything is imported by name: a module that is missing or broken stops the bot at start, never silently.
Adding a conversation is one module with a ``register(registry)`` function plus one line in
``CONVERSATIONS``; a module that writes notices (``@notice``) also goes in ``NOTICE_WRITERS``.
"""

from __future__ import annotations

from types import ModuleType

from bot import notices, office_jobs, reminders
from bot.flow import Registry
from handlers import (
    admin,
    calendar,
    commune_contact,
    commune_report,
    commune_review,
    dossier,
    dossier_files,
    dossier_reuse,
    idea,
    idea_return,
    link,
    menu,
    office_reports,
    onboarding,
    privacy,
    privacy_admin,
    privacy_notices,
    producer_claims,
    province,
    province_notices,
    public_check,
    staff_search,
    status,
)

# The order matters twice. Gates: each of onboarding, link, public_check and privacy wraps the gate that was
# registered before it, so the one registered last runs first. Intents: free text is matched against the
# intents in the order they were added (status, then link, then calendar).
CONVERSATIONS: tuple[ModuleType, ...] = (
    onboarding,  # the innermost gate: consent and registration before anything else a producer does
    idea,
    idea_return,  # "✏️ Fix the idea" on a returned idea: the idea flow pre-filled at the flagged question
    dossier,
    dossier_files,  # 🗂 an item's files: its own small flow, entered from and left back into the dossier
    dossier_reuse,
    status,
    commune_review,
    producer_claims,
    admin,
    province,
    link,  # wraps onboarding's gate: after consent, a second app joins the first instead of registering again
    staff_search,
    office_reports,
    commune_report,
    commune_contact,
    public_check,  # wraps link's gate: a certificate code is answered for anyone, even before consent
    calendar,
    privacy,  # the outermost gate: a pending deletion request is answered before any other gate asks
    privacy_admin,
)

NOTICE_WRITERS: tuple[ModuleType, ...] = (
    reminders,
    office_jobs,
    admin,
    commune_review,
    link,
    privacy_notices,
    producer_claims,
    province_notices,
)

TEMPLATES = notices.register(*NOTICE_WRITERS)


def build_registry() -> Registry:
    registry = Registry()
    # The main menu's buttons start these flows; the menu, help and the answers for stale buttons and unknown
    # text come first because every later module may fall back on them.
    menu.register(registry)
    for module in CONVERSATIONS:
        module.register(registry)
    return registry
