"""Settings from the environment (and a ``.env`` file), grouped: ``settings.telegram.token``,
``settings.zalo.oa.app_id``, ``settings.reminders.quiet_start``. The environment names stay flat
(``TELEGRAM_BOT_TOKEN``, ``ZALO_OA_APP_ID``, ``OCOP_QUIET_START``): ``ENVIRONMENT`` says where each one goes.
Secrets stay ``SecretStr`` so they never print."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, Field, SecretStr, ValidationError, create_model, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from storage.db import DEFAULT_POOL_SIZE

# Zalo's setWebhook takes a secret of 8–256 characters.
WEBHOOK_SECRET_MIN = 8
TELEGRAM_UPDATES_IN_FLIGHT = 64


class Telegram(BaseModel):
    token: SecretStr | None = None
    # Base URL of the Bot API server, e.g. http://127.0.0.1:8081 for a local telegram-bot-api.
    api_base: str | None = None
    # The bot's @username without the "@", for invite links (https://t.me/<username>?start=<code>).
    username: str | None = None
    # Burst control (bot/channels/telegram.py): Telegram updates handled at once while polling. The rest wait
    # at the Bot API, not in our memory; 64 keeps the database busy without a task per queued update.
    updates_in_flight: int = Field(default=TELEGRAM_UPDATES_IN_FLIGHT, ge=1)
    # Set: Telegram posts updates to our webhook server (route WEBHOOK_PATH/telegram) instead of being polled.
    webhook_url: str | None = None
    # The X-Telegram-Bot-Api-Secret-Token value (1–256 of A-Z a-z 0-9 _ -). Unset: derived from the bot
    # token, so that every instance of the bot expects the same one.
    webhook_secret: SecretStr | None = None
    webhook_max_connections: int = 40


class ZaloOA(BaseModel):
    """Zalo Official Account (bot/channels/zalo_oa.py). The OA secret key signs webhooks; the app secret
    authenticates token refreshes. The tokens seed the database once; after that the rotated pair lives there."""

    id: str | None = None
    app_id: str | None = None
    app_secret: SecretStr | None = None
    secret_key: SecretStr | None = None
    access_token: SecretStr | None = None
    refresh_token: SecretStr | None = None
    api_base: str = "https://openapi.zalo.me"
    oauth_base: str = "https://oauth.zaloapp.com"
    zns_api_base: str = "https://business.openapi.zalo.me"
    # A ZNS template (approved by Zalo) for reminders past the OA's 7-day window; unset: no ZNS.
    zns_template_id: str | None = None
    # Picture shown on the OA's "share your phone" card (request_user_info needs one).
    phone_image_url: str = "https://developers.zalo.me/web/static/zalo.png"
    # Signed OA events older than this are refused as replays.
    max_event_age_s: int = 300

    @property
    def configured(self) -> bool:
        return bool(self.id and self.app_id and self.secret_key)


class Zalo(BaseModel):
    # Zalo Bot Platform (bot/channels/zalo_bot.py): webhook when ZALO_WEBHOOK_SECRET is set, else polling.
    bot_token: SecretStr | None = None
    api_base: str = "https://bot-api.zaloplatforms.com"
    webhook_secret: SecretStr | None = None
    oa: ZaloOA = Field(default_factory=ZaloOA)

    @field_validator("webhook_secret")
    @classmethod
    def _webhook_secret_long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < WEBHOOK_SECRET_MIN:
            raise ValueError(
                f"ZALO_WEBHOOK_SECRET must be at least {WEBHOOK_SECRET_MIN} characters (Zalo takes 8–256); "
                "a short secret can be guessed. Set a long random one, e.g. `openssl rand -hex 32`, or unset it "
                "to poll in development."
            )
        return value


class Webhook(BaseModel):
    """Our web server (Zalo webhooks, Telegram's in webhook mode, health, metrics). Every interface: it usually
    runs in a container behind an HTTPS proxy."""

    host: str = "0.0.0.0"
    port: int = 8080
    path: str = "/webhook"
    # Hardening (bot/channels/webhook_guard.py): a request's body must arrive within this many seconds, and at
    # most this many requests may be still sending their body (nobody is authenticated before the body is in);
    # more are answered 503 at once.
    body_timeout_s: float = 10.0
    max_unauthenticated: int = 64
    # Events held (waiting or running) by one instance's queue, and by one user; beyond them: 503, redelivered.
    queue_limit: int = 1000
    queue_per_user: int = 20
    workers: int = 32


class Ocop(BaseModel):
    """Where the bot runs: the province, its time zone and language, and where files are kept."""

    data_dir: Path = Path("data")
    province: str = "Lai Châu"
    timezone: str = "Asia/Ho_Chi_Minh"
    default_locale: str = "vi"
    # The Bot API's getFile refuses files above 20 MB; we refuse them first with a clear sentence.
    max_file_mb: int = 20
    # Voice answers (bot.voice): a spoken description longer than this is hard to listen to in a review.
    max_voice_seconds: int = Field(default=180, ge=1)
    max_voice_mb: int = Field(default=10, ge=1)
    # How long an update waits for the database to come back before the user is asked to try again later.
    db_retry_seconds: float = 20.0

    @property
    def max_file_bytes(self) -> int:
        return self.max_file_mb * 1024 * 1024

    @property
    def max_voice_bytes(self) -> int:
        return self.max_voice_mb * 1024 * 1024

    @property
    def files_dir(self) -> Path:
        return self.data_dir / "files"


class Reminders(BaseModel):
    """bot.sweep. Offsets are days before the date; lists are JSON in the environment, e.g.
    OCOP_ROUND_REMINDER_DAYS=[14,3,1]."""

    default_rounds: str = "20/05,20/10"  # submission deadlines (dd/MM) of the rounds seeded each year
    round_reminder_days: list[int] = [14, 3, 1]
    certificate_reminder_days: list[int] = [180, 90, 30, 0]
    review_waiting_days: int = 5
    draft_nudge_days: int = 7
    # An expiry notice is only sent for a certificate that expired at most this many days ago (catch-up).
    expired_notice_grace_days: int = 30
    # A certificate reminder the sweep missed (bot down) is still sent up to this many days after its day.
    catch_up_days: int = 7
    quiet_start: dt.time = dt.time(21, 0)
    quiet_end: dt.time = dt.time(7, 0)
    sweep_minutes: int = 5


class Sender(BaseModel):
    """bot.sender. The platform's limits (Telegram: about 30 messages/s overall, 1/s per chat); the sender keeps
    a few per cent under them, so that network jitter never earns a 429."""

    poll_seconds: float = 5.0
    per_second: float = 30.0
    per_chat_per_second: float = 1.0
    lease_seconds: int = 120
    max_attempts: int = 5
    retry_base_seconds: float = 30.0


class Privacy(BaseModel):
    """Personal data rights (Law 91/2025/QH15; handlers/privacy.py, bot/erasure.py)."""

    # The controller named in the consent text; empty means "the OCOP office of OCOP_PROVINCE".
    controller: str = ""
    controller_contact: str = ""
    # A deletion request must be carried out within this many hours (see README, "Personal data").
    deadline_hours: int = 72
    # ...and is carried out this many hours after it was made, which leaves admins time to record a legal hold.
    delete_after_hours: int = 24
    # Admins are reminded of a request still open this many hours before its deadline.
    remind_hours: int = 24
    # Abandoned drafts and unclaimed placeholder records are deleted after this many months, with a notice first.
    retention_months: int = 24
    retention_notice_days: int = 30


class Certificates(BaseModel):
    """Council and certificates: the commune's report template (a .docx with {{placeholders}}; default: the one
    in bot/data), and how many public certificate checks one identity may make per window."""

    commune_report_template: Path | None = None
    checks_per_window: int = 10
    check_window_minutes: int = 10


_Model = TypeVar("_Model", bound=BaseModel)

# Every environment name (lower case) and where its value goes.
ENVIRONMENT: dict[str, tuple[str, ...]] = {
    "database_url": ("database_url",),
    "database_pool_size": ("database_pool_size",),
    "log_level": ("log_level",),
    "log_format": ("log_format",),
    "telegram_bot_token": ("telegram", "token"),
    "telegram_api_base": ("telegram", "api_base"),
    "telegram_bot_username": ("telegram", "username"),
    "telegram_updates_in_flight": ("telegram", "updates_in_flight"),
    "telegram_webhook_url": ("telegram", "webhook_url"),
    "telegram_webhook_secret": ("telegram", "webhook_secret"),
    "telegram_webhook_max_connections": ("telegram", "webhook_max_connections"),
    "zalo_bot_token": ("zalo", "bot_token"),
    "zalo_api_base": ("zalo", "api_base"),
    "zalo_webhook_secret": ("zalo", "webhook_secret"),
    "zalo_oa_id": ("zalo", "oa", "id"),
    "zalo_oa_app_id": ("zalo", "oa", "app_id"),
    "zalo_oa_app_secret": ("zalo", "oa", "app_secret"),
    "zalo_oa_secret_key": ("zalo", "oa", "secret_key"),
    "zalo_oa_access_token": ("zalo", "oa", "access_token"),
    "zalo_oa_refresh_token": ("zalo", "oa", "refresh_token"),
    "zalo_oa_api_base": ("zalo", "oa", "api_base"),
    "zalo_oauth_base": ("zalo", "oa", "oauth_base"),
    "zalo_zns_api_base": ("zalo", "oa", "zns_api_base"),
    "zalo_zns_template_id": ("zalo", "oa", "zns_template_id"),
    "zalo_oa_phone_image_url": ("zalo", "oa", "phone_image_url"),
    "zalo_oa_max_event_age_s": ("zalo", "oa", "max_event_age_s"),
    "webhook_host": ("webhook", "host"),
    "webhook_port": ("webhook", "port"),
    "webhook_path": ("webhook", "path"),
    "webhook_body_timeout_s": ("webhook", "body_timeout_s"),
    "webhook_max_unauthenticated": ("webhook", "max_unauthenticated"),
    "webhook_queue_limit": ("webhook", "queue_limit"),
    "webhook_queue_per_user": ("webhook", "queue_per_user"),
    "webhook_workers": ("webhook", "workers"),
    "ocop_data_dir": ("ocop", "data_dir"),
    "ocop_province": ("ocop", "province"),
    "ocop_timezone": ("ocop", "timezone"),
    "ocop_default_locale": ("ocop", "default_locale"),
    "ocop_max_file_mb": ("ocop", "max_file_mb"),
    "ocop_max_voice_seconds": ("ocop", "max_voice_seconds"),
    "ocop_max_voice_mb": ("ocop", "max_voice_mb"),
    "ocop_db_retry_seconds": ("ocop", "db_retry_seconds"),
    "ocop_default_rounds": ("reminders", "default_rounds"),
    "ocop_round_reminder_days": ("reminders", "round_reminder_days"),
    "ocop_certificate_reminder_days": ("reminders", "certificate_reminder_days"),
    "ocop_review_waiting_days": ("reminders", "review_waiting_days"),
    "ocop_draft_nudge_days": ("reminders", "draft_nudge_days"),
    "ocop_expired_notice_grace_days": ("reminders", "expired_notice_grace_days"),
    "ocop_reminder_catch_up_days": ("reminders", "catch_up_days"),
    "ocop_quiet_start": ("reminders", "quiet_start"),
    "ocop_quiet_end": ("reminders", "quiet_end"),
    "ocop_sweep_minutes": ("reminders", "sweep_minutes"),
    "ocop_sender_poll_seconds": ("sender", "poll_seconds"),
    "ocop_send_per_second": ("sender", "per_second"),
    "ocop_send_per_chat_per_second": ("sender", "per_chat_per_second"),
    "ocop_outbox_lease_seconds": ("sender", "lease_seconds"),
    "ocop_outbox_max_attempts": ("sender", "max_attempts"),
    "ocop_outbox_retry_base_seconds": ("sender", "retry_base_seconds"),
    "ocop_data_controller": ("privacy", "controller"),
    "ocop_data_controller_contact": ("privacy", "controller_contact"),
    "ocop_privacy_deadline_hours": ("privacy", "deadline_hours"),
    "ocop_privacy_delete_after_hours": ("privacy", "delete_after_hours"),
    "ocop_privacy_remind_hours": ("privacy", "remind_hours"),
    "ocop_retention_months": ("privacy", "retention_months"),
    "ocop_retention_notice_days": ("privacy", "retention_notice_days"),
    "ocop_commune_report_template": ("certificates", "commune_report_template"),
    "ocop_certificate_checks_per_window": ("certificates", "checks_per_window"),
    "ocop_certificate_check_window_minutes": ("certificates", "check_window_minutes"),
}


class Settings(BaseModel):
    """``Settings()`` reads the environment and ``.env``; ``Settings(ocop_province=..., _env_file=None)`` takes
    values by their environment names, as ``BaseSettings`` does; ``Settings(telegram=Telegram(...))`` is the
    grouped form."""

    database_url: str = "sqlite+aiosqlite:///data/ocop.db"
    # PostgreSQL connections each bot process keeps open (storage.db.create_engine); updates beyond it wait.
    database_pool_size: int = Field(default=DEFAULT_POOL_SIZE, ge=1)
    log_level: str = "INFO"
    # Logs (bot/logs.py): "kv" writes one key=value line per event, "json" one JSON object per line.
    log_format: Literal["kv", "json"] = "kv"
    telegram: Telegram = Field(default_factory=Telegram)
    zalo: Zalo = Field(default_factory=Zalo)
    webhook: Webhook = Field(default_factory=Webhook)
    ocop: Ocop = Field(default_factory=Ocop)
    reminders: Reminders = Field(default_factory=Reminders)
    sender: Sender = Field(default_factory=Sender)
    privacy: Privacy = Field(default_factory=Privacy)
    certificates: Certificates = Field(default_factory=Certificates)

    def __init__(self, **values: Any) -> None:
        if set(values) & _GROUPS:
            super().__init__(**values)
            return
        environment = _Environment(**values)
        grouped: dict[str, Any] = {}
        # Only what was set goes in: the groups' defaults fill the rest, and ``model_fields_set`` still says
        # which settings were given (``LOG_LEVEL``: see ``bot.cli.log_level``).
        for name in environment.model_fields_set:
            *groups, field = ENVIRONMENT[name]
            target = grouped
            for group in groups:
                target = target.setdefault(group, {})
            target[field] = getattr(environment, name)
        super().__init__(**grouped)

    @property
    def data_controller(self) -> str:
        return self.privacy.controller or f"Văn phòng Điều phối Chương trình OCOP tỉnh {self.ocop.province}"

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Settings:
        """Refuses a name that is not a field: ``model_copy(update={"ocop_province": ...})`` written against the
        flat settings would otherwise be a silent no-op (``replaced`` takes those names)."""
        unknown = sorted(set(update or {}) - set(type(self).model_fields))
        if unknown:
            raise TypeError(f"not a settings field: {unknown} (use Settings.replaced for environment names)")
        return super().model_copy(update=update, deep=deep)

    def replaced(self, **changes: Any) -> Settings:
        """A copy with some settings changed, named as in the environment (``replaced(ocop_quiet_start=...)``);
        like ``model_copy(update=...)``, nothing is validated."""
        result = self
        for name, value in changes.items():
            result = _replaced(result, ENVIRONMENT[name], value)
        return result


def _replaced(model: _Model, path: tuple[str, ...], value: Any) -> _Model:
    head, *rest = path
    if rest:
        value = _replaced(getattr(model, head), tuple(rest), value)
    return model.model_copy(update={head: value})


def _field(path: tuple[str, ...]) -> tuple[Any, Any]:
    model: type[BaseModel] = Settings
    for group in path[:-1]:
        model = model.model_fields[group].annotation  # type: ignore[assignment]
    info = model.model_fields[path[-1]]
    return info.annotation, info


_GROUPS = frozenset(path[0] for path in ENVIRONMENT.values() if len(path) > 1)


class _FlatSettings(BaseSettings):
    # An empty value (``TELEGRAM_BOT_TOKEN=`` left blank in .env) means unset, not an empty token.
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True)


# The environment as pydantic-settings reads it: one flat field per name, typed and defaulted as its group says.
_Environment = create_model(  # type: ignore[call-overload]
    "_Environment", __base__=_FlatSettings, **{name: _field(path) for name, path in ENVIRONMENT.items()}
)


class SettingsError(SystemExit):
    """Settings the bot cannot start with; the message names each setting and why, never its value."""


def environment_name(location: tuple[int | str, ...]) -> str:
    """The environment name of a setting, from where pydantic found it wrong (flat or grouped)."""
    path = tuple(str(part) for part in location)
    for name, where in ENVIRONMENT.items():
        if where == path[: len(where)]:
            return name.upper()
    return ".".join(path).upper()


def load_settings() -> Settings:
    """``Settings()`` for the command line: a bad setting stops the start with a clear message (pydantic's
    own error would print the value, and a value here may be a secret)."""
    try:
        return Settings()
    except ValidationError as error:
        lines = [f"{environment_name(e['loc'])}: {e['msg']}" for e in error.errors()]
        raise SettingsError("ocop-bot cannot start, a setting is wrong:\n" + "\n".join(lines)) from None
