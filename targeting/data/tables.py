"""Tables validated once: what an entry point hands to every builder, label and model below it.

A public entry point (``PropensityModel.fit``, ``FeaturePipeline.transform``,
``campaign_dataset``, ``evaluate``) turns the user's dict of DataFrames into
:class:`ValidatedTables` with :func:`checked_tables`: the contracts are checked, the identity
table is resolved and its Polars copy made, once. Everything below accepts the object as the
plain mapping it also is and skips the work already done, so a fit over seven snapshots
validates once, not nine times.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pandas as pd

from targeting.data.identity import resolve_identity
from targeting.data.schema import SchemaError, validate


class ValidatedTables(Mapping):
    """Contract tables that passed :func:`~targeting.data.schema.validate`, with the resolved
    identity and a cache for derived copies (the Polars identity, ...).

    The tables themselves are the caller's frames, not copies; treat them as read-only.

    Examples
    --------
    >>> import targeting as tg
    >>> world = tg.demo_world(n_users=1_000, random_state=0)
    >>> tables = checked_tables(world.tables)
    >>> checked_tables(tables) is tables, sorted(tables) == sorted(world.tables)
    (True, True)
    """

    def __init__(self, tables: Mapping[str, pd.DataFrame], *, require: tuple[str, ...] = ()):
        validate(tables, require=require)
        self._tables = dict(tables)
        self.resolved_identity = resolve_identity(self._tables)
        self._cache: dict[str, Any] = {}

    def __getitem__(self, name: str) -> pd.DataFrame:
        return self._tables[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._tables)

    def __len__(self) -> int:
        return len(self._tables)

    def cached(self, key: str, make: Callable[[], Any]) -> Any:
        """``make()`` the first time ``key`` is asked for, the same object afterwards."""
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def kept(self, key: str) -> Any:
        """What :meth:`cached` holds under ``key``, or None (nothing is made)."""
        return self._cache.get(key)

    def __repr__(self) -> str:
        sizes = ", ".join(f"{name}: {len(frame):,}" for name, frame in self._tables.items())
        return f"ValidatedTables({sizes})"


def checked_tables(tables: Mapping[str, pd.DataFrame], *,
                   require: tuple[str, ...] = ()) -> ValidatedTables:
    """``tables`` validated (once: validated tables pass straight through).

    Raises
    ------
    SchemaError
        Naming every problem with the tables, or the required tables that are missing.
    """
    if isinstance(tables, ValidatedTables):
        missing = [name for name in require if name not in tables]
        if missing:
            raise SchemaError([f"missing table '{name}'" for name in missing])
        return tables
    return ValidatedTables(tables, require=require)
