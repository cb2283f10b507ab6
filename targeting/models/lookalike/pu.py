"""Positive-unlabeled learning with LightGBM: seeds against the unlabeled universe, bagged.

The unlabeled universe hides more people like the seed; a classifier trained to tell seeds from
all of it learns to push those hidden positives down. Bagging (Mordelet & Vert, 2014) softens
that: each bag trains the seeds against a small random sample of the unlabeled users, and an
unlabeled user is scored only by the bags that did not see it as a negative (out of bag), so no
user is ranked by a model that was told it is not like the seed. Every unlabeled user is
guaranteed such a bag: the unlabeled users are dealt into ``n_bags`` folds, and bag ``k`` draws
its negatives only from outside fold ``k``.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import lightgbm as lgb
import numpy as np

DEFAULT_LGB = {
    "learning_rate": 0.08,
    "num_leaves": 15,
    "min_child_samples": 20,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 5.0,
    "max_bin": 63,
}


class BaggedPU:
    """Bagged PU classifier on the model matrix.

    Parameters
    ----------
    n_bags : int, default 4
        At least 2: each unlabeled user is left out of one bag, which scores it.
    negative_ratio : float, default 2.0
        Unlabeled users sampled per seed in each bag (at least ``min_negatives``). Bagged PU
        learning draws bags about the size of the seed (Mordelet & Vert, 2014); two per seed
        ranked the planted users of the 1 M-user benchmark (10,000 seeds) as four did, within
        the spread over universes and random states, and trains 40 % fewer rows.
    n_estimators : int, default 150
        Boosting rounds per bag (early stopping on ``valid`` picks fewer when given).
    categorical : sequence of int
        Columns holding categorical codes.
    random_state : int, default 0
    lightgbm_params : dict, optional
        Overrides for :data:`DEFAULT_LGB`.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(3_000, 4))
    >>> seeds = np.flatnonzero(X[:, 0] + 0.3 * rng.normal(size=3_000) > 1.6)
    >>> pu = BaggedPU(n_bags=2, n_estimators=30).fit(X, seeds)
    >>> s = pu.score(X)
    >>> bool(s[seeds].mean() > s.mean())
    True
    """

    def __init__(self, n_bags: int = 4, negative_ratio: float = 2.0, min_negatives: int = 5_000,
                 n_estimators: int = 150, categorical=(), names=None, random_state: int = 0,
                 lightgbm_params: dict | None = None):
        self.n_bags = n_bags
        self.negative_ratio = negative_ratio
        self.min_negatives = min_negatives
        self.n_estimators = n_estimators
        self.categorical = list(categorical)
        self.names = names
        self.random_state = random_state
        self.lightgbm_params = lightgbm_params or {}

    def params(self) -> dict:
        return {**DEFAULT_LGB, **self.lightgbm_params, "objective": "binary", "verbosity": -1,
                "seed": self.random_state, "deterministic": True, "force_row_wise": True}

    def fit(self, X: np.ndarray, seeds: np.ndarray, weight: np.ndarray | None = None,
            valid: tuple[np.ndarray, np.ndarray] | None = None) -> BaggedPU:
        """Train the bags; ``seeds`` are row positions, ``valid`` an optional (rows, labels)
        for early stopping.

        ``valid`` rows are drawn into the bags like any unlabeled row but never trained on: a
        held-out row is then scored by as many bags as an unlabeled one (``score`` with
        ``rows``), so held-out seeds and the unlabeled users they are ranked against get scores
        of the same kind (averaged over all bags, held-out seeds would rank higher).
        """
        if not isinstance(self.n_bags, int | np.integer) or self.n_bags < 2:
            raise ValueError(f"n_bags must be an int of at least 2 (each unlabeled user needs a "
                             f"bag that did not train on it), got {self.n_bags!r}")
        rng = np.random.default_rng(self.random_state)
        n = len(X)
        is_seed = np.zeros(n, dtype=bool)
        is_seed[seeds] = True
        in_valid = np.zeros(n, dtype=bool)  # drawn like unlabeled rows, never trained on
        if valid is not None:
            in_valid[valid[0]] = True
        unlabeled = np.flatnonzero(~is_seed)
        fold = rng.permutation(unlabeled.size) % self.n_bags  # bag k never draws fold k
        pools = [unlabeled[fold != k] for k in range(self.n_bags)]
        n_neg = int(min(min(p.size for p in pools),
                        max(self.min_negatives, self.negative_ratio * len(seeds))))
        w_pos = np.ones(len(seeds)) if weight is None else np.asarray(weight, float)
        w_pos = w_pos / w_pos.mean()
        bags = [np.sort(rng.choice(pool, n_neg, replace=False)) for pool in pools]
        rows_per_bag = len(seeds) + n_neg
        # Small bags train faster on one thread each, side by side, than one after another with
        # OpenMP spinning on a busy machine (LightGBM releases the GIL while it boosts).
        one_thread_each = rows_per_bag < 100_000
        params = {**self.params(), **({"num_threads": 1} if one_thread_each else {})}

        def train(drawn: np.ndarray) -> lgb.Booster:
            neg = drawn[~in_valid[drawn]]
            rows = np.r_[seeds, neg]
            y = np.r_[np.ones(len(seeds)), np.zeros(len(neg))]
            # Seeds and negatives weigh the same in total: the trees split on the seed's shape.
            w = np.r_[w_pos, np.full(len(neg), len(seeds) / len(neg))]
            data = lgb.Dataset(X[rows], y, weight=w, categorical_feature=self.categorical,
                               feature_name=self.names or "auto", free_raw_data=True)
            kwargs = {}
            if valid is not None:
                vset = lgb.Dataset(X[valid[0]], valid[1], reference=data)
                kwargs = {"valid_sets": [vset], "callbacks": [
                    lgb.early_stopping(max(10, self.n_estimators // 5), verbose=False)]}
            return lgb.train(params, data, self.n_estimators, **kwargs)

        workers = min(self.n_bags, os.cpu_count() or 1) if one_thread_each else 1
        with ThreadPoolExecutor(max_workers=workers) as pool:
            self.boosters_ = list(pool.map(train, bags))
        self.in_bag_ = bags
        self.best_iterations_ = [b.best_iteration or b.num_trees() for b in self.boosters_]
        return self

    def score_universe(self, X: np.ndarray, max_full: int | None = 200_000,
                       first_trees: int = 20, always: np.ndarray | None = None,
                       known: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
        """Out-of-bag score of every row of the training matrix ``X``, as a cascade.

        With more rows than ``max_full``, the first bag's first ``first_trees`` trees score
        everyone; the best ``max_full`` rows (and the rows in ``always``, e.g. a random sample
        the score's scale is measured on) get the full score; the rest keep the first-pass
        score mapped linearly onto the full scale (least squares on the fully scored rows) and
        capped just below the lowest full score of the best, so the top ``max_full`` are ranked
        exactly. ``fully_scored_`` marks the rows that got the full score. ``known``: rows
        and their full scores from an earlier :meth:`score` with these bags, not scored again.
        """
        n = len(X)
        self.fully_scored_ = np.ones(n, dtype=bool)
        if max_full is None or n <= max_full:
            return self._score_rows(X, np.arange(n), known)
        trees = min(first_trees, _trees(self.boosters_[0]))
        first = predict_margins(self.boosters_[:1], X, [(0, trees)])[0]
        best = np.argpartition(-first, max_full - 1)[:max_full]
        self.fully_scored_[:] = False
        self.fully_scored_[best] = True
        if always is not None:
            self.fully_scored_[always] = True
        rows = np.flatnonzero(self.fully_scored_)
        full = self._score_rows(X, rows, known, (trees, first))
        slope, intercept = np.polyfit(first[rows], full, 1)
        floor = full[np.isin(rows, best)].min()
        out = np.minimum(slope * first + intercept, floor - 1e-6)
        out[rows] = full
        return out

    def _score_rows(self, X, rows, known, head=None) -> np.ndarray:
        """:meth:`score` of ``X[rows]``, reusing the ``known`` (rows, scores) and the first
        bag's ``head`` (trees, margins of every row of ``X``)."""
        if known is not None:
            have = np.zeros(len(X), dtype=bool)
            have[known[0]] = True
            values = np.zeros(len(X))
            values[known[0]] = known[1]
            out, todo = values[rows], ~have[rows]
            out[todo] = self._score_rows(X, rows[todo], None, head)
            return out
        return self.score(X[rows], rows, None if head is None else (head[0], head[1][rows]))

    def score(self, X: np.ndarray, rows: np.ndarray | None = None,
              head: tuple[int, np.ndarray] | None = None) -> np.ndarray:
        """Mean log-odds over the bags; with ``rows`` (positions of ``X`` in the training
        matrix), each row is scored only by the bags it was not a negative in. ``head``: the
        first bag's margins of its first trees on ``X``, already computed (a cascade's first
        pass), as ``(trees, margins)``: that bag predicts only its later trees."""
        iterations = [(0, _trees(b)) for b in self.boosters_]
        if head is not None:
            iterations[0] = (head[0], iterations[0][1] - head[0])
        margins = predict_margins(self.boosters_, X, iterations)
        if head is not None:
            margins[0] += head[1]
        if rows is None:
            return margins.mean(axis=0)
        use = np.ones_like(margins, dtype=bool)
        for k, neg in enumerate(self.in_bag_):
            use[k] = ~np.isin(rows, neg)
        use[:, ~use.any(axis=0)] = True  # a guard: every unlabeled row has its bag
        return (margins * use).sum(axis=0) / use.sum(axis=0)


def _trees(booster: lgb.Booster) -> int:
    """The trees a booster scores with: its best iteration, or all of them."""
    return booster.best_iteration or booster.num_trees()


def predict_margins(boosters: list[lgb.Booster], X: np.ndarray,
                    iterations: list[tuple[int, int]] | None = None,
                    min_rows: int = 20_000) -> np.ndarray:
    """Raw margins of each booster (rows of the result) on ``X``, over every core.

    Each (booster, block of rows) pair is one single-threaded ``predict`` in a thread of
    its own (LightGBM releases the GIL): both cores work on two bags, or on two halves of
    one bag's rows, without OpenMP threads that wait on each other on a busy machine. Rows
    are scored independently, so the margins are those of one ``predict`` call.
    ``iterations``: per booster, the first tree and the number of trees (default: from the
    first tree to its best iteration).
    """
    iterations = iterations or [(0, _trees(b)) for b in boosters]

    def one(task):
        k, block = task
        start, count = iterations[k]
        if count <= 0:  # LightGBM reads 0 trees as all of them
            return np.zeros(len(X[block]))
        return boosters[k].predict(X[block], raw_score=True, num_threads=1,
                                   start_iteration=start, num_iteration=count)

    cores = os.cpu_count() or 1
    n_blocks = 1 if len(X) * len(boosters) < min_rows else -(-cores // len(boosters))
    edges = np.linspace(0, len(X), n_blocks + 1).astype(int)
    blocks = [slice(lo, hi) for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
    tasks = [(k, block) for k in range(len(boosters)) for block in blocks]
    if len(tasks) == 1:
        return one(tasks[0])[None, :]
    with ThreadPoolExecutor(max_workers=min(cores, len(tasks))) as pool:
        parts = list(pool.map(one, tasks))
    return np.vstack([np.concatenate(parts[k * n_blocks:(k + 1) * n_blocks])
                      for k in range(len(boosters))])
