"""Shapley credit: per set of channels seen together, the Shapley value of the conversion rate
of exposure, exact up to ``max_exact`` channels in a set and sampled beyond."""

from __future__ import annotations

from math import factorial

import numpy as np
import pandas as pd

from targeting.evaluation.markov import parse_paths

# -- Shapley ------------------------------------------------------------------------------------
MAX_SHAPLEY_CHANNELS = 62  # channel sets are bits of an int64


def shapley_credit(paths: pd.DataFrame, max_exact: int = 15, n_permutations: int = 2000,
                    random_state: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    """Shapley credit of each channel, for conversions and for value, with its sampling error.

    Journeys are grouped by their set of channels ``T``. Within a group, the game is the
    conversion rate of exposure ``v(S)`` = conversions / journeys among the journeys (converting
    or not) whose channel set is exactly ``S``; an ``S`` seen in no journey takes the pooled rate
    of the journeys whose channels all lie in ``S`` (0 if none do). Each group adds
    ``journeys(T) * phi_j(v restricted to T)`` to channel ``j``, so the credit sums to the
    conversions (efficiency: the phi of a group add up to its own rate); the empty set is worth
    nothing, so conversions that would have happened anyway are shared among the channels too.
    This is the Shapley value of the conditional conversion probability (as in Dalessandro et
    al. 2012, "Causally motivated attribution for online advertising"), played per channel set
    and with non-converting journeys in the denominator; the simplified Shapley value of Zhao
    et al. 2018, an equal split of each converting journey over its channels, ignores them (it
    is what this method computed before). The value credit plays the same game with value per
    journey. Exact for sets of up to ``max_exact`` channels,
    ``n_permutations`` sampled orders beyond (the returned standard error is non-zero then).
    """
    paths = paths.reset_index(drop=True)
    row, _, codes, channels = parse_paths(paths)
    k = len(channels)
    if k > MAX_SHAPLEY_CHANNELS:
        raise ValueError(f"Shapley attribution supports up to {MAX_SHAPLEY_CHANNELS} channels, "
                         f"got {k}; merge rare channels or use method='markov'")
    masks = np.zeros(len(paths), dtype=np.int64)
    np.bitwise_or.at(masks, row, np.left_shift(np.int64(1), codes))
    groups = pd.DataFrame({
        "mask": masks, "conversions": paths.conversions.to_numpy(dtype=float),
        "value": paths.value.to_numpy(dtype=float),
        "journeys": (paths.conversions + paths.nulls).to_numpy(dtype=float),
    }).groupby("mask").sum()
    groups = groups[groups.journeys > 0]
    sets = groups.index.to_numpy(dtype=np.int64)
    sums = groups[["conversions", "value", "journeys"]].to_numpy()
    credit, var = np.zeros((k, 2)), np.zeros(k)
    rng = np.random.default_rng(random_state)
    for target, n_journeys in zip(sets, sums[:, 2], strict=True):
        players = np.flatnonzero((target >> np.arange(k)) & 1)
        inside = (sets & ~target) == 0
        local = _local_masks(sets[inside], players)
        if len(players) <= max_exact:
            phi, phi_var = _exact_shapley(_group_game(local, sums[inside], len(players))), 0.0
        else:
            phi, phi_var = _sampled_shapley(local, sums[inside], len(players),
                                            n_permutations, rng)
        credit[players] += n_journeys * phi
        var[players] += n_journeys ** 2 * phi_var
    frame = pd.DataFrame(credit, index=channels, columns=["conversions", "value"])
    return frame, pd.Series(np.sqrt(var), index=channels)


def _local_masks(sets: np.ndarray, players: np.ndarray) -> np.ndarray:
    """Channel sets re-coded on the group's own players (bit i = ``players[i]``)."""
    bits = (sets[:, None] >> players[None, :]) & 1
    return (bits << np.arange(len(players))[None, :]).sum(axis=1)


def _group_game(local: np.ndarray, sums: np.ndarray, m: int) -> np.ndarray:
    """``v(S)`` for every subset of a group's ``m`` players: rates of conversion and value."""
    pooled = np.zeros((1 << m, 3))
    np.add.at(pooled, local, sums)
    exact = pooled.copy()
    idx = np.arange(1 << m)
    for i in range(m):  # zeta transform: sums over the journeys whose set lies within S
        has = ((idx >> i) & 1) == 1
        pooled[has] += pooled[idx[has] ^ (1 << i)]
    use = np.where(exact[:, 2:] > 0, exact, pooled)
    return np.divide(use[:, :2], use[:, 2:], out=np.zeros((1 << m, 2)), where=use[:, 2:] > 0)


def _exact_shapley(v: np.ndarray) -> np.ndarray:
    """Shapley values of the players of a game given on all subsets (rows of ``v``)."""
    m = int(np.log2(len(v)))
    idx = np.arange(1 << m)
    size = np.array([bin(s).count("1") for s in idx])
    weight = np.array([factorial(s) * factorial(m - s - 1) / factorial(m) for s in range(m)]
                      + [0.0])
    phi = np.zeros((m, v.shape[1]))
    for i in range(m):
        without = idx[((idx >> i) & 1) == 0]
        phi[i] = (weight[size[without], None] * (v[without | (1 << i)] - v[without])).sum(axis=0)
    return phi


def _sampled_shapley(local: np.ndarray, sums: np.ndarray, m: int, n_permutations: int,
                     rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Mean marginal rate of each player over random orders, and its sampling variance."""
    orders = np.argsort(rng.random((n_permutations, m)), axis=1)
    prefix = np.cumsum(np.left_shift(np.int64(1), orders), axis=1)
    unique, where = np.unique(prefix, return_inverse=True)
    value = _game_at(unique, local, sums)[where.reshape(prefix.shape)]  # (perm, step, 2)
    gain = np.diff(value, axis=1, prepend=0.0)
    draws = np.zeros((n_permutations, m, 2))
    for col in range(2):
        np.put_along_axis(draws[:, :, col], orders, gain[:, :, col], axis=1)
    return draws.mean(axis=0), draws[:, :, 0].var(axis=0) / n_permutations


def _game_at(subsets: np.ndarray, local: np.ndarray, sums: np.ndarray) -> np.ndarray:
    """``v(S)`` (conversion and value rates) at the given subsets, as in :func:`_group_game`."""
    out = np.zeros((len(subsets), 2))
    for i, s in enumerate(subsets):
        same = local == s
        use = sums[same].sum(axis=0) if same.any() else sums[(local & ~s) == 0].sum(axis=0)
        if use[2] > 0:
            out[i] = use[:2] / use[2]
    return out
