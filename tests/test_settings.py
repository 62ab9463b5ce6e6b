"""Grouped settings read from the flat environment names the deployments already use."""

from __future__ import annotations

import datetime as dt
import types
import typing
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, SecretStr, ValidationError

from bot.settings import ENVIRONMENT, Settings, environment_name

# A value for each type, as text in the environment and as read.
_SAMPLES: dict[Any, tuple[str, Any]] = {
    str: ("sample", "sample"),
    SecretStr: ("a-long-secret-value", "a-long-secret-value"),
    int: ("7", 7),
    float: ("2.5", 2.5),
    Path: ("some/place", Path("some/place")),
    list[int]: ("[9,4]", [9, 4]),
    dt.time: ("08:30", dt.time(8, 30)),
}


def _field_type(path: tuple[str, ...]) -> Any:
    model: Any = Settings
    for group in path[:-1]:
        model = model.model_fields[group].annotation
    annotation = model.model_fields[path[-1]].annotation
    if isinstance(annotation, types.UnionType):  # X | None
        annotation = next(part for part in typing.get_args(annotation) if part is not type(None))
    return annotation


def _read(settings: Settings, path: tuple[str, ...]) -> Any:
    value: Any = settings
    for part in path:
        value = getattr(value, part)
    return value.get_secret_value() if isinstance(value, SecretStr) else value


def test_every_environment_name_reaches_its_group(monkeypatch: pytest.MonkeyPatch) -> None:
    expected = {}
    for name, path in ENVIRONMENT.items():
        kind = _field_type(path)
        text, value = ("json", "json") if name == "log_format" else _SAMPLES[kind]
        monkeypatch.setenv(name.upper(), text)
        expected[path] = value
    settings = Settings(_env_file=None)
    assert {path: _read(settings, path) for path in expected} == expected


def test_every_grouped_setting_has_one_environment_name() -> None:
    def paths(model: type[BaseModel], prefix: tuple[str, ...]) -> set[tuple[str, ...]]:
        found: set[tuple[str, ...]] = set()
        for field, info in model.model_fields.items():
            inner = info.annotation
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                found |= paths(inner, (*prefix, field))
            else:
                found.add((*prefix, field))
        return found

    assert sorted(paths(Settings, ())) == sorted(ENVIRONMENT.values())
    assert len(set(ENVIRONMENT.values())) == len(ENVIRONMENT)


def test_the_env_file_uses_the_flat_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ZALO_OA_APP_ID", "TELEGRAM_BOT_TOKEN", "OCOP_QUIET_START", "LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    env_file = tmp_path / ".env"
    env_file.write_text("ZALO_OA_APP_ID=123\nTELEGRAM_BOT_TOKEN=\nOCOP_QUIET_START=22:00\n", encoding="utf-8")
    settings = Settings(_env_file=env_file)
    assert settings.zalo.oa.app_id == "123"
    assert settings.telegram.token is None  # blank means unset
    assert settings.reminders.quiet_start == dt.time(22, 0)
    assert "log_level" not in settings.model_fields_set  # bot.cli: only an explicit LOG_LEVEL counts


def test_a_wrong_value_is_named_by_its_environment_name() -> None:
    with pytest.raises(ValidationError) as short:
        Settings(_env_file=None, zalo_webhook_secret=SecretStr("short"))
    assert [environment_name(e["loc"]) for e in short.value.errors()] == ["ZALO_WEBHOOK_SECRET"]
    with pytest.raises(ValidationError) as zero:
        Settings(_env_file=None, telegram_updates_in_flight=0)
    assert [environment_name(e["loc"]) for e in zero.value.errors()] == ["TELEGRAM_UPDATES_IN_FLIGHT"]


def test_replaced_changes_one_setting_by_its_environment_name() -> None:
    settings = Settings(_env_file=None, ocop_province="Lai Châu")
    quiet = settings.replaced(ocop_quiet_start=dt.time(0), zalo_oa_app_id="9")
    assert (quiet.reminders.quiet_start, quiet.zalo.oa.app_id) == (dt.time(0), "9")
    assert settings.reminders.quiet_start == dt.time(21, 0) and quiet.ocop.province == "Lai Châu"


def test_a_copy_with_a_flat_name_is_refused() -> None:
    """Code written against the flat settings fails loudly instead of changing nothing."""
    settings = Settings(_env_file=None)
    with pytest.raises(TypeError, match="ocop_province"):
        settings.model_copy(update={"ocop_province": "Hà Giang"})
    assert settings.model_copy(update={"log_level": "DEBUG"}).log_level == "DEBUG"
