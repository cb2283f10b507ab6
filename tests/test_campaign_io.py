"""A real campaign, brought in from a flat file: Kevin Hillstrom's MineThatData e-mail test
(64,000 customers, three randomised arms; see tests/data/README.md)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import targeting as tg

DATA = Path(__file__).parent / "data" / "hillstrom.csv.gz"
COVARIATES = ["recency", "history", "mens", "womens", "zip_code", "newbie", "channel"]


@pytest.fixture(scope="module")
def raw() -> pd.DataFrame:
    return pd.read_csv(DATA)


@pytest.fixture(scope="module")
def hillstrom(raw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the defaults summary, tested below
        return tg.from_campaign(raw, treatment="segment", outcome=["conversion", "visit"],
                                revenue="spend", covariates=COVARIATES, control="No E-Mail")


# -- the adapter ---------------------------------------------------------------------------------
def test_the_file_is_the_published_campaign(raw):
    assert raw.shape == (64_000, 12)
    assert raw.segment.value_counts().to_dict() == {
        "Womens E-Mail": 21_387, "Mens E-Mail": 21_307, "No E-Mail": 21_306}
    assert raw.conversion.sum() == 578 and raw.spend.sum() == pytest.approx(67_258.13)


def test_adapter_builds_the_contract_table(raw, hillstrom):
    campaign, covariates = hillstrom  # unpacks as the two frames
    tg.validate({"campaign": campaign})
    assert list(campaign.columns[:6]) == [c.name for c in tg.CONTRACTS["campaign"].columns]
    assert campaign.converted.dtype == bool and campaign.visit.dtype == bool
    assert (campaign.converted.to_numpy() == (raw.conversion == 1).to_numpy()).all()
    assert (campaign.revenue.to_numpy() == raw.spend.to_numpy()).all()
    # The control is renamed to the contract's word; treatments keep their names.
    expected = raw.segment.replace({"No E-Mail": "control"}).to_numpy()
    assert (campaign.arm.astype(str).to_numpy() == expected).all()
    assert hillstrom.arms == ["Mens E-Mail", "Womens E-Mail"]
    assert hillstrom.outcomes == ["converted", "visit", "revenue"]
    assert list(covariates.columns) == COVARIATES and covariates.index.name == "user_id"
    assert (covariates.index == campaign.user_id).all()
    assert isinstance(covariates.zip_code.dtype, pd.CategoricalDtype)
    assert "<p>" in hillstrom._repr_html_() and hillstrom.plot().axes


def test_absent_optional_columns_are_filled_and_said_once(raw):
    with pytest.warns(UserWarning) as caught:
        c = tg.from_campaign(raw.head(300), treatment="segment", revenue="spend",
                             control="No E-Mail")
    assert len(caught) == 1
    summary = str(caught[0].message)
    assert summary == c.notes
    for default in ("user_id = row number", "sent_at = 1970-01-01", "converted = spend > 0"):
        assert default in summary
    assert (c.campaign.converted == (raw.spend.head(300) > 0)).all()
    # Without a covariate list, every column not named is a covariate.
    assert "history_segment" in c.covariates.columns and "spend" not in c.covariates.columns
    # Nothing filled in, nothing to warn about.
    frame = raw.head(300).assign(uid=np.arange(300) * 7, sent=pd.Timestamp("2008-03-01"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        c = tg.from_campaign(frame, user="uid", treatment="segment", outcome="conversion",
                             revenue="spend", covariates=["recency"], control="No E-Mail",
                             sent_at="sent")
    assert "defaults" not in c.notes and c.campaign.user_id.iloc[1] == 7


def test_bad_input_is_named(raw):
    head = raw.head(200)
    cases = [
        (dict(treatment="segmnt", outcome="conversion"), r"\['segmnt'\] not in the frame"),
        (dict(treatment="segment", outcome="conversion"), "which arm is the control"),
        (dict(treatment="segment", outcome="conversion", control="None"), "control='None' is not"),
        (dict(treatment="segment", outcome="history", control="No E-Mail"), "bool or 0/1"),
        (dict(treatment="segment", control="No E-Mail"), "no outcome"),
        (dict(treatment="segment", outcome="visit", covariates=["visit"], control="No E-Mail"),
         "both an outcome"),
        (dict(treatment="segment", outcome="visit", user="recency", control="No E-Mail"),
         "share a user id"),
    ]
    for kwargs, message in cases:
        with pytest.raises(tg.SchemaError, match=message), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            tg.from_campaign(head, **kwargs)
    broken = head.assign(spend=head.spend.where(head.index > 2), visit=head.visit.astype(float))
    broken.loc[5, "visit"] = np.nan
    with pytest.raises(tg.SchemaError) as err, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        tg.from_campaign(broken, treatment="segment", outcome="visit", revenue="spend",
                         control="No E-Mail")
    assert len(err.value.problems) == 2  # every problem at once: the spend and the visit gaps
    with pytest.raises(tg.SchemaError, match="DataFrame"):
        tg.from_campaign(head.to_dict(), treatment="segment", outcome="visit")


def test_zero_one_arms_default_to_control_zero(raw):
    frame = raw.head(500).assign(t=(raw.segment.head(500) != "No E-Mail").astype(int))
    with pytest.warns(UserWarning, match="control = 0"):
        c = tg.from_campaign(frame, treatment="t", outcome="conversion", covariates=["recency"])
    assert c.arms == ["1"] and c.source_control == "0"


# -- the readout ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def report(hillstrom):
    return tg.campaign_report(hillstrom, breakdowns=["zip_code", "channel", "history"])


def test_readout_effects_are_a_plain_difference_of_means(raw, report):
    for outcome, column in (("converted", "conversion"), ("visit", "visit"),
                            ("revenue", "spend")):
        y, segment = raw[column].to_numpy(float), raw.segment.to_numpy()
        means = {s: y[segment == s].mean() for s in ("Mens E-Mail", "Womens E-Mail", "No E-Mail")}
        for arm in ("Mens E-Mail", "Womens E-Mail"):
            effect = report.outcome_effects.loc[(outcome, arm), "effect"]
            assert effect == means[arm] - means["No E-Mail"]  # exactly, not approximately
        pooled = y[segment != "No E-Mail"].mean() - means["No E-Mail"]
        assert report.outcome_effects.loc[(outcome, "any treatment"), "effect"] == pooled
    # The men's e-mail lifted spend per customer by about 77 cents, clear of zero.
    row = report.table.loc["Mens E-Mail"]
    assert row.revenue_low > 0 and row.revenue_effect == pytest.approx(0.7698, abs=1e-4)
    assert report.binary == {"converted": True, "visit": True, "revenue": False}
    assert report.arms.loc["control", "users"] == 21_306


def test_balance_is_measured_on_the_real_covariates(raw, report):
    # One row per numeric covariate and per level of the text ones, nothing invented.
    expected = {"recency", "history", "mens", "womens", "newbie", "zip_code=Urban",
                "zip_code=Surburban", "zip_code=Rural", "channel=Phone", "channel=Web",
                "channel=Multichannel"}
    assert set(report.balance.index) == expected
    assert list(report.balance.columns) == ["Mens E-Mail", "Womens E-Mail"]
    # The SMD of history, by hand.
    mens, control = (raw[raw.segment == s].history for s in ("Mens E-Mail", "No E-Mail"))
    smd = (mens.mean() - control.mean()) / np.sqrt((mens.var() + control.var()) / 2)
    assert report.balance.loc["history", "Mens E-Mail"] == pytest.approx(smd, rel=1e-12)
    assert report.max_smd < 0.1  # a clean randomisation
    assert report.checks == {"sample_ratio": "passed", "balance": "passed"}
    assert report.trustworthy


def test_breakdowns_use_the_given_columns_only(report, hillstrom):
    b = report.breakdown
    assert set(b.dimension) == {"zip_code", "channel", "history"}
    assert set(b.query("dimension == 'zip_code'").group) == {"Urban", "Surburban", "Rural"}
    assert b.query("dimension == 'history'").group.nunique() == 5  # quintiles of an amount
    assert set(b.outcome) == {"converted", "visit", "revenue"}
    none = tg.campaign_report(hillstrom, breakdowns=())
    assert none.breakdown.empty and list(none.breakdown.columns)[:3] == [
        "outcome", "dimension", "group"]
    assert none.plot().axes and "Checks" in none._repr_html_()
    with pytest.raises(ValueError, match="unknown breakdown 'segment'"):
        tg.campaign_report(hillstrom, breakdowns=["segment"])


def test_trustworthy_counts_only_the_checks_that_ran(hillstrom):
    bare = tg.campaign_report(hillstrom.campaign, outcomes=["visit"])
    assert bare.checks["balance"].startswith("not run")
    assert bare.trustworthy and bare.balance.empty
    assert list(bare.table.index) == ["Mens E-Mail", "Womens E-Mail", "any treatment"]
    # A covariate out of balance (the treated have a longer history) fails the balance check.
    skewed = hillstrom.covariates.assign(
        history=hillstrom.covariates.history + 200.0 * (hillstrom.campaign.arm != "control")
        .to_numpy())
    bad = tg.campaign_report(hillstrom.campaign, covariates=skewed)
    assert bad.checks["balance"] == "failed" and not bad.trustworthy
    with pytest.raises(tg.SchemaError, match="lack 10 of the campaign"):
        tg.campaign_report(hillstrom.campaign, covariates=hillstrom.covariates.iloc[10:])
    with pytest.raises(tg.SchemaError, match="no outcome column 'spend'"):
        tg.campaign_report(hillstrom.campaign, outcomes=["spend"])
