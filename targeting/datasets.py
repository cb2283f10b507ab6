"""The real public data sets the docs and notebooks use, as they were published.

Each loader returns the log as a brand would hand it over (its own column names and values,
text as text), so the examples go through the same adapters as a brand's own data
(:func:`~targeting.from_transactions`, :func:`~targeting.from_campaign`). The files come with
the repository (``tests/data/``, with their sources and licences in its README), not with the
installed package: their licences differ from the package's. Outside a checkout, point
``TARGETING_DATA`` at a folder holding them.

- :func:`load_cdnow`: CDNOW (Fader, Hardie & Lee 2005), a CD retailer's 1997 cohort: one row
  per purchase day, 18 months, 23,570 customers;
- :func:`load_online_retail`: UCI Online Retail (Chen et al. 2012), 40 % of its customers:
  invoice lines with returns and anonymous lines, 12 months;
- :func:`load_grocery`: BTYDplus groceryElog (Platzer & Reutterer 2016): an online grocer's
  purchase days, 24 months, no amounts;
- :func:`load_hillstrom`: the MineThatData e-mail campaign (Hillstrom 2008): one row per
  customer of a randomised three-arm campaign.

The demo world, with its planted truth, is :func:`~targeting.demo_world`.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from targeting.data.schema import TargetingError

FILES = {"cdnow": "cdnow_master.csv.gz", "cdnow_sample": "cdnow_sample.csv.gz",
         "online_retail": "online_retail_sample.csv.gz", "grocery": "grocery_elog.csv.gz",
         "hillstrom": "hillstrom.csv.gz"}


class DatasetNotFoundError(TargetingError, FileNotFoundError):
    """A data set's file is not where the loaders look (see :func:`path`)."""


def path(name: str) -> Path:
    """Where the file of data set ``name`` is: ``$TARGETING_DATA`` if set, else the
    repository's ``tests/data``.

    Examples
    --------
    >>> path("cdnow").name
    'cdnow_master.csv.gz'
    """
    if name not in FILES:
        raise KeyError(f"unknown data set {name!r}; one of {sorted(FILES)}")
    folders = [Path(os.environ["TARGETING_DATA"])] if os.environ.get("TARGETING_DATA") else []
    folders.append(Path(__file__).resolve().parents[1] / "tests" / "data")
    for folder in folders:
        if (folder / FILES[name]).exists():
            return folder / FILES[name]
    raise DatasetNotFoundError(
        f"{FILES[name]} not found in {[str(f) for f in folders]}: the data sets come with the "
        "repository (tests/data), not with the installed package; clone it, or set "
        "TARGETING_DATA to a folder holding the file")


def load_cdnow(sample: bool = False) -> pd.DataFrame:
    """The CDNOW purchase log: ``customer_id`` (text), ``date`` (ISO text), ``cds``,
    ``dollars`` (the 1-in-10 sample also has ``sample_id``).

    Examples
    --------
    >>> log = load_cdnow()
    >>> len(log), log.customer_id.nunique()
    (69659, 23570)
    """
    return pd.read_csv(path("cdnow_sample" if sample else "cdnow"),
                       dtype={"customer_id": str, "sample_id": str})


def load_online_retail() -> pd.DataFrame:
    """UCI Online Retail's invoice lines for 40 % of its customers, every column as published
    text (``InvoiceNo``, ``StockCode``, ``Description``, ``Quantity``, ``InvoiceDate``,
    ``UnitPrice``, ``CustomerID``, ``Country``), cancellations and anonymous lines included.

    Examples
    --------
    >>> lines = load_online_retail()
    >>> len(lines), int(lines.CustomerID.isna().sum())
    (213668, 54207)
    """
    return pd.read_csv(path("online_retail"), dtype=str)


def load_grocery() -> pd.DataFrame:
    """BTYDplus's groceryElog: ``cust`` and ``date`` (ISO text), one row per purchase day.

    Examples
    --------
    >>> elog = load_grocery()
    >>> len(elog), elog.cust.nunique()
    (10483, 1525)
    """
    return pd.read_csv(path("grocery"), dtype=str)


def load_hillstrom() -> pd.DataFrame:
    """The MineThatData e-mail campaign: one row per customer, the randomised ``segment``,
    ``visit``, ``conversion`` and ``spend``, and pre-campaign covariates.

    Examples
    --------
    >>> campaign = load_hillstrom()
    >>> campaign.segment.value_counts().sort_index().tolist()
    [21307, 21306, 21387]
    """
    return pd.read_csv(path("hillstrom"))
