"""Which engine holds the data: pandas in this process, or Dask on a cluster.

Checked by module name, so the single-machine path never imports Dask.
"""

from __future__ import annotations

from collections.abc import Mapping


def is_dask(data) -> bool:
    """True for a Dask dataframe, ``UserPartitions`` or a dict holding Dask dataframes.

    Examples
    --------
    >>> import pandas as pd
    >>> is_dask({"orders": pd.DataFrame()})
    False
    """
    if _from_dask(data) or type(data).__name__ == "UserPartitions":
        return True
    return isinstance(data, Mapping) and any(_from_dask(v) for v in data.values())


def _from_dask(obj) -> bool:
    return type(obj).__module__.split(".")[0] == "dask"
