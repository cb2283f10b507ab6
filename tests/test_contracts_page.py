"""docs/reference/contracts.md is generated from the contracts and the builders, and what it
says each builder reads is what the builder really reads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import targeting as tg
from targeting.data.schema import CONTRACTS
from targeting.features.community import invite_features
from targeting.features.readers import BUILDER_READS, contracts_markdown

PAGE = Path(__file__).resolve().parents[1] / "docs" / "reference" / "contracts.md"


def test_the_page_is_up_to_date():
    assert PAGE.read_text(encoding="utf-8") == contracts_markdown(), (
        "docs/reference/contracts.md is stale: run "
        "python -m targeting.features.readers docs/reference/contracts.md")


def test_the_page_lists_every_column_of_every_contract():
    page = PAGE.read_text(encoding="utf-8")
    for contract in CONTRACTS.values():
        assert f"## {contract.name}\n" in page
        for column in contract.columns:
            assert f"| `{column.name}` |" in page
    assert "learnt from the data (demo world: `1`, `2`, `3`, `4`, `5`)" in page  # city_tier
    assert "one of `owner`, `member`" in page  # the one closed set


@pytest.fixture(scope="module")
def world():
    return tg.demo_world(n_users=800, random_state=4)


def _perturbed(frame: pd.DataFrame, table: str, column: str,
               as_of: pd.Timestamp) -> pd.DataFrame:
    """``frame`` with ``column`` changed so that any reader of it must see a difference:
    times moved past ``as_of`` for a third of the rows (a filter reads them too), flags
    flipped, other values shuffled across rows (rows that then repeat a key dropped)."""
    rng = np.random.default_rng(0)
    out = frame.copy()
    values = out[column]
    if pd.api.types.is_datetime64_any_dtype(values):
        moved = rng.random(len(out)) < 0.33
        out.loc[moved, column] = as_of + pd.Timedelta(days=1)
    elif pd.api.types.is_bool_dtype(values):
        out[column] = ~values
    else:
        out[column] = values.take(rng.permutation(len(out))).set_axis(out.index)
    return out.drop_duplicates(list(CONTRACTS[table].key)) if CONTRACTS[table].key else out


def _build(builder: str, tables, as_of) -> pd.DataFrame:
    if builder == "community":
        users = pd.Index(tables["identity"].user_id, name="user_id")
        return invite_features(tables, as_of, users)
    return tg.FeaturePipeline(builders=(builder,)).fit_transform(tables, as_of)


CASES = [(builder, table, column.name)
         for builder, reads in BUILDER_READS.items() for table in reads
         for column in CONTRACTS[table].columns]


@pytest.mark.parametrize(("builder", "table", "column"), CASES)
def test_a_builder_reads_exactly_the_columns_it_declares(world, builder, table, column):
    """Changing a declared column changes the builder's features; changing any other column
    of its tables leaves them as they were."""
    tables = world.tables
    if column not in tables[table].columns:
        pytest.skip(f"the demo world has no {table}.{column}")
    base = _build(builder, tables, world.as_of)
    changed = _build(builder, {**tables, table: _perturbed(tables[table], table, column,
                                                                world.as_of)},
                     world.as_of)
    same = base.shape == changed.shape and base.equals(changed)
    declared = column in BUILDER_READS[builder][table]
    assert same != declared, (f"{builder} {'does not read' if same else 'reads'} "
                              f"{table}.{column}")
