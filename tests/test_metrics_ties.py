"""Propensity metrics with tied scores: the same answer in any input order."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from targeting.evaluation.metrics import calibration_table, capture_at, gains_curve, lift_at

# Ten users, three tied at the top score with one buyer among them.
Y = np.array([1, 0, 0, 1, 0, 0, 0, 0, 0, 0])
S = np.array([3, 3, 3, 2, 2, 2, 1, 1, 1, 1], dtype=float)


def test_a_tie_at_the_cut_off_counts_each_tied_user_with_the_share_that_fits():
    # Top 20 % = 2 places for 3 tied users holding 1 buyer: 2/3 of a buyer expected.
    assert lift_at(Y, S, 0.2) == pytest.approx((2 / 3) / 2 / 0.2)  # 5/3
    assert capture_at(Y, S, 0.2) == pytest.approx((2 / 3) / 2)
    # Top 50 %: the three 3s, then 2 of the three 2s (1 buyer among them).
    assert capture_at(Y, S, 0.5) == pytest.approx((1 + 2 / 3) / 2)
    gains = gains_curve(Y, S, points=11)
    assert gains.capture.tolist()[:4] == pytest.approx([0, 1 / 6, 1 / 3, 1 / 2])


def test_permuting_the_input_changes_nothing_with_a_four_level_score():
    rng = np.random.default_rng(0)
    s = rng.integers(0, 4, 2_000).astype(float)
    y = (rng.random(2_000) < 0.02 + 0.04 * s).astype(int)
    results = []
    for k in range(5):
        order = rng.permutation(len(y)) if k else np.arange(len(y))
        yy, ss = y[order], s[order]
        results.append((
            [lift_at(yy, ss, f) for f in (0.01, 0.05, 0.1)],
            [capture_at(yy, ss, f) for f in (0.01, 0.05, 0.1)],
            gains_curve(yy, ss).capture.to_numpy(),
            calibration_table(yy, ss),
        ))
    for lift, capture, gains, calibration in results[1:]:
        np.testing.assert_allclose(lift, results[0][0])
        np.testing.assert_allclose(capture, results[0][1])
        np.testing.assert_allclose(gains, results[0][2])
        pd.testing.assert_frame_equal(calibration, results[0][3])
    # Tied users share a bin: as many bins as score levels here, and every user counted.
    calibration = results[0][3]
    assert len(calibration) == 4 and calibration.users.sum() == len(y)


def test_untied_scores_keep_their_plain_definitions():
    rng = np.random.default_rng(1)
    s = rng.random(1_000)
    y = (rng.random(1_000) < s / 4).astype(int)
    top = np.argsort(-s)[:100]
    assert lift_at(y, s, 0.1) == pytest.approx(y[top].mean() / y.mean())
    assert capture_at(y, s, 0.1) == pytest.approx(y[top].sum() / y.sum())
    table = calibration_table(y, s)
    assert (table.users == 100).all()
