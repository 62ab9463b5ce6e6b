"""``bot.wiring``: every conversation and every notice template is registered in one place, explicitly."""

from __future__ import annotations

import ast
import importlib
import json
import pkgutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import bot
import handlers
from bot import notices, wiring
from bot.callbacks import Button
from bot.menu_buttons import MenuButton, MenuHelp
from handlers import link, menu, onboarding, privacy_notices, staff_menu
from handlers.admin import AdminHome
from handlers.commune_contact import PhoneSetting
from handlers.link import LinkStart
from handlers.province_common import ProvinceHome

ROOT = Path(__file__).resolve().parent.parent


def _modules() -> list[ModuleType]:
    found = []
    for package in (bot, handlers):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if not info.name.endswith("__main__"):  # running it starts the bot
                found.append(importlib.import_module(info.name))
    return found


def _fresh_process_kinds(code: str) -> set[str]:
    """The notice kinds a new interpreter knows after running ``code`` (nothing else imported)."""
    script = f"import json\n{code}\nfrom bot import notices\nprint(json.dumps(sorted(notices.TEMPLATES)))"
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True, timeout=120
    )
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def _queued_kinds(module: ModuleType) -> tuple[set[str], int]:
    """The kinds ``module`` queues that can be read without running it: string literals and module-level
    constants passed to ``ctx.notify(user, kind, ...)`` or as ``kind=`` to ``outbox.enqueue``/``_notice``;
    and how many calls pass a kind computed at run time (those are checked by the flow tests)."""
    if module.__file__ is None:
        return set(), 0
    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
    kinds: set[str] = set()
    computed = 0
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute | ast.Name):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id
        argument = next((k.value for k in node.keywords if k.arg == "kind"), None)
        if argument is None and name == "notify" and len(node.args) >= 2:
            argument = node.args[1]
        if argument is None or name not in ("notify", "enqueue", "_notice"):
            continue
        try:
            value = eval(compile(ast.Expression(argument), "<kind>", "eval"), vars(module))
        except NameError:
            computed += 1  # a local variable: the kind is chosen at run time
            continue
        assert isinstance(value, str), (module.__name__, ast.unparse(argument))
        kinds.add(value)
    return kinds, computed


def test_a_fresh_sender_knows_every_template_that_exists() -> None:
    """A process that only imports the sender (a separate sender process, a command that sends) knows every
    ``@notice`` template anywhere in ``bot`` and ``handlers``: a module of templates missing from
    ``wiring.NOTICE_WRITERS`` fails here, not as "unknown notice kind" on a producer's notice."""
    written = {kind for module in _modules() for kind in notices.templates_of(module)}
    assert len(written) > 30
    assert _fresh_process_kinds("from bot import sender") == written


def test_every_kind_a_module_queues_has_a_template_in_a_fresh_sender() -> None:
    known = _fresh_process_kinds("from bot import sender")
    queued: set[str] = set()
    for module in _modules():
        kinds, _computed = _queued_kinds(module)
        queued |= kinds
    # The literal kinds of commune review and the link requests, the constants of the privacy notices.
    assert {"commune_confirmed", link.REQUEST_NOTICE, privacy_notices.CORRECTION} <= queued
    assert queued - known == set()


def test_importing_a_template_module_alone_registers_nothing() -> None:
    """Registration is explicit (``bot.wiring``), never a side effect of which handler was imported first."""
    assert _fresh_process_kinds("import handlers.link") == set()


def test_every_menu_payload_is_routed() -> None:
    """The menus offer these buttons without asking whether their module is there: the registry has them, and
    every main-menu button names a flow that is registered."""
    registry = wiring.build_registry()
    offered = [choice.payload for choice in menu.menu_choices()] + [
        staff_menu.COMMUNE_QUEUE,
        ProvinceHome().pack(),
        AdminHome().pack(),
        staff_menu.FIND,
        staff_menu.REPORTS,
        staff_menu.DATA_REQUESTS,
        PhoneSetting().pack(),
        LinkStart().pack(),
        onboarding.PRIVACY_OPEN,
    ]
    for payload in offered:
        assert registry.handles(payload), payload
    for choice in menu.menu_choices():
        pressed = Button.parse(choice.payload)
        if isinstance(pressed, MenuButton) and not isinstance(pressed, MenuHelp):
            assert pressed.flow in registry.flows, pressed


def test_gates_wrap_in_the_listed_order() -> None:
    order = [module.__name__ for module in wiring.CONVERSATIONS]
    gates = ["handlers.onboarding", "handlers.link", "handlers.public_check", "handlers.privacy"]
    assert [name for name in order if name in gates] == gates
