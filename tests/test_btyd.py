"""BG/NBD against the published fit (Fader, Hardie & Lee 2005, CDNOW sample, 39 weeks)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from targeting.data.schema import SchemaError
from targeting.models.btyd import BetaGeoModel
from tests.conftest import DATA


def _calibration_summary():
    """(frequency, recency, T) in weeks for the 2,357 sampled customers, to 1997-09-30."""
    log = pd.read_csv(DATA / "cdnow_sample.csv.gz", dtype={"customer_id": str},
                      parse_dates=["date"])
    end = pd.Timestamp("1997-09-30")
    days = log[log.date <= end].drop_duplicates(["customer_id", "date"])
    g = days.groupby("customer_id").date
    x = g.count() - 1
    t_x = (g.max() - g.min()).dt.days / 7
    T = (end - g.min()).dt.days / 7
    return x, t_x, T


def test_reproduces_the_published_cdnow_fit():
    x, t_x, T = _calibration_summary()
    assert len(x) == 2357 and x.sum() == 2457  # the paper's sample: 2,457 repeat purchases
    model = BetaGeoModel().fit(x, t_x, T)
    # Paper, table 1 / section 5: r = 0.243, alpha = 4.414, a = 0.793, b = 2.426, LL -9582.4.
    got = model.params_
    assert got["r"] == pytest.approx(0.243, abs=6e-4)
    assert got["alpha"] == pytest.approx(4.414, abs=6e-3)
    assert got["a"] == pytest.approx(0.793, abs=6e-4)
    assert got["b"] == pytest.approx(2.426, abs=6e-3)
    assert model.log_likelihood_ == pytest.approx(-9582.4, abs=0.1)


def test_expected_purchases_match_the_paper_figure():
    # Hardie's spreadsheet companion to the paper: with the published parameters, a customer
    # with x = 2, t_x = 30.43, T = 38.86 weeks is expected to make 1.226 purchases in the next
    # 39 weeks (the same check lifetimes' test suite makes).
    model = BetaGeoModel()
    model.params_ = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    value = model.expected_purchases(39, [2], [30.43], [38.86])[0]
    assert value == pytest.approx(1.226, abs=0.002)
    alive = model.probability_alive([0, 2], [0, 30.43], [38.86, 38.86])
    assert alive[0] == 1.0 and 0 < alive[1] < 1


def test_bad_summaries_are_refused_by_name():
    with pytest.raises(SchemaError, match="recency <= T"):
        BetaGeoModel().fit([1.0], [5.0], [2.0])
    with pytest.raises(SchemaError, match="finite"):
        BetaGeoModel().fit([np.nan], [0.0], [2.0])
