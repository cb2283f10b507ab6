"""Propensity on a real purchase log: CDNOW (tests/data/README.md), against the classic
baselines a practitioner would use there, on the customers' holdout windows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import targeting as tg
from targeting.data.schema import InsufficientDataError

AS_OF = "1998-01-01"  # one year of the 1997 cohort's history before, six months after


@pytest.fixture(scope="module")
def fitted(cdnow_tables):
    return {h: tg.PropensityModel(None, horizon_days=h, progress=False).fit(cdnow_tables, AS_OF)
            for h in (30, 90)}


@pytest.mark.parametrize("horizon", [30, 90])
def test_the_model_beats_every_baseline_on_the_holdout(cdnow_tables, fitted, horizon):
    evaluation = tg.evaluate(fitted[horizon], cdnow_tables, AS_OF)
    table = evaluation.baselines
    assert set(table.index) == {"recency", "frequency", "rfm", "bgnbd"}
    # Measured (as_of 1998-01-01, benchmarks/real_data.py): 30 days model 0.8125 against the
    # best baseline's 0.8099 (frequency); 90 days 0.8018 against 0.8002 (RFM). At least a match:
    # the paired AUC difference on 23,502 customers has a standard error of about 0.002.
    assert evaluation.metrics["auc"] >= table["auc"].max() - 0.003, evaluation.table


def test_only_customers_who_exist_at_as_of_are_evaluated_and_notes_stay_honest(
        cdnow_tables, fitted):
    orders = cdnow_tables["orders"]
    as_of = pd.Timestamp(AS_OF)
    first = orders.groupby("shop_id").ts.min()
    model = fitted[30]
    evaluation = tg.evaluate(model, cdnow_tables, AS_OF)
    existing = first.index[first < as_of]
    window = orders[(orders.ts >= as_of) & (orders.ts < as_of + pd.Timedelta(days=30))]
    assert evaluation.metrics["positive_rate"] == pytest.approx(
        window.shop_id[window.shop_id.isin(existing)].nunique() / len(existing))
    scores = tg.score(cdnow_tables, model, AS_OF)
    # "no history" only for customers with no record at all before as_of (all of CDNOW's
    # customers joined in early 1997, so nobody here).
    assert set(scores.user_id[scores.note != ""]) == set(first.index[first >= as_of])
    assert len(scores) == orders.shop_id.nunique()


def test_deciles_at_scoring_time_hold_ten_percent_each(cdnow_tables, fitted):
    model = fitted[90]
    scores = tg.score(cdnow_tables, model, AS_OF, drift=True)
    existing = scores[scores.note == ""]
    shares = existing.decile.value_counts(normalize=True)
    assert shares.between(0.05, 0.15).all(), shares.sort_index()
    assert scores.attrs["drift"].score_psi < 0.1  # same population as the cut points


def test_a_horizon_longer_than_the_history_names_what_would_fit(cdnow_tables):
    with pytest.raises(InsufficientDataError) as err:
        tg.PropensityModel(None, horizon_days=400).fit(cdnow_tables, AS_OF)
    text = str(err.value)
    assert "365 days of history before as_of=1998-01-01 (from 1997-01-01)" in text
    assert "needs at least 460" in text
    assert "The longest horizon that fits is 305 days" in text


def test_an_evaluation_window_past_the_data_is_refused(cdnow_tables, fitted):
    with pytest.raises(InsufficientDataError, match="after the data"):
        tg.evaluate(fitted[90], cdnow_tables, "1998-05-01")


def test_the_adapter_needs_no_glue(cdnow_log):
    tables = tg.from_transactions(cdnow_log, user="customer_id", ts="date", amount="dollars",
                                  verbose=False)
    orders = tables["orders"]
    tg.validate(tables)
    # One order per row; the 80 rows of $0 are free orders, kept with amount 0 (counted in the
    # summary): the cohort keeps its 23,570 customers.
    free = int((cdnow_log.dollars == 0).sum())
    assert len(orders) == len(cdnow_log) == 69_659
    assert tables.intake.counts["zero_price"] == tables.intake.counts["free_orders"] == free
    assert orders.shop_id.nunique() == 23_570
    assert orders.shop_id.iloc[0] == "00001"  # string ids stay strings
    assert np.isclose(orders.amount.sum(), cdnow_log.dollars.sum())


def test_the_brands_own_order_channels_become_features(cdnow_log):
    # Real logs name their own channels ("online", "store", ...): they are kept, and the
    # pipeline learns them (the package's four first, so the demo world's columns never move).
    log = cdnow_log.head(6_000).assign(
        channel=np.where(np.arange(6_000) % 3 == 0, "Store ", "online"))
    tables = tg.from_transactions(log, user="customer_id", ts="date", amount="dollars",
                                  channel="channel", verbose=False)
    assert set(tables["orders"].channel) == {"store", "online"}
    as_of = tables["orders"].ts.max() + pd.Timedelta(days=1)
    pipe = tg.FeaturePipeline(builders=("purchase",)).fit(tables, as_of)
    assert pipe.channels_ == ["app", "web", "mini_program", "group_referral", "online", "store"]
    features = pipe.transform(tables, as_of)
    buyers = features.pur_orders.notna()
    share = features.loc[buyers, ["pur_share_online", "pur_share_store"]].sum(axis=1)
    np.testing.assert_allclose(share, 1.0)  # every order is in one of the two channels
    assert features.loc[buyers, "pur_share_web"].eq(0).all()


def test_a_duckdb_database_reads_as_tables_or_through_a_query(tmp_path, cdnow_log):
    import duckdb

    database = tmp_path / "brand.duckdb"
    log = cdnow_log.head(5_000)
    with duckdb.connect(str(database)) as con:
        con.register("log", log)
        con.execute("CREATE TABLE sales AS SELECT * FROM log")
    mapping = {"source": {"query": "SELECT * FROM sales WHERE dollars > 0"},
               "transactions": {"user": "customer_id", "ts": "date", "amount": "dollars"}}
    tables = tg.read_tables(database, mapping, verbose=False)
    expected = tg.from_transactions(log[log.dollars > 0], user="customer_id", ts="date",
                                    amount="dollars", verbose=False)
    pd.testing.assert_frame_equal(
        tables["orders"].sort_values("order_id").reset_index(drop=True),
        expected["orders"].sort_values("order_id").reset_index(drop=True), check_dtype=False)
    # A database holding the contract tables themselves: read by name, features as from frames.
    world = tg.demo_world(n_users=800, random_state=2)
    with duckdb.connect(str(tmp_path / "world.duckdb")) as con:
        for name in ("identity", "users", "orders"):
            con.register("frame", world.tables[name])
            con.execute(f"CREATE TABLE {name} AS SELECT * FROM frame")
            con.unregister("frame")
    read = tg.read_tables(tmp_path / "world.duckdb")
    assert sorted(read) == ["identity", "orders", "users"]
    from_db = tg.build_features(read, world.as_of)
    from_frames = tg.build_features({n: world.tables[n] for n in read}, world.as_of)
    pd.testing.assert_frame_equal(from_db, from_frames, check_dtype=False)
    with pytest.raises(tg.SchemaError, match="query failed"):
        tg.read_tables(database, {**mapping, "source": {"query": "SELECT * FROM nowhere"}})
