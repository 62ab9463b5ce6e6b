"""Settings from the environment (and a ``.env`` file). Secrets stay ``SecretStr`` so they never print."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Zalo's setWebhook takes a secret of 8–256 characters.
WEBHOOK_SECRET_MIN = 8
TELEGRAM_UPDATES_IN_FLIGHT = 64


class Settings(BaseSettings):
    # An empty value (``TELEGRAM_BOT_TOKEN=`` left blank in .env) means unset, not an empty token.
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True)

    telegram_bot_token: SecretStr | None = None
    # Base URL of the Bot API server, e.g. http://127.0.0.1:8081 for a local telegram-bot-api.
    telegram_api_base: str | None = None
    # The bot's @username without the "@", for invite links (https://t.me/<username>?start=<code>).
    telegram_bot_username: str | None = None

    # Zalo Bot Platform (bot/channels/zalo_bot.py): webhook when ZALO_WEBHOOK_SECRET is set, else polling.
    zalo_bot_token: SecretStr | None = None
    zalo_api_base: str = "https://bot-api.zaloplatforms.com"
    zalo_webhook_secret: SecretStr | None = None
    # Zalo Official Account (bot/channels/zalo_oa.py). The OA secret key signs webhooks; the app secret
    # authenticates token refreshes. The tokens seed the database once; after that the rotated pair lives there.
    zalo_oa_id: str | None = None
    zalo_oa_app_id: str | None = None
    zalo_oa_app_secret: SecretStr | None = None
    zalo_oa_secret_key: SecretStr | None = None
    zalo_oa_access_token: SecretStr | None = None
    zalo_oa_refresh_token: SecretStr | None = None
    zalo_oa_api_base: str = "https://openapi.zalo.me"
    zalo_oauth_base: str = "https://oauth.zaloapp.com"
    zalo_zns_api_base: str = "https://business.openapi.zalo.me"
    # A ZNS template (approved by Zalo) for reminders past the OA's 7-day window; unset: no ZNS.
    zalo_zns_template_id: str | None = None
    # Picture shown on the OA's "share your phone" card (request_user_info needs one).
    zalo_oa_phone_image_url: str = "https://developers.zalo.me/web/static/zalo.png"
    # Signed OA events older than this are refused as replays.
    zalo_oa_max_event_age_s: int = 300
    # Our webhook server (Zalo Bot and Zalo OA). Every interface: it usually runs in a container behind an
    # HTTPS proxy.
    webhook_host: str = "0.0.0.0"
    webhook_port: int = 8080
    webhook_path: str = "/webhook"

    database_url: str = "sqlite+aiosqlite:///data/ocop.db"
    ocop_data_dir: Path = Path("data")
    ocop_province: str = "Lai Châu"
    ocop_timezone: str = "Asia/Ho_Chi_Minh"
    ocop_default_locale: str = "vi"
    # The Bot API's getFile refuses files above 20 MB; we refuse them first with a clear sentence.
    ocop_max_file_mb: int = 20
    # Voice answers (bot.voice): a spoken description longer than this is hard to listen to in a review.
    ocop_max_voice_seconds: int = Field(default=180, ge=1)
    ocop_max_voice_mb: int = Field(default=10, ge=1)
    log_level: str = "INFO"

    # Reminders (bot.sweep, bot.sender). Offsets are days before the date; lists are JSON in the environment,
    # e.g. OCOP_ROUND_REMINDER_DAYS=[14,3,1].
    ocop_default_rounds: str = "20/05,20/10"  # submission deadlines (dd/MM) of the rounds seeded each year
    ocop_round_reminder_days: list[int] = [14, 3, 1]
    ocop_certificate_reminder_days: list[int] = [180, 90, 30, 0]
    ocop_review_waiting_days: int = 5
    ocop_draft_nudge_days: int = 7
    # An expiry notice is only sent for a certificate that expired at most this many days ago (catch-up).
    ocop_expired_notice_grace_days: int = 30
    # A certificate reminder the sweep missed (bot down) is still sent up to this many days after its day.
    ocop_reminder_catch_up_days: int = 7
    ocop_quiet_start: dt.time = dt.time(21, 0)
    ocop_quiet_end: dt.time = dt.time(7, 0)
    ocop_sweep_minutes: int = 5
    ocop_sender_poll_seconds: float = 5.0
    # The platform's limits (Telegram: about 30 messages/s overall, 1/s per chat); the sender keeps a few
    # per cent under them, so that network jitter never earns a 429.
    ocop_send_per_second: float = 30.0
    ocop_send_per_chat_per_second: float = 1.0
    ocop_outbox_lease_seconds: int = 120
    ocop_outbox_max_attempts: int = 5
    ocop_outbox_retry_base_seconds: float = 30.0

    # Logs (bot/logs.py): "kv" writes one key=value line per event, "json" one JSON object per line.
    log_format: Literal["kv", "json"] = "kv"

    # Webhook hardening (bot/channels/webhook_guard.py): a request's body must arrive within this many
    # seconds, and at most this many requests may be still sending their body (nobody is authenticated before
    # the body is in); more are answered 503 at once.
    webhook_body_timeout_s: float = 10.0
    webhook_max_unauthenticated: int = 64

    # Burst control (bot/channels/telegram.py): Telegram updates handled at once while polling. The rest wait
    # at the Bot API, not in our memory; 64 keeps the database busy without a task per queued update.
    telegram_updates_in_flight: int = Field(default=TELEGRAM_UPDATES_IN_FLIGHT, ge=1)

    # Personal data rights (Law 91/2025/QH15; handlers/privacy.py, bot/erasure.py). The controller named in the
    # consent text; empty means "the OCOP office of OCOP_PROVINCE".
    ocop_data_controller: str = ""
    ocop_data_controller_contact: str = ""
    # A deletion request must be carried out within this many hours (see README, "Personal data").
    ocop_privacy_deadline_hours: int = 72
    # ...and is carried out this many hours after it was made, which leaves admins time to record a legal hold.
    ocop_privacy_delete_after_hours: int = 24
    # Admins are reminded of a request still open this many hours before its deadline.
    ocop_privacy_remind_hours: int = 24
    # Abandoned drafts and unclaimed placeholder records are deleted after this many months, with a notice first.
    ocop_retention_months: int = 24
    ocop_retention_notice_days: int = 30

    @property
    def data_controller(self) -> str:
        return self.ocop_data_controller or f"Văn phòng Điều phối Chương trình OCOP tỉnh {self.ocop_province}"

    # Council and certificates: the commune's report template (a .docx with {{placeholders}}; default: the
    # one in bot/data), and how many public certificate checks one identity may make per window.
    ocop_commune_report_template: Path | None = None
    ocop_certificate_checks_per_window: int = 10
    ocop_certificate_check_window_minutes: int = 10

    # Production shape: Telegram webhooks, the webhook queue, several instances, database outages
    # (bot/channels/telegram_webhook.py, bot/channels/update_queue.py, bot/resilience.py).
    # Set: Telegram posts updates to our webhook server (route WEBHOOK_PATH/telegram) instead of being polled.
    telegram_webhook_url: str | None = None
    # The X-Telegram-Bot-Api-Secret-Token value (1–256 of A-Z a-z 0-9 _ -). Unset: derived from the bot
    # token, so that every instance of the bot expects the same one.
    telegram_webhook_secret: SecretStr | None = None
    telegram_webhook_max_connections: int = 40
    # Events held (waiting or running) by one instance's queue, and by one user; beyond them: 503, redelivered.
    webhook_queue_limit: int = 1000
    webhook_queue_per_user: int = 20
    webhook_workers: int = 32
    # How long an update waits for the database to come back before the user is asked to try again later.
    ocop_db_retry_seconds: float = 20.0

    @field_validator("zalo_webhook_secret")
    @classmethod
    def _webhook_secret_long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < WEBHOOK_SECRET_MIN:
            raise ValueError(
                f"ZALO_WEBHOOK_SECRET must be at least {WEBHOOK_SECRET_MIN} characters (Zalo takes 8–256); "
                "a short secret can be guessed. Set a long random one, e.g. `openssl rand -hex 32`, or unset it "
                "to poll in development."
            )
        return value

    @property
    def zalo_oa_configured(self) -> bool:
        return bool(self.zalo_oa_id and self.zalo_oa_app_id and self.zalo_oa_secret_key)

    @property
    def max_file_bytes(self) -> int:
        return self.ocop_max_file_mb * 1024 * 1024

    @property
    def max_voice_bytes(self) -> int:
        return self.ocop_max_voice_mb * 1024 * 1024

    @property
    def files_dir(self) -> Path:
        return self.ocop_data_dir / "files"


class SettingsError(SystemExit):
    """Settings the bot cannot start with; the message names each setting and why, never its value."""


def load_settings() -> Settings:
    """``Settings()`` for the command line: a bad setting stops the start with a clear message (pydantic's
    own error would print the value, and a value here may be a secret)."""
    try:
        return Settings()
    except ValidationError as error:
        lines = [f"{'.'.join(str(part) for part in e['loc']).upper()}: {e['msg']}" for e in error.errors()]
        raise SettingsError("ocop-bot cannot start, a setting is wrong:\n" + "\n".join(lines)) from None
