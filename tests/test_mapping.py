"""``targeting init-mapping`` on the header samples of 15 public order logs
(tests/data/headers/SOURCES.md gives each column's role): one role per column, the roles the
sources name, formats and layouts detected, and a mapping that reads the file as written."""

from __future__ import annotations

import tomllib

import pytest

import targeting as tg
from targeting.data.mapping import MAPPING_KEYS, guess_roles, read_log, write_mapping_template

HEADERS = __import__("pathlib").Path(__file__).parent / "data" / "headers"
ROLES = ("user", "order", "ts", "amount", "unit_price", "quantity", "category", "region")

# The roles of SOURCES.md (C user, O order, T ts, A amount, P unit_price, Q quantity,
# K category, R region); a role not listed must not be guessed. Deliberate departures, each
# said once: a product id or code (StockCode, product_id) is not a category; a line total
# beside a unit price and a quantity is offered as a commented alternative, not mapped; a
# price with no quantity column is the line amount; in a file without a header only the time
# is read from the values (ids and amounts cannot be told apart by their values alone), so
# there a role may also be left out (None).
EXPECTED = {
    "online_retail.csv": dict(user="CustomerID", order="InvoiceNo", ts="InvoiceDate",
                              unit_price="UnitPrice", quantity="Quantity", region="Country"),
    "online_retail_ii.csv": dict(user="Customer ID", order="Invoice", ts="InvoiceDate",
                                 unit_price="Price", quantity="Quantity", region="Country"),
    "olist_orders.csv": dict(user="customer_id", order="order_id",
                             ts="order_purchase_timestamp"),
    "instacart_order_products_train.csv": dict(order="order_id"),
    "superstore.csv": dict(user="Customer ID", order="Order ID", ts="Order Date",
                           region="Country/Region", category="Category", amount="Sales",
                           quantity="Quantity"),
    "sales_data_sample.csv": dict(user="CUSTOMERNAME", order="ORDERNUMBER", ts="ORDERDATE",
                                  unit_price="PRICEEACH", quantity="QUANTITYORDERED",
                                  category="PRODUCTLINE", region="COUNTRY"),
    "kpmg_transactions.csv": dict(user="customer_id", order="transaction_id",
                                  ts="transaction_date", amount="list_price",
                                  category="product_line"),
    "retail_data_transactions.csv": dict(user="customer_id", ts="trans_date",
                                         amount="tran_amount"),
    "groceries_dataset.csv": dict(user={None, "column_1"}, ts="column_2",
                                  category={None, "column_3"}),
    "rees46_jewelry.csv": dict(ts="column_1", order={None, "column_2"},
                               quantity={None, "column_4"}, category={None, "column_6"},
                               unit_price={None, "column_8"}, user={None, "column_9"}),
    "cdnow_master.csv": dict(user="customer_id", ts="date", quantity="number_of_cds",
                             amount="dollar_value"),
    "cdnow_sample.csv": dict(user={None, "column_1", "column_2"}, ts="column_3",
                             quantity={None, "column_4"}, amount={None, "column_5"}),
    "hillstrom.csv": dict(amount={"history", "spend"}),
    "apparel_trans.csv": dict(user="Id", ts="Date", amount="Price"),
    "grocery_elog.csv": dict(user="cust", ts="date"),
}
# The date format written (None: ISO 8601, the default); "?" marks a sample that fits day
# first and month first alike (then the line is commented and says so).
FORMATS = {"online_retail.csv": "?", "online_retail_ii.csv": "?",
           "olist_orders.csv": "%m/%d/%Y %H:%M", "superstore.csv": "?",
           "sales_data_sample.csv": "%m/%d/%Y %H:%M", "retail_data_transactions.csv": "%d-%b-%y",
           "rees46_jewelry.csv": "%Y-%m-%d %H:%M:%S %Z", "groceries_dataset.csv": "?"}
LAYOUTS = {"cdnow_master.csv": {"delimiter": "whitespace"},
           "cdnow_sample.csv": {"delimiter": "whitespace", "header": False},
           "groceries_dataset.csv": {"header": False}, "rees46_jewelry.csv": {"header": False}}


def test_every_header_sample_is_covered():
    assert sorted(EXPECTED) == sorted(p.name for p in HEADERS.glob("*.csv"))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_init_mapping_guesses_the_roles_of_a_real_header(name):
    text = write_mapping_template(HEADERS / name)
    mapping = tomllib.loads(text)
    columns = mapping["transactions"]
    assert set(columns) <= set(MAPPING_KEYS)
    assert mapping.get("source", {}) == LAYOUTS.get(name, {})
    guessed = {k: v for k, v in columns.items() if k != "date_format"}
    assert len(set(guessed.values())) == len(guessed), guessed  # one role per column
    for role in ROLES:
        want = EXPECTED[name].get(role)
        allowed = want if isinstance(want, set) else {want}
        assert columns.get(role) in allowed, (role, columns.get(role), allowed)
    fmt = FORMATS.get(name)
    if fmt == "?":
        assert "date_format" not in columns and "# date_format = " in text
    else:
        assert columns.get("date_format") == fmt
    assert text.startswith(f"# Column mapping for {name}, TOML for `targeting train --data "
                           f"{name} --mapping THIS_FILE`")
    lines = [line for line in (HEADERS / name).read_text(encoding="utf-8-sig").splitlines()
             if line.strip()]
    header = LAYOUTS.get(name, {}).get("header", True)
    assert len(read_log(HEADERS / name)) == len(lines) - header


READABLE = ["apparel_trans.csv", "cdnow_master.csv", "grocery_elog.csv", "kpmg_transactions.csv",
            "olist_orders.csv", "retail_data_transactions.csv", "sales_data_sample.csv"]


@pytest.mark.parametrize("name", READABLE)
def test_a_mapping_with_a_customer_and_a_clear_time_reads_the_file_as_written(tmp_path, name):
    (tmp_path / "m.toml").write_text(write_mapping_template(HEADERS / name))
    tables = tg.read_tables(HEADERS / name, tmp_path / "m.toml", verbose=False)
    counts = tables.intake.counts
    assert counts["lines"] == 20 and counts["orders"] >= 1
    tg.validate(tables)


def test_an_undecidable_date_format_fails_with_the_fix_named(tmp_path):
    name = "superstore.csv"  # 03/01/19 .. 10/01/19: 3 January or 1 March?
    (tmp_path / "m.toml").write_text(write_mapping_template(HEADERS / name))
    with pytest.raises(tg.SchemaError, match="give date_format="):
        tg.read_tables(HEADERS / name, tmp_path / "m.toml", verbose=False)


def test_a_guessed_time_that_does_not_parse_is_dropped():
    import pandas as pd

    sample = pd.DataFrame({"client": ["a", "b"], "date": ["soon", "later"],
                           "created": ["2024-01-02", "2024-01-03"]})
    roles, notes = guess_roles(sample)
    assert roles == {"user": "client", "ts": "created"}
    assert notes["ts"] == "'date': does not parse as times"
