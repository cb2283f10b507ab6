"""The value model on real purchase logs with amounts (tests/data/README.md), against the
analyst's value baselines on the 90 days after each as_of (the dates of
benchmarks/value_real.py, chosen before any result was seen)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import targeting as tg

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import value_real  # noqa: E402  (the benchmark's own loaders: one reading of each log)

pytestmark = pytest.mark.slow


def _evaluate(tables, as_of):
    model = tg.ValueModel(horizon_days=90, progress=False).fit(tables, as_of)
    return tg.evaluate(model, tables, as_of)


@pytest.mark.parametrize("as_of", value_real.LOGS["cdnow"])
def test_value_beats_every_baseline_on_cdnow(cdnow_tables, as_of):
    m = _evaluate(cdnow_tables, as_of).metrics
    # Measured (benchmarks/results_value.json): +0.0236 [+0.0174, +0.0303] over RFM's
    # monetary at 1997-10-01, +0.0228 [+0.0173, +0.0273] at 1998-01-01; the interval is
    # a paired bootstrap over the 23,570 customers.
    assert m["gini_margin_low"] > 0, m
    # Totals measured 0.964 and 1.141 of the realised (the second window follows the
    # Christmas quarter the scale was set on: a season a year of history cannot show).
    assert abs(m["total_ratio"] - 1) < 0.2


@pytest.mark.parametrize("as_of", value_real.LOGS["online_retail"])
def test_value_matches_the_best_baseline_on_online_retail(as_of):
    m = _evaluate(value_real.online_retail(), as_of).metrics
    # Measured: -0.0033 [-0.0176, +0.0131] and -0.0052 [-0.0126, +0.0010] against RFM's
    # monetary on 1,090 and 1,332 customers: a match within the paired noise, not a win
    # (the second interval's top is too near 0 to test on: LightGBM's thread count moves it).
    assert m["gini_margin_over_best_baseline"] > -0.02, m
    assert m["gini_margin_high"] > -0.005, m
