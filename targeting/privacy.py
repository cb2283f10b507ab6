"""Privacy floors: organisation-wide minimums that a caller can raise but never lower.

A seed that is too small lets a model single its members out; a short exported list can be
matched back to people. The organisation sets the floors once, for every job, through the
environment (``TARGETING_MIN_SEED_SIZE``, ``TARGETING_MIN_EXPORT_SIZE``; default 100 each);
parameters such as ``LookalikeModel(min_seed_size=...)`` or ``Audience.export(min_size=...)``
may ask for more, and asking for less raises :class:`PrivacyFloorError`.

Reported counts are rounded by :func:`targeting.round_count` (half up, to tens under 1,000 and
to hundreds above), and shares that are logged next to them are derived from the rounded count,
so no exact size can be recovered from what is logged.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pandas as pd

DEFAULTS = {"min_seed_size": 100, "min_export_size": 100}
ENVIRONMENT = {"min_seed_size": "TARGETING_MIN_SEED_SIZE",
               "min_export_size": "TARGETING_MIN_EXPORT_SIZE"}


class PrivacyFloorError(ValueError):
    """A parameter asked for less than the organisation's privacy floor."""


def floor(name: str) -> int:
    """The organisation's floor ``name`` (``min_seed_size`` or ``min_export_size``).

    Examples
    --------
    >>> floor("min_export_size") >= 1
    True
    """
    if name not in DEFAULTS:
        raise KeyError(f"unknown privacy floor {name!r}; have {sorted(DEFAULTS)}")
    raw = os.environ.get(ENVIRONMENT[name])
    if raw is None or raw.strip() == "":
        return DEFAULTS[name]
    try:
        value = int(raw)
    except ValueError:
        raise PrivacyFloorError(f"{ENVIRONMENT[name]} must be a whole number of users, got "
                                f"{raw!r}") from None
    if value < 1:
        raise PrivacyFloorError(f"{ENVIRONMENT[name]} must be at least 1, got {value}")
    return value


def require_floor(name: str, value: int | None) -> int:
    """``value`` if it is at or above the floor (``None``: the floor itself), else an error.

    Examples
    --------
    >>> require_floor("min_seed_size", None) == floor("min_seed_size")
    True
    >>> require_floor("min_seed_size", 250)
    250
    >>> try:
    ...     require_floor("min_seed_size", 10)
    ... except PrivacyFloorError as error:
    ...     print(str(error)[:60])
    min_seed_size=10 is below the organisation's floor of 100 (T
    """
    minimum = floor(name)
    if value is None:
        return minimum
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be a whole number of users, got {value!r}")
    if value < minimum:
        raise PrivacyFloorError(f"{name}={value} is below the organisation's floor of {minimum} "
                                f"({ENVIRONMENT[name]}); parameters can raise it, not lower it")
    return value


def normalise_id(value) -> str:
    """Identifiers as hashed: text, stripped, lower case (``" 00A1 "`` -> ``"00a1"``)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip().lower()


def hash_ids(ids, salt: str) -> np.ndarray:
    """Salted SHA-256 of normalised identifiers.

    Examples
    --------
    >>> hash_ids([7, " 7 "], "pepper-123")[0] == hash_ids(["7"], "pepper-123")[0]
    True
    """
    prefix = f"{salt}:".encode()
    return np.array([hashlib.sha256(prefix + normalise_id(v).encode()).hexdigest() for v in ids],
                    dtype=object)


def write_hashed(path, ids, salt: str, **columns) -> Path:
    """Write salted hashes of ``ids`` (and the given columns, row for row) to CSV or Parquet.

    The one way the package writes a list of people: the salt must be a secret of at least 8
    characters shared only with the activation partner, and no raw id is written.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = write_hashed(pathlib.Path(tempfile.mkdtemp()) / "a.csv", [7, 8], "pepper-123",
    ...                    arm=["push", "coupon"])
    >>> pd.read_csv(out).columns.tolist()
    ['hashed_id', 'arm']
    """
    if not isinstance(salt, str) or len(salt) < 8:
        raise ValueError("export needs a secret salt of at least 8 characters, shared only "
                         "with the activation partner")
    path = Path(path)
    if path.suffix not in (".csv", ".parquet"):
        raise ValueError(f"export path must end in .csv or .parquet, got {path.name!r}")
    out = pd.DataFrame({"hashed_id": hash_ids(ids, salt),
                        **{k: np.asarray(v) for k, v in columns.items()}})
    if path.suffix == ".parquet":
        out.to_parquet(path, index=False)
    else:
        out.to_csv(path, index=False)
    return path
