"""The OCOP programme's rules, as data, in one place (ocop-domain.md §2–§5, §7, §10).

Decision 148/QĐ-TTg (24/02/2023) replaced 1048; Decision 1489/QĐ-TTg (06/07/2025) amended 148 for the
two-tier local government. Every dossier pins the rule set in force on its date. Where the primary text
could not be read (the exact 148 forms), the data lives in ``bot/data/dossier_requirements.csv`` so that it
can be corrected without touching code.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

from bot.i18n import N_, _, current_locale

CERTIFICATE_MONTHS = 36
EXPIRY_NOTICE_DAYS = 30  # the issuer must notify at least this many days before a certificate expires


class ProducerKind(StrEnum):
    ENTERPRISE = "dn"  # doanh nghiệp
    COOPERATIVE = "htx"  # hợp tác xã
    COOPERATIVE_GROUP = "tht"  # tổ hợp tác
    HOUSEHOLD = "hkd"  # hộ kinh doanh


PRODUCER_KIND_LABELS: dict[ProducerKind, str] = {
    ProducerKind.HOUSEHOLD: N_("Household business"),
    ProducerKind.COOPERATIVE: N_("Cooperative (HTX)"),
    ProducerKind.COOPERATIVE_GROUP: N_("Cooperative group"),
    ProducerKind.ENTERPRISE: N_("Enterprise"),
}


class ProductGroup(StrEnum):
    FOOD = "food"
    DRINK = "drink"
    HERBAL = "herbal"
    CRAFT = "craft"
    ORNAMENTAL = "ornamental"
    TOURISM = "tourism"


PRODUCT_GROUP_LABELS: dict[ProductGroup, str] = {
    ProductGroup.FOOD: N_("Food"),
    ProductGroup.DRINK: N_("Drinks"),
    ProductGroup.HERBAL: N_("Herbs and herbal products"),
    ProductGroup.CRAFT: N_("Handicrafts"),
    ProductGroup.ORNAMENTAL: N_("Ornamental plants and animals"),
    ProductGroup.TOURISM: N_("Community and eco-tourism services"),
}

# Tourism is a service: no samples, a site visit instead (ocop-domain.md §5).
SERVICE_GROUPS = frozenset({ProductGroup.TOURISM})


class DossierCase(StrEnum):
    NEW = "new"
    RE_EVALUATION = "re-evaluation"
    UPGRADE = "upgrade"


DOSSIER_CASE_LABELS: dict[DossierCase, str] = {
    DossierCase.NEW: N_("New product"),
    DossierCase.RE_EVALUATION: N_("Re-evaluation (renewal)"),
    DossierCase.UPGRADE: N_("Upgrade to more stars"),
}


class IdeaStatus(StrEnum):
    DRAFT = "draft"
    SUBMITTED_COMMUNE = "submitted_commune"
    ACCEPTED = "accepted"
    RETURNED = "returned"


IDEA_STATUS_LABELS: dict[IdeaStatus, str] = {
    IdeaStatus.DRAFT: N_("Draft"),
    IdeaStatus.SUBMITTED_COMMUNE: N_("Submitted to the commune"),
    IdeaStatus.ACCEPTED: N_("Accepted by the commune"),
    IdeaStatus.RETURNED: N_("Returned by the commune"),
}


class DossierStatus(StrEnum):
    """Application states of ocop-domain.md §10."""

    DRAFT = "draft"
    SUBMITTED_COMMUNE = "submitted_commune"
    COMMUNE_REVIEW = "commune_review"
    NEEDS_SUPPLEMENT = "needs_supplement"
    COMMUNE_CONFIRMED = "commune_confirmed"
    AT_PROVINCE = "at_province"
    COMPLETENESS_CHECK = "completeness_check"
    PROVINCE_SUPPLEMENT = "province_supplement"
    SCHEDULED = "scheduled"
    SCORED = "scored"
    NOT_RATED = "not_rated"
    CERTIFIED_3 = "certified_3"
    CERTIFIED_4 = "certified_4"
    PROPOSED_5 = "proposed_5"
    CERTIFIED_5 = "certified_5"


DOSSIER_STATUS_LABELS: dict[DossierStatus, str] = {
    DossierStatus.DRAFT: N_("Being prepared"),
    DossierStatus.SUBMITTED_COMMUNE: N_("Submitted to the commune"),
    DossierStatus.COMMUNE_REVIEW: N_("Under commune review"),
    DossierStatus.NEEDS_SUPPLEMENT: N_("Needs more documents"),
    DossierStatus.COMMUNE_CONFIRMED: N_("Confirmed by the commune"),
    DossierStatus.AT_PROVINCE: N_("At the province"),
    DossierStatus.COMPLETENESS_CHECK: N_("Province completeness check"),
    DossierStatus.PROVINCE_SUPPLEMENT: N_("The province asks for more documents"),
    DossierStatus.SCHEDULED: N_("Scheduled for the council"),
    DossierStatus.SCORED: N_("Scored by the council"),
    DossierStatus.NOT_RATED: N_("Not rated"),
    DossierStatus.CERTIFIED_3: N_("Certified 3 stars"),
    DossierStatus.CERTIFIED_4: N_("Certified 4 stars"),
    DossierStatus.PROPOSED_5: N_("Proposed to the central level for 5 stars (not granted yet)"),
    DossierStatus.CERTIFIED_5: N_("Certified 5 stars by the central level"),
}

DOSSIER_NEXT_STEP: dict[DossierStatus, str] = {
    DossierStatus.DRAFT: N_("Add the missing documents, then press Submit."),
    DossierStatus.SUBMITTED_COMMUNE: N_("The commune will check the four local criteria."),
    DossierStatus.COMMUNE_REVIEW: N_("The commune is checking the four local criteria."),
    DossierStatus.NEEDS_SUPPLEMENT: N_("Add what the reviewer asked for, then submit again."),
    DossierStatus.COMMUNE_CONFIRMED: N_("The commune will forward the dossier to the province."),
    DossierStatus.AT_PROVINCE: N_("The province will check that the dossier is complete."),
    DossierStatus.COMPLETENESS_CHECK: N_("The province is checking that the dossier is complete."),
    DossierStatus.PROVINCE_SUPPLEMENT: N_("Add what the province asked for, then submit again."),
    DossierStatus.SCHEDULED: N_("Bring the product samples to the council meeting."),
    DossierStatus.SCORED: N_("Wait for the council's decision."),
    DossierStatus.NOT_RATED: N_("You can improve the product and apply again in a later round."),
    DossierStatus.CERTIFIED_3: N_("Keep the certificate valid: renew before it expires."),
    DossierStatus.CERTIFIED_4: N_("Keep the certificate valid: renew before it expires."),
    DossierStatus.PROPOSED_5: N_("The ministry will evaluate the product for 5 stars."),
    DossierStatus.CERTIFIED_5: N_("Keep the certificate valid: renew before it expires."),
}


_S = DossierStatus
# Which status may follow which (ocop-domain.md §10). The two supplement states are kept apart so that a
# dossier returned by the province goes back to the province, not through the commune again.
DOSSIER_TRANSITIONS: dict[DossierStatus, frozenset[DossierStatus]] = {
    _S.DRAFT: frozenset({_S.SUBMITTED_COMMUNE}),
    _S.SUBMITTED_COMMUNE: frozenset({_S.COMMUNE_REVIEW, _S.NEEDS_SUPPLEMENT, _S.COMMUNE_CONFIRMED}),
    _S.COMMUNE_REVIEW: frozenset({_S.NEEDS_SUPPLEMENT, _S.COMMUNE_CONFIRMED}),
    _S.NEEDS_SUPPLEMENT: frozenset({_S.SUBMITTED_COMMUNE}),
    _S.COMMUNE_CONFIRMED: frozenset({_S.AT_PROVINCE}),
    _S.AT_PROVINCE: frozenset({_S.COMPLETENESS_CHECK, _S.PROVINCE_SUPPLEMENT, _S.SCHEDULED}),
    _S.COMPLETENESS_CHECK: frozenset({_S.PROVINCE_SUPPLEMENT, _S.SCHEDULED}),
    _S.PROVINCE_SUPPLEMENT: frozenset({_S.COMPLETENESS_CHECK}),
    _S.SCHEDULED: frozenset({_S.SCORED}),
    # SCORED again: a result corrected before the certificate is re-scored, then takes its new outcome.
    _S.SCORED: frozenset({_S.NOT_RATED, _S.CERTIFIED_3, _S.CERTIFIED_4, _S.PROPOSED_5, _S.SCORED}),
    # The central level grants 5★, or declines and the province's 4★ stands.
    _S.PROPOSED_5: frozenset({_S.CERTIFIED_5, _S.CERTIFIED_4, _S.SCORED}),
    _S.NOT_RATED: frozenset({_S.SCORED}),
    _S.CERTIFIED_3: frozenset(),
    _S.CERTIFIED_4: frozenset(),
    _S.CERTIFIED_5: frozenset(),
}
# States in which the producer may still add files.
PRODUCER_EDITABLE = frozenset({_S.DRAFT, _S.NEEDS_SUPPLEMENT, _S.PROVINCE_SUPPLEMENT})


class IllegalTransition(ValueError):
    pass


def check_transition(current: str, target: DossierStatus) -> None:
    """Raise ``IllegalTransition`` unless ``target`` may follow ``current``."""
    if target not in DOSSIER_TRANSITIONS.get(DossierStatus(current), frozenset()):
        raise IllegalTransition(f"{current} → {target.value}")


# The four criteria only the commune can confirm (ocop-domain.md §4).
COMMUNE_CRITERIA: dict[str, str] = {
    "local_origin": N_("Local origin of the product and raw materials"),
    "local_labour": N_("Local labour"),
    "idea_origin": N_("Origin of the product idea"),
    "local_identity": N_("Local identity and know-how"),
}


# The council (the scoring software's model) ---------------------------------------------------------------

# A member's sheet whose total is further than this from the council's mean is shown to the secretary
# before the result is saved: usually a typing slip, sometimes a real disagreement to minute.
SHEET_SPREAD_FLAG_POINTS = 15.0
# Fewer sheets than this is not a council's result.
COUNCIL_MIN_SHEETS = 3

COUNCIL_ROLES: dict[str, str] = {
    "chair": N_("Chair"),
    "vice_chair": N_("Vice-chair"),
    "member": N_("Member"),
    "secretary": N_("Secretary"),
}

MANDATORY_CRITERIA_CSV = Path(__file__).resolve().parent / "data" / "mandatory_criteria.csv"


@dataclass(frozen=True, slots=True)
class MandatoryCriterion:
    """A criterion whose failure caps the result at 2★ (not certified), with what the producer can do."""

    code: str
    rule_sets: frozenset[str]
    label_vi: str
    label_en: str
    fix_vi: str
    fix_en: str

    @property
    def label(self) -> str:
        return self.label_vi if current_locale.get() == "vi" else self.label_en

    @property
    def fix(self) -> str:
        return self.fix_vi if current_locale.get() == "vi" else self.fix_en


@cache
def mandatory_criteria_all() -> tuple[MandatoryCriterion, ...]:
    with MANDATORY_CRITERIA_CSV.open(encoding="utf-8") as handle:
        return tuple(
            MandatoryCriterion(
                code=row["code"],
                rule_sets=frozenset(row["rule_sets"].split(";")),
                label_vi=row["label_vi"],
                label_en=row["label_en"],
                fix_vi=row["fix_vi"],
                fix_en=row["fix_en"],
            )
            for row in csv.DictReader(handle)
        )


def mandatory_criteria(rule_set_code: str) -> list[MandatoryCriterion]:
    """The mandatory criteria of one rule set, in the CSV's order."""
    return [c for c in mandatory_criteria_all() if "all" in c.rule_sets or rule_set_code in c.rule_sets]


def mandatory_criterion(code: str | None) -> MandatoryCriterion | None:
    return next((c for c in mandatory_criteria_all() if c.code == code), None)


class Role(StrEnum):
    COMMUNE = "commune"
    PROVINCE = "province"
    ADMIN = "admin"


ROLE_LABELS: dict[Role, str] = {
    Role.COMMUNE: N_("Commune officer"),
    Role.PROVINCE: N_("Province OCOP officer"),
    Role.ADMIN: N_("Administrator"),
}

INVITE_VALID_DAYS = 7


class RequirementKind(StrEnum):
    REQUIRED = "required"
    SCORED = "scored"


class SuppliedBy(StrEnum):
    PRODUCER = "producer"  # uploaded as photos or documents
    HAND_IN = "hand_in"  # physical samples; the bot records the hand-in, optionally with a photo
    COMMUNE = "commune"  # written by the commune after it confirms the four local criteria


_SUPPLIED_BY: dict[str, SuppliedBy] = {"samples": SuppliedBy.HAND_IN, "commune_report": SuppliedBy.COMMUNE}


@dataclass(frozen=True, slots=True)
class Requirement:
    code: str
    label_vi: str
    label_en: str
    groups: frozenset[ProductGroup]
    cases: frozenset[DossierCase]
    kind: RequirementKind
    has_expiry: bool
    supplied_by: SuppliedBy

    @property
    def label(self) -> str:
        return self.label_vi if current_locale.get() == "vi" else self.label_en

    @property
    def required(self) -> bool:
        return self.kind is RequirementKind.REQUIRED

    @property
    def producer_supplies(self) -> bool:
        """Items the producer must provide before submitting (the commune report is not one)."""
        return self.supplied_by is not SuppliedBy.COMMUNE


REQUIREMENTS_CSV = Path(__file__).resolve().parent / "data" / "dossier_requirements.csv"


_E = TypeVar("_E", bound=StrEnum)


def _parse_set(raw: str, enum: type[_E]) -> frozenset[_E]:
    return frozenset(enum) if raw == "all" else frozenset(enum(part) for part in raw.split(";"))


@cache
def all_requirements() -> tuple[Requirement, ...]:
    with REQUIREMENTS_CSV.open(encoding="utf-8") as handle:
        return tuple(
            Requirement(
                code=row["code"],
                label_vi=row["label_vi"],
                label_en=row["label_en"],
                groups=_parse_set(row["groups"], ProductGroup),
                cases=_parse_set(row["cases"], DossierCase),
                kind=RequirementKind(row["kind"]),
                has_expiry=row["has_expiry"] == "yes",
                supplied_by=_SUPPLIED_BY.get(row["code"], SuppliedBy.PRODUCER),
            )
            for row in csv.DictReader(handle)
        )


# Documents of the producer rather than of one product: kept from the producer's earlier dossiers and offered
# again in each new one ("never ask twice"). Codes of bot/data/dossier_requirements.csv.
PRODUCER_LEVEL_ITEMS: frozenset[str] = frozenset({"business_registration", "food_safety", "organisation"})


def requirement(code: str) -> Requirement | None:
    return next((r for r in all_requirements() if r.code == code), None)


def requirements_for(group: ProductGroup, case: DossierCase) -> list[Requirement]:
    """The checklist of one dossier: required items first, then scored evidence, in the CSV's order."""
    applicable = [r for r in all_requirements() if group in r.groups and case in r.cases]
    return sorted(applicable, key=lambda r: r.kind is not RequirementKind.REQUIRED)


@dataclass(frozen=True, slots=True)
class StarBand:
    stars: int
    min_points: float


@dataclass(frozen=True, slots=True)
class RuleSet:
    code: str
    title: str
    valid_from: dt.date
    valid_to: dt.date | None
    part_max: dict[str, int]
    certifier_by_star: dict[int, str]
    # The council's result is the mean of the members' sheets per part, rounded half up to this many decimals.
    mean_decimals: int = 2

    star_bands: tuple[StarBand, ...] = (
        StarBand(5, 90),
        StarBand(4, 70),
        StarBand(3, 50),
        StarBand(2, 30),
        StarBand(1, 0),
    )

    def star_for(self, points: float, mandatory_ok: bool = True) -> int:
        """``star = mandatory_ok ? band(points) : min(band, 2)`` (ocop-domain.md §10)."""
        band = next(b.stars for b in self.star_bands if points >= b.min_points)
        return band if mandatory_ok else min(band, 2)

    def round_points(self, value: float) -> float:
        """Half up, as the scoring sheets do (Python's round() would give 32.12 for 32.125)."""
        quantum = Decimal(1).scaleb(-self.mean_decimals)
        return float(Decimal(str(value)).quantize(quantum, rounding=ROUND_HALF_UP))

    def mean_of(self, sheets: list[tuple[float, float, float]]) -> tuple[float, float, float]:
        """The council's points per part: the members' mean, rounded."""
        count = len(sheets)
        a, b, c = (self.round_points(sum(s[i] for s in sheets) / count) for i in range(3))
        return a, b, c

    def total_of(self, parts: tuple[float, float, float]) -> float:
        return self.round_points(sum(parts))


RULE_SETS: tuple[RuleSet, ...] = (
    RuleSet(
        code="QD1048",
        title="QĐ 1048/QĐ-TTg",
        valid_from=dt.date(2019, 8, 21),
        valid_to=dt.date(2023, 2, 23),
        part_max={"A": 35, "B": 25, "C": 40},
        certifier_by_star={3: "district", 4: "province", 5: "central"},
    ),
    RuleSet(
        code="QD148",
        title="QĐ 148/QĐ-TTg",
        valid_from=dt.date(2023, 2, 24),
        valid_to=dt.date(2025, 7, 5),
        part_max={"A": 40, "B": 25, "C": 35},
        certifier_by_star={3: "district", 4: "province", 5: "central"},
    ),
    RuleSet(
        code="QD148_1489",
        title="QĐ 148/QĐ-TTg, sửa đổi bởi QĐ 1489/QĐ-TTg",
        valid_from=dt.date(2025, 7, 6),
        valid_to=None,
        part_max={"A": 40, "B": 25, "C": 35},
        certifier_by_star={3: "province", 4: "province", 5: "central"},
    ),
)


def rule_set_for(day: dt.date) -> RuleSet:
    for rule_set in RULE_SETS:
        if rule_set.valid_from <= day and (rule_set.valid_to is None or day <= rule_set.valid_to):
            return rule_set
    raise ValueError(f"no OCOP rule set in force on {day.isoformat()}")


def rule_set_by_code(code: str) -> RuleSet:
    return next(r for r in RULE_SETS if r.code == code)


def add_months(day: dt.date, months: int) -> dt.date:
    """Same day ``months`` later, clamped to the month's end (31/08 + 36 months → 31/08; 29/02 → 28/02)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    for candidate in (day.day, 30, 29, 28):
        try:
            return dt.date(year, month, min(day.day, candidate))
        except ValueError:
            continue
    raise AssertionError("unreachable")


def certificate_expiry(issued_on: dt.date) -> dt.date:
    return add_months(issued_on, CERTIFICATE_MONTHS)


# Files a producer may send: mime → short label shown in the refusal message.
ACCEPTED_FILE_TYPES: dict[str, str] = {
    "application/pdf": "PDF",
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/heic": "HEIC",
    "image/heif": "HEIC",
    "application/msword": "DOC",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "DOCX",
    "application/vnd.ms-excel": "XLS",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "XLSX",
}

# Recordings taken as spoken answers (``bot.voice``): Telegram voice notes are OGG/Opus, Zalo's are raw AAC,
# phones' recorders save M4A or MP3.
ACCEPTED_VOICE_TYPES: dict[str, str] = {
    "audio/ogg": "OGG",
    "audio/aac": "AAC",
    "audio/mp4": "M4A",
    "audio/mpeg": "MP3",
}


def accepted_types_text() -> str:
    return ", ".join(dict.fromkeys(ACCEPTED_FILE_TYPES.values()))


def label(labels: Mapping[Any, str], key: str) -> str:
    """Translate a label from one of the tables above (their keys are ``StrEnum`` members, equal to strings)."""
    return _(labels[key])


# Personal data (Law on Personal Data Protection No. 91/2025/QH15, in force 01/01/2026) -----------------------
# Change the version whenever the consent text changes: everyone is asked again at their next message.
CONSENT_VERSION = "2026-01"
PERSONAL_DATA_LAW = "Luật Bảo vệ dữ liệu cá nhân số 91/2025/QH15"
# Telegram uploads at most 50 MB per file; a download is split into ZIP parts below that. Channels missing here
# cannot send a ZIP at all (Zalo Bot sends no files; Zalo OA only PDF/DOC/DOCX up to 5 MB).
ZIP_PART_BYTES: dict[str, int] = {"telegram": 45 * 1024 * 1024, "console": 1024 * 1024 * 1024}
