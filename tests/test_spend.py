"""Gamma-Gamma against the published CDNOW fit, and the transaction summary it reads."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from targeting.data.schema import SchemaError
from targeting.models.spend import (
    GammaGammaModel,
    bgnbd_gamma_gamma_value,
    transaction_summary,
)
from tests.conftest import DATA


def _cdnow_sample_summary() -> pd.DataFrame:
    """The 2,357 sampled customers' summary over the paper's 39-week calibration period."""
    log = pd.read_csv(DATA / "cdnow_sample.csv.gz", dtype={"customer_id": str},
                      parse_dates=["date"])
    orders = log.rename(columns={"customer_id": "user_id", "date": "ts", "dollars": "amount"})
    return transaction_summary(orders, pd.Timestamp("1997-10-01"))  # weeks 1-39 inclusive


def test_reproduces_the_published_cdnow_fit():
    summary = _cdnow_sample_summary()
    repeat = summary[summary.frequency > 0]
    assert len(summary) == 2357 and len(repeat) == 946  # the paper's 946 repeat customers
    model = GammaGammaModel().fit(repeat.frequency, repeat.monetary_value)
    # Fader, Hardie & Lee (2005), "RFM and CLV": p = 6.25, q = 3.74, gamma = 15.44.
    assert model.params_["p"] == pytest.approx(6.25, abs=0.005)
    assert model.params_["q"] == pytest.approx(3.74, abs=0.005)
    assert model.params_["gamma"] == pytest.approx(15.44, abs=0.005)
    # The population mean spend per transaction is p * gamma / (q - 1).
    assert model.mean_spend_ == pytest.approx(6.25 * 15.44 / 2.74, rel=2e-3)


def test_conditional_spend_shrinks_each_mean_towards_the_population():
    model = GammaGammaModel()
    model.params_ = {"p": 6.25, "q": 3.74, "gamma": 15.44}
    population = model.mean_spend_
    one, many = model.conditional_expected_spend([1, 20], [100.0, 100.0])
    assert population < one < many < 100.0  # more transactions: nearer the customer's own
    weight = 6.25 * 20 / (6.25 * 20 + 3.74 - 1)  # equation 2: a weighted average
    assert many == pytest.approx(weight * 100.0 + (1 - weight) * population)
    assert model.conditional_expected_spend([0], [0.0])[0] == pytest.approx(population)


def test_transaction_summary_counts_days_and_leaves_the_first_out_of_the_mean():
    orders = pd.DataFrame({
        "user_id": ["a", "a", "a", "a", "b", "c"],
        "ts": pd.to_datetime(["2024-01-01 09:00", "2024-01-01 18:00", "2024-01-05 09:00",
                              "2024-01-09 09:00", "2024-01-07 09:00", "2024-02-01 09:00"]),
        "amount": [10.0, 5.0, 20.0, 40.0, 8.0, 99.0]})
    s = transaction_summary(orders, pd.Timestamp("2024-01-11"))
    assert sorted(s.index) == ["a", "b"]  # c's order is after as_of
    a = s.loc["a"]
    # Three purchase days (two orders on Jan 1 are one): 2 repeats averaging (20 + 40) / 2;
    # days are whole days before as_of (ages 9, 5 and 1), T counts the first day itself.
    assert (a.frequency, a.recency, a["T"]) == (2.0, 8.0, 10.0)
    assert (a.monetary_value, a.first_value, a.total) == (30.0, 15.0, 75.0)
    assert s.loc["b"].frequency == 0 and s.loc["b"].monetary_value == 0


def test_bgnbd_gamma_gamma_value_is_purchases_times_spend():
    summary = _cdnow_sample_summary()
    value = bgnbd_gamma_gamma_value(summary, 90)
    assert (value >= 0).all() and value.index.equals(summary.index)
    # Repeat buyers with the same history but a higher average spend are worth more.
    s = summary.iloc[:2].copy()
    s[["frequency", "recency", "T", "monetary_value"]] = [[3, 200, 250, 20.0],
                                                          [3, 200, 250, 60.0]]
    both = pd.concat([summary, s.set_axis(["x1", "x2"])])
    values = bgnbd_gamma_gamma_value(both, 90)
    assert values["x2"] > values["x1"] > 0


def test_bad_summaries_are_refused_by_name():
    with pytest.raises(SchemaError, match="repeat customers only"):
        GammaGammaModel().fit([0, 1, 2], [0.0, 10.0, 12.0])
    with pytest.raises(SchemaError, match="finite"):
        GammaGammaModel().fit([1, 2, np.nan], [5.0, 10.0, 12.0])
    with pytest.raises(SchemaError, match="at least 3"):
        GammaGammaModel().fit([1], [5.0])


def test_too_few_repeat_customers_fall_back_to_daily_spend_and_say_so():
    summary = pd.DataFrame({"frequency": [0.0, 1.0, 0.0], "recency": [0.0, 10.0, 0.0],
                            "T": [20.0, 40.0, 5.0], "monetary_value": [0.0, 30.0, 0.0],
                            "total": [40.0, 50.0, 10.0]})
    value = bgnbd_gamma_gamma_value(summary, 90)
    np.testing.assert_allclose(value, [40 / 20 * 90, 50 / 40 * 90, 10 / 5 * 90])
    assert "1 repeat customers" in value.attrs["note"] and "daily spend" in value.attrs["note"]
    assert "note" not in bgnbd_gamma_gamma_value(_cdnow_sample_summary(), 90).attrs
