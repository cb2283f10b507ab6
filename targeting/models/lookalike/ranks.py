"""Putting the methods' scores on one scale: robust location and scale, percentiles of a
reference sample (unscored users at the bottom), a fixed tie-break, and the cross-fitted
percentile of held-out seeds under the blend."""

from __future__ import annotations

import numpy as np
import pandas as pd

from targeting.models.lookalike.stack import fit_stack

QUANTILES = np.linspace(0.0, 1.0, 2001)


def tiebreak(user_ids: np.ndarray) -> np.ndarray:
    """A fixed pseudo-random order of users, for ties in the score (the same on every fit)."""
    ids = np.asarray(user_ids)
    return pd.util.hash_array(ids if ids.dtype.kind in "iu" else ids.astype(str).astype(object))


def take_rows(values, pos):
    return None if values is None else values[pos]


def nan_lowest(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    return np.where(np.isnan(values), -np.inf, values)


def reference_quantiles(values: np.ndarray) -> np.ndarray:
    """Quantiles of a method's scores over the whole reference sample.

    Users the method cannot score (NaN: the graph's users in no chat group) are kept, at the
    bottom, so that percentiles are shares of the whole universe, not of the scored part.
    """
    values = nan_lowest(values)
    if values.size == 0:
        return np.zeros_like(QUANTILES)
    if np.isinf(values).any():  # no interpolation towards -inf: sample values only
        return np.quantile(values, QUANTILES, method="inverted_cdf")
    return np.quantile(values, QUANTILES)


def percentile_of(values: np.ndarray, quantiles: np.ndarray) -> np.ndarray:
    """Share of the reference at or below each value (ties: the middle of the tied span;
    unscored users, NaN, tie with the reference's unscored users at the bottom)."""
    values = nan_lowest(values)
    lo = np.searchsorted(quantiles, values, side="left")
    hi = np.searchsorted(quantiles, values, side="right")
    return (lo + hi) / 2 / len(quantiles)


def location_scale(values: np.ndarray) -> tuple[float, float]:
    """Median and a robust standard deviation (from the inter-quartile range)."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    if values.size == 0:
        return 0.0, 1.0
    q1, med, q3 = np.quantile(values, [0.25, 0.5, 0.75])
    scale = (q3 - q1) / 1.349
    if scale <= 1e-12:
        scale = float(values.std()) or 1.0
    return float(med), float(scale)


def standardised(values: np.ndarray, stats: tuple[float, float]) -> np.ndarray:
    """Scores on a common scale, without a cap: the order in the far tail is kept."""
    return (np.asarray(values, dtype=float) - stats[0]) / stats[1]


def crossfit_percentile(Zh, Zr, names, random_state) -> np.ndarray:
    """The blend's percentile for each held-out seed, from a stack fitted without it."""
    rng = np.random.default_rng(random_state)
    fold = rng.permutation(len(Zh)) % 2
    out = np.empty(len(Zh))
    for k in (0, 1):
        stack = fit_stack(Zh[fold != k], Zr, names)
        ref = Zr @ stack["weights"]
        out[fold == k] = percentile_of(Zh[fold == k] @ stack["weights"],
                                       np.quantile(ref, QUANTILES))
    return out


