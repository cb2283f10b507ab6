"""Bad input at every public entry point: the package's own error, naming the problem.

Each case feeds one mistake a new user makes (issue 16) and asserts both the exception type
(``tg.SchemaError`` / ``tg.TargetingError`` / ``tg.InsufficientDataError``, or ValueError /
TypeError where that is the documented contract) and the key phrase of the message.
"""

from __future__ import annotations

import glob
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError

import targeting as tg
from targeting.cli import main as cli_main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One real SQLite MLflow store for the module (creating a store takes seconds), used as
    the working directory so artifacts land there."""
    folder = tmp_path_factory.mktemp("bad-input-store")
    cwd = os.getcwd()
    os.chdir(folder)
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    saved = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    os.environ.update(MLFLOW_TRACKING_URI=uri, MLFLOW_REGISTRY_URI=uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    tg.clear_model_cache()
    yield folder
    os.chdir(cwd)
    for key, value in saved.items():
        os.environ.pop(key, None) if value is None else os.environ.update({key: value})
    mlflow.set_tracking_uri(None)
    mlflow.set_registry_uri(None)
    tg.clear_model_cache()


def _with(tables, name, change):
    """A shallow copy of ``tables`` with ``change(copy of tables[name])`` in its place."""
    out = dict(tables)
    out[name] = change(tables[name].copy())
    return out


def _set(frame, column, value, rows=slice(None, 3)):
    frame.loc[frame.index[rows], column] = value
    return frame


# -- tg.validate and the feature builders ------------------------------------------------------
VALIDATE_CASES = {
    "inf amount": (lambda t: _with(t, "orders", lambda o: _set(o, "amount", np.inf)),
                   r"orders\.amount: 3 infinite value\(s\)"),
    "-inf points": (lambda t: _with(t, "crm", lambda c: _set(c.astype({"points": float}),
                                                             "points", -np.inf)),
                    r"crm\.points: 3 infinite value\(s\)"),
    "NaN amount": (lambda t: _with(t, "orders", lambda o: _set(o, "amount", np.nan)),
                   r"orders\.amount: 3 missing value\(s\)"),
    "negative quantity": (lambda t: _with(t, "orders", lambda o: _set(o, "quantity", 0)),
                          r"orders\.quantity: 3 value\(s\) below 1"),
    "shop_id text vs integer": (
        lambda t: _with(t, "orders", lambda o: o.assign(shop_id=o.shop_id.astype(str))),
        r"shop_id has different types across tables \(identity\.shop_id is integer, "
        r"orders\.shop_id is text\)"),
    "member_id text vs integer": (
        lambda t: _with(t, "crm", lambda c: c.assign(member_id=c.member_id.astype(str))),
        r"member_id has different types across tables"),
    "text among city tiers": (
        lambda t: _with(t, "users", lambda u: _set(u.astype({"city_tier": object}), "city_tier",
                                                   "tier one")),
        r"users\.city_tier: expected a numeric dtype \(an ordinal scale\) or text labels"),
    "text points": (lambda t: _with(t, "crm", lambda c: _set(c.astype({"points": object}),
                                                            "points", "many")),
                    r"crm\.points: expected a numeric dtype"),
    "string timestamps": (lambda t: _with(t, "orders", lambda o: o.assign(ts=o.ts.astype(str))),
                          r"orders\.ts: expected datetime64"),
    "tz-aware vs naive": (
        lambda t: _with(t, "social_events", lambda e: e.assign(ts=e.ts.dt.tz_localize("UTC"))),
        r"timestamps mix time zones \(.*social_events\.ts is UTC"),
    "string conversion value": (
        lambda t: _with(t, "conversions", lambda c: c.assign(value=c.value.astype(str))),
        r"conversions\.value: expected a numeric dtype"),
    "dropped column": (lambda t: _with(t, "orders", lambda o: o.drop(columns="channel")),
                       r"orders: missing column 'channel'"),
    "duplicated order ids": (
        lambda t: _with(t, "orders", lambda o: pd.concat([o, o.head(2)])),
        r"orders: 4 rows share a key \('order_id', 'category'\)"),
    "misspelled table": (lambda t: {**t, "order": t["orders"]}, r"unknown table 'order'"),
    "a list for a table": (lambda t: {**t, "users": [1, 2]},
                           r"users: expected a pandas DataFrame, got list"),
}


@pytest.mark.parametrize("case", list(VALIDATE_CASES))
def test_validate_names_the_problem(small_world, case):
    make, phrase = VALIDATE_CASES[case]
    with pytest.raises(tg.SchemaError, match=phrase):
        tg.validate(make(small_world.tables))


def test_inf_amount_stops_build_features_before_polars(small_world):
    tables = _with(small_world.tables, "orders", lambda o: _set(o, "amount", np.inf))
    with pytest.raises(tg.SchemaError, match=r"orders\.amount: 3 infinite value\(s\)"):
        tg.build_features(tables, small_world.as_of)  # was a Polars f64 -> i64 cast error


def test_id_types_differing_stop_build_features(small_world):
    tables = _with(small_world.tables, "orders", lambda o: o.assign(shop_id=o.shop_id.astype(str)))
    with pytest.raises(tg.SchemaError, match="shop_id has different types across tables"):
        tg.build_features(tables, small_world.as_of)  # was a Polars join-key error


AS_OF_CASES = {
    "integer": (20260910, r"as_of must be an ISO 8601 date or a timestamp, got int 20260910"),
    "float": (3.5, r"got float 3\.5"),
    "bool": (True, r"got bool True"),
    "ambiguous text": ("09/10/2026", r"as_of '09/10/2026' is not an ISO 8601 date"),
    "impossible date": ("2026-13-45", r"as_of '2026-13-45' is not a valid date"),
    "NaT": (pd.NaT, r"as_of is missing"),
    "before every record": ("1990-01-01", r"as_of 1990-01-01 00:00:00 is not after the first "
                                          r"dated event"),
    "tz-aware on naive data": (pd.Timestamp("2026-08-01", tz="UTC"),
                               r"is tz-aware but the data are naive"),
}


@pytest.mark.parametrize("case", list(AS_OF_CASES))
def test_build_features_refuses_a_bad_as_of(small_world, case):
    as_of, phrase = AS_OF_CASES[case]
    with pytest.raises(tg.SchemaError, match=phrase):
        tg.build_features(small_world.tables, as_of)


def test_naive_as_of_on_tz_aware_data(small_world):
    tables = {}
    for name, frame in small_world.tables.items():  # every time column of every table in UTC
        times = [c for c in frame.columns if pd.api.types.is_datetime64_any_dtype(frame[c])]
        tables[name] = frame.assign(**{c: frame[c].dt.tz_localize("UTC") for c in times})
    with pytest.raises(tg.SchemaError, match=r"is naive but the data are in time zone UTC"):
        tg.build_features(tables, pd.Timestamp(small_world.as_of))


def test_pipeline_transform_refuses_ambiguous_as_of(small_model, small_world):
    with pytest.raises(tg.SchemaError, match="not an ISO 8601 date"):
        small_model.pipeline_.transform(small_world.tables, "08/09/2026")


NO_USERS = {
    "a purchase log with no rows": lambda t: {"orders": t["orders"].iloc[:0]},
    "empty identity": lambda t: {**t, "identity": t["identity"].iloc[:0]},
    "every table empty": lambda t: {name: frame.iloc[:0] for name, frame in t.items()},
}


@pytest.mark.parametrize("case", list(NO_USERS))
def test_no_users_at_all_is_an_error_not_an_empty_frame(small_world, case):
    with pytest.raises(tg.SchemaError, match=r"no users to build features for: empty table"):
        tg.build_features(NO_USERS[case](small_world.tables), small_world.as_of)  # was (0, 0)


def test_zero_row_orders_give_one_row_per_user(small_world):
    # Not an error: a brand with no orders yet still has its users (empty purchase features).
    tables = _with(small_world.tables, "orders", lambda o: o.iloc[:0])
    features = tg.build_features(tables, small_world.as_of)
    assert len(features) == len(small_world.tables["identity"]) and features.shape[1] > 10


def test_no_consenting_member_is_not_a_polars_error(small_world):
    tables = _with(small_world.tables, "crm", lambda c: c.assign(consent=False))
    features = tg.build_features(tables, small_world.as_of)  # was a Null-typed join key
    assert features["crm_member"].fillna(0).eq(0).all()


def test_build_features_misspelled_keyword(small_world):
    with pytest.raises(TypeError, match="lookbak_days"):
        tg.build_features(small_world.tables, small_world.as_of, lookbak_days=30)


def test_build_features_unknown_builder(small_world):
    with pytest.raises(ValueError, match=r"unknown builder\(s\) \['socail'\]"):
        tg.build_features(small_world.tables, small_world.as_of, builders=("socail",))


# -- PropensityModel ---------------------------------------------------------------------------
def test_misspelled_model_keyword_names_the_closest():
    with pytest.raises(TypeError, match=r"'learning_rat': did you mean 'learning_rate'\?"):
        tg.PropensityModel("snacks", learning_rat=0.1)


def test_fit_without_orders_table(small_world):
    tables = {k: v for k, v in small_world.tables.items() if k != "orders"}
    with pytest.raises(tg.SchemaError, match="missing table 'orders'"):
        tg.PropensityModel("snacks", progress=False).fit(tables, small_world.as_of)


def test_fit_with_zero_row_orders(small_world):
    tables = _with(small_world.tables, "orders", lambda o: o.iloc[:0])
    with pytest.raises(tg.InsufficientDataError, match=r"only 0 buyers of 'snacks'"):
        tg.PropensityModel("snacks", progress=False).fit(tables, small_world.as_of)


@pytest.mark.parametrize("as_of, phrase", [
    (20260910, "got int 20260910"),
    ("09/10/2026", "not an ISO 8601 date"),
    (pd.Timestamp("2026-08-01", tz="Asia/Shanghai"), "tz-aware but the data are naive"),
])
def test_fit_refuses_a_bad_as_of(small_world, as_of, phrase):
    with pytest.raises(tg.SchemaError, match=phrase):
        tg.PropensityModel("snacks", progress=False).fit(small_world.tables, as_of)


def test_fit_too_early_as_of_says_how_much_history(small_world):
    with pytest.raises(tg.InsufficientDataError, match=r"days of history before as_of"):
        tg.PropensityModel("snacks", progress=False).fit(small_world.tables, "2025-09-10")


def test_fit_unknown_category(small_world):
    with pytest.raises(tg.SchemaError, match=r"unknown category 'snackz'.*pick one of them"):
        tg.PropensityModel("snackz", progress=False).fit(small_world.tables, small_world.as_of)


def test_fit_negative_horizon(small_world):
    with pytest.raises(ValueError, match="horizon_days must be a positive integer, got -3"):
        tg.PropensityModel("snacks", horizon_days=-3).fit(small_world.tables, small_world.as_of)


def test_fit_a_single_dataframe(small_world):
    with pytest.raises(tg.SchemaError, match="expected a dict of DataFrames, got DataFrame"):
        tg.PropensityModel("snacks").fit(small_world.tables["orders"], small_world.as_of)


# -- evaluate ----------------------------------------------------------------------------------
def test_evaluate_a_string(small_world):
    with pytest.raises(TypeError, match="cannot evaluate a str"):
        tg.evaluate("models:/propensity@champion", small_world)


def test_evaluate_label_window_past_the_data(small_model, small_world):
    with pytest.raises(tg.InsufficientDataError, match="label window after as_of"):
        tg.evaluate(small_model, small_world.tables, "2026-09-20")


def test_evaluate_ambiguous_as_of(small_model, small_world):
    with pytest.raises(tg.SchemaError, match="not an ISO 8601 date"):
        tg.evaluate(small_model, small_world.tables, "08/01/2026")


# -- score -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def features(small_model, small_world):
    return small_model.features(small_world.tables, small_world.as_of)


def test_score_duplicate_user_ids_in_a_feature_frame(small_model, features):
    frame = pd.concat([features.iloc[:5], features.iloc[:2]])
    with pytest.raises(tg.SchemaError, match=r"user_id: 2 duplicated id\(s\)"):
        tg.score(frame, small_model)


def test_score_duplicate_users_requested(small_model, small_world):
    user = small_world.tables["identity"].user_id.iloc[0]
    with pytest.raises(tg.SchemaError, match=r"1 duplicated user id\(s\)"):
        tg.score(small_world.tables, small_model, small_world.as_of, users=[user, user])


def test_score_empty_feature_frame(small_model, features):
    with pytest.raises(tg.SchemaError, match="empty input: no users to score"):
        tg.score(features.iloc[:0], small_model)


def test_score_feature_frame_missing_a_column(small_model, features):
    with pytest.raises(tg.SchemaError, match=r"features: missing column\(s\) \['soc_engaged'\]"):
        tg.score(features.drop(columns="soc_engaged"), small_model)


def test_score_unknown_category_level(small_model, features):
    frame = features.head(20).assign(region="atlantis")
    with pytest.raises(tg.SchemaError, match=r"features\.region: unknown value\(s\) "
                                             r"\['atlantis'\]"):
        tg.score(frame, small_model)


def test_score_tables_with_ambiguous_as_of(small_model, small_world):
    with pytest.raises(tg.SchemaError, match="not an ISO 8601 date"):
        tg.score(small_world.tables, small_model, "09/10/2026")


def test_score_tables_with_integer_as_of(small_model, small_world):
    with pytest.raises(tg.SchemaError, match="got int"):
        tg.score(small_world.tables, small_model, 20260910)


def test_score_not_a_model(features):
    with pytest.raises(TypeError, match="model must be an MLflow model URI .* got int"):
        tg.score(features, 42)


def test_score_unfitted_model(features):
    with pytest.raises(NotFittedError, match="not fitted yet"):
        tg.score(features, tg.PropensityModel("snacks"))


@pytest.mark.parametrize("uri, phrase", [
    ("models:/nope@champion", "Registered Model with name=nope not found"),
    ("runs:/0123456789abcdef/model", "Run with id=0123456789abcdef not found"),
])
def test_score_unknown_model_uri(store, features, uri, phrase):
    with pytest.raises(tg.TargetingError, match=rf"model '{uri}' not found .*{phrase}"):
        tg.score(features, uri)


def test_score_corrupted_logged_model(store, small_model, features):
    from targeting.scoring import TargetingPyfunc

    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(name="model", python_model=TargetingPyfunc(small_model))
    assert len(tg.score(features.head(10), info.model_uri)) == 10  # readable as logged
    pickles = glob.glob(str(store / "**" / "python_model.pkl"), recursive=True)
    assert len(pickles) == 1
    Path(pickles[0]).write_bytes(b"not a pickle at all")
    tg.clear_model_cache()
    with pytest.raises(tg.TargetingError, match=r"python_model\.pkl is corrupted .*log the model "
                                                r"again"):
        tg.score(features.head(10), info.model_uri)  # was a raw UnpicklingError


# -- lookalike ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def lookalike(small_world):
    seeds = tg.segment_seed(small_world, size=0.6)
    return tg.LookalikeModel(progress=False, n_bags=2).fit(small_world.tables, seeds,
                                                            small_world.as_of)


def test_expand_where_with_text_for_an_integer_column(lookalike):
    with pytest.raises(ValueError, match=r"where: city_tier value\(s\) \['3'\] match no user; "
                                         r"city_tier holds int values"):
        lookalike.expand(50, where={"city_tier": "3"})


def test_expand_where_unknown_key(lookalike):
    with pytest.raises(ValueError, match="where: unknown key 'tier'"):
        lookalike.expand(50, where={"tier": [3]})


def test_expand_too_large(lookalike):
    with pytest.raises(ValueError, match=r"size 10,000,000 is larger than the .* eligible users"):
        lookalike.expand(10_000_000)


def test_lookalike_fit_seeds_frame_without_user_id(small_world):
    with pytest.raises(ValueError, match="seeds: a DataFrame of seeds needs a 'user_id' column"):
        tg.LookalikeModel(progress=False).fit(small_world.tables, pd.DataFrame({"id": [1, 2]}),
                                              small_world.as_of)


def test_lookalike_fit_ambiguous_as_of(small_world):
    seeds = tg.segment_seed(small_world, size=0.6)
    with pytest.raises(tg.SchemaError, match="not an ISO 8601 date"):
        tg.LookalikeModel(progress=False).fit(small_world.tables, seeds, "09/10/2026")


def test_lookalike_misspelled_keyword():
    with pytest.raises(TypeError, match=r"'num_leave': did you mean 'num_leaves'\?"):
        tg.LookalikeModel(num_leave=15)


# -- campaign, uplift and planning -------------------------------------------------------------
@pytest.fixture(scope="module")
def campaign(small_world):
    return tg.campaign_dataset(small_world.tables, small_world.campaign_id)


@pytest.fixture(scope="module")
def uplift(campaign):
    return tg.UpliftModel("t", n_estimators=20).fit(campaign.X, campaign.y, campaign.treatment)


def test_campaign_dataset_unknown_campaign(small_world):
    with pytest.raises(tg.SchemaError, match=r"campaign 'nope' not found; the campaign table "
                                             r"holds \["):
        tg.campaign_dataset(small_world.tables, "nope")


def test_campaign_dataset_without_campaign_table(small_world):
    tables = {k: v for k, v in small_world.tables.items() if k != "campaign"}
    with pytest.raises(tg.SchemaError, match="campaign: table missing"):
        tg.campaign_dataset(tables, small_world.campaign_id)


def test_campaign_dataset_unknown_outcome(small_world):
    with pytest.raises(ValueError, match=r"outcome must be one of .* got 'revnue'"):
        tg.campaign_dataset(small_world.tables, small_world.campaign_id, "revnue")


def test_uplift_fit_lengths_differ(campaign):
    with pytest.raises(tg.SchemaError, match="X, y and treatment differ in length"):
        tg.UpliftModel("t").fit(campaign.X, campaign.y[:-3], campaign.treatment)


def test_uplift_fit_missing_outcome(campaign):
    y = campaign.y.copy()
    y[:4] = np.nan
    with pytest.raises(tg.SchemaError, match=r"4 missing outcome\(s\)"):
        tg.UpliftModel("t").fit(campaign.X, y, campaign.treatment)


def test_uplift_fit_infinite_outcome(campaign):
    y = campaign.y.copy()
    y[:2] = np.inf
    with pytest.raises(tg.SchemaError, match=r"2 infinite outcome\(s\)"):
        tg.UpliftModel("t").fit(campaign.X, y, campaign.treatment)


def test_uplift_fit_no_control(campaign):
    arm = np.where(campaign.treatment == "control", "push", campaign.treatment)
    with pytest.raises(tg.SchemaError, match="no control users"):
        tg.UpliftModel("t").fit(campaign.X, campaign.y, arm)


def test_uplift_predict_missing_feature(uplift, campaign):
    with pytest.raises(tg.SchemaError, match=r"X lacks 1 feature\(s\) the model was fitted on"):
        uplift.predict(campaign.X.drop(columns=campaign.X.columns[0]))


def test_uplift_misspelled_keyword():
    with pytest.raises(TypeError, match=r"did you mean 'learning_rate'\?"):
        tg.UpliftModel(learning_rat=0.1)


def test_campaign_report_unknown_campaign(small_world):
    with pytest.raises(tg.SchemaError, match="campaign 'nope' not found"):
        tg.campaign_report(small_world.tables, "nope")


def test_campaign_report_confidence_out_of_range(small_world):
    with pytest.raises(ValueError, match="confidence must be between 0 and 1"):
        tg.campaign_report(small_world.tables, small_world.campaign_id, confidence=95)


def test_campaign_report_unknown_outcome(small_world):
    with pytest.raises(tg.SchemaError, match="no outcome column 'zz'"):
        tg.campaign_report(small_world.tables, small_world.campaign_id, outcomes=["zz"])


def test_plan_campaign_negative_budget(uplift, campaign):
    with pytest.raises(ValueError, match="budget"):
        tg.plan_campaign(uplift, campaign.X, budget=-5, cost_per_contact=1.0)


def test_plan_campaign_zero_cost(uplift, campaign):
    with pytest.raises(ValueError, match="cost_per_contact"):
        tg.plan_campaign(uplift, campaign.X, budget=100, cost_per_contact=0)


# -- adapters: from_transactions, from_campaign, read_tables ------------------------------------
LOG = pd.DataFrame({"cust": [1, 1, 2, 3], "date": ["2024-01-01", "2024-02-01", "2024-01-05",
                                                   "2024-03-01"], "usd": [1.0, 2.0, 3.0, 4.0]})
TX_CASES = {
    "inf amount": (dict(frame=LOG.assign(usd=[1.0, np.inf, 3.0, 4.0])),
                   r"transactions\.usd: 1 infinite value\(s\)"),
    "text in amount": (dict(frame=LOG.assign(usd=["1", "x", "3", "4"])),
                       r"transactions\.usd: 1 value\(s\) are not numbers, e.g\. 'x'"),
    # Negative amounts are returns and rows without a customer id are dropped (counted in the
    # summary, tests/test_transactions.py); what stays an error is input that cannot be read.
    "ambiguous dates": (dict(frame=LOG.assign(date=["01/02/2024"] * 4)),
                        r"transactions\.date: times must be datetimes or ISO 8601 text"),
    "missing time": (dict(frame=LOG.assign(date=["2024-01-01", None, "2024-01-05",
                                                 "2024-03-01"])),
                     r"transactions\.date: 1 missing time\(s\)"),
    "amount and unit price": (dict(unit_price="usd", amount="usd"),
                              "give amount= .* or unit_price= .*, not both"),
    "unknown returns policy": (dict(returns="keep"),
                               r"returns='keep'; expected one of \['net', 'drop'\]"),
    "order shared by customers": (dict(order="order", frame=LOG.assign(order=[7, 8, 7, 9])),
                                  r"transactions\.order: 1 order id\(s\) belong to more than "
                                  "one customer"),
    "order id missing": (dict(order="order", frame=LOG.assign(order=["a", None, "b", "c"])),
                         r"transactions\.order: 1 line\(s\) of identified customers have no "
                         "order id"),
    "prefix without orders": (dict(cancel_prefix="C"),
                              "cancel_prefix= marks order ids: give order= too"),
    "status number": (dict(cancelled="flag", frame=LOG.assign(flag=[0, 1, 2, 0])),
                      "a cancellation column holds bool, 0/1 or status text"),
    "misnamed column": (dict(user="customer"), r"no column 'customer' \(given as user=\)"),
    "not a frame": (dict(frame={"cust": [1]}), "expected a pandas DataFrame, got dict"),
    "no rows": (dict(frame=LOG.iloc[:0]), "the log has no rows"),
}


@pytest.mark.parametrize("case", list(TX_CASES))
def test_from_transactions_names_the_problem(case):
    kwargs, phrase = TX_CASES[case]
    kwargs = {"frame": LOG, "user": "cust", "ts": "date", "amount": "usd", "verbose": False,
              **kwargs}
    with pytest.raises(tg.SchemaError, match=phrase):
        tg.from_transactions(kwargs.pop("frame"), **kwargs)


FLAT = pd.DataFrame({"id": range(6), "seg": ["c", "t"] * 3, "conv": [0, 1, 0, 0, 1, 1],
                     "spend": [0, 1.0, 0, 0, 2, 3]})
CAMPAIGN_CASES = {
    "unknown arm column": (dict(treatment="segment"),
                           r"column\(s\) \['segment'\] not in the frame"),
    "control not an arm": (dict(control="x"), r"control='x' is not among the arms"),
    "non-binary outcome": (dict(frame=FLAT.assign(conv=[0, 2, 0, 0, 1, 1])),
                           "a binary outcome must be bool or 0/1, found"),
    "duplicate users": (dict(frame=FLAT.assign(id=[0, 0, 1, 2, 3, 4])),
                        "2 rows share a user id"),
    "negative revenue": (dict(frame=FLAT.assign(spend=[-1, 1.0, 0, 0, 2, 3])),
                         r"1 negative amount\(s\)"),
    "infinite revenue": (dict(frame=FLAT.assign(spend=[np.inf, 1.0, 0, 0, 2, 3])),
                         r"campaign\.revenue: 1 infinite value\(s\)"),
    "ambiguous send date": (dict(sent_at="03/01/2008"),
                            r"sent_at='03/01/2008' is neither a column nor a date: sent_at "
                            r"'03/01/2008' is not an ISO 8601 date"),
    "ambiguous send dates column": (dict(frame=FLAT.assign(when=["03/01/2008"] * 6),
                                         sent_at="when"), r"when: not readable as dates"),
}


@pytest.mark.parametrize("case", list(CAMPAIGN_CASES))
def test_from_campaign_names_the_problem(case):
    kwargs, phrase = CAMPAIGN_CASES[case]
    kwargs = {"frame": FLAT, "user": "id", "treatment": "seg", "control": "c", "outcome": "conv",
              "revenue": "spend", **kwargs}
    with pytest.raises(tg.SchemaError, match=phrase):
        tg.from_campaign(kwargs.pop("frame"), **kwargs)


def test_a_log_with_no_customer_left_says_what_happened():
    with pytest.raises(tg.InsufficientDataError, match="no order left in the log: 4 lines -> 0 "
                       "orders of 0 customers; 4 lines without a customer id dropped"):
        tg.from_transactions(LOG.assign(cust=None), user="cust", ts="date", verbose=False)


def test_read_tables_unknown_mapping_key(tmp_path):
    LOG.to_csv(tmp_path / "log.csv", index=False)
    with pytest.raises(tg.SchemaError,
                       match=r"unknown key\(s\) \['customer'\] in \[transactions\]"):
        tg.read_tables(tmp_path / "log.csv", {"transactions": {"user": "cust", "ts": "date",
                                                               "customer": "cust"}})


def test_read_tables_missing_path(tmp_path):
    with pytest.raises(tg.SchemaError, match="no such file or folder"):
        tg.read_tables(tmp_path / "nowhere")


def test_read_tables_misnamed_file(tmp_path, small_world):
    small_world.tables["orders"].head(10).to_parquet(tmp_path / "order.parquet")
    with pytest.raises(tg.SchemaError, match="no contract tables found"):
        tg.read_tables(tmp_path)


def test_read_tables_log_without_mapping(tmp_path):
    LOG.to_csv(tmp_path / "log.csv", index=False)
    with pytest.raises(tg.SchemaError, match="is a single file: give a mapping"):
        tg.read_tables(tmp_path / "log.csv")


def test_read_tables_broken_toml(tmp_path):
    LOG.to_csv(tmp_path / "log.csv", index=False)
    (tmp_path / "m.toml").write_text("[transactions\nuser=")
    with pytest.raises(tg.SchemaError, match=r"mapping .*m\.toml: could not read it"):
        tg.read_tables(tmp_path / "log.csv", tmp_path / "m.toml", verbose=False)


# -- attribution -------------------------------------------------------------------------------
def test_journeys_without_touchpoints(small_world):
    with pytest.raises(tg.SchemaError, match="missing table 'touchpoints'"):
        tg.journeys({"conversions": small_world.tables["conversions"]})


def test_journeys_string_conversion_value(small_world):
    tables = _with(small_world.tables, "conversions", lambda c: c.assign(value=c.value.astype(str)))
    with pytest.raises(tg.SchemaError, match=r"conversions\.value: expected a numeric dtype"):
        tg.journeys(tables)


def test_journeys_tz_aware_and_naive(small_world):
    tables = _with(small_world.tables, "conversions",
                   lambda c: c.assign(ts=c.ts.dt.tz_localize("UTC")))
    with pytest.raises(tg.SchemaError, match="timestamps mix time zones"):
        tg.journeys(tables)


def test_journeys_user_id_types_differ(small_world):
    tables = _with(small_world.tables, "conversions",
                   lambda c: c.assign(user_id=c.user_id.astype(str)))
    with pytest.raises(tg.SchemaError, match="user_id has different types across tables"):
        tg.journeys(tables)


def test_journeys_of_a_dataframe_points_to_journeys_from_paths(small_world):
    with pytest.raises(tg.SchemaError, match=r"use tg\.journeys_from_paths"):
        tg.journeys(small_world.tables["touchpoints"])


PATHS = pd.DataFrame({"path": ["a > b", "b"], "conv": [1, 2], "value": [1.0, 2.0],
                      "nulls": [3, 4]})


@pytest.mark.parametrize("change, phrase", [
    (dict(conv=["1", "x"]), r"'conv' \(conversions\) must be numeric"),
    (dict(conv=[-1, 2]), r"'conv' \(conversions\): 1 negative value\(s\)"),
    (dict(conv=[np.nan, 2]), r"'conv' \(conversions\): 1 missing value\(s\)"),
    (dict(value=[np.inf, 2.0]), r"'value' \(value\): 1 infinite value\(s\)"),
])
def test_journeys_from_paths_names_the_problem(change, phrase):
    with pytest.raises(tg.SchemaError, match=phrase):
        tg.journeys_from_paths(PATHS.assign(**change), path="path", conversions="conv",
                               value="value", nulls="nulls", sep=">")


def test_attribute_unknown_method(small_world):
    with pytest.raises(ValueError, match="unknown method 'markof'"):
        tg.attribute(tg.journeys(small_world.tables), "markof")


def test_attribute_not_journeys():
    with pytest.raises(tg.SchemaError, match="expected a dict of the touchpoints and "
                                             "conversions tables"):
        tg.attribute(42)


# -- the command line: exit 2, the problem named, no traceback --------------------------------
@pytest.fixture(scope="module")
def data_folder(tmp_path_factory, small_world):
    folder = tmp_path_factory.mktemp("bad-input-data")
    for name, frame in small_world.tables.items():
        frame.to_parquet(folder / f"{name}.parquet")
    return folder


def _cli(capsys, *argv) -> tuple[int, str]:
    code = cli_main([str(a) for a in argv])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("argv, phrase", [
    (["--as-of", "09/10/2026"], "as_of '09/10/2026' is not an ISO 8601 date"),
    (["--as-of", "2026-08-01", "--category", "snackz"], "unknown category 'snackz'"),
])
def test_cli_train_data_errors(store, capsys, data_folder, argv, phrase):
    code, err = _cli(capsys, "train", "--data", data_folder, *argv)
    assert code == 2 and phrase in err and "Traceback" not in err


def test_cli_train_negative_horizon(store, capsys, data_folder):
    with pytest.raises(SystemExit) as info:
        cli_main(["train", "--data", str(data_folder), "--horizon-days", "-3"])
    err = capsys.readouterr().err
    assert info.value.code == 2 and "must be at least 1 day, got -3" in err


def test_cli_score_unknown_model(store, capsys, data_folder, tmp_path):
    code, err = _cli(capsys, "score", "--data", data_folder, "--model", "models:/nope@champion",
                     "--out", tmp_path / "s.csv")
    assert code == 2 and "model 'models:/nope@champion' not found" in err
    assert "Traceback" not in err


def test_cli_score_process_prints_no_traceback(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MLFLOW_TRACKING_URI":
           f"sqlite:///{tmp_path / 'mlflow.db'}"}
    done = subprocess.run([sys.executable, "-m", "targeting.cli", "score", "--data",
                           str(tmp_path / "missing"), "--out", str(tmp_path / "s.csv")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "no such file or folder" in done.stderr and "Traceback" not in done.stderr


def test_cli_run_experiment_with_ambiguous_as_of(store, capsys, tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text('[experiment]\nname = "bad"\n[data]\nsource = "demo"\nn_users = 1000\n'
                      'as_of = "09/10/2026"\n[target]\ncategory = "snacks"\n')
    code, err = _cli(capsys, "run", config, "--no-progress")
    assert code == 2 and "as_of '09/10/2026' is not an ISO 8601 date" in err
    assert "Traceback" not in err
