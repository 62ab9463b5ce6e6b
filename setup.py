"""Build hook: the translation catalogues are compiled into the package at build time.

``locales/<lang>/LC_MESSAGES/messages.po`` (the catalogues everyone edits) become
``bot/locales/<lang>/LC_MESSAGES/messages.mo`` inside the wheel, so an installed bot speaks Vietnamese without
a source tree or a separate compile step. Everything else about the package is in ``pyproject.toml``.
"""

from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from setuptools import setup
from setuptools.command.build_py import build_py

CATALOGUES = Path(__file__).resolve().parent / "locales"


class BuildPyWithCatalogues(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads locales/*.po from the checkout itself (bot/i18n.py)
        sources = sorted(CATALOGUES.glob("*/LC_MESSAGES/messages.po"))
        if not sources:
            raise SystemExit(f"no catalogues under {CATALOGUES}: the package would not speak Vietnamese")
        for po_path in sources:
            locale = po_path.parent.parent.name
            target = Path(self.build_lib) / "bot" / "locales" / locale / "LC_MESSAGES" / "messages.mo"
            target.parent.mkdir(parents=True, exist_ok=True)
            with po_path.open("rb") as handle:
                catalog = read_po(handle, locale=locale)
            with target.open("wb") as handle:
                write_mo(handle, catalog)


setup(cmdclass={"build_py": BuildPyWithCatalogues})
