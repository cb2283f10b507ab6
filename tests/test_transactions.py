"""Transaction logs as they come (tests/data/README.md): UCI Online Retail's invoice lines with
cancellations and anonymous lines, CDNOW's one row per purchase day, BTYDplus groceryElog's
customer and date only. Every expected count is computed here from the raw file with plain
pandas, and the returns netting is checked against a plain stack (last in, first out) walked
one return at a time, an implementation independent of the package's vectorised one."""

from __future__ import annotations

import tomllib

import matplotlib
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import targeting as tg
from targeting.data.mapping import write_mapping_template

matplotlib.use("Agg")

DATA = __import__("pathlib").Path(__file__).parent / "data"
RETAIL = DATA / "online_retail_sample.csv.gz"
RETAIL_COLUMNS = dict(user="CustomerID", ts="InvoiceDate", order="InvoiceNo",
                      quantity="Quantity", unit_price="UnitPrice", region="Country")


# -- an independent reference: returns netted one at a time against a stack ----------------
def stack_netting(lines: pd.DataFrame) -> tuple[pd.Series, float]:
    """What remains of each (user, order, category) after the returns, and the returns' value
    that found no earlier purchase. ``lines``: user, order, category, ts, row and ``value``
    (sales positive, returns negative)."""
    keys = ["user", "order", "category"]
    groups = lines.assign(sale=lines["value"] > 0).groupby(keys, sort=False).agg(
        net=("value", "sum"), ts=("ts", "min"), row=("row", "min"), sale=("sale", "any"))
    groups = groups.assign(back=groups["net"] < 0).reset_index().sort_values(
        ["user", "category", "ts", "back", "row"])
    left = dict.fromkeys(range(len(groups)), 0.0)
    unmatched, stack, owner = 0.0, [], None
    for i, (user, category, net, sale) in enumerate(zip(
            groups["user"], groups["category"], groups["net"], groups["sale"], strict=True)):
        if (user, category) != owner:  # a new customer and category: a new stack
            stack, owner = [], (user, category)
        if net > 0 and sale:
            left[i] = net
            stack.append(i)
            continue
        need = -net
        while need > 1e-9 and stack:
            take = min(need, left[stack[-1]])
            left[stack[-1]] -= take
            need -= take
            if left[stack[-1]] <= 1e-9:
                left[stack.pop()] = 0.0
        unmatched += max(need, 0.0)
    remaining = pd.Series(list(left.values()), index=pd.MultiIndex.from_frame(groups[keys]))
    return remaining[remaining.to_numpy() > 1e-6], unmatched


def retail_truth(log: pd.DataFrame) -> dict:
    """Counts and per-invoice net amounts of the UCI sample, by the stated policy."""
    known = log[log["CustomerID"].notna()]
    quantity = pd.to_numeric(known["Quantity"])
    price = pd.to_numeric(known["UnitPrice"])
    value = (quantity * price).to_numpy()
    zero = value == 0
    negative = ((quantity < 0) | (price < 0)).to_numpy() & ~zero
    cancel = known["InvoiceNo"].str.startswith("C").to_numpy()
    sale = ~zero & ~negative & ~cancel
    lines = pd.DataFrame({"user": known["CustomerID"].to_numpy(),
                          "order": known["InvoiceNo"].to_numpy(), "category": "all",
                          "ts": pd.to_datetime(known["InvoiceDate"]).to_numpy(),
                          "row": np.arange(len(known)),
                          "value": np.where(sale, np.abs(value), -np.abs(value))})
    remaining, unmatched = stack_netting(lines[sale | negative])
    amounts = pd.Series(remaining.to_numpy(), index=remaining.index.get_level_values("order"))
    gross = lines[sale].groupby("order")["value"].sum()  # each invoice's sales
    left = amounts.reindex(gross.index).fillna(0.0)
    # An invoice of zero-price lines only is a free order: kept, with amount 0.
    free = lines[zero].groupby("order")["user"].first()
    free = free[~free.index.isin(lines.loc[~zero, "order"])]
    users = set(remaining.index.get_level_values("user")) | set(free)
    amounts = pd.concat([amounts, pd.Series(0.0, index=free.index)])
    return {"anonymous": int(log["CustomerID"].isna().sum()), "returns": int(negative.sum()),
            "zero_price": int(zero.sum()), "cancelled": int((~zero & ~negative & cancel).sum()),
            "orders": len(amounts), "free_orders": len(free), "customers": len(users),
            "fully_returned": int((left == 0).sum()),
            "netted_orders": int((gross - left > 1e-6).sum()),
            "unmatched_value": unmatched, "amounts": amounts}


@pytest.fixture(scope="module")
def retail():
    return pd.read_csv(RETAIL, dtype=str)  # as the command line reads a log


@pytest.fixture(scope="module")
def truth(retail):
    return retail_truth(retail)


# -- the UCI Online Retail sample: invoice lines, cancellations, anonymous lines ------------
def test_one_call_turns_invoice_lines_into_orders_by_the_declared_policy(retail, truth):
    tables = tg.from_transactions(retail, **RETAIL_COLUMNS, verbose=False)
    orders, counts = tables["orders"], tables.intake.counts
    tg.validate(tables)
    assert counts["lines"] == len(retail)
    for key in ("anonymous", "returns", "zero_price", "cancelled", "orders", "free_orders",
                "customers", "fully_returned", "netted_orders"):
        assert counts[key] == truth[key], key
    assert counts["unmatched_value"] == pytest.approx(truth["unmatched_value"])
    assert counts["adjustments"] == 0  # the two "Adjust bad debt" lines have no customer id
    amounts = orders.set_index("order_id")["amount"]
    assert set(amounts.index) == set(truth["amounts"].index)
    np.testing.assert_allclose(amounts.reindex(truth["amounts"].index), truth["amounts"],
                               rtol=1e-9, atol=1e-6)
    assert (orders["amount"] >= 0).all() and (orders["quantity"] >= 1).all()
    # The summary says it in words, with the detected cancellation prefix.
    text = str(tables.intake)
    assert text.startswith(f"{len(retail):,} lines -> {truth['orders']:,} orders of "
                           f"{truth['customers']:,} customers; {truth['anonymous']:,} lines "
                           "without a customer id dropped")
    assert "order ids starting with 'C'" in text


def test_init_mapping_then_read_tables_needs_no_hand_edit(tmp_path, retail, truth):
    text = write_mapping_template(RETAIL)
    mapping = tomllib.loads(text)  # valid TOML as written
    assert mapping["transactions"] == {k: v for k, v in RETAIL_COLUMNS.items()}
    assert "TOML for `targeting train --data online_retail_sample.csv.gz --mapping" in text
    negative = int((pd.to_numeric(retail["Quantity"]) < 0).sum())
    assert f'# returns = "net"   # {negative:,} rows with quantity < 0' in text
    assert f"# {retail['CustomerID'].isna().sum():,} rows without a customer id will be " \
           "dropped" in text
    assert '# cancel_prefix = "C"' in text
    (tmp_path / "mapping.toml").write_text(text)
    tables = tg.read_tables(RETAIL, tmp_path / "mapping.toml", verbose=False)
    direct = tg.from_transactions(retail, **RETAIL_COLUMNS, verbose=False)
    pd.testing.assert_frame_equal(tables["orders"], direct["orders"])
    assert tables.intake.counts["orders"] == truth["orders"]


def test_drop_keeps_every_paid_invoice_whole(retail):
    tables = tg.from_transactions(retail, **RETAIL_COLUMNS, returns="drop", verbose=False)
    known = retail[retail["CustomerID"].notna()]
    value = pd.to_numeric(known["Quantity"]) * pd.to_numeric(known["UnitPrice"])
    kept = known[(value >= 0) & (pd.to_numeric(known["Quantity"]) > 0)
                 & ~known["InvoiceNo"].str.startswith("C")]  # free (zero-price) orders kept
    expected = (pd.to_numeric(kept["Quantity"]) * pd.to_numeric(kept["UnitPrice"])).groupby(
        kept["InvoiceNo"]).sum()
    amounts = tables["orders"].set_index("order_id")["amount"]
    assert set(amounts.index) == set(expected.index)
    np.testing.assert_allclose(amounts.reindex(expected.index), expected, rtol=1e-9)
    assert "return lines dropped (their orders kept whole)" in str(tables.intake)


# -- CDNOW and groceryElog: one row per purchase day ------------------------------------------
@pytest.mark.parametrize("name", ["cdnow_master.csv.gz", "grocery_elog.csv.gz"])
def test_day_level_logs_through_init_mapping(tmp_path, name):
    raw = pd.read_csv(DATA / name, dtype=str)
    text = write_mapping_template(DATA / name)
    (tmp_path / "mapping.toml").write_text(text)
    tables = tg.read_tables(DATA / name, tmp_path / "mapping.toml", verbose=False)
    orders, counts = tables["orders"], tables.intake.counts
    columns = tomllib.loads(text)["transactions"]  # the same in one call from Python
    direct = tg.from_transactions(raw, **columns, verbose=False)
    pd.testing.assert_frame_equal(orders, direct["orders"])
    if name.startswith("cdnow"):
        # $0 rows are free orders: kept (amount 0), so the cohort keeps its 23,570 customers.
        free = int((pd.to_numeric(raw["dollars"]) == 0).sum())
        assert counts["zero_price"] == counts["free_orders"] == free > 0
        assert orders["amount"].sum() == pytest.approx(pd.to_numeric(raw["dollars"]).sum())
        user = "customer_id"
    paid, user = raw, (user if name.startswith("cdnow") else "cust")
    assert len(orders) == counts["orders"] == len(paid)
    assert orders["shop_id"].nunique() == counts["customers"] == paid[user].nunique()
    assert counts["anonymous"] == counts["returns"] == 0
    assert orders["order_id"].tolist() == (paid.index + 1).tolist()  # one order per row


# -- line-level behaviour on small logs ------------------------------------------------------
LINES = pd.DataFrame({
    "inv": ["1", "1", "1", "2", "3", "3", "4"],
    "cust": ["a", "a", "a", "a", "b", "b", "a"],
    "when": ["2024-01-02 10:00", "2024-01-02 10:00", "2024-01-02 10:01", "2024-02-01",
             "2024-01-05", "2024-01-05", "2024-03-01"],
    "dept": ["toys", "toys", "books", "toys", "toys", "toys", "books"],
    "qty": ["2", "1", "1", "-1", "1", "1", "3"],
    "price": ["5.0", "3.0", "12.0", "5.0", "0", "0", "2.0"],
    "status": ["Shipped", "Shipped", "Shipped", "Shipped", "Shipped", "Shipped", "Cancelled"],
})


def test_an_order_spanning_categories_is_one_order_with_a_row_per_category():
    tables = tg.from_transactions(LINES, user="cust", ts="when", order="inv", category="dept",
                                  quantity="qty", unit_price="price", cancelled="status",
                                  verbose=False)
    orders = tables["orders"]
    tg.validate(tables)  # the key is (order_id, category)
    # Toys: 13 less the 5 that order 2 returned (a return on its own order changes the amount
    # of the order it offsets, not its units); books: 12.
    # Order 3 (zero-price lines only) is a free order: kept with amount 0; order 4 (cancelled).
    assert orders[["order_id", "category", "amount", "quantity"]].values.tolist() == [
        ["1", "toys", 8.0, 3], ["1", "books", 12.0, 1], ["3", "toys", 0.0, 1]]
    counts = tables.intake.counts
    assert (counts["orders"], counts["rows"], counts["customers"]) == (2, 3, 2)
    assert counts["zero_price"] == 2 and counts["cancelled"] == 1
    assert counts["free_orders"] == 1 and counts["unpaid_orders"] == 1
    assert counts["netted_orders"] == 1
    features = tg.build_features(tables, "2024-04-01", builders=("purchase",))
    row = features.loc["a"]
    assert row["pur_orders"] == 1 and row["pur_amount"] == 20.0 and row["pur_avg_amount"] == 20.0
    assert row["pur_n_toys"] == 1 and row["pur_n_books"] == 1 and row["pur_orders_90d"] == 1


def test_a_negative_price_adjustment_offsets_earlier_purchases():
    log = pd.DataFrame({"cust": ["a", "a", "a"], "day": ["2024-01-01", "2024-01-05",
                                                         "2024-01-09"],
                        "inv": ["1", "2", "A3"], "qty": [1, 1, 1], "price": [10.0, 4.0, -6.0]})
    tables = tg.from_transactions(log, user="cust", ts="day", order="inv", quantity="qty",
                                  unit_price="price", verbose=False)
    # Last in, first out: the 6 take order 2 (4) whole, then 2 of order 1.
    assert tables["orders"][["order_id", "amount"]].values.tolist() == [["1", 8.0]]
    counts = tables.intake.counts
    assert counts["adjustments"] == 1 and counts["fully_returned"] == 1
    assert "adjustment line (negative price)" in str(tables.intake)


def test_a_given_prefix_cancels_its_orders_and_drop_keeps_the_rest_whole():
    log = pd.DataFrame({"cust": ["a"] * 4, "day": ["2024-01-01", "2024-01-02", "2024-01-03",
                                                   "2024-01-04"],
                        "inv": ["1", "X2", "3", "4"], "spend": [10.0, 4.0, 6.0, -6.0]})
    net = tg.from_transactions(log, user="cust", ts="day", order="inv", amount="spend",
                               cancel_prefix="X", verbose=False)
    # X2 is a cancelled sale (the order did not happen); order 4 returns order 3 in full.
    assert net["orders"][["order_id", "amount"]].values.tolist() == [["1", 10.0]]
    assert (net.intake.counts["cancelled"], net.intake.counts["fully_returned"]) == (1, 1)
    drop = tg.from_transactions(log, user="cust", ts="day", order="inv", amount="spend",
                                cancel_prefix="X", returns="drop", verbose=False)
    assert drop["orders"][["order_id", "amount"]].values.tolist() == [["1", 10.0], ["3", 6.0]]
    assert drop.intake.counts["returns"] == 1 and drop.intake.counts["fully_returned"] == 0


def test_a_return_before_any_purchase_is_dropped_and_counted():
    log = pd.DataFrame({"cust": [1, 1], "day": ["2024-01-01", "2024-02-01"],
                        "spend": [-7.5, 20.0]})
    tables = tg.from_transactions(log, user="cust", ts="day", amount="spend", verbose=False)
    assert tables["orders"]["amount"].tolist() == [20.0]
    assert tables.intake.counts["unmatched_value"] == 7.5
    assert "1 return worth 7.50 matched no earlier purchase" in str(tables.intake)


def test_without_amounts_returns_net_in_units():
    log = pd.DataFrame({"cust": ["a", "a", "a"], "day": ["2024-01-01", "2024-01-02",
                                                         "2024-01-03"], "n": [2, 3, -4]})
    tables = tg.from_transactions(log, user="cust", ts="day", quantity="n", verbose=False)
    assert tables["orders"][["order_id", "quantity", "amount"]].values.tolist() == [[1, 1, 0.0]]
    assert tables.intake.basis == "quantity"


def test_region_is_read_and_its_fate_said(retail):
    tables = tg.from_transactions(retail.head(2_000), **RETAIL_COLUMNS, verbose=False)
    needs = [c.name for c in tg.CONTRACTS["users"].columns
             if c.required and not c.nullable and c.name not in ("user_id", "region")]
    if needs:  # the users contract wants profile columns a log does not have
        assert "users" not in tables and "region: read, but not used" in str(tables.intake)
    else:
        users = tables["users"]
        known = retail.head(2_000).dropna(subset=["CustomerID"])
        top = known.groupby("CustomerID")["Country"].agg(lambda s: s.value_counts().index[0])
        assert users.set_index("user_id")["region"].to_dict() == top.to_dict()


def test_the_report_is_a_result_object(retail):
    intake = tg.from_transactions(retail.head(5_000), **RETAIL_COLUMNS, verbose=False).intake
    assert isinstance(intake, tg.IntakeReport)
    assert intake.table.loc["lines", "count"] == 5_000
    assert "lines without a customer id" in intake._repr_html_()
    assert isinstance(intake.plot(), matplotlib.figure.Figure)


def test_verbose_prints_the_summary(capsys):
    tg.from_transactions(LINES, user="cust", ts="when", order="inv", quantity="qty",
                         unit_price="price")
    out = capsys.readouterr().out
    assert out.startswith("from_transactions: 7 lines -> 3 orders of 2 customers;")


# -- properties of the netting -----------------------------------------------------------------
@st.composite
def line_logs(draw):
    """Small logs of sales and returns: several customers, two categories, returns on their
    own orders or inside a sale's order, amounts in whole cents."""
    n = draw(st.integers(1, 30))
    rows = []
    for i in range(n):
        back = draw(st.booleans()) and draw(st.booleans())
        rows.append({"cust": draw(st.sampled_from(["a", "b", "c"])),
                     "inv": draw(st.sampled_from([f"o{i}", f"o{i}", f"o{max(i - 1, 0)}"])),
                     "cat": draw(st.sampled_from(["x", "y"])),
                     "day": draw(st.integers(0, 20)),
                     "qty": -draw(st.integers(1, 4)) if back else draw(st.integers(1, 4)),
                     "cents": draw(st.integers(1, 2_000))})
    log = pd.DataFrame(rows)
    # An order id belongs to one customer: the first line's.
    log["cust"] = log.groupby("inv")["cust"].transform("first")
    log["day"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(log["day"], unit="D")
    log["price"] = log["cents"] / 100
    return log


@settings(max_examples=100, deadline=None)
@given(line_logs())
def test_netting_conserves_money_and_keeps_every_net_buyer(log):
    if not (log["qty"] > 0).any():
        return
    try:
        tables = tg.from_transactions(log, user="cust", ts="day", order="inv", category="cat",
                                      quantity="qty", unit_price="price", verbose=False)
    except tg.InsufficientDataError:
        tables = None
    value = log["qty"] * log["price"]
    lines = pd.DataFrame({"user": log["cust"], "order": log["inv"], "category": log["cat"],
                          "ts": log["day"], "row": np.arange(len(log)), "value": value})
    remaining, unmatched = stack_netting(lines)
    if tables is None:
        assert remaining.empty
        return
    orders = tables["orders"]
    assert (orders["amount"] > 0).all()  # never a negative (or zero) order
    # Money is conserved: what is kept is the sales less the returns that found a purchase.
    returned = -value[value < 0].sum()
    matched = returned - tables.intake.counts["unmatched_value"]
    assert orders["amount"].sum() == pytest.approx(value[value > 0].sum() - matched, abs=1e-6)
    # Order by order, the same as returns netted one at a time against a stack.
    got = orders.set_index(["shop_id", "order_id", "category"])["amount"].sort_index()
    np.testing.assert_allclose(got.to_numpy(), remaining.sort_index().to_numpy(), atol=1e-6)
    assert tables.intake.counts["unmatched_value"] == pytest.approx(unmatched, abs=1e-6)
    # A customer whose purchases in a category exceed their returns there keeps an order.
    net = value.groupby([log["cust"], log["cat"]]).sum()
    for cust in net[net > 1e-6].index.get_level_values(0).unique():
        assert cust in set(orders["shop_id"])
