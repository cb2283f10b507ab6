"""Similarity to a seed: a standardised, seed-weighted feature space and k-means seed centroids.

Every feature is log-scaled when it is a non-negative count or amount, standardised against the
universe, and weighted by how far the seed's mean sits from the universe's on it (its effect
size, shrunk by twice its standard error, so features on which the seed is not distinctive drop
out). The seed is summarised by k-means centroids in that space, ~20 of them rather than one
average: a seed is usually a mixture of kinds of people. A user's similarity is the best match
over the centroids, ``max_c (z . c - |c|^2 / 2)``: up to a constant, the log density ratio of
the nearest seed cluster against the universe. Scoring is one float32 matrix product
(users x dims by dims x centroids), exact, and linear in the number of users.
"""

from __future__ import annotations

import numpy as np
from sklearn.cluster import KMeans
from threadpoolctl import threadpool_limits

_SAMPLE = 50_000  # rows used to estimate means and standard deviations (se ~0.5 % of sd)


class SimilaritySpace:
    """Standardise the model matrix and score similarity to seed centroids.

    Parameters
    ----------
    n_clusters : int, default 20
        Seed centroids (fewer when the seed is small: at least 10 seeds per centroid).
    categorical : sequence of int
        Columns of the model matrix holding categorical level codes (one-hot encoded here).
    names : sequence of str
        Column names of the model matrix, for the reasons.
    random_state : int, default 0

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(2_000, 5))
    >>> seeds = np.flatnonzero(X[:, 0] > 1.5)
    >>> space = SimilaritySpace(n_clusters=3, names=list("abcde")).fit(X, seeds)
    >>> s = space.score(X)
    >>> bool(s[seeds].mean() > s.mean())
    True
    """

    def __init__(self, n_clusters: int = 20, categorical=(), names=(), random_state: int = 0):
        self.n_clusters = n_clusters
        self.categorical = list(categorical)
        self.names = list(names)
        self.random_state = random_state

    # -- the standardised space ----------------------------------------------------------------
    def fit_scaler(self, X: np.ndarray) -> SimilaritySpace:
        """Learn log-scaling, one-hot levels, means and standard deviations on the universe."""
        rng = np.random.default_rng(self.random_state)
        sample = X if len(X) <= _SAMPLE else X[np.sort(rng.choice(len(X), _SAMPLE, replace=False))]
        cat = set(self.categorical)
        self.numeric_ = [j for j in range(X.shape[1]) if j not in cat]
        num = sample[:, self.numeric_].astype(np.float64)
        with np.errstate(invalid="ignore"):
            low = np.nanmin(np.where(np.isnan(num), np.inf, num), axis=0)
            self.log_ = (low >= 0) & (np.nanmax(num, axis=0) > 1)
        self.levels_ = {j: np.unique(sample[:, j][~np.isnan(sample[:, j])])
                        for j in self.categorical}
        raw = self._expand(sample)
        self.mean_ = np.nanmean(raw, axis=0)
        self.mean_[np.isnan(self.mean_)] = 0.0
        std = np.nanstd(raw, axis=0)
        self.std_ = np.where(np.isfinite(std) & (std > 1e-9), std, 1.0)
        self.dim_names_ = [self._name(j) for j in self.numeric_] + [
            f"{self._name(j)}={int(v)}" for j in self.categorical for v in self.levels_[j]]
        return self

    def standardise(self, X: np.ndarray, dims: np.ndarray | None = None) -> np.ndarray:
        """Standardised float32 matrix: missing values at the universe mean, clipped to +-5.
        ``dims``: only these columns of it (sorted), computed from the columns they need."""
        Z = self._expand(X, dims)
        mean, std = (self.mean_, self.std_) if dims is None else (self.mean_[dims],
                                                                 self.std_[dims])
        Z -= mean  # in place: at a million rows each temporary costs as much as the maths
        Z /= std
        np.nan_to_num(Z, copy=False, nan=0.0)
        np.clip(Z, -5.0, 5.0, out=Z)  # also brings +-inf to +-5
        return Z.astype(np.float32)

    def _expand(self, X: np.ndarray, dims: np.ndarray | None = None) -> np.ndarray:
        k = len(self.numeric_)
        num_dims = np.arange(k) if dims is None else dims[dims < k]
        cols = [self.numeric_[i] for i in num_dims]
        # The model matrix keeps numeric columns first: a slice copy beats a gather by far.
        head = cols == list(range(len(cols)))
        num = np.array(X[:, :len(cols)] if head else X[:, cols], dtype=np.float64)
        logs = self.log_[num_dims]
        if logs.any():
            num[:, logs] = np.log1p(np.maximum(num[:, logs], 0))
        hot, start = [], k
        for j in self.categorical:
            levels = self.levels_[j]
            keep = np.arange(len(levels)) if dims is None else \
                dims[(dims >= start) & (dims < start + len(levels))] - start
            start += len(levels)
            if keep.size:
                block = (X[:, [j]] == levels[keep][None, :]).astype(np.float64)
                block[np.isnan(X[:, j])] = np.nan
                hot.append(block)
        return np.hstack([num, *hot]) if hot else num

    def _name(self, j: int) -> str:
        return self.names[j] if j < len(self.names) else f"x{j}"

    # -- the seed ----------------------------------------------------------------------------
    def fit(self, X: np.ndarray, seeds: np.ndarray, weight: np.ndarray | None = None,
            Z: np.ndarray | None = None) -> SimilaritySpace:
        """Fit the scaler (unless fitted), feature weights and seed centroids.

        ``seeds`` are row positions in ``X``; ``weight`` optional per-seed values; ``Z`` the
        already standardised matrix, if the caller has it.
        """
        if not hasattr(self, "mean_"):
            self.fit_scaler(X)
        Z = self.standardise(X) if Z is None else Z
        Zs = Z[seeds].astype(np.float64)
        w = np.ones(len(seeds)) if weight is None else np.asarray(weight, dtype=float)
        w = w / w.sum()
        effect = w @ Zs  # the universe's mean is 0 and its standard deviation 1 on every dim
        n_eff = 1.0 / np.sum(w**2)
        self.weights_ = np.maximum(np.abs(effect) - 2.0 / np.sqrt(n_eff), 0.0)
        if not self.weights_.any():  # an indistinct seed: keep every dimension, equally
            self.weights_ = np.ones_like(effect)
        k = int(max(1, min(self.n_clusters, len(seeds) // 10)))
        km = KMeans(k, n_init=3, random_state=self.random_state)
        # Dimensions of weight 0 are 0 for every seed: k-means runs on the others (the same
        # distances), on one thread below 100,000 seeds (OpenMP's threads synchronise more
        # than they compute on a few thousand rows: 10x slower on a busy 2-core machine).
        active = self.active_dims()
        with threadpool_limits(1 if len(seeds) < 100_000 else None):
            km.fit(Zs[:, active] * self.weights_[active], sample_weight=w * len(seeds))
        self.centroids_ = np.zeros((k, Zs.shape[1]), dtype=np.float32)
        self.centroids_[:, active] = km.cluster_centers_
        self.bias_ = (-0.5 * np.sum(self.centroids_.astype(np.float64) ** 2, axis=1)).astype(
            np.float32)
        sizes = np.bincount(km.labels_, weights=w, minlength=k)
        self.cluster_share_ = sizes / sizes.sum()
        self.seed_variance_ = float(np.average((Zs - w @ Zs) ** 2, axis=0, weights=w).mean())
        return self

    def active_dims(self) -> np.ndarray:
        """The dimensions the seed weighs (weight above 0); the others never change a score."""
        return np.flatnonzero(self.weights_ > 0)

    def project(self, Z: np.ndarray) -> np.ndarray:
        return Z * self.weights_.astype(np.float32)

    def score_standardised(self, Z: np.ndarray, chunk: int = 262_144,
                           dims: np.ndarray | None = None) -> np.ndarray:
        """Best centroid match of each row of a standardised matrix (float32 matrix products);
        ``dims``: ``Z`` holds only these dimensions."""
        C = (self.centroids_ * self.weights_.astype(np.float32)).T  # weights folded in once
        C = C if dims is None else np.ascontiguousarray(C[dims])
        out = np.empty(len(Z), dtype=np.float32)
        for start in range(0, len(Z), chunk):
            block = Z[start:start + chunk] @ C
            block += self.bias_
            out[start:start + chunk] = block.max(axis=1)
        return out

    def score(self, X: np.ndarray, chunk: int = 16_384) -> np.ndarray:
        """Similarity of each row of the model matrix to the seed, standardised a block of
        rows at a time (never the whole standardised matrix: at 1 M users its temporaries cost
        more in page faults than the arithmetic; 16,384 rows of 64 features, 8 MiB a
        temporary, ran a third faster than 65,536 on the 2-core machine, same numbers), and
        only on the dimensions the seed weighs (10 of 64 on the 1 M-user benchmark)."""
        dims = self.active_dims()
        out = np.empty(len(X), dtype=np.float32)
        for start in range(0, len(X), chunk):
            out[start:start + chunk] = self.score_standardised(
                self.standardise(X[start:start + chunk], dims), dims=dims)
        return out

    def nearest(self, Z: np.ndarray) -> np.ndarray:
        """Index of the best-matching centroid for each row of a standardised matrix."""
        C = (self.centroids_ * self.weights_.astype(np.float32)).T
        return np.argmax(Z @ C + self.bias_, axis=1)

    def reasons(self, Z: np.ndarray, top: int = 3) -> list[list[str]]:
        """The dimensions that contribute most to each row's match with its nearest centroid."""
        if len(Z) == 0:
            return []
        nearest = self.nearest(Z)
        contrib = Z * (self.centroids_[nearest] * self.weights_.astype(np.float32))
        order = np.argsort(-contrib, axis=1, kind="stable")[:, :top]
        names = np.asarray(self.dim_names_, dtype=object)
        out = []
        for row, cols in enumerate(order):
            keep = cols[contrib[row, cols] > 0]
            out.append([_describe(names[j], Z[row, j]) for j in keep])
        return out


def _describe(name: str, z: float) -> str:
    if "=" in name:
        return name if z > 0 else f"not {name}"
    return f"{name} {'high' if z > 0 else 'low'}"
