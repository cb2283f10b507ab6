"""Adapters: a brand's own files and frames -> contract tables, with no glue code.

Real data rarely arrive in the contracts' shape: one transaction log with string ids, a date
column, an amount and little else. :func:`from_transactions` maps such a log onto the
``orders`` table in one call (defaults for the optional columns, said in one summary line);
:func:`read_tables` reads a folder of contract tables (Parquet or CSV) or a single
transaction log described by a small TOML mapping (:func:`write_mapping_template` writes
one from a file's header). Campaigns come in through :func:`from_campaign`
(:mod:`targeting.data.campaign_input`).
"""

from __future__ import annotations

import tomllib
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from targeting.data.campaign_input import CampaignInput, from_campaign
from targeting.data.profile_input import read_sections
from targeting.data.schema import CONTRACTS, SchemaError
from targeting.data.vocab import ORDER_CHANNELS

__all__ = ["CampaignInput", "from_campaign", "from_transactions", "read_tables",
           "write_mapping_template"]

TRANSACTION_FIELDS = ("user", "ts", "amount", "order", "category", "quantity", "channel",
                      "promo", "brand")


def from_transactions(data: pd.DataFrame, *, user: str, ts: str, amount: str | None = None,
                      order: str | None = None, category: str | None = None,
                      quantity: str | None = None, channel: str | None = None,
                      promo: str | None = None, brand: str | None = None,
                      default_category: str = "all", date_format: str | None = "ISO8601",
                      verbose: bool = True) -> dict[str, pd.DataFrame]:
    """A transaction log (one row per order line) as contract tables.

    Parameters
    ----------
    data : DataFrame
        The log. Only the user id and the time are required.
    user, ts : str
        Column names of the customer id (any dtype: strings stay strings) and the order time
        (datetime, or text in ISO 8601 such as ``1997-01-01``; other text is refused rather
        than guessed, since ``09/10/2026`` means two different days in two countries).
    amount, order, category, quantity, channel, promo, brand : str, optional
        Column names of the optional fields. Absent ones get defaults: amount 0, one order
        per row, category ``default_category``, quantity 1, channel ``"web"`` (a brand's own
        channel names are kept, lower-cased: the features learn the vocabulary from the
        data), promo False, brand missing.
    default_category : str, default "all"
        The category of every order when the log has none (then ``--category any`` and
        ``category=None`` predict any purchase).
    date_format : str or None, default "ISO8601"
        Passed to :func:`pandas.to_datetime` for text times.
    verbose : bool, default True
        Print the one-line summary of what was defaulted or mapped.

    Returns
    -------
    dict of str to DataFrame
        ``{"orders": ...}``: one silo, so the customer id is the ``user_id`` and no identity
        table is needed.

    Examples
    --------
    >>> log = pd.DataFrame({"customer": ["a7", "a7", "b2"],
    ...                     "date": ["2026-01-03", "2026-02-11", "2026-01-20"],
    ...                     "spend": [12.5, 30.0, 8.0]})
    >>> tables = from_transactions(log, user="customer", ts="date", amount="spend",
    ...                            verbose=False)
    >>> tables["orders"][["shop_id", "amount", "category"]].to_dict("list")
    {'shop_id': ['a7', 'a7', 'b2'], 'amount': [12.5, 30.0, 8.0], 'category': ['all', 'all', 'all']}
    """
    if not isinstance(data, pd.DataFrame):
        raise SchemaError([f"transactions: expected a pandas DataFrame, got "
                           f"{type(data).__name__}"])
    given = {"user": user, "ts": ts, "amount": amount, "order": order, "category": category,
             "quantity": quantity, "channel": channel, "promo": promo, "brand": brand}
    missing = [f"transactions: no column {col!r} (given as {field}=); columns are "
               f"{list(data.columns)[:20]}" for field, col in given.items()
               if col is not None and col not in data.columns]
    if not len(data):
        missing.append("transactions: the log has no rows; pass at least one order line")
    if missing:
        raise SchemaError(missing)
    problems: list[str] = []
    notes: list[str] = []
    n = len(data)
    ids = _ids(data[user], "transactions." + user, problems)
    times = _times(data[ts], "transactions." + ts, date_format, problems)
    orders = pd.DataFrame({
        "order_id": (np.arange(1, n + 1, dtype=np.int64) if order is None
                     else _ids(data[order], "transactions." + order, problems)),
        "shop_id": ids,
        "ts": times,
        "category": _text(data, category, default_category, notes, "category"),
        "brand": (pd.Series(pd.NA, index=data.index, dtype="string") if brand is None
                  else data[brand].astype("string")),
        "amount": _numbers(data, amount, 0.0, "amount", problems, notes, minimum=0),
        "quantity": _numbers(data, quantity, 1, "quantity", problems, notes,
                             minimum=1).astype(np.int64),
        "channel": _channels(data, channel, notes),
        "referrer_social_id": pd.Series(pd.NA, index=data.index, dtype="Int64"),
        "promo": _flags(data, promo, "promo", problems, notes),
    }).reset_index(drop=True)
    if order is None:
        notes.append("order_id: one order per row")
    report("from_transactions", problems, notes, verbose,
           f"{n:,} rows, {orders.shop_id.nunique():,} customers")
    return {"orders": orders}


def report(adapter: str, problems: list[str], notes: list[str], verbose: bool,
           headline: str) -> None:
    """An adapter's ending: every problem in one SchemaError, else the one summary line of
    what was defaulted or mapped (printed when ``verbose``)."""
    if problems:
        raise SchemaError(problems)
    if verbose and notes:
        print(f"{adapter}: {headline}; " + "; ".join(notes))


def _ids(values: pd.Series, where: str, problems: list[str]) -> pd.Series:
    if values.isna().any():
        problems.append(f"{where}: {int(values.isna().sum())} missing id(s); drop those rows")
    if pd.api.types.is_integer_dtype(values):
        return values.astype("int64") if not values.isna().any() else values.astype("Int64")
    if pd.api.types.is_float_dtype(values):
        whole = values.dropna()
        if (whole == np.floor(whole)).all():
            return values.astype("Int64")
    return values.astype("string")


def _times(values: pd.Series, where: str, date_format: str | None,
           problems: list[str]) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(values):
        out = values
    else:
        try:
            out = pd.to_datetime(values, format=date_format)
        except (ValueError, TypeError) as err:
            problems.append(f"{where}: times must be datetimes or ISO 8601 text (2026-09-10 or "
                            f"2026-09-10T08:30); could not read them ({err}). Convert them with "
                            "pd.to_datetime(..., format=...) first")
            return pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    if out.isna().any():
        problems.append(f"{where}: {int(out.isna().sum())} missing time(s); drop those rows")
    return out


def _text(frame, column, default, notes, name) -> pd.Series:
    if column is None:
        notes.append(f"{name}: {default!r} for every order")
        return pd.Series(default, index=frame.index, dtype="string")
    values = frame[column].astype("string")
    if values.isna().any():
        notes.append(f"{name}: {int(values.isna().sum())} missing -> {default!r}")
        values = values.fillna(default)
    return values


def _numbers(frame, column, default, name, problems, notes, minimum) -> pd.Series:
    if column is None:
        notes.append(f"{name}: {default} (absent)")
        return pd.Series(default, index=frame.index)
    values = pd.to_numeric(frame[column], errors="coerce")
    bad = values.isna() & frame[column].notna()
    if bad.any():
        problems.append(f"transactions.{column}: {int(bad.sum())} value(s) are not numbers, "
                        f"e.g. {frame.loc[bad, column].iloc[0]!r}")
    if np.isinf(values).any():
        problems.append(f"transactions.{column}: {int(np.isinf(values).sum())} infinite "
                        "value(s); fix or drop those rows")
    if (values < minimum).any():
        problems.append(f"transactions.{column}: {int((values < minimum).sum())} value(s) "
                        f"below {minimum} (returns? drop them or net them out first)")
    if values.isna().any():
        notes.append(f"{name}: {int(values.isna().sum())} missing -> {default}")
        values = values.fillna(default)
    return values


def _channels(frame, column, notes) -> pd.Series:
    if column is None:
        notes.append("channel: 'web' (absent)")
        return pd.Series("web", index=frame.index, dtype="string")
    values = frame[column].astype("string").str.strip().str.lower()
    own = sorted(set(values.dropna().unique().tolist()) - set(ORDER_CHANNELS))
    if own:  # the brand's own channels are kept: features learn their vocabulary
        notes.append(f"channel: {len(own)} channel(s) of the brand's own, kept "
                     f"(e.g. {own[:5]})")
    if values.isna().any():
        notes.append(f"channel: {int(values.isna().sum()):,} missing -> 'web'")
        values = values.fillna("web")
    return values


def _flags(frame, column, name, problems, notes) -> pd.Series:
    if column is None:
        notes.append(f"{name}: False (absent)")
        return pd.Series(False, index=frame.index)
    values = frame[column]
    if pd.api.types.is_bool_dtype(values):
        return values.astype(bool)
    numeric = pd.to_numeric(values, errors="coerce")
    if numeric.isin([0, 1]).all():
        return numeric.astype(bool)
    text = values.astype("string").str.lower()
    mapping = {"true": True, "false": False, "yes": True, "no": False, "y": True, "n": False}
    if text.isin(list(mapping)).all():
        return text.map(mapping).astype(bool)
    problems.append(f"transactions.{column}: expected 0/1, true/false or yes/no, found "
                    f"{sorted(map(str, values.unique()))[:5]}")
    return pd.Series(False, index=frame.index)


# -- files ---------------------------------------------------------------------------------
def read_tables(path: str | Path, mapping: str | Path | Mapping | None = None,
                verbose: bool = True) -> dict[str, pd.DataFrame]:
    """Contract tables from a folder, or from one transaction log and a mapping.

    Parameters
    ----------
    path : str or Path
        A folder of ``<table>.parquet`` or ``<table>.csv`` files named after the contracts
        (``orders``, ``users``, ...), one CSV/Parquet transaction log, or a DuckDB database
        (``.duckdb``): its tables named after the contracts, or with a mapping whose
        ``[source] query`` selects the transaction log (``pip install 'targeting[duckdb]'``).
    mapping : path to a TOML file, or a dict, optional
        For a single log: which column holds what (``user``, ``ts``, ``amount``, ...; see
        :func:`from_transactions`), under a ``[transactions]`` table. Required for a log.
        Optional ``[profiles]`` and ``[crm]`` tables name a profile file and a CRM export
        beside it and their columns (see :func:`~targeting.data.profile_input.read_sections`):
        they are read and fused with the orders.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "log.csv").write_text("id,day,spend\\n1,2026-01-02,5.0\\n")
    >>> tables = read_tables(folder / "log.csv", {"transactions": {"user": "id", "ts": "day",
    ...                      "amount": "spend"}}, verbose=False)
    >>> list(tables)
    ['orders']
    """
    path = Path(path)
    if not path.exists():
        raise SchemaError([f"--data {path}: no such file or folder"])
    if path.is_dir():
        return _read_folder(path)
    if path.suffix in DUCKDB_SUFFIXES:
        return _read_duckdb(path, mapping, verbose)
    columns = _load_mapping(mapping, path)
    tables = from_transactions(_read_file(path), **columns, verbose=verbose)
    folder = path.parent if isinstance(mapping, Mapping) else Path(mapping).parent
    return read_sections(tables, _mapping_dict(mapping), folder, verbose)


DUCKDB_SUFFIXES = (".duckdb", ".ddb")


def _read_duckdb(path: Path, mapping, verbose: bool) -> dict[str, pd.DataFrame]:
    """Contract tables from a DuckDB file, or the transaction log its mapping's query selects."""
    try:
        import duckdb
    except ImportError as err:
        raise SchemaError([f"{path} is a DuckDB database: install DuckDB to read it "
                           "(pip install 'targeting[duckdb]')"]) from err
    query = None
    if mapping is not None:
        query = _mapping_dict(mapping).get("source", {}).get("query")
    with duckdb.connect(str(path), read_only=True) as con:
        if query:
            try:
                log = con.execute(query).df()
            except duckdb.Error as err:
                raise SchemaError([f"{path}: the mapping's [source] query failed: {err}"]) from err
            tables = from_transactions(log, **_load_mapping(mapping, path), verbose=verbose)
            return read_sections(tables, _mapping_dict(mapping), path.parent, verbose)
        names = [row[0] for row in con.execute(
            "SELECT table_name FROM information_schema.tables").fetchall()]
        tables = {name: con.table(name).df() for name in names if name in CONTRACTS}
    if not tables:
        raise SchemaError([f"{path}: no tables named after the contracts ({sorted(CONTRACTS)}) "
                           f"and no mapping with a [source] query; found tables {names[:10]}"])
    return tables


def _read_folder(path: Path) -> dict[str, pd.DataFrame]:
    tables = {}
    for file in sorted(path.iterdir()):
        name = file.name.split(".")[0]
        if name in CONTRACTS and file.suffix in (".parquet", ".csv", ".gz"):
            tables[name] = _read_file(file, CONTRACTS[name])
    if not tables:
        raise SchemaError([f"{path}: no contract tables found (expected files named "
                           f"<table>.parquet or <table>.csv with <table> one of "
                           f"{sorted(CONTRACTS)}); for one transaction log pass the file and "
                           "a mapping (targeting init-mapping FILE writes one)"])
    return tables


def _read_file(path: Path, contract=None) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    if path.suffix not in (".csv", ".gz"):
        raise SchemaError([f"{path}: expected a .csv, .csv.gz or .parquet file"])
    if contract is None:
        return pd.read_csv(path, dtype=str)  # a raw log: the mapping says what is what
    dates = [c.name for c in contract.columns if c.kind == "datetime"]
    frame = pd.read_csv(path)
    for col in dates:
        if col in frame.columns:
            frame[col] = pd.to_datetime(frame[col], format="ISO8601")
    return frame


def _load_mapping(mapping, path: Path) -> dict:
    if mapping is None:
        raise SchemaError([f"{path} is a single file: give a mapping that names its columns "
                           f"(targeting init-mapping {path} > mapping.toml, then edit it)"])
    columns = dict(_mapping_dict(mapping).get("transactions", {}))
    unknown = sorted(set(columns) - set(TRANSACTION_FIELDS) - {"default_category"})
    problems = [f"mapping: unknown key(s) {unknown}; known: {list(TRANSACTION_FIELDS)}"] \
        if unknown else []
    problems += [f"mapping: [transactions] needs {key!r} (the column of the "
                 f"{'customer id' if key == 'user' else 'order time'})"
                 for key in ("user", "ts") if key not in columns]
    if problems:
        raise SchemaError(problems)
    return columns


def _mapping_dict(mapping) -> Mapping:
    """The mapping as a dict: given as one, or read from a TOML file."""
    if isinstance(mapping, Mapping):
        return mapping
    try:
        return tomllib.loads(Path(mapping).read_text())
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise SchemaError([f"mapping {mapping}: could not read it ({err})"]) from err


def write_mapping_template(path: str | Path) -> str:
    """A commented TOML mapping for the log at ``path``, guessed from its header.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> log = pathlib.Path(tempfile.mkdtemp()) / "log.csv"
    >>> _ = log.write_text("customer_id,order_date,total\\n")
    >>> print(write_mapping_template(log).splitlines()[0])
    # Column mapping for log.csv: which column holds what (see targeting.from_transactions).
    """
    path = Path(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        header = (pd.read_parquet(path).columns if path.suffix == ".parquet"
                  else pd.read_csv(path, nrows=0).columns)
    header = [str(c) for c in header]
    hints = {"user": ("customer", "user", "member", "client", "buyer", "id"),
             "ts": ("date", "time", "ts", "day"),
             "amount": ("amount", "spend", "revenue", "value", "price", "dollar", "total"),
             "order": ("order", "invoice", "transaction"),
             "category": ("category", "cat", "department", "product_type"),
             "quantity": ("quantity", "qty", "units", "cds", "number"),
             "channel": ("channel", "source"), "promo": ("promo", "discount", "coupon")}
    lines = [f"# Column mapping for {path.name}: which column holds what "
             "(see targeting.from_transactions).",
             f"# Columns found: {', '.join(header)}",
             "# Required: user and ts. Delete or comment out the lines you do not have.",
             "[transactions]"]
    for field, words in hints.items():
        guess = next((c for c in header if any(w in c.lower() for w in words)), None)
        required = field in ("user", "ts")
        prefix = "" if guess or required else "# "
        lines.append(f'{prefix}{field} = "{guess or ""}"'
                     + ("    # required" if required else ""))
    return "\n".join(lines) + "\n"
