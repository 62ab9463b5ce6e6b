"""Settings from the environment (and a ``.env`` file). Secrets stay ``SecretStr`` so they never print."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    telegram_bot_token: SecretStr | None = None
    # Base URL of the Bot API server, e.g. http://127.0.0.1:8081 for a local telegram-bot-api.
    telegram_api_base: str | None = None

    database_url: str = "sqlite+aiosqlite:///data/ocop.db"
    ocop_data_dir: Path = Path("data")
    ocop_province: str = "Lai Châu"
    ocop_timezone: str = "Asia/Ho_Chi_Minh"
    ocop_default_locale: str = "vi"
    # The Bot API's getFile refuses files above 20 MB; we refuse them first with a clear sentence.
    ocop_max_file_mb: int = 20
    log_level: str = "INFO"

    @property
    def max_file_bytes(self) -> int:
        return self.ocop_max_file_mb * 1024 * 1024

    @property
    def files_dir(self) -> Path:
        return self.ocop_data_dir / "files"
