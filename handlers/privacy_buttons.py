"""🔒 My data: the buttons that work from any message (the help menu, the pending-request receipt, a refusal of
consent, an admin's notice), shared by ``handlers.privacy``, ``handlers.privacy_admin`` and the notices.

Every button of these screens passes the onboarding gate: a right must not depend on agreeing first.
"""

from __future__ import annotations

from bot.callbacks import Button


class PrivacyButton(Button):
    """Every button of 🔒 My data and of the admins' requests; the gate lets them through."""


class OpenPrivacy(PrivacyButton, prefix="pdo:home"):
    pass


class CancelRequest(PrivacyButton, prefix="pdo:cancel"):
    """↩️ on the receipt of a pending deletion request."""


class RequestButton(PrivacyButton):
    """The admins' buttons on deletion requests (``handlers.privacy_admin``)."""


class ShowRequests(RequestButton, prefix="pdo:requests"):
    pass


class HoldRequest(RequestButton, prefix="pdo:hold"):
    request: int


class ReleaseRequest(RequestButton, prefix="pdo:release"):
    request: int
