"""The similarity search is exact: the same top-k as faiss brute force on the same vectors."""

from __future__ import annotations

import numpy as np

from targeting.models.lookalike.space import SimilaritySpace


def test_centroid_top_k_matches_faiss_exact_search():
    faiss = __import__("faiss")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60_000, 32)).astype(np.float32)
    positive = rng.random(len(X)) < 0.05
    X[positive, :6] += rng.normal(0, 1.5, (4, 6))[rng.integers(0, 4, positive.sum())]
    seeds = rng.choice(np.flatnonzero(positive), 800, replace=False)
    space = SimilaritySpace(n_clusters=20).fit(X, seeds)
    Z = space.standardise(X)
    k = 3_000
    scores = space.score_standardised(Z)
    ours = np.argsort(-scores, kind="stable")[:k]
    # faiss: each centroid's exact top-k by inner product (bias as an extra coordinate), merged.
    C = space.centroids_ * space.weights_.astype(np.float32)
    index = faiss.IndexFlatIP(Z.shape[1] + 1)
    index.add(np.hstack([Z, np.ones((len(Z), 1), np.float32)]))
    _, found = index.search(np.hstack([C, space.bias_[:, None]]).astype(np.float32), k)
    cand = np.unique(found.ravel())
    exact = cand[np.argsort(-(Z[cand] @ C.T + space.bias_).max(axis=1), kind="stable")[:k]]
    assert len(np.intersect1d(ours, exact)) / k >= 0.99
    # And the planted population is what it finds.
    assert positive[ours].mean() > 0.5
