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


def test_classifier_cascade_ranks_the_top_like_full_scoring():
    import pandas as pd

    import targeting as tg

    rng = np.random.default_rng(1)
    n, d = 60_000, 16
    X = rng.standard_normal((n, d)).astype(np.float32)
    positive = rng.random(n) < 0.03
    X[positive, :5] += rng.normal(0, 1.2, (3, 5))[rng.integers(0, 3, positive.sum())]
    frame = pd.DataFrame(X, columns=[f"f{j}" for j in range(d)],
                         index=pd.Index(np.arange(n) + 10**6, name="user_id"))
    seeds = rng.choice(frame.index[positive], 600, replace=False)
    params = dict(method="classifier", n_bags=2, n_estimators=60, progress=False)
    cascade = tg.LookalikeModel(max_full_scores=12_000, **params).fit(frame, seeds)
    full = tg.LookalikeModel(max_full_scores=None, **params).fit(frame, seeds)
    scored = cascade.pu_.fully_scored_
    assert 12_000 <= scored.sum() <= 12_000 + len(cascade._reference_rows)
    assert full.pu_.fully_scored_.all()
    planted = frame.index[positive]
    for size in (0.01, 0.05):  # audiences well inside the fully scored set
        a, b = cascade.expand(size=size).user_ids, full.expand(size=size).user_ids
        assert np.isin(a, b).mean() >= 0.98, size
        assert abs(np.isin(a, planted).mean() - np.isin(b, planted).mean()) <= 0.01
    # Users outside the cascade's fully scored set never outrank the best of those inside.
    inside = cascade.scores_["classifier"].to_numpy()[scored]
    outside = cascade.scores_["classifier"].to_numpy()[~scored]
    assert outside.max() < np.sort(inside)[-12_000]


def test_float_frames_take_the_fast_matrix_with_the_same_numbers():
    import pandas as pd

    from targeting.models.lookalike.universe import frame_pipeline, model_matrix

    rng = np.random.default_rng(1)
    X = rng.standard_normal((20_000, 12)).astype(np.float32)
    X[rng.random(X.shape) < 0.05] = np.nan
    index = pd.Index(np.arange(len(X)), name="user_id")
    frame = pd.DataFrame(X, columns=[f"f{j}" for j in range(12)], index=index)
    mixed = frame.assign(f3=frame.f3.astype(np.float64), f5=frame.f5.astype(np.float64))
    coded = frame.assign(level=np.where(X[:, 0] > 0, "a", "b"))  # a categorical: to_matrix
    for f in (frame, mixed, coded, frame.iloc[:700]):
        pipe = frame_pipeline(f)
        fast = model_matrix(pipe, f, rows_per_step=1_000)  # steps that do not divide the rows
        # float32 columns only: kept float32 (every float32 is exactly a float64).
        single = (f.dtypes == np.float32).all()
        assert fast.dtype == (np.float32 if single else np.float64) and fast.flags.c_contiguous
        np.testing.assert_array_equal(fast, pipe.to_matrix(f))  # NaNs in the same places
    # The similarity score does not depend on how many rows are standardised at a time.
    pipe = frame_pipeline(frame)
    M = model_matrix(pipe, frame)
    space = SimilaritySpace(n_clusters=5).fit(M, np.flatnonzero(X[:, 0] > 1.5))
    np.testing.assert_array_equal(space.score(M), space.score(M, chunk=65_536))
