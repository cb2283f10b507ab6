"""Adapters: a brand's own files and frames -> contract tables, with no glue code.

Real data rarely arrive in the contracts' shape: one transaction log with string ids, a date
column, an amount, order lines, returns and little else. :func:`from_transactions`
(:mod:`targeting.data.transactions`) maps such a log onto the ``orders`` table in one call,
with a declared policy for returns, cancellations and anonymous lines and a summary of what
it did; :func:`read_tables` reads a folder of contract tables (Parquet or CSV) or a single
transaction log described by a small TOML mapping (:func:`write_mapping_template`, in
:mod:`targeting.data.mapping`, writes one from the file). Campaigns come in through
:func:`from_campaign` (:mod:`targeting.data.campaign_input`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from targeting.data.campaign_input import CampaignInput, from_campaign
from targeting.data.mapping import load_mapping, mapping_dict, read_log, write_mapping_template
from targeting.data.profile_input import read_sections
from targeting.data.schema import CONTRACTS, SchemaError
from targeting.data.transactions import IntakeReport, TransactionTables, from_transactions

__all__ = ["CampaignInput", "IntakeReport", "TransactionTables", "from_campaign",
           "from_transactions", "read_tables", "write_mapping_template"]


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
        For a single log: which column holds what and the policy for its returns (``user``,
        ``ts``, ``order``, ``unit_price``, ``returns``, ...: every keyword argument of
        :func:`from_transactions`), under a ``[transactions]`` table; ``[source]`` may set
        ``delimiter`` and ``header`` (detected otherwise) or, for DuckDB, a ``query``.
        Required for a log; ``targeting init-mapping FILE`` writes one. Optional
        ``[profiles]`` and ``[crm]`` tables name a profile file and a CRM export beside it and
        their columns (see :func:`~targeting.data.profile_input.read_sections`): they are read
        and fused with the orders.
    verbose : bool, default True
        Print the log's one-line summary (what was done to how many rows).

    Returns
    -------
    dict of str to DataFrame
        The contract tables; for a log, a :class:`TransactionTables` whose ``intake`` is the
        summary.

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
    columns, source = load_mapping(mapping, path)
    tables = from_transactions(read_log(path, source), **columns, verbose=verbose)
    folder = path.parent if isinstance(mapping, Mapping) else Path(mapping).parent
    return _with_sections(tables, mapping, folder, verbose)


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
        query = mapping_dict(mapping).get("source", {}).get("query")
    with duckdb.connect(str(path), read_only=True) as con:
        if query:
            try:
                log = con.execute(query).df()
            except duckdb.Error as err:
                raise SchemaError([f"{path}: the mapping's [source] query failed: {err}"]) from err
            tables = from_transactions(log, **load_mapping(mapping, path)[0], verbose=verbose)
            return _with_sections(tables, mapping, path.parent, verbose)
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


def _read_file(path: Path, contract) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    dates = [c.name for c in contract.columns if c.kind == "datetime"]
    frame = pd.read_csv(path)
    for col in dates:
        if col in frame.columns:
            frame[col] = pd.to_datetime(frame[col], format="ISO8601")
    return frame


def _with_sections(tables: TransactionTables, mapping, folder: Path,
                   verbose: bool) -> dict[str, pd.DataFrame]:
    """The log's tables fused with the mapping's ``[profiles]``/``[crm]`` files, keeping the
    log's intake report."""
    fused = read_sections(tables, mapping_dict(mapping), folder, verbose)
    return fused if fused is tables else TransactionTables(fused, tables.intake)
