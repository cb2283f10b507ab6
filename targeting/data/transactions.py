"""A transaction log as it comes -> the ``orders`` table, with a declared policy for the mess.

Real logs hold one row per order *line*: the order id repeats, returns and cancellations are
negative lines or lines on a prefixed id (UCI Online Retail's ``C536379``), some lines have no
customer id, some no price. :func:`from_transactions` applies one policy to them and says what
it did, in counts of rows (:class:`IntakeReport`):

1. lines without a customer id are dropped (anonymous buyers cannot be targeted);
2. every other line is a *sale*; a *return* (negative quantity or amount, or flagged by a
   cancellation column or an order-id prefix); an *adjustment* (a negative unit price, such
   as "Adjust bad debt"; treated as a return); a *zero-price* line (kept out of amounts; an
   order of zero-price lines only is kept as a purchase of amount 0, as a free order still is
   an order); or a *cancelled* sale (a flagged line with a positive amount:
   the order did not happen, so it is dropped under either policy);
3. ``returns="net"`` offsets returns first within their own order (same order id and
   category), then against the same customer's earlier orders of the same category, the
   latest first (last in, first out), each down to zero. A return that finds no earlier
   purchase (bought before the log starts) is dropped and counted, and an order whose net
   amount falls to zero is not a purchase. ``returns="drop"`` drops return lines and keeps
   every order whole;
4. the lines left become one row per order and category: amount = the sum of its lines (net
   of returns), time = its first line's time, quantity = its units net of the returns in it
   (at least 1). Without amounts, returns are netted in units (or in lines).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from targeting.data.readers import (
    _channels,
    _flags,
    _id_dtype,
    _missing_ids,
    _numbers,
    _text,
    _times,
)
from targeting.data.schema import CONTRACTS, InsufficientDataError, SchemaError

__all__ = ["IntakeReport", "TransactionTables", "from_transactions"]

RETURNS = ("net", "drop")
SALE, RETURN, ADJUSTMENT, ZERO, CANCELLED = range(5)
# Amounts within this of zero are zero: sums of float prices leave dust such as 1e-13.
EPS = 1e-6
# A status text that marks a cancelled or returned line (lower-cased, searched in the text).
CANCEL_PATTERN = r"cancel|return|refund|void|revers"
TRUE_TEXT = ("true", "yes", "y", "t")


@dataclass(frozen=True)
class IntakeReport:
    """What :func:`from_transactions` did to a log's rows, counted.

    Attributes
    ----------
    counts : dict of str to float
        ``lines`` (rows in), ``anonymous`` (dropped: no customer id), ``sales``,
        ``returns``, ``adjustments``, ``zero_price``, ``cancelled`` (lines of each kind among
        the rest), ``orders``, ``rows`` (order rows: one per order and category),
        ``customers``, ``netted_orders`` (orders that returns reduced), ``fully_returned``
        (orders they cancelled out: dropped), ``free_orders`` (orders of zero-price lines only:
        kept with amount 0), ``unpaid_orders`` (orders of cancelled lines only: dropped),
        ``unmatched_returns`` and ``unmatched_value`` (returns
        that found no earlier purchase to offset: dropped).
    returns : {"net", "drop"}
        The policy applied.
    basis : {"amount", "quantity", "lines"}
        What returns were netted in.
    notes : tuple of str
        Defaults filled in and detections (e.g. the cancellation prefix).

    Examples
    --------
    >>> report = IntakeReport({"lines": 3, "anonymous": 1, "orders": 1, "rows": 1,
    ...                        "customers": 1}, "net", "amount")
    >>> str(report)
    '3 lines -> 1 order of 1 customer; 1 line without a customer id dropped'
    """

    counts: dict[str, float]
    returns: str
    basis: str
    notes: tuple[str, ...] = field(default=())

    def __str__(self) -> str:
        return "; ".join([*self._parts(), *self.notes])

    def _parts(self) -> list[str]:
        c = {k: self.counts.get(k, 0) for k in _ROWS}
        parts = [f"{_n(c['lines'], 'line')} -> {_n(c['orders'], 'order')} of "
                 f"{_n(c['customers'], 'customer')}"]
        if c["rows"] != c["orders"]:
            parts[0] += f" ({c['rows']:,.0f} order rows, one per order and category)"
        if c["anonymous"]:
            parts.append(f"{_n(c['anonymous'], 'line')} without a customer id dropped")
        back = c["returns"] + c["adjustments"]
        if back and self.returns == "net":
            part = (f"{_n(back, 'return line')} netted against "
                    f"{_n(c['netted_orders'], 'order')}")
            detail = []
            if c["fully_returned"]:
                detail.append(f"{_n(c['fully_returned'], 'order')} fully returned, dropped")
            if c["unmatched_returns"]:
                worth = (f" worth {c['unmatched_value']:,.2f}" if self.basis == "amount"
                         else f" of {c['unmatched_value']:,.0f} {self.basis}")
                detail.append(f"{_n(c['unmatched_returns'], 'return')}{worth} matched no "
                              "earlier purchase, dropped")
            parts.append(part + (f" ({'; '.join(detail)})" if detail else ""))
        elif back:
            parts.append(f"{_n(back, 'return line')} dropped (their orders kept whole)")
        if c["adjustments"]:
            parts.append(f"{_n(c['adjustments'], 'adjustment line')} (negative price) among "
                         "the returns")
        if c["zero_price"]:
            parts.append(f"{_n(c['zero_price'], 'zero-price line')} left out of amounts")
        if c["cancelled"]:
            parts.append(f"{_n(c['cancelled'], 'cancelled sale line')} dropped")
        if c.get("free_orders"):
            parts.append(f"{_n(c['free_orders'], 'order')} of zero-price lines only kept "
                         "with amount 0")
        if c["unpaid_orders"]:
            parts.append(f"{_n(c['unpaid_orders'], 'order')} of cancelled lines only dropped")
        return parts

    @property
    def table(self) -> pd.DataFrame:
        """One row per count: ``count`` and what it counts."""
        rows = [(key, float(self.counts.get(key, 0)), text) for key, text in _ROWS.items()]
        return pd.DataFrame(rows, columns=["step", "count", "what"]).set_index("step")

    def _repr_html_(self) -> str:
        table = self.table[self.table["count"] != 0]
        return (f"<p>{html.escape(str(self))}</p>"
                + table.to_html(float_format=lambda v: f"{v:,.0f}"))

    def plot(self, ax=None):
        """Where the log's lines went: kept as sales, netted or dropped, and why."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 3))
        keys = ["sales", "returns", "adjustments", "zero_price", "cancelled", "anonymous"]
        values = [float(self.counts.get(k, 0)) for k in keys]
        ax.barh([_ROWS[k].split(":")[0] for k in keys], values, color="tab:blue")
        ax.invert_yaxis()
        ax.set(xlabel="lines", title=f"{self.counts.get('lines', 0):,.0f} lines in, "
                                     f"{self.counts.get('orders', 0):,.0f} orders out")
        ax.figure.tight_layout()
        return ax.figure


def _n(count: float, word: str) -> str:
    """``1 line``, ``2 lines``, ``1,085 zero-price lines``."""
    return f"{count:,.0f} {word}{'' if count == 1 else 's'}"


_ROWS = {
    "lines": "lines: rows of the log",
    "anonymous": "anonymous: lines without a customer id, dropped",
    "sales": "sales: lines with a positive amount",
    "returns": "returns: negative or flagged lines",
    "adjustments": "adjustments: negative-price lines (treated as returns)",
    "zero_price": "zero price: lines left out of amounts",
    "cancelled": "cancelled: flagged sale lines, dropped",
    "orders": "orders out",
    "rows": "order rows out (one per order and category)",
    "customers": "customers with an order",
    "netted_orders": "orders reduced by returns",
    "fully_returned": "orders fully returned, dropped",
    "free_orders": "orders of zero-price lines only, kept with amount 0",
    "unpaid_orders": "orders of cancelled lines only, dropped",
    "unmatched_returns": "returns that matched no earlier purchase, dropped",
    "unmatched_value": "their value",
}


class TransactionTables(dict):
    """Contract tables read from a transaction log: a plain ``dict`` of DataFrames, plus
    ``intake``, the :class:`IntakeReport` of what was done to the log's rows."""

    intake: IntakeReport

    def __init__(self, tables: dict[str, pd.DataFrame], intake: IntakeReport):
        super().__init__(tables)
        self.intake = intake


def from_transactions(data: pd.DataFrame, *, user: str, ts: str, order: str | None = None,
                      amount: str | None = None, unit_price: str | None = None,
                      quantity: str | None = None, category: str | None = None,
                      channel: str | None = None, promo: str | None = None,
                      brand: str | None = None, region: str | None = None,
                      cancelled: str | None = None, cancel_prefix: str | None = None,
                      returns: str = "net", default_category: str = "all",
                      date_format: str | None = "ISO8601",
                      verbose: bool = True) -> TransactionTables:
    """A transaction log (one row per order or per order line) as contract tables.

    Parameters
    ----------
    data : DataFrame
        The log as it comes: lines without a customer id, returns, cancellations and
        zero-price lines included. Only the customer id and the time are required.
    user, ts : str
        Column names of the customer id (any dtype: strings stay strings) and the order time
        (datetime, or text in ISO 8601 such as ``1997-01-01``, or in ``date_format``; other
        text is refused rather than guessed, since ``09/10/2026`` means two different days in
        two countries).
    order : str, optional
        The order (invoice) id. It may repeat: an order is the lines that share it. Default:
        one order per row.
    amount : str, optional
        A line total (negative on returns).
    unit_price : str, optional
        A price per unit: the line amount is quantity x unit price. Give ``amount`` or
        ``unit_price``, not both. Without either, amounts are 0.
    quantity, category, channel, promo, brand : str, optional
        Column names of the optional fields. Absent ones get defaults: quantity 1 per line,
        category ``default_category``, channel ``"web"`` (a brand's own channel names are
        kept, lower-cased: the features learn the vocabulary from the data), promo False,
        brand missing.
    region : str, optional
        A region or country column: the customer's most frequent value goes to a ``users``
        table when the ``users`` contract can be met by it (today it also needs
        ``city_tier`` and ``age_band``, so the summary says the column was left out).
    cancelled : str, optional
        A cancellation flag: bool, 0/1, or status text (a value containing "cancel",
        "return", "refund", "void" or "revers", any case, flags the line).
    cancel_prefix : str, optional
        Order ids starting with it are cancellations (``"C"`` in UCI Online Retail). Default:
        detected when most negative lines' order ids start with one letter that other ids
        do not (the summary says so).
    returns : {"net", "drop"}, default "net"
        ``"net"``: a return offsets its own order (same order id and category), else the
        same customer's earlier orders of the same category, the latest first, each down to
        zero; an order whose net amount falls to zero or below is dropped; a return older
        purchases cannot absorb is dropped. ``"drop"``: return lines are dropped and orders
        kept whole. Both are counted in the summary.
    default_category : str, default "all"
        The category of every order when the log has none (then ``--category any`` and
        ``category=None`` predict any purchase).
    date_format : str or None, default "ISO8601"
        Passed to :func:`pandas.to_datetime` for text times (e.g. ``"%m/%d/%Y %H:%M"``).
    verbose : bool, default True
        Print the one-line summary of what was done to how many rows.

    Returns
    -------
    TransactionTables
        A dict ``{"orders": ...}`` (one row per order and category; one silo, so the
        customer id is the ``user_id`` and no identity table is needed), whose ``intake``
        attribute is the :class:`IntakeReport`.

    Raises
    ------
    SchemaError
        Listing every problem: a missing column, text where numbers belong, unreadable
        times, an order id shared by two customers.
    InsufficientDataError
        When no order is left (every line anonymous, returned or unpaid).

    Examples
    --------
    A line-level log: order 1 has two lines, order 3 returns one unit of order 1's cheaper
    item, and one line has no customer id.

    >>> log = pd.DataFrame({
    ...     "invoice": ["1", "1", "2", "C3", "4"],
    ...     "customer": ["a7", "a7", "b2", "a7", None],
    ...     "date": ["2026-01-03", "2026-01-03", "2026-01-20", "2026-02-01", "2026-02-02"],
    ...     "qty": [2, 1, 1, -1, 5], "price": [5.0, 8.0, 3.0, 5.0, 1.0]})
    >>> tables = from_transactions(log, user="customer", ts="date", order="invoice",
    ...                            quantity="qty", unit_price="price", verbose=False)
    >>> tables["orders"][["order_id", "shop_id", "amount", "quantity"]].to_dict("list")
    {'order_id': ['1', '2'], 'shop_id': ['a7', 'b2'], 'amount': [13.0, 3.0], 'quantity': [3, 1]}
    >>> print(tables.intake)  # doctest: +NORMALIZE_WHITESPACE
    5 lines -> 2 orders of 2 customers; 1 line without a customer id dropped; 1 return line
    netted against 1 order; cancellations: order ids starting with 'C' (detected on 1 of 1
    negative lines; cancel_prefix= sets it); category: 'all' for every order; channel: 'web'
    (absent); promo: False (absent)
    """
    columns = {"user": user, "ts": ts, "order": order, "amount": amount,
               "unit_price": unit_price, "quantity": quantity, "category": category,
               "channel": channel, "promo": promo, "brand": brand, "region": region,
               "cancelled": cancelled}
    _check_call(data, columns, returns, cancel_prefix)
    notes: list[str] = []
    found: list[str] = []  # detections come first in the summary, then the defaults filled in
    lines, anonymous = _read_lines(data, columns, default_category, date_format, notes)
    kind = _classify(lines, order is not None, cancel_prefix, found)
    basis = ("amount" if amount or unit_price else "quantity" if quantity else "lines")
    groups = _order_groups(lines, kind, basis, returns)
    _check_orders(groups, order)
    kept, counts = _net(groups, returns)
    orders = _orders(kept, lines, basis, order is None)
    counts = {"lines": len(data), "anonymous": anonymous, **_kind_counts(kind), **counts,
              "orders": int(orders["order_id"].nunique()), "rows": len(orders),
              "customers": int(orders["shop_id"].nunique())}
    tables = {"orders": orders}
    if region is not None:
        users = _users(lines, notes)
        if users is not None:
            tables["users"] = users
    intake = IntakeReport(counts, returns, basis, tuple(found + notes))
    if not len(orders):
        raise InsufficientDataError(f"no order left in the log: {intake}")
    if verbose:
        print(f"from_transactions: {intake}")
    return TransactionTables(tables, intake)


def _check_call(data, columns: dict, returns: str, cancel_prefix) -> None:
    if not isinstance(data, pd.DataFrame):
        raise SchemaError([f"transactions: expected a pandas DataFrame, got "
                           f"{type(data).__name__}"])
    problems = [f"transactions: no column {col!r} (given as {key}=); columns are "
                f"{list(data.columns)[:20]}" for key, col in columns.items()
                if col is not None and col not in data.columns]
    if not len(data):
        problems.append("transactions: the log has no rows; pass at least one order line")
    if returns not in RETURNS:
        problems.append(f"transactions: returns={returns!r}; expected one of {list(RETURNS)}")
    if columns["amount"] is not None and columns["unit_price"] is not None:
        problems.append("transactions: give amount= (a line total) or unit_price= (a price "
                        "per unit, times quantity=), not both")
    if cancel_prefix is not None and not (isinstance(cancel_prefix, str) and cancel_prefix):
        problems.append(f"transactions: cancel_prefix={cancel_prefix!r}; expected the text "
                        "that starts a cancellation's order id, e.g. 'C'")
    elif cancel_prefix is not None and columns["order"] is None:
        problems.append("transactions: cancel_prefix= marks order ids: give order= too")
    if problems:
        raise SchemaError(problems)


def _read_lines(data: pd.DataFrame, columns: dict, default_category: str,
                date_format: str | None, notes: list[str]) -> tuple[pd.DataFrame, int]:
    """The log's identified lines in the package's dtypes, and how many were anonymous."""
    problems: list[str] = []
    anonymous = _missing_ids(data[columns["user"]])
    data = data.loc[~anonymous]
    col = columns
    where = {key: f"transactions.{name}" for key, name in columns.items() if name}
    quantity, price, value = _amounts(data, col, where, problems, notes)
    lines = pd.DataFrame({
        "user": _id_dtype(data[col["user"]]),
        "ts": _times(data[col["ts"]], where["ts"], date_format, problems),
        "order": (pd.Series(np.flatnonzero(~anonymous) + 1, index=data.index)
                  if col["order"] is None else _order_ids(data[col["order"]], where["order"],
                                                          problems)),
        "category": _text(data, col["category"], default_category, notes, "category"),
        "quantity": quantity, "price": price, "value": value,
        "flag": _cancel_flags(data, col["cancelled"], problems),
        "channel": _channels(data, col["channel"], notes),
        "promo": _flags(data, col["promo"], "promo", problems, notes),
        "brand": (pd.Series(pd.NA, index=data.index, dtype="string") if col["brand"] is None
                  else data[col["brand"]].astype("string")),
        "region": (None if col["region"] is None else data[col["region"]].astype("string")),
    }).reset_index(drop=True)
    if problems:
        raise SchemaError(problems)
    return lines, int(anonymous.sum())


def _amounts(data: pd.DataFrame, col: dict, where: dict, problems: list[str],
             notes: list[str]) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Each line's quantity (1 when absent or missing), unit price (NaN when absent) and
    amount: the ``amount`` column, or quantity x unit price; NaN when the log has neither."""
    nothing = pd.Series(np.nan, index=data.index)
    quantity = (pd.Series(1.0, index=data.index) if col["quantity"] is None
                else _numbers(data[col["quantity"]], where["quantity"], problems))
    if col["quantity"] is not None and quantity.isna().any():
        notes.append(f"quantity: {int(quantity.isna().sum()):,} missing -> 1")
        quantity = quantity.fillna(1.0)
    price = (nothing if col["unit_price"] is None
             else _numbers(data[col["unit_price"]], where["unit_price"], problems))
    if col["unit_price"] is not None:
        value = price * quantity
        if col["quantity"] is None:
            notes.append("unit_price without quantity: one unit per line")
    else:
        value = (nothing if col["amount"] is None
                 else _numbers(data[col["amount"]], where["amount"], problems))
    if (col["amount"] or col["unit_price"]) and value.isna().any():
        notes.append(f"amount: {int(value.isna().sum()):,} missing -> 0 (zero-price lines)")
        value = value.fillna(0.0)
    return quantity, price, value


def _order_ids(values: pd.Series, where: str, problems: list[str]) -> pd.Series:
    missing = _missing_ids(values)
    if missing.any():
        problems.append(f"{where}: {int(missing.sum()):,} line(s) of identified customers have "
                        "no order id; fill them, or leave order= out (one order per line)")
    return _id_dtype(values)


def _cancel_flags(data: pd.DataFrame, column: str | None, problems: list[str]) -> pd.Series:
    """True where a cancellation column flags the line: bool, 0/1, yes/no or status text."""
    if column is None:
        return pd.Series(False, index=data.index)
    values = data[column]
    if pd.api.types.is_bool_dtype(values):
        return values.fillna(False).astype(bool)
    numeric = pd.to_numeric(values, errors="coerce")
    odd = numeric.notna() & ~numeric.isin([0, 1])
    if odd.any():
        problems.append(f"transactions.{column}: a cancellation column holds bool, 0/1 or "
                        f"status text; found numbers such as {numeric[odd].iloc[0]}")
    text = values.astype("string").str.strip().str.lower()
    flagged = (text.str.contains(CANCEL_PATTERN, regex=True).fillna(False)
               | text.isin(TRUE_TEXT).fillna(False) | numeric.eq(1))
    return flagged.astype(bool)


def _classify(lines: pd.DataFrame, order_given: bool, cancel_prefix: str | None,
              notes: list[str]) -> np.ndarray:
    """Each line's kind: SALE, RETURN, ADJUSTMENT, ZERO (price) or CANCELLED (a flagged sale)."""
    value, price = lines["value"].to_numpy(), lines["price"].to_numpy()
    negative = (lines["quantity"].to_numpy() < 0) | (value < 0) | (price < 0)
    flag = lines["flag"].to_numpy(dtype=bool)
    if order_given:
        prefix = cancel_prefix or _detect_prefix(lines["order"], negative, notes)
        if prefix:
            flag = flag | lines["order"].astype("string").str.startswith(prefix).fillna(
                False).to_numpy(dtype=bool)
    # Nothing to count: an amount of 0, or, in a log without amounts, a quantity of 0.
    zero = np.where(np.isnan(value), lines["quantity"].to_numpy() == 0, value == 0)
    kind = np.full(len(lines), SALE, dtype=np.int8)
    kind[flag] = CANCELLED
    kind[negative] = RETURN
    kind[negative & (price < 0)] = ADJUSTMENT
    kind[zero] = ZERO
    return kind


def _detect_prefix(order: pd.Series, negative: np.ndarray, notes: list[str]) -> str | None:
    """The letter that starts most negative lines' order ids and (almost) no other id."""
    if not negative.any() or pd.api.types.is_numeric_dtype(order):
        return None
    lead = letter_prefix(order)
    counts = lead[negative].value_counts()
    if counts.empty:
        return None
    letter, hits = str(counts.index[0]), int(counts.iloc[0])
    elsewhere = float(lead[~negative].eq(letter).fillna(False).mean()) if (~negative).any() \
        else 0.0
    if hits < 0.5 * negative.sum() or elsewhere > 0.01:
        return None
    notes.append(f"cancellations: order ids starting with {letter!r} (detected on {hits:,} of "
                 f"{int(negative.sum()):,} negative lines; cancel_prefix= sets it)")
    return letter


def letter_prefix(ids: pd.Series) -> pd.Series:
    """The letter before the digits of each id (``"C536379"`` -> ``"C"``), else missing.

    Examples
    --------
    >>> letter_prefix(pd.Series(["C536379", "536365", "A1", "AB1"])).tolist()
    ['C', <NA>, 'A', <NA>]
    """
    text = ids.astype("string")
    first = text.str.slice(0, 1)
    marked = first.str.isalpha() & text.str.slice(1, 2).str.isdigit()
    return first.where(marked.fillna(False))


def _kind_counts(kind: np.ndarray) -> dict[str, int]:
    n = np.bincount(kind, minlength=5)
    return {"sales": int(n[SALE]), "returns": int(n[RETURN]), "adjustments": int(n[ADJUSTMENT]),
            "zero_price": int(n[ZERO]), "cancelled": int(n[CANCELLED])}


def _order_groups(lines: pd.DataFrame, kind: np.ndarray, basis: str,
                  returns: str) -> pd.DataFrame:
    """One row per (customer, order, category): its net value and units, first line, time.

    Returns are signed negative; zero-price and cancelled lines take no part in the value (an
    order of zero-price lines only is ``free``); under ``returns="drop"`` returns take no part
    either.
    """
    back = (kind == RETURN) | (kind == ADJUSTMENT)
    sale = kind == SALE
    counted = sale | (back & (returns == "net"))
    units = np.abs(lines["quantity"].to_numpy())
    magnitude = {"amount": np.abs(lines["value"].to_numpy()), "quantity": units,
                 "lines": np.ones(len(lines))}[basis]
    sign = np.where(sale, 1.0, -1.0)
    frame = pd.DataFrame({
        "user": pd.factorize(lines["user"])[0], "order": pd.factorize(lines["order"])[0],
        "category": pd.factorize(lines["category"])[0],
        "net": np.where(counted, sign * magnitude, 0.0),
        "units": np.where(counted, sign * units, 0.0),
        "sale": sale, "back": back & counted, "paid": sale | back, "zero": kind == ZERO,
        "row": np.arange(len(lines)), "ts": lines["ts"]})
    groups = frame.groupby(["user", "order", "category"], sort=False).agg(
        net=("net", "sum"), units=("units", "sum"), sale=("sale", "any"), back=("back", "any"),
        paid=("paid", "any"), zero=("zero", "any"), row=("row", "min"), ts=("ts", "min"))
    return groups.reset_index()


def _check_orders(groups: pd.DataFrame, order: str | None) -> None:
    if order is None:
        return
    owners = groups.groupby("order")["user"].nunique()
    shared = owners[owners > 1]
    if len(shared):
        raise SchemaError([f"transactions.{order}: {len(shared):,} order id(s) belong to more "
                           "than one customer; order= must name an id unique to one order "
                           "(or leave it out: one order per line)"])


def _net(groups: pd.DataFrame, returns: str) -> tuple[pd.DataFrame, dict[str, float]]:
    """The purchases left after the returns, with ``value`` what remains of each, and counts."""
    purchase = groups["sale"].to_numpy() & (groups["net"].to_numpy() > EPS)
    loose = groups["net"].to_numpy() < -EPS  # a return beyond its own order's purchases
    events = groups[purchase | loose]
    if returns == "net" and loose.any():
        remaining, unmatched = _lifo(events)
    else:
        remaining = events["net"].to_numpy().clip(0)
        unmatched = np.zeros(len(events))
    events = events.assign(value=remaining)
    kept = events[(events["net"].to_numpy() > EPS) & (remaining > EPS)]
    reduced = groups["sale"] & (groups["back"] | groups["order"].isin(
        events.loc[events["value"] < events["net"] - EPS, "order"]))
    lost = groups.loc[groups["sale"], "order"]
    fully = np.setdiff1d(lost.unique(), kept["order"].unique())
    by_order = groups.groupby("order")[["paid", "zero"]].any()
    free = groups[groups["order"].isin(by_order.index[~by_order["paid"] & by_order["zero"]])]
    kept = pd.concat([kept, free.assign(value=0.0)])
    counts = {"netted_orders": int(groups.loc[reduced, "order"].nunique()),
              "fully_returned": len(fully) if returns == "net" else 0,
              "free_orders": int(free["order"].nunique()),
              "unpaid_orders": int((~by_order["paid"] & ~by_order["zero"]).sum()),
              "unmatched_returns": int((unmatched > EPS).sum()),
              "unmatched_value": float(unmatched.sum())}
    return kept, counts


def _lifo(events: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Net returns against the same customer's and category's earlier purchases, the latest
    first, without a loop: the remaining purchases form a stack whose height after each
    event is the running sum reflected at zero; a purchase keeps the part of its slice of
    the stack that the height never falls below afterwards.

    Returns what remains of each event (0 for returns) and what of each return found
    nothing to offset (0 for purchases), in the order of ``events``.
    """
    x = events["net"].to_numpy()
    # Time order within a customer and category; at equal times purchases come first.
    order = np.lexsort((events["row"].to_numpy(), x < 0, events["ts"].astype("int64").to_numpy(),
                        events["category"].to_numpy(), events["user"].to_numpy()))
    key = events["user"].to_numpy()[order] * (int(events["category"].max()) + 1) \
        + events["category"].to_numpy()[order]
    xs = pd.Series(x[order])
    total = xs.groupby(key).cumsum()
    floor = np.minimum(total.groupby(key).cummin().to_numpy(), 0.0)
    height = total.to_numpy() - floor
    ahead = pd.Series(height[::-1]).groupby(key[::-1]).cummin().to_numpy()[::-1]
    xo = x[order]
    kept = np.where(xo > 0, np.clip(ahead - (height - xo), 0.0, xo), 0.0)
    before = pd.Series(floor).groupby(key).shift(1, fill_value=0.0).to_numpy()
    lost = np.where(xo < 0, before - floor, 0.0)
    remaining, unmatched = np.empty_like(x), np.empty_like(x)
    remaining[order], unmatched[order] = kept, lost
    return remaining, unmatched


def _orders(kept: pd.DataFrame, lines: pd.DataFrame, basis: str,
            per_row: bool) -> pd.DataFrame:
    """The contract ``orders`` rows, in the log's order of their first lines."""
    kept = kept.sort_values("row")
    first = lines.iloc[kept["row"].to_numpy()].reset_index(drop=True)
    units = kept["value"] if basis == "quantity" else kept["units"]
    order_id = first["order"]
    if per_row:
        order_id = order_id.astype("int64")
    return pd.DataFrame({
        "order_id": order_id,
        "shop_id": first["user"],
        "ts": kept["ts"].reset_index(drop=True),
        "category": first["category"],
        "brand": first["brand"],
        "amount": kept["value"].to_numpy() if basis == "amount" else 0.0,
        "quantity": np.maximum(1, np.rint(units.to_numpy())).astype(np.int64),
        "channel": first["channel"],
        "referrer_social_id": pd.Series(pd.NA, index=first.index, dtype="Int64"),
        "promo": _order_promo(kept, lines),
    })


def _order_promo(kept: pd.DataFrame, lines: pd.DataFrame) -> np.ndarray:
    """An order is on promotion when any of its lines is."""
    if not lines["promo"].any():
        return np.zeros(len(kept), dtype=bool)
    user, order = pd.factorize(lines["user"])[0], pd.factorize(lines["order"])[0]
    category = pd.factorize(lines["category"])[0]
    any_promo = lines["promo"].groupby([user, order, category]).any()
    index = pd.MultiIndex.from_arrays([kept["user"], kept["order"], kept["category"]])
    return any_promo.reindex(index).fillna(False).to_numpy(dtype=bool)


def _users(lines: pd.DataFrame, notes: list[str]) -> pd.DataFrame | None:
    """Each customer's most frequent region, when the ``users`` contract can be met by it."""
    contract = CONTRACTS["users"]
    needs = [c.name for c in contract.columns if c.required and not c.nullable
             and c.name not in ("user_id", "region")]
    if needs:
        notes.append(f"region: read, but not used: the users table also needs {needs}")
        return None
    counts = (pd.DataFrame({"user_id": lines["user"], "region": lines["region"]}).dropna()
              .value_counts().reset_index())
    best = counts.sort_values(["user_id", "count", "region"], ascending=[True, False, True])
    users = best.drop_duplicates("user_id")[["user_id", "region"]].reset_index(drop=True)
    first_seen = lines.groupby("user")["ts"].min()
    for col in contract.columns:
        if col.name == "first_seen":
            users[col.name] = users["user_id"].map(first_seen).to_numpy()
        elif col.name not in users:
            users[col.name] = pd.Series(pd.NA, index=users.index,
                                        dtype="Int64" if col.kind == "int" else "string")
    return users
