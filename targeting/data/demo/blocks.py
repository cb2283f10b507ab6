"""The demo world written block by block to Parquet, for worlds larger than one machine's memory.

:func:`write_demo_world` simulates the users in independent blocks of ``block_users``, each a
complete small world (its own chat groups, silos, orders, campaign and journeys) drawn from
random streams of its own, and writes block ``b`` of every table as
``<path>/<table>/part.<b>.parquet``. Every row of block ``b`` belongs to a user of block ``b``,
so file ``b`` of every table holds the same users: the layout
:func:`targeting.data.dask.read_user_partitions` reads with no shuffle (one Dask partition per
block). Only one block is ever in memory; blocks can also be written by separate processes
(``blocks=``), each writing its own files.

What differs from ``demo_world(n_users)`` in one piece:

- **Chat groups never cross blocks**: members, owners, second groups and referrals stay among
  the block's users (a block of 100,000 users holds about 800 whole groups). Groups form among
  users alike in region, city-tier band, age and main interest, and the more users there are
  to choose from, the more alike a group is, so a block world has the statistics of a world of
  *one block's* size, not of its whole size. Measured, three seeds each: the referral share of
  lower-tier orders is 0.466 in 100,000-user worlds, 0.486 in 200,000-user ones and 0.471 in
  200,000-user worlds of two 100,000-user blocks; social events per order 50.6, 50.1 and 51.7;
  every other calibration statistic (``world.summary()``), the oracle AUC included, within
  the seed spread. Blocks of 5,000 users against 5,000-user worlds, five seeds: every
  statistic within three standard deviations of the seeds' mean.
- **Each block draws from its own streams** (``random_state`` and the block's number), so the
  world is not the in-memory world of the same ``random_state`` cut into pieces; the same
  arguments give the same files on any machine.
- **Quantities fitted to the population are fitted per block**: the order-rate intercepts that
  match the base rates and the owner-potential intercept; with blocks of tens of thousands of
  users they agree with the whole population's to well within the seed spread.
- **Ids** are moved into one range per block (users ``first + 1 ...``, chat groups likewise;
  orders ``+ block * 10**10``), so they are unique over the world. Up to ten million users the
  id ranges are those of ``demo_world``; beyond, every range is scaled so the silos' ids never
  overlap. Orders are sorted by time within each block, not over the world.
- **The truth** is written beside the tables (``<path>/_truth/<name>/part.<b>.parquet``; the
  channel credit per block) and each block's calibration statistics to
  ``<path>/_blocks/block.<b>.json``; :func:`read_demo_world` reads a small world back whole.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from targeting.data.demo.common import SCENARIOS
from targeting.data.demo.simulator import _Simulator
from targeting.data.demo.world import DemoWorld, calibration_stats

__all__ = ["block_sizes", "read_demo_world", "write_demo_world"]

MANIFEST = "demo_world.json"
ORDER_STRIDE = 10**10  # order ids of block b: the block's own plus b * ORDER_STRIDE
_ID_BASES = {"user": 100_000_000, "social": 10_000_000, "shop": 20_000_000,
             "member": 30_000_000}
_ID_COLUMNS = {"user_id": "user", "owner_user_id": "user", "social_id": "social",
               "referrer_social_id": "social", "shop_id": "shop", "member_id": "member"}
# truth kept as a Series, indexed by user_id
_SERIES_TRUTH = ("segment", "owner_potential", "expected_revenue")


def block_sizes(n_users: int, block_users: int) -> np.ndarray:
    """Users per block: ``ceil(n_users / block_users)`` blocks of near-equal size.

    Examples
    --------
    >>> block_sizes(20_000, 5_000).tolist()
    [5000, 5000, 5000, 5000]
    >>> block_sizes(1_100, 1_000).tolist()
    [550, 550]
    """
    n_blocks = math.ceil(n_users / block_users)
    return np.diff(np.linspace(0, n_users, n_blocks + 1).round().astype(np.int64))


def write_demo_world(path: str, n_users: int, random_state: int = 0, *,
                     block_users: int = 100_000, horizon_days: int = 30,
                     scenario: str = "default", blocks: Sequence[int] | None = None,
                     storage_options: dict | None = None, progress: bool = True) -> str:
    """Simulate a demo world block by block and write it as Parquet partitioned by user.

    Parameters
    ----------
    path : str
        A folder or fsspec URL; gets ``<table>/part.<b>.parquet`` per block ``b``, the truth
        under ``_truth/``, each block's statistics under ``_blocks/`` and ``demo_world.json``.
    n_users : int
        Users in the whole world.
    random_state : int, default 0
        Same arguments, same files, on any machine.
    block_users : int, default 100_000
        Users per block (blocks are near-equal, at least 500 users each). A block is the unit
        of memory: about 9 KB per user while it is simulated; and one Dask partition.
    horizon_days : int, default 30
        As :func:`~targeting.demo_world`.
    scenario : {"default", "cohort"}
        As :func:`~targeting.demo_world`.
    blocks : sequence of int, optional
        Write only these blocks (default: all); separate processes may write separate blocks
        of the same world.
    storage_options : dict, optional
        Passed to fsspec.
    progress : bool, default True
        A progress bar over the blocks.

    Returns
    -------
    str
        ``path``, for :func:`targeting.data.dask.read_user_partitions`.

    Examples
    --------
    >>> from targeting.data.dask import read_user_partitions
    >>> path = write_demo_world("memory://doc-blocks", 1_000, block_users=500, progress=False)
    >>> parts = read_user_partitions(path)
    >>> parts.npartitions, len(parts.tables["identity"])
    (2, 1000)
    """
    sizes = _checked_sizes(n_users, block_users, scenario)
    chosen = range(len(sizes)) if blocks is None else list(blocks)
    bad = [b for b in chosen if not 0 <= b < len(sizes)]
    if bad:
        raise ValueError(f"blocks {bad} out of range: this world has {len(sizes)} blocks "
                         f"(0 to {len(sizes) - 1})")
    fs, root = _filesystem(path, storage_options)
    firsts = np.r_[0, np.cumsum(sizes)[:-1]]
    scale = max(1, math.ceil(n_users / 10_000_000))
    manifest = {"n_users": n_users, "random_state": random_state, "block_users": block_users,
                "horizon_days": horizon_days, "scenario": scenario, "blocks": len(sizes)}
    for b in tqdm(chosen, desc="demo world blocks", disable=not progress):
        sim = _Simulator(int(sizes[b]), random_state, horizon_days, scenario, block=b)
        world = sim.run()
        del sim
        manifest["as_of"] = str(world.as_of)
        _write_block(fs, root, b, world, int(firsts[b]), scale)
        del world
    _write_json(fs, f"{root}/{MANIFEST}", manifest)
    return path


def _filesystem(path: str, storage_options: dict | None):
    """The fsspec filesystem of ``path`` (fsspec comes with the ``dask`` extra; a world too
    large for memory is meant for Dask anyway)."""
    try:
        import fsspec
    except ImportError as err:  # the minimal install has no fsspec
        raise ImportError("writing the demo world block by block needs fsspec: "
                          "pip install 'targeting[dask]'") from err
    return fsspec.core.url_to_fs(path, **(storage_options or {}))


def _checked_sizes(n_users: int, block_users: int, scenario: str) -> np.ndarray:
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; choose from {list(SCENARIOS)}")
    if n_users < 500 or block_users < 500:
        raise ValueError(f"n_users and block_users must be at least 500 (a block forms its own "
                         f"chat groups), got n_users={n_users}, block_users={block_users}")
    return block_sizes(n_users, block_users)


def _write_block(fs, root: str, block: int, world: DemoWorld, first: int, scale: int) -> None:
    rows = {}
    for name, frame in world.tables.items():
        frame = _global_ids(frame, block, first, scale)
        _write_parquet(fs, f"{root}/{name}/part.{block:05d}.parquet", frame, index=False)
        rows[name] = len(frame)
    for name, truth in world.truth.items():
        frame = truth.to_frame() if isinstance(truth, pd.Series) else truth
        frame = _global_ids(frame, block, first, scale)
        keep_index = frame.index.name is not None  # user_id or group_id
        _write_parquet(fs, f"{root}/_truth/{name}/part.{block:05d}.parquet", frame,
                       index=keep_index)
    _write_json(fs, f"{root}/_blocks/block.{block:05d}.json",
                {"block": block, "first_user": first, "n_users": rows["identity"],
                 "rows": rows, "stats": world.stats})


def _global_ids(frame: pd.DataFrame, block: int, first: int, scale: int) -> pd.DataFrame:
    """Ids moved into the block's range: unique over the world, consistent in every table."""
    frame = frame.copy()
    for col, kind in _ID_COLUMNS.items():
        if col in frame.columns:
            frame[col] = frame[col] + (scale - 1) * _ID_BASES[kind] + first
    if "group_id" in frame.columns:
        frame["group_id"] = frame["group_id"] + first
    if "order_id" in frame.columns:
        frame["order_id"] = frame["order_id"] + block * ORDER_STRIDE
    if frame.index.name == "user_id":
        frame.index = frame.index + (scale - 1) * _ID_BASES["user"] + first
    elif frame.index.name == "group_id":
        frame.index = frame.index + first
    return frame


def _write_parquet(fs, path: str, frame: pd.DataFrame, index: bool) -> None:
    fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    with fs.open(path, "wb") as fh:
        frame.to_parquet(fh, index=index)


def _write_json(fs, path: str, content: dict) -> None:
    fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    with fs.open(path, "w") as fh:
        json.dump(content, fh, indent=1)


# -- reading a small world back whole -------------------------------------------------------
def read_demo_world(path: str, *, storage_options: dict | None = None) -> DemoWorld:
    """A world written by :func:`write_demo_world`, read back whole into one
    :class:`~targeting.DemoWorld` (tables, truth and calibration statistics over all blocks).

    For worlds that fit in memory (tests, checks of the block-wise world against
    :func:`~targeting.demo_world`); a large world is read with
    :func:`targeting.data.dask.read_user_partitions`.

    Examples
    --------
    >>> path = write_demo_world("memory://doc-read", 1_000, block_users=500, progress=False)
    >>> world = read_demo_world(path)
    >>> len(world.tables["users"]), world.truth["purchase_proba"].index.is_unique
    (1000, True)
    """
    fs, root = _filesystem(path, storage_options)
    if not fs.exists(f"{root}/{MANIFEST}"):
        raise FileNotFoundError(f"no {MANIFEST} in {path}: write the world with "
                                "write_demo_world(path, n_users) first")
    with fs.open(f"{root}/{MANIFEST}") as fh:
        manifest = json.load(fh)
    tables = {name: _read_dataset(fs, f"{root}/{name}") for name in _folders(fs, root)
              if not name.startswith("_")}
    truth = {name: _read_dataset(fs, f"{root}/_truth/{name}")
             for name in _folders(fs, f"{root}/_truth")}
    for name in _SERIES_TRUTH:
        truth[name] = truth[name].iloc[:, 0]
    credit = truth["channel_credit"].groupby("channel", sort=False, observed=True)
    credit = credit["conversions"].sum().reset_index()
    credit["share"] = credit.conversions / credit.conversions.sum()
    truth["channel_credit"] = credit
    world = DemoWorld(tables, truth, pd.Timestamp(manifest["as_of"]), manifest["horizon_days"],
                      manifest["random_state"])
    world.stats = calibration_stats(world)
    return world


def _folders(fs, root: str) -> list[str]:
    return sorted(p.rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(root, detail=False)
                  if fs.isdir(p))


def _read_dataset(fs, folder: str) -> pd.DataFrame:
    parts = []
    for file in sorted(fs.ls(folder, detail=False)):
        with fs.open(file, "rb") as fh:
            parts.append(pd.read_parquet(fh))
    whole = pd.concat(parts, ignore_index=parts[0].index.name is None)
    for col, dtype in parts[0].dtypes.items():  # blocks may know different category sets
        if isinstance(dtype, pd.CategoricalDtype) and not isinstance(whole[col].dtype,
                                                                     pd.CategoricalDtype):
            cats = pd.api.types.union_categoricals([p[col] for p in parts]).categories
            whole[col] = pd.Categorical(whole[col], categories=cats)
    return whole
