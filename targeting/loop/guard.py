"""Champion/challenger guard of the loop's refit: a refitted model replaces the current one
only if it is not worse on evidence that neither model was fitted on.

The evidence is every randomised row so far (the history's campaigns and every recorded wave,
the newest included), cross-fitted: the rows are split into folds (balanced within each
randomised block and arm), and for each fold the champion's recipe (the rows the champion was
fitted on) and the challenger's (all rows) are refitted without that fold and predict it. Both
are then scored on the same out-of-fold predictions by the Qini coefficient of each arm within
each randomised stratum, averaged with the strata's sizes as weights. A stratum is a block in
which users were drawn to an arm or to the control with one probability: a past campaign or a
wave's exploration slice or pilot (each arm against the control), or the users a wave's policy
gave arm ``a`` (sent it or held out). Pooling strata with different shares would bias the
Qini; within one it reads the ranking as a randomised trial does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from targeting.data.vocab import CONTROL_ARM
from targeting.models.uplift import small_arms

GUARD_FOLDS = 2  # each fold costs two fits: the champion's recipe and the challenger's
_MIN_GROUP = 10  # a stratum's treated and control users both need this many to be scored
BOOTSTRAP_DRAWS = 50  # paired resamples for the standard error of the score difference
WORSE_Z = 1.645  # the challenger is worse if below the champion by this many standard errors


@dataclass(frozen=True)
class GuardDecision:
    """What the guard decided after a wave: ``replaced`` (the challenger became champion) or
    kept (the champion stays), with both recipes' out-of-fold scores and the rows scored."""

    replaced: bool
    champion_score: float
    challenger_score: float
    difference_se: float
    rows: int
    cross_fitted: bool = True

    @property
    def verdict(self) -> str:
        return "replaced" if self.replaced else "kept"

    def metrics(self) -> dict:
        """Aggregates for the wave's metrics (and its MLflow run): no ids."""
        return {"guard_replaced": float(self.replaced),
                "guard_champion_qini": self.champion_score,
                "guard_challenger_qini": self.challenger_score,
                "guard_difference_se": self.difference_se, "guard_rows": float(self.rows),
                "guard_cross_fitted": float(self.cross_fitted)}


@dataclass(frozen=True)
class Evidence:
    """Randomised rows: features ``X``, outcome ``y``, ``arm``; ``block`` names each row's
    randomised block; ``only`` is the one arm a row could get besides the control (the
    policy's list) or None (a random arm: a past campaign, an exploration slice, a pilot)."""

    X: pd.DataFrame
    y: np.ndarray
    arm: np.ndarray
    block: np.ndarray
    only: np.ndarray


def strata(block: np.ndarray, only: np.ndarray, arm: np.ndarray, arms) -> list:
    """``(mask, arm)`` of every randomised stratum: rows of one block drawn to ``arm`` or to
    the control with one probability."""
    out = []
    for b in pd.unique(block):
        inside = block == b
        for a in arms:
            free = inside & np.isin(arm, [a, CONTROL_ARM])
            out.append((free & ((only == a) | pd.isna(only)), a))
    return out


def guard_score(scores: pd.DataFrame, y: np.ndarray, arm: np.ndarray, block: np.ndarray,
                only: np.ndarray) -> float:
    """Size-weighted mean Qini coefficient of each arm's predicted uplift within each
    randomised stratum (NaN if no stratum has enough treated and control users).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=2_000)
    >>> arm = np.where(rng.random(2_000) < 0.5, "coupon", "control").astype(object)
    >>> y = (rng.random(2_000) < 0.1 + 0.2 * (arm == "coupon") * (x > 0)).astype(float)
    >>> block, only = np.full(2_000, "pilot"), np.full(2_000, None)
    >>> good = guard_score(pd.DataFrame({"coupon": x}), y, arm, block, only)
    >>> bad = guard_score(pd.DataFrame({"coupon": -x}), y, arm, block, only)
    >>> bool(good > 0 > bad)
    True
    """
    return compare(scores, scores, y, arm, block, only, draws=0)[0]


def compare(first: pd.DataFrame, second: pd.DataFrame, y: np.ndarray, arm: np.ndarray,
            block: np.ndarray, only: np.ndarray, *, draws: int = BOOTSTRAP_DRAWS,
            random_state=0) -> tuple[float, float, float]:
    """Both scores (as :func:`guard_score`) and the standard error of their difference
    (``second`` minus ``first``) over ``draws`` paired bootstrap resamples of each
    stratum's rows (NaN with ``draws=0``)."""
    from targeting.evaluation.uplift_metrics import qini_coefficient

    rng = np.random.default_rng(random_state)
    scored = []
    for mask, a in strata(block, only, arm, first.columns):
        treated = (arm[mask] == a).astype(int)
        n_t = int(treated.sum())
        if min(n_t, len(treated) - n_t) < _MIN_GROUP or np.ptp(y[mask]) == 0:
            continue
        scored.append((y[mask], treated, first[a].to_numpy(dtype=float)[mask],
                       second[a].to_numpy(dtype=float)[mask]))
    if not scored:
        return float("nan"), float("nan"), float("nan")
    weights = np.array([len(t) for _, t, _, _ in scored], dtype=float)

    def both(pick) -> np.ndarray:
        values = np.array([[qini_coefficient(yy[i], u1[i], t[i]),
                            qini_coefficient(yy[i], u2[i], t[i])]
                           for (yy, t, u1, u2), i in zip(scored, pick(), strict=True)])
        return weights @ np.nan_to_num(values) / weights.sum()

    a, b = both(lambda: [slice(None)] * len(scored))
    differences = [np.subtract(*both(lambda: [rng.integers(0, len(t), len(t))
                                              for _, t, _, _ in scored])[::-1])
                   for _ in range(draws)]
    se = float(np.std(differences, ddof=1)) if draws > 1 else float("nan")
    return float(a), float(b), se


def fold_ids(block: np.ndarray, arm: np.ndarray, folds: int, random_state) -> np.ndarray:
    """Fold of each row, balanced within every (block, arm) group."""
    rng = np.random.default_rng(random_state)
    ids = np.empty(len(block), dtype=int)
    groups = pd.DataFrame({"b": block, "a": arm}).groupby(["b", "a"], sort=True).indices
    for key in groups:
        at = groups[key]
        ids[rng.permutation(at)] = np.arange(len(at)) % folds
    return ids


def out_of_fold(fit: Callable, ev: Evidence, train_rows: int, ids: np.ndarray) -> pd.DataFrame:
    """Every row's predicted uplift by ``fit(X, y, arm)`` fitted on the first ``train_rows``
    rows without the row's fold."""
    parts = []
    first = np.arange(len(ev.y)) < train_rows
    for k in np.unique(ids):
        train = first & (ids != k)
        model = fit(ev.X[train].reset_index(drop=True), ev.y[train], ev.arm[train])
        parts.append(model.predict_uplift(ev.X[ids == k]).set_axis(np.flatnonzero(ids == k)))
    return pd.concat(parts).sort_index()


def decide(fit_champion: Callable, fit_challenger: Callable, ev: Evidence, champion_rows: int,
           random_state, folds: int = GUARD_FOLDS) -> GuardDecision:
    """Cross-fit the champion's recipe (``fit_champion`` on the first ``champion_rows`` rows
    of ``ev``) and the challenger's (``fit_challenger`` on all of them), score both on every
    row, and keep the champion only if the challenger is worse beyond chance: below it by more
    than ``WORSE_Z`` standard errors of the paired difference (one-sided, 95 %). Within
    chance the challenger replaces it: it learned from more rows. If a fold leaves the
    champion's rows an arm too small to fit (a pilot of a few hundred contacts), nothing is
    cross-fitted and the challenger replaces it (``cross_fitted`` False, scores NaN)."""
    ids = fold_ids(ev.block, ev.arm, folds, random_state)
    champion_ids = ids[:champion_rows]
    if any(small_arms(ev.arm[:champion_rows][champion_ids != k])
           for k in np.unique(champion_ids)):
        nan = float("nan")
        return GuardDecision(True, nan, nan, nan, int(len(ev.y)), cross_fitted=False)
    champion = out_of_fold(fit_champion, ev, champion_rows, ids)
    challenger = out_of_fold(fit_challenger, ev, len(ev.y), ids)
    champ, chall, se = compare(champion, challenger, ev.y, ev.arm, ev.block, ev.only,
                               random_state=random_state)
    worse = bool(chall < champ - WORSE_Z * se) if not np.isnan(se) else bool(chall < champ)
    return GuardDecision(not worse, champ, chall, se, int(len(ev.y)))

