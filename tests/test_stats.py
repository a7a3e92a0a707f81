"""The statistics behind every verdict, against values worked out by hand or from printed tables."""

from __future__ import annotations

import math

import pytest

from distgan import stats


def test_student_t_quantiles_match_the_printed_table():
    # t_{0.975, df} from any table: 12.706 (1), 4.303 (2), 2.776 (4), 2.228 (10); 1.960 as df grows
    for df, value in ((1, 12.706), (2, 4.303), (4, 2.776), (10, 2.228), (10_000, 1.960)):
        assert stats.t_quantile(df) == pytest.approx(value, abs=1e-3)


def test_a_paired_t_interval_and_p_by_hand():
    # diffs 1, 2, 3: mean 2, sd 1, se 1/sqrt(3); half-width 4.303 / sqrt(3) = 2.484; t = 2 sqrt(3) = 3.464, df 2
    mean, low, high = stats.mean_ci([1.0, 2.0, 3.0])
    assert (mean, low, high) == pytest.approx((2.0, -0.484, 4.484), abs=1e-3)
    # two-sided p of t = 3.464 on 2 df: 1 - 3.464 / sqrt(3.464^2 + 2) = 0.0742 (closed form for df = 2)
    t = 2 * math.sqrt(3)
    assert stats.paired_t_p([1.0, 2.0, 3.0]) == pytest.approx(1 - t / math.sqrt(t * t + 2), abs=1e-4)
    assert stats.paired_t_p([1.0, 2.0, 3.0]) == pytest.approx(0.0742, abs=1e-4)


def test_an_interval_at_another_level_is_wider():
    _, low, high = stats.mean_ci([1.0, 2.0, 3.0], level=1 - 0.05 / 4)  # t_{0.99375, 2} = 8.860
    assert high - 2.0 == pytest.approx(8.860 / math.sqrt(3), abs=1e-2)


def test_a_constant_difference_has_no_test():
    assert math.isnan(stats.paired_t_p([3.0, 3.0, 3.0]))
    assert math.isnan(stats.paired_t_p([3.0]))


def test_holm_on_a_known_p_vector():
    # sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1: 0.02, 0.03, 0.06, 0.04 -> running max 0.02, 0.03, 0.06, 0.06
    adjusted, levels = stats.holm([0.01, 0.04, 0.03, 0.005])
    assert adjusted == pytest.approx([0.03, 0.06, 0.06, 0.02])
    # 0.005 <= 0.05/4 and 0.01 <= 0.05/3 are rejected at their steps; 0.03 > 0.05/2 stops: both kept at 0.05/4
    assert levels == pytest.approx([1 - 0.05 / 3, 1 - 0.05 / 4, 1 - 0.05 / 4, 1 - 0.05 / 4])


def test_holm_leaves_untested_lines_out_of_the_family():
    adjusted, _ = stats.holm([0.02, math.nan, 0.04])
    assert adjusted[0] == pytest.approx(0.04) and adjusted[2] == pytest.approx(0.04)
    assert math.isnan(adjusted[1])


def test_the_exact_sign_test():
    assert stats.sign_test_p(3, 0) == pytest.approx(0.25)  # 2 * (1/2)^3: three seeds can never decide
    assert stats.sign_test_p(6, 0) == pytest.approx(0.03125)  # 2 * (1/2)^6
    assert stats.sign_test_p(5, 1) == pytest.approx(2 * 7 / 64)
    assert stats.sign_test_p(0, 0) == 1.0


def test_seeds_to_detect_match_published_power_tables():
    # two-sided paired t, alpha 0.05, 80% power: effect d = 1 needs 10 pairs, d = 0.5 needs 34 (Cohen; G*Power)
    assert stats.seeds_to_detect(1.0, 1.0) == 10
    assert stats.seeds_to_detect(-0.5, 1.0) == 34
    assert stats.seeds_to_detect(0.0, 1.0) is None


def test_seeds_for_the_sign_test():
    assert stats.seeds_for_sign_test(3, 0, 0) == 6  # if every pair keeps going one way, 6 pairs reach p = 0.031
    assert stats.seeds_for_sign_test(3, 0, 3) == 12  # half the pairs tie: twice as many
    assert stats.seeds_for_sign_test(1, 1, 1) is None


def test_seeds_for_equivalence():
    assert stats.seeds_for_equivalence(2.0, 1.0, margin=1.0) is None  # the difference lies outside the margin
    n = stats.seeds_for_equivalence(0.0, 1.0, margin=1.0)
    assert n is not None and 10 <= n <= 14  # TOST at 2.5% each side, margin one sd: 13
