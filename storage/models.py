"""Tables. Timestamps are stored in UTC; status columns hold the string values of ``bot.rules`` enums
as plain strings so that storage imports nothing of ours."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy reads this class attribute
        dt.datetime: DateTime(timezone=True),
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    locale: Mapped[str] = mapped_column(String(8), default="vi")
    display_name: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(20), index=True)
    consent_at: Mapped[dt.datetime | None]
    consent_declined_at: Mapped[dt.datetime | None]
    # Which consent text was agreed to: a user whose version is not the current one is asked again.
    consent_version: Mapped[str | None] = mapped_column(String(20))
    # Set when a deletion request was carried out: what is left of the user is a shell that keeps the
    # province's administrative records (certificate, decision, council result) attached to an organisation.
    erased_at: Mapped[dt.datetime | None]
    # Optional nudges (weekly "items missing") can be muted; legal notices (certificate expiry) cannot.
    mute_nudges: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    # A commune officer's choice: producers of their commune may see their phone under "📞 Contact".
    phone_public: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, server_default=func.now())

    identities: Mapped[list[ChannelIdentity]] = relationship(back_populates="user")
    producer: Mapped[Producer | None] = relationship(back_populates="user")


class ChannelIdentity(Base):
    """One account on one platform (channel + external user id) → one of our users."""

    __tablename__ = "channel_identities"
    __table_args__ = (UniqueConstraint("channel", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(20))
    external_id: Mapped[str] = mapped_column(String(64))
    chat_id: Mapped[str | None] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # When the user last wrote to us on this identity: Zalo OA's free-reply window counts from it, and
    # reminders go to the channel a person used last.
    last_seen_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, server_default=func.now())

    user: Mapped[User] = relationship(back_populates="identities")


class Producer(Base):
    """Chủ thể OCOP: the household business, cooperative, cooperative group or enterprise."""

    __tablename__ = "producers"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    kind: Mapped[str] = mapped_column(String(8))
    name: Mapped[str] = mapped_column(String(300))
    name_folded: Mapped[str] = mapped_column(String(300), index=True)
    commune_code: Mapped[int] = mapped_column(Integer, index=True)
    commune_name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, server_default=func.now())

    user: Mapped[User] = relationship(back_populates="producer")


class ProductIdea(Base):
    """Đăng ký ý tưởng sản phẩm (OCOP cycle step 2)."""

    __tablename__ = "product_ideas"

    id: Mapped[int] = mapped_column(primary_key=True)
    producer_id: Mapped[int] = mapped_column(ForeignKey("producers.id", ondelete="CASCADE"), index=True)
    commune_code: Mapped[int] = mapped_column(Integer, index=True)
    name: Mapped[str] = mapped_column(String(300))
    name_folded: Mapped[str] = mapped_column(String(300), index=True)
    group_code: Mapped[str] = mapped_column(String(20))
    description: Mapped[str] = mapped_column(Text, default="")
    raw_materials: Mapped[str] = mapped_column(Text, default="")
    raw_material_origin: Mapped[str] = mapped_column(Text, default="")
    workers_total: Mapped[int | None]
    workers_local: Mapped[int | None]
    market: Mapped[str] = mapped_column(Text, default="")
    support_needed: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(30), index=True)
    submitted_at: Mapped[dt.datetime | None]
    # The commune's decision (accepted / returned) and why.
    reviewed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reviewed_at: Mapped[dt.datetime | None]
    review_note: Mapped[str | None] = mapped_column(Text)
    # The question the commune flagged when it returned the idea (a step of handlers.idea); None: no one.
    return_field: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow, server_default=func.now())


class Product(Base):
    __tablename__ = "products"

    id: Mapped[int] = mapped_column(primary_key=True)
    producer_id: Mapped[int] = mapped_column(ForeignKey("producers.id", ondelete="CASCADE"), index=True)
    idea_id: Mapped[int | None] = mapped_column(ForeignKey("product_ideas.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(String(300))
    name_folded: Mapped[str] = mapped_column(String(300), index=True)
    group_code: Mapped[str] = mapped_column(String(20))
    is_service: Mapped[bool] = mapped_column(Boolean, default=False)
    commune_code: Mapped[int] = mapped_column(Integer, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, server_default=func.now())

    dossiers: Mapped[list[Dossier]] = relationship(back_populates="product")


class Dossier(Base):
    """Hồ sơ sản phẩm: one application of one product for evaluation."""

    __tablename__ = "dossiers"

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), index=True)
    case: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(30), index=True)
    rule_set: Mapped[str] = mapped_column(String(20))
    round_id: Mapped[int | None] = mapped_column(ForeignKey("rounds.id", ondelete="SET NULL"), index=True)
    submitted_at: Mapped[dt.datetime | None]
    # The last note a reviewer left (what to supplement, why it was returned), shown to the producer.
    review_note: Mapped[str | None] = mapped_column(Text)
    # Bumped on every status change: a staff action names the version it saw, so two officers acting on
    # one dossier at once cannot both succeed.
    version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow, server_default=func.now())

    product: Mapped[Product] = relationship(back_populates="dossiers")
    items: Mapped[list[DossierItem]] = relationship(
        back_populates="dossier", order_by="DossierItem.position", cascade="all, delete-orphan"
    )


class DossierItem(Base):
    """One line of the checklist; its files are the evidence."""

    __tablename__ = "dossier_items"
    __table_args__ = (UniqueConstraint("dossier_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dossier_id: Mapped[int] = mapped_column(ForeignKey("dossiers.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(40))
    position: Mapped[int] = mapped_column(Integer)
    required: Mapped[bool] = mapped_column(Boolean)
    handed_in_at: Mapped[dt.datetime | None]  # physical samples
    expires_on: Mapped[dt.date | None] = mapped_column(Date)

    dossier: Mapped[Dossier] = relationship(back_populates="items")
    files: Mapped[list[DossierItemFile]] = relationship(
        back_populates="item", order_by="DossierItemFile.id", cascade="all, delete-orphan"
    )


class StoredFile(Base):
    """A file on disk, content-addressed by its SHA-256."""

    __tablename__ = "stored_files"

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    size: Mapped[int] = mapped_column(BigInteger)
    mime: Mapped[str] = mapped_column(String(100))
    path: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, server_default=func.now())


class DossierItemFile(Base):
    __tablename__ = "dossier_item_files"
    __table_args__ = (UniqueConstraint("item_id", "stored_file_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("dossier_items.id", ondelete="CASCADE"), index=True)
    stored_file_id: Mapped[int] = mapped_column(ForeignKey("stored_files.id"), index=True)
    original_name: Mapped[str | None] = mapped_column(String(300))
    uploaded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, server_default=func.now())

    item: Mapped[DossierItem] = relationship(back_populates="files")
    stored_file: Mapped[StoredFile] = relationship()


class VoiceAnswer(Base):
    """An answer the producer spoke instead of typing (a voice note on a descriptive question).

    Made when the note arrives, so the file is referenced (the orphan sweep leaves it) while the producer
    is still answering; ``idea_id`` / ``dossier_id`` and ``field`` are set when what it answers is submitted.
    """

    __tablename__ = "voice_answers"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    stored_file_id: Mapped[int] = mapped_column(ForeignKey("stored_files.id"), index=True)
    seconds: Mapped[int] = mapped_column(Integer)
    idea_id: Mapped[int | None] = mapped_column(ForeignKey("product_ideas.id", ondelete="CASCADE"), index=True)
    dossier_id: Mapped[int | None] = mapped_column(ForeignKey("dossiers.id", ondelete="CASCADE"), index=True)
    field: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, server_default=func.now())

    stored_file: Mapped[StoredFile] = relationship()


class Round(Base):
    """Đợt đánh giá: the province's evaluation round (usually two a year)."""

    __tablename__ = "rounds"

    id: Mapped[int] = mapped_column(primary_key=True)
    province: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200))
    submit_deadline: Mapped[dt.date] = mapped_column(Date, index=True)
    meeting_date: Mapped[dt.date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(10), default="open", index=True)  # open | closed
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, server_default=func.now())


class CommuneCriterion(Base):
    """One of the four criteria only the commune can confirm (ocop-domain.md §4)."""

    __tablename__ = "commune_criteria"
    __table_args__ = (UniqueConstraint("dossier_id", "criterion"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dossier_id: Mapped[int] = mapped_column(ForeignKey("dossiers.id", ondelete="CASCADE"), index=True)
    criterion: Mapped[str] = mapped_column(String(30))  # local_origin | local_labour | idea_origin | local_identity
    status: Mapped[str] = mapped_column(String(12), default="pending")  # pending | confirmed | rejected
    reason: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    decided_at: Mapped[dt.datetime | None]


class CouncilResult(Base):
    """The council's result for one dossier: part scores, mandatory criteria, the star that follows."""

    __tablename__ = "council_results"

    id: Mapped[int] = mapped_column(primary_key=True)
    dossier_id: Mapped[int] = mapped_column(ForeignKey("dossiers.id", ondelete="CASCADE"), unique=True)
    points_a: Mapped[float]
    points_b: Mapped[float]
    points_c: Mapped[float]
    mandatory_ok: Mapped[bool] = mapped_column(Boolean)
    total: Mapped[float]
    stars: Mapped[int] = mapped_column(Integer)
    rule_set: Mapped[str] = mapped_column(String(20))
    recorded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    recorded_at: Mapped[dt.datetime] = mapped_column(default=utcnow, server_default=func.now())
    # From the members' sheets: how many, and the gap between the highest and lowest total.
    sheet_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    spread: Mapped[float] = mapped_column(default=0.0, server_default="0")
    # A failed mandatory criterion: which one (a code of bot/data/mandatory_criteria.csv) and the council's note.
    failed_criterion: Mapped[str | None] = mapped_column(String(40))
    council_note: Mapped[str | None] = mapped_column(Text)
    # The last correction before the certificate (the audit log keeps every version).
    corrected_at: Mapped[dt.datetime | None]
    correction_reason: Mapped[str | None] = mapped_column(Text)


class Certificate(Base):
    """Giấy chứng nhận OCOP: valid 36 months from the decision."""

    __tablename__ = "certificates"

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), index=True)
    dossier_id: Mapped[int | None] = mapped_column(ForeignKey("dossiers.id", ondelete="SET NULL"), index=True)
    stars: Mapped[int] = mapped_column(Integer)
    decision_no: Mapped[str] = mapped_column(String(100))
    issued_on: Mapped[dt.date] = mapped_column(Date)
    expires_on: Mapped[dt.date] = mapped_column(Date, index=True)
    # valid | expired | revoked | superseded
    status: Mapped[str] = mapped_column(String(12), default="valid", index=True)
    revoked_reason: Mapped[str | None] = mapped_column(Text)
    revoked_at: Mapped[dt.datetime | None]
    issued_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, server_default=func.now())
    # province (3-4★) | central (5★, recorded by the province when the decision arrives)
    authority: Mapped[str] = mapped_column(String(12), default="province", server_default="province")
    # The short code printed as a QR on the label: anyone can check the certificate with it.
    public_code: Mapped[str | None] = mapped_column(String(16), unique=True)
    # The certificate this one renews or upgrades (the older one is then "superseded").
    previous_id: Mapped[int | None] = mapped_column(ForeignKey("certificates.id", ondelete="SET NULL"))
    superseded_at: Mapped[dt.datetime | None]
    # The signed decision, scanned (PDF), sent to the producer on request.
    decision_file_id: Mapped[int | None] = mapped_column(ForeignKey("stored_files.id"))


class StaffRole(Base):
    """A user's staff role: commune officer (one row per commune), province officer or admin."""

    __tablename__ = "staff_roles"
    __table_args__ = (UniqueConstraint("user_id", "role", "commune_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(12))  # commune | province | admin
    commune_code: Mapped[int | None] = mapped_column(Integer, index=True)
    province: Mapped[str] = mapped_column(String(100))
    granted_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    granted_at: Mapped[dt.datetime] = mapped_column(default=utcnow, server_default=func.now())
    revoked_at: Mapped[dt.datetime | None]


class Invite(Base):
    """A single-use, expiring staff invite. Only the SHA-256 of the code is stored."""

    __tablename__ = "invites"

    id: Mapped[int] = mapped_column(primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(12))
    commune_code: Mapped[int | None] = mapped_column(Integer)
    province: Mapped[str] = mapped_column(String(100))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, server_default=func.now())
    expires_at: Mapped[dt.datetime]
    used_at: Mapped[dt.datetime | None]
    used_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    revoked_at: Mapped[dt.datetime | None]


class AuditEntry(Base):
    """Every staff action and role change: who, when, what, and the state before and after."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow, server_default=func.now(), index=True)
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor_label: Mapped[str] = mapped_column(String(100), default="")  # "cli" when done from the command line
    action: Mapped[str] = mapped_column(String(60))
    object_type: Mapped[str] = mapped_column(String(30))
    object_id: Mapped[int | None]
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    note: Mapped[str | None] = mapped_column(Text)


class OutboxMessage(Base):
    """A notification waiting to be sent. The dedupe key makes the sweep idempotent across runs and machines."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    # What to say, rendered in the recipient's language at send time.
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    # pending | claimed | sent | failed | undeliverable
    status: Mapped[str] = mapped_column(String(16), default="pending")
    not_before: Mapped[dt.datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[dt.datetime | None]
    channel: Mapped[str | None] = mapped_column(String(20))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, server_default=func.now())
    sent_at: Mapped[dt.datetime | None]


Index("ix_outbox_status_not_before", OutboxMessage.status, OutboxMessage.not_before)


class OAToken(Base):
    """The Zalo OA token pair. The refresh token is single-use: it is rotated under a row lock."""

    __tablename__ = "oa_tokens"

    oa_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    access_token: Mapped[str] = mapped_column(Text)
    refresh_token: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, server_default=func.now())


class LinkCode(Base):
    """A one-time code shown in one app and typed in the other, to join two identities into one user."""

    __tablename__ = "link_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    expires_at: Mapped[dt.datetime]
    used_at: Mapped[dt.datetime | None]
    # Wrong codes typed anywhere while this one was live: a code dies after a few, so that guessing across
    # many accounts gets no more chances than guessing from one.
    wrong_tries: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The account that typed the code, waiting for the code's owner to allow the join.
    claimed_by: Mapped[int | None] = mapped_column(ForeignKey("channel_identities.id", ondelete="SET NULL"))
    claimed_at: Mapped[dt.datetime | None]
    decided_at: Mapped[dt.datetime | None]


class Conversation(Base):
    """Where a user is in a flow. Kept here, not in aiogram's FSM, so it survives restarts and channels."""

    __tablename__ = "conversations"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    flow: Mapped[str | None] = mapped_column(String(40))
    step: Mapped[str | None] = mapped_column(String(40))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The choices last offered, so that "2" or the words of an option select it on every channel.
    last_choices: Mapped[list[Any]] = mapped_column(default=list)
    version: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, server_default=func.now())


class ProcessedUpdate(Base):
    """Platform updates already handled, so a redelivered update is processed once."""

    __tablename__ = "processed_updates"

    channel: Mapped[str] = mapped_column(String(20), primary_key=True)
    # Room for event name + sender id + message id (Zalo has no update id of its own).
    update_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    processed_at: Mapped[dt.datetime] = mapped_column(default=utcnow, server_default=func.now())


Index("ix_processed_updates_processed_at", ProcessedUpdate.processed_at)


class LinkAttempt(Base):
    """A link code typed by one account: at most a few an hour per account, counted across processes."""

    __tablename__ = "link_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    identity_id: Mapped[int] = mapped_column(ForeignKey("channel_identities.id", ondelete="CASCADE"))
    at: Mapped[dt.datetime]


Index("ix_link_attempts_identity_at", LinkAttempt.identity_id, LinkAttempt.at)


class ConsentRecord(Base):
    """Each consent decision with the version of the text it answered: the proof the law asks for."""

    __tablename__ = "consent_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    version: Mapped[str] = mapped_column(String(20))
    decision: Mapped[str] = mapped_column(String(12))  # agreed | declined | withdrawn
    channel: Mapped[str] = mapped_column(String(20), default="")
    at: Mapped[dt.datetime] = mapped_column(default=utcnow, server_default=func.now())


class PrivacyRequest(Base):
    """A request to delete a person's data, with its legal deadline. It outlives the person's rows (user_id is
    cleared when the user row goes), so that the province can show it honoured the request."""

    __tablename__ = "privacy_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    kind: Mapped[str] = mapped_column(String(12), default="delete")
    source: Mapped[str] = mapped_column(String(12))  # chat | paper
    # open → erased (the person is being told) → done; open ⇄ held (an admin's legal hold, with a reason)
    status: Mapped[str] = mapped_column(String(12), default="open", index=True)
    requested_at: Mapped[dt.datetime]
    due_at: Mapped[dt.datetime] = mapped_column(index=True)
    hold_reason: Mapped[str | None] = mapped_column(Text)
    held_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    held_at: Mapped[dt.datetime | None]
    erased_at: Mapped[dt.datetime | None]
    done_at: Mapped[dt.datetime | None]
    # What stayed and why (organisation, product, decision numbers: no personal data), shown to the person.
    kept: Mapped[list[Any]] = mapped_column(default=list)


class CouncilMember(Base):
    """A member of a round's evaluation council (the scoring software keeps one sheet per member)."""

    __tablename__ = "council_members"
    __table_args__ = (UniqueConstraint("round_id", "name_folded"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    name_folded: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))  # chair | vice_chair | member | secretary
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, server_default=func.now())


class ScoreSheet(Base):
    """One member's points for one dossier, parts A, B, C."""

    __tablename__ = "score_sheets"
    __table_args__ = (UniqueConstraint("dossier_id", "member_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dossier_id: Mapped[int] = mapped_column(ForeignKey("dossiers.id", ondelete="CASCADE"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("council_members.id", ondelete="CASCADE"), index=True)
    points_a: Mapped[float]
    points_b: Mapped[float]
    points_c: Mapped[float]
    source: Mapped[str] = mapped_column(String(10))  # chat | xlsx
    recorded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    recorded_at: Mapped[dt.datetime] = mapped_column(default=utcnow, server_default=func.now())


class CertificateLookup(Base):
    """A public certificate check, kept only to rate-limit lookups per identity."""

    __tablename__ = "certificate_lookups"

    id: Mapped[int] = mapped_column(primary_key=True)
    identity_id: Mapped[int] = mapped_column(ForeignKey("channel_identities.id", ondelete="CASCADE"), index=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow, server_default=func.now())


class DossierView(Base):
    """What one staff member last saw of a dossier in one view (the commune's review, the province's check),
    so that a dossier coming back shows what changed since: files added or removed per item, answers edited."""

    __tablename__ = "dossier_views"
    __table_args__ = (UniqueConstraint("user_id", "dossier_id", "view"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    dossier_id: Mapped[int] = mapped_column(ForeignKey("dossiers.id", ondelete="CASCADE"), index=True)
    view: Mapped[str] = mapped_column(String(12))  # commune | province
    seen_at: Mapped[dt.datetime]
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON)


class ProducerClaim(Base):
    """Someone who started the bot with the phone of an imported producer (one without a chat account) asks
    to take it over; the commune of that producer confirms or refuses. A phone alone never gives access."""

    __tablename__ = "producer_claims"

    id: Mapped[int] = mapped_column(primary_key=True)
    producer_id: Mapped[int] = mapped_column(ForeignKey("producers.id", ondelete="CASCADE"), index=True)
    claimant_user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    phone: Mapped[str] = mapped_column(String(20))
    # pending | confirmed | refused | withdrawn
    status: Mapped[str] = mapped_column(String(12), default="pending", index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, server_default=func.now())
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    decided_at: Mapped[dt.datetime | None]
