"""The OCOP rules as data: groups, requirements per case, star bands, rule sets by date, validity."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from bot.rules import (
    CERTIFICATE_MONTHS,
    DossierCase,
    ProductGroup,
    SuppliedBy,
    add_months,
    certificate_expiry,
    requirements_for,
    rule_set_for,
)


def codes(group: ProductGroup, case: DossierCase, *, required: bool) -> set[str]:
    return {r.code for r in requirements_for(group, case) if r.required is required}


def test_six_product_groups() -> None:
    assert len(ProductGroup) == 6


def test_tourism_is_a_service_without_samples() -> None:
    assert "samples" not in codes(ProductGroup.TOURISM, DossierCase.NEW, required=True)
    assert "samples" in codes(ProductGroup.FOOD, DossierCase.NEW, required=True)


def test_food_safety_is_required_for_food_drinks_and_herbs_only() -> None:
    for group in (ProductGroup.FOOD, ProductGroup.DRINK, ProductGroup.HERBAL):
        assert {"food_safety", "quality_declaration", "lab_test"} <= codes(group, DossierCase.NEW, required=True)
    for group in (ProductGroup.CRAFT, ProductGroup.ORNAMENTAL, ProductGroup.TOURISM):
        assert "food_safety" not in codes(group, DossierCase.NEW, required=True)


def test_renewal_replaces_the_business_plan_with_a_three_year_report() -> None:
    renewal = codes(ProductGroup.FOOD, DossierCase.RE_EVALUATION, required=True)
    assert "renewal_report" in renewal and "business_plan" not in renewal
    assert "business_plan" in codes(ProductGroup.FOOD, DossierCase.UPGRADE, required=True)


def test_required_items_come_first_and_the_commune_writes_its_report() -> None:
    items = requirements_for(ProductGroup.CRAFT, DossierCase.NEW)
    flags = [r.required for r in items]
    assert flags == sorted(flags, reverse=True)
    report = next(r for r in items if r.code == "commune_report")
    assert report.supplied_by is SuppliedBy.COMMUNE and not report.producer_supplies


@pytest.mark.parametrize(
    ("day", "code"),
    [
        (dt.date(2023, 2, 23), "QD1048"),
        (dt.date(2023, 2, 24), "QD148"),
        (dt.date(2025, 7, 5), "QD148"),
        (dt.date(2025, 7, 6), "QD148_1489"),
        (dt.date(2026, 11, 25), "QD148_1489"),
    ],
)
def test_rule_set_in_force_by_date(day: dt.date, code: str) -> None:
    assert rule_set_for(day).code == code


def test_province_certifies_three_stars_after_1489() -> None:
    assert rule_set_for(dt.date(2025, 1, 1)).certifier_by_star[3] == "district"
    assert rule_set_for(dt.date(2025, 8, 1)).certifier_by_star[3] == "province"


@pytest.mark.parametrize(
    ("points", "mandatory_ok", "stars"),
    [
        (95, True, 5),
        (90, True, 5),
        (89.9, True, 4),
        (70, True, 4),
        (69.5, True, 3),
        (50, True, 3),
        (49, True, 2),
        (29, True, 1),
        (85, False, 2),
        (20, False, 1),
    ],
)
def test_star_bands(points: float, mandatory_ok: bool, stars: int) -> None:
    assert rule_set_for(dt.date(2026, 1, 1)).star_for(points, mandatory_ok) == stars


def test_parts_follow_the_rule_set() -> None:
    assert rule_set_for(dt.date(2022, 1, 1)).part_max == {"A": 35, "B": 25, "C": 40}
    assert rule_set_for(dt.date(2026, 1, 1)).part_max == {"A": 40, "B": 25, "C": 35}


def test_certificate_is_valid_36_months() -> None:
    assert CERTIFICATE_MONTHS == 36
    assert certificate_expiry(dt.date(2026, 5, 20)) == dt.date(2029, 5, 20)
    assert certificate_expiry(dt.date(2024, 2, 29)) == dt.date(2027, 2, 28)
    assert add_months(dt.date(2026, 1, 31), 1) == dt.date(2026, 2, 28)


def test_dossier_states_follow_the_programme() -> None:
    from bot.rules import DossierStatus as S
    from bot.rules import IllegalTransition, check_transition

    path = [S.DRAFT, S.SUBMITTED_COMMUNE, S.COMMUNE_REVIEW, S.COMMUNE_CONFIRMED, S.AT_PROVINCE]
    path += [S.COMPLETENESS_CHECK, S.SCHEDULED, S.SCORED, S.CERTIFIED_4]
    for current, target in itertools.pairwise(path):
        check_transition(current.value, target)
    check_transition(S.PROVINCE_SUPPLEMENT.value, S.COMPLETENESS_CHECK)  # returned by the province, back to it
    for current, target in [(S.DRAFT, S.SCORED), (S.CERTIFIED_4, S.DRAFT), (S.NEEDS_SUPPLEMENT, S.AT_PROVINCE)]:
        with pytest.raises(IllegalTransition):
            check_transition(current.value, target)
