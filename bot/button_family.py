"""Buttons valid from any message, in families that share one check.

A family is a base class without a prefix (``class ReviewButton(Button)``); its members are the buttons. The
check (the role, the scope) runs once for every press of any member, before the member's own handler, so no
handler repeats it::

    review = Family(ReviewButton, officer_scope)

    @review.on(OpenDossier)
    async def open_dossier(ctx: Context, scope: Scope, pressed: OpenDossier) -> None: ...

    review.register(registry)

The check answers the refusal itself and returns None; otherwise what it returns (the scope) is handed on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from bot.callbacks import Button, registered
from bot.flow import Context, Registry

B = TypeVar("B", bound=Button)
S = TypeVar("S")
# handler(ctx, what the check returned, the button pressed)
Handler = Callable[[Context, S, B], Awaitable[None]]


class Family(Generic[S]):
    def __init__(self, base: type[Button], check: Callable[[Context], Awaitable[S | None]]) -> None:
        self.base = base
        self.check = check
        self.handlers: dict[type[Button], Handler[S, Any]] = {}

    def on(self, button: type[B]) -> Callable[[Handler[S, B]], Handler[S, B]]:
        """``handler(ctx, checked, pressed)`` for a press of ``button``, after the family's check."""
        if not issubclass(button, self.base):
            raise TypeError(f"{button.__name__} is not a {self.base.__name__}")

        def register(
            function: Callable[[Context, S, B], Awaitable[None]],
        ) -> Callable[[Context, S, B], Awaitable[None]]:
            if button in self.handlers:
                raise ValueError(f"button {button.__name__} handled twice")
            self.handlers[button] = function
            return function

        return register

    async def __call__(self, ctx: Context, pressed: Button) -> None:
        checked = await self.check(ctx)
        if checked is None:
            return
        await self.handlers[type(pressed)](ctx, checked, pressed)

    def register(self, registry: Registry) -> None:
        """Take every member of the family from any message; a member without a handler is a start-up error."""
        members = {kind for kind in registered().values() if issubclass(kind, self.base)}
        missing = sorted(kind.__name__ for kind in members - set(self.handlers))
        if missing:
            raise ValueError(f"{self.base.__name__}: buttons without a handler: {missing}")
        registry.on_button(self.base)(self)
