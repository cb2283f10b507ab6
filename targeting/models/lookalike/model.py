"""LookalikeModel: from a brand's seed users to a ranked, calibrated score for every user.

Three methods score the universe, each usable alone:

- ``classifier``: bagged positive-unlabeled LightGBM (:mod:`.pu`);
- ``similarity``: best match to ~20 k-means seed centroids in a standardised, seed-weighted
  feature space (:mod:`.space`);
- ``graph``: seed rates of the chat groups around each user (:mod:`.graph`).

The blend learns what works for the seed at hand. A share of the seeds is held out (the latest
ones when the seed has dates); the methods are fitted on the rest and score the held-out seeds
and a random sample of the universe; each method's score is put on a common robust scale
(median and inter-quartile range over that sample). A method stays in the blend only if a
likelihood-ratio test says it adds to the others on held-out seeds against the sample; a
logistic regression on the methods kept gives the weights (method weights non-negative; the
graph's "in a chat group at all" offset keeps its sign). The calibrated ``score`` is the
estimated probability that a user outside the seed belongs with it: the PU constant (Elkan &
Noto, 2008) is read at the top of the blend's ranking and a saturating logistic curve is fitted
under it (:mod:`.stack`). The methods are then refitted on every seed (``refit``; by default for
seeds under 5,000, which are cross-fitted first: every seed, or at least 400, held out once).

At a million users the classifier runs as a cascade (``max_full_scores``): a first pass of a few
trees picks who gets every tree of every bag.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from targeting.features.pipeline import BUILDERS, FeaturePipeline
from targeting.models._base import Scorable, decile_edges
from targeting.models._params import LightGBMParamsMixin
from targeting.models.lookalike.graph import GroupGraph
from targeting.models.lookalike.pu import BaggedPU
from targeting.models.lookalike.ranks import (
    crossfit_percentile,
    location_scale,
    percentile_of,
    reference_quantiles,
    standardised,
    take_rows,
    tiebreak,
)
from targeting.models.lookalike.seeds import SeedReport, parse_seeds
from targeting.models.lookalike.space import SimilaritySpace
from targeting.models.lookalike.stack import align_scale, apply_stack, calibrate, fit_stack
from targeting.models.lookalike.universe import (
    bought_before,
    consenting,
    frame_pipeline,
    model_matrix,
    profile_columns,
    silo_presence,
    with_user_index,
)
from targeting.privacy import require_floor

METHODS = ("classifier", "similarity", "graph")
SIZES = (0.01, 0.05, 0.10)
_REFERENCE = 20_000  # unlabeled users the held-out seeds are ranked against
_REFIT_BELOW = 5_000  # refit="auto": larger seeds keep the first fit (four-fifths of them)
_CROSSFIT_SEEDS = 400  # held-out seeds the blend and its calibration learn from, at least


class LookalikeModel(LightGBMParamsMixin, BaseEstimator):
    """Seeds in, a lookalike score for every user out; ``expand`` turns it into an audience.

    Parameters
    ----------
    method : {"blend", "classifier", "similarity", "graph"}, default "blend"
    n_clusters : int, default 20
        Seed centroids for the similarity method.
    n_bags : int, default 4
        Bags of the PU classifier (at least 2: every user is scored by a bag that did not
        train on it).
    n_estimators : int, default 150
        Boosting rounds per bag (early stopping on the held-out seeds picks fewer).
    holdout : float, default 0.2
        Share of the seeds held out to weigh the methods, calibrate the score and report their
        recall. Refitted, undated seeds are cross-fitted in folds of this share until at least
        400 seeds (or all) have been held out once.
    min_seed_size : int, optional
        Fewer matched seeds than this (or, with values, fewer seeds carrying the value) raise a
        ``ValueError``. Default and floor: the organisation's (:mod:`targeting.privacy`, 100
        unless ``TARGETING_MIN_SEED_SIZE`` says otherwise); lower values raise
        :class:`~targeting.privacy.PrivacyFloorError`.
    value_column, date_column : str, optional
        With seeds as a DataFrame: a customer-value column (value-weighted seeds) and a date
        column (the latest seeds are held out: an out-of-time check).
    builders : sequence of str, default all silos
        Feature builders when ``fit`` gets raw tables.
    refit : bool or "auto", default "auto"
        Refit the methods on every seed after the blend is learned. ``"auto"``: only seeds
        under 5,000 users, where the held-out fifth is worth a second fit; above, four-fifths
        of the seed already pin the model down and the refit doubles the fitting time.
    max_full_scores : int or None, default 200,000
        The classifier scores at most this many users with every tree of every bag: the best by
        a first pass of the first bag's first 20 trees (a cascade, as in two-stage retrieval).
        The others keep that first-pass score, mapped onto the full scale and capped below the
        lowest fully scored user, so audiences up to this size are ranked exactly. ``None``:
        score every user fully.
    random_state : int, default 0
    progress : bool, default True
    **lightgbm_params
        Overrides for the PU classifier's LightGBM parameters.

    Attributes
    ----------
    pipeline_ : FeaturePipeline
    scores_ : DataFrame
        Per user: each method's normal score (0 = the universe's median) and ``score``, the
        calibrated blend; index ``user_id``.
    seed_report_ : SeedReport
    weights_ : dict
        The blend's weight per method (0 for a method the likelihood-ratio test dropped).

    Examples
    --------
    >>> import targeting as tg
    >>> world = tg.demo_world(n_users=3_000, random_state=4)
    >>> seg = world.truth["segment"]
    >>> seeds = seg[seg].index[:120]
    >>> model = LookalikeModel(progress=False, n_bags=2).fit(world.tables, seeds, world.as_of)
    >>> audience = model.expand(size=0.05)
    >>> len(audience)
    150
    """

    def __init__(self, method: str = "blend", *, n_clusters: int = 20, n_bags: int = 4,
                 n_estimators: int = 150, holdout: float = 0.2, min_seed_size: int | None = None,
                 value_column: str | None = None, date_column: str | None = None,
                 builders: Sequence[str] = BUILDERS, refit: bool | str = "auto",
                 max_full_scores: int | None = 200_000, random_state: int = 0,
                 progress: bool = True, **lightgbm_params: Any):
        self.method = method
        self.n_clusters = n_clusters
        self.n_bags = n_bags
        self.n_estimators = n_estimators
        self.holdout = holdout
        self.min_seed_size = min_seed_size
        self.value_column = value_column
        self.date_column = date_column
        self.builders = builders
        self.refit = refit
        self.max_full_scores = max_full_scores
        self.random_state = random_state
        self.progress = progress
        self._lightgbm_params = dict(lightgbm_params)

    @property
    def methods_(self) -> tuple[str, ...]:
        """The methods this model runs."""
        if self.method == "blend":
            return tuple(m for m in METHODS if m != "graph" or self._graph is not None)
        return (self.method,)

    # -- fitting -------------------------------------------------------------------------------
    def fit(self, data: Mapping[str, pd.DataFrame] | pd.DataFrame, seeds, as_of=None,
            y=None) -> LookalikeModel:
        """Learn the seed's lookalike score over the universe.

        Parameters
        ----------
        data : dict of DataFrame or DataFrame
            Raw contract tables (features built at ``as_of``; the graph method needs
            ``groups``) or a prebuilt feature frame indexed by ``user_id``.
        seeds : sequence of user ids, or DataFrame with ``user_id``
            The brand's seed users (value and date columns named by ``value_column`` and
            ``date_column``).
        as_of : timestamp-like, optional
            Only data before it are read.
        """
        self._check_params()
        # Every matrix product here is small (a block of users by ~20 centroids, a few blend
        # columns): BLAS threads would synchronise more than they compute (4x slower on a
        # busy 2-core machine); the cores go to LightGBM's bags instead.
        with threadpool_limits(1, user_api="blas"):
            return self._fit(data, seeds, as_of)

    def _fit(self, data, seeds, as_of) -> LookalikeModel:
        bar = tqdm(total=5, desc="lookalike", disable=not self.progress, leave=False)
        self._universe(data, as_of)
        bar.update()
        self._graph = None
        if self.method in ("blend", "graph") and isinstance(data, Mapping) and \
                "groups" in data and "identity" in data:
            self._graph = GroupGraph(data, self.user_ids_, self.as_of_)
        if self.method == "graph" and self._graph is None:
            raise ValueError("method='graph' needs raw tables with 'groups' and 'identity'")
        rows, weight, dates = self._match_seeds(seeds)
        is_seed = np.zeros(len(self.user_ids_), dtype=bool)
        is_seed[rows] = True
        self.is_seed_ = is_seed
        folds = self._folds(len(rows), dates)
        bar.update()
        reference = self._reference(is_seed)
        self._reference_rows = reference
        # Pass 1: methods fitted on part of the seed, judged on the held-out part (every seed
        # held out once when the seed is cross-fitted) against its share of the reference.
        parts, self._fold_rounds = [], []  # the classifier's early-stopped rounds per fold
        for k, (fit_pos, hold_pos) in enumerate(folds):
            ref_rows = reference[k::len(folds)]
            first = self._fit_methods(rows[fit_pos], take_rows(weight, fit_pos),
                                      rows[hold_pos], ref_rows)
            parts.append(({m: first[m](rows[hold_pos]) for m in self.methods_},
                          {m: first[m](ref_rows) for m in self.methods_}))
        if self._fold_rounds:
            self._rounds = max(10, int(np.median(self._fold_rounds)))
        bar.update()
        self._learn_blend(parts)
        # Pass 2: refit on every seed and score the universe.
        final = self._fit_methods(rows, weight, None, None) if self._refits(len(rows)) else first
        bar.update()
        self._score_universe(final)
        self._finish_report(rows, sum(len(hold) for _, hold in folds))
        bar.update()
        bar.close()
        return self

    def _refits(self, n_seeds: int) -> bool:
        if self.refit == "auto":
            return n_seeds < _REFIT_BELOW
        return bool(self.refit)

    def _z(self, rows: np.ndarray) -> np.ndarray:
        """Standardised rows of the universe (the similarity space's coordinates)."""
        return self._space0.standardise(self._X[rows])

    def _check_params(self) -> None:
        if self.method not in ("blend", *METHODS):
            raise ValueError(f"method must be 'blend' or one of {list(METHODS)}, got "
                             f"{self.method!r}")
        if not 0.05 <= self.holdout <= 0.5:
            raise ValueError(f"holdout must be between 0.05 and 0.5, got {self.holdout}")
        cap = self.max_full_scores
        if cap is not None and not (isinstance(cap, int | np.integer) and cap >= 1_000):
            raise ValueError(f"max_full_scores must be None or an int of at least 1,000, got "
                             f"{self.max_full_scores!r}")
        if not isinstance(self.n_bags, int | np.integer) or self.n_bags < 2:
            raise ValueError(f"n_bags must be an int of at least 2 (every user is scored by a "
                             f"bag that did not train on it), got {self.n_bags!r}")
        if self.refit not in (True, False, "auto"):
            raise ValueError(f"refit must be True, False or 'auto', got {self.refit!r}")
        require_floor("min_seed_size", self.min_seed_size)

    def _universe(self, data, as_of) -> None:
        """The feature matrix, the profile columns used by constraints, consent and buyers."""
        if isinstance(data, Mapping):
            self.pipeline_ = FeaturePipeline(builders=self.builders)
            features = self.pipeline_.fit_transform(data, as_of)
            self.as_of_ = self.pipeline_.as_of_
            self.profile_ = profile_columns(data, features.index)
            self.consent_ = consenting(data, features.index)
            self.buyers_ = bought_before(data, features.index, self.as_of_)
        elif isinstance(data, pd.DataFrame):
            features = with_user_index(data)
            self.pipeline_ = frame_pipeline(features)
            self.as_of_ = None if as_of is None else pd.Timestamp(as_of)
            self.profile_ = features.reindex(columns=["city_tier", "region", "age_band"])
            self.consent_ = np.ones(len(features), dtype=bool)
            self.buyers_ = pd.DataFrame(index=features.index)
        else:
            raise TypeError(f"data must be a dict of contract tables or a feature DataFrame, "
                            f"got {type(data).__name__}")
        if len(features) == 0:
            raise ValueError("the universe is empty: no users in the data")
        self.user_ids_ = features.index.to_numpy()
        self._user_index = features.index  # its hash table, once built, finds the seeds
        self._X = model_matrix(self.pipeline_, features)
        self._space0 = SimilaritySpace(self.n_clusters, self.pipeline_.categorical_indices_,
                                       self.pipeline_.feature_names_, self.random_state)
        self._space0.fit_scaler(self._X)  # the universe's scale, shared by every seed fit
        self._silo_rows = silo_presence(self.pipeline_, self._X)

    def _match_seeds(self, seeds):
        seedset = parse_seeds(seeds, self.value_column, self.date_column)
        pos = self._user_index.get_indexer(seedset.ids)
        found = pos >= 0
        self._unknown = seedset.ids[~found].tolist()
        self._seed_counts = (seedset.n_given, seedset.n_duplicates)
        rows = pos[found]
        weight = None if seedset.values is None else seedset.values[found]
        self._check_seed_size(rows.size, seedset.n_given, weight)
        dates = None if seedset.dates is None else seedset.dates[found]
        order = np.argsort(rows, kind="stable")  # the same seed in any order: the same model
        return rows[order], take_rows(weight, order), take_rows(dates, order)

    def _check_seed_size(self, n_matched: int, n_given: int, weight) -> None:
        """Enough matched seeds, and with values, enough seeds carrying value (a value above
        zero: 100 seeds with 5 valued count as 5)."""
        minimum = require_floor("min_seed_size", self.min_seed_size)
        if n_matched < minimum:
            raise ValueError(
                f"seed too small: {n_matched} of {n_given} seed ids matched users in "
                f"the data ({len(self._unknown)} unknown to every silo), at least "
                f"{minimum} are needed (min_seed_size). Add seeds, or check that the "
                "ids are user_ids of the identity table.")
        valued = n_matched if weight is None else int(np.count_nonzero(weight > 0))
        if valued < minimum:
            raise ValueError(
                f"seed too small: only {valued} of {n_matched} matched seeds carry a value "
                f"above zero in {self.value_column!r}; at least {minimum} are needed "
                "(min_seed_size). Add valued seeds.")

    def _folds(self, n: int, dates) -> list[tuple[np.ndarray, np.ndarray]]:
        """``(fit, held-out)`` seed positions per fold.

        Seeds that are refitted and undated are cross-fitted (folds of ``holdout`` of the
        seed, each fitted on the rest) until 400 seeds, or every seed, are held out: with one
        fifth held out, ~90 seeds read the calibration constant to about +-20 %
        (demo worlds 0-5 at 20,000 users), with ~430 to about +-10 %. Dated seeds hold out
        their latest share (an out-of-time check); seeds that are not refitted hold out one
        share (the first fit is the final model).
        """
        n_hold = max(10, int(round(self.holdout * n)))
        if dates is not None:
            order = np.argsort(dates, kind="stable")  # the latest seeds are held out
            return [(np.sort(order[: n - n_hold]), np.sort(order[n - n_hold:]))]
        order = np.random.default_rng(self.random_state).permutation(n)
        if not self._refits(n):
            return [(np.sort(order[: n - n_hold]), np.sort(order[n - n_hold:]))]
        k = max(2, round(1 / self.holdout))
        fold = np.arange(n) % k
        used = min(k, -(-_CROSSFIT_SEEDS // n_hold))
        return [(np.sort(order[fold != i]), np.sort(order[fold == i])) for i in range(used)]

    def _reference(self, is_seed: np.ndarray) -> np.ndarray:
        unlabeled = np.flatnonzero(~is_seed)
        rng = np.random.default_rng(self.random_state + 1)
        k = min(_REFERENCE, unlabeled.size)
        return np.sort(rng.choice(unlabeled, k, replace=False))

    def _fit_methods(self, seed_rows, weight, held_rows, reference) -> dict:
        """Fit each method on ``seed_rows``; return a scorer per method (rows -> raw scores)."""
        X, out = self._X, {}
        if "similarity" in self.methods_:
            space = SimilaritySpace(self.n_clusters, self.pipeline_.categorical_indices_,
                                    self.pipeline_.feature_names_, self.random_state)
            for attr in ("numeric_", "log_", "levels_", "mean_", "std_", "dim_names_"):
                setattr(space, attr, getattr(self._space0, attr))
            space.fit(X[seed_rows], np.arange(len(seed_rows)), weight)
            self.space_ = space
            out["similarity"] = lambda rows, s=space: s.score(X if rows is None else X[rows])
        if "classifier" in self.methods_:
            valid = None
            if held_rows is not None:
                vrows = np.r_[held_rows, reference[: 5 * len(held_rows) + 1000]]
                valid = (vrows, np.r_[np.ones(len(held_rows)), np.zeros(len(vrows) -
                                                                     len(held_rows))])
            n_est = self.n_estimators if held_rows is not None else self._rounds
            pu = BaggedPU(self.n_bags, n_estimators=n_est,
                          categorical=self.pipeline_.categorical_indices_,
                          names=self.pipeline_.feature_names_, random_state=self.random_state,
                          lightgbm_params=self._lightgbm_params)
            pu.fit(X, seed_rows, weight, valid)
            if held_rows is not None:
                self._fold_rounds.append(max(10, int(np.median(pu.best_iterations_))))
            self.pu_ = pu
            out["classifier"] = self._classifier_scores(pu)
        if "graph" in self.methods_:
            is_seed = np.zeros(len(X), dtype=bool)
            is_seed[seed_rows] = True
            seed_weight = np.zeros(len(X))  # value-weighted seeds weigh in the groups too
            seed_weight[seed_rows] = 1.0 if weight is None else weight / np.mean(weight)
            graph_score = self._graph.score(seed_weight)
            self._graph_seed = is_seed
            out["graph"] = lambda rows, g=graph_score: g if rows is None else g[rows]
        return out

    def _classifier_scores(self, pu: BaggedPU):
        """The classifier's scorer (rows -> scores; ``None``: the universe, as a cascade).
        Rows it has scored are not scored again for the universe (the held-out seeds and the
        reference, when the first fit is the final model)."""
        X, seen = self._X, []

        def scores(rows):
            if rows is not None:
                seen.append((rows, pu.score(X[rows], rows)))
                return seen[-1][1]
            known = tuple(np.concatenate(a) for a in zip(*seen, strict=True)) if seen else None
            return pu.score_universe(X, self.max_full_scores, always=self._reference_rows,
                                     known=known)
        return scores

    # -- the blend -----------------------------------------------------------------------------
    def _learn_blend(self, parts: list[tuple[dict, dict]]) -> None:
        """Stacking weights and PU calibration on the held-out seeds against the reference,
        each fold's scores put on its own reference share's scale; held-out recall."""
        Zh, Zr, self._held_pct = [], [], {m: [] for m in self.methods_}
        for held, ref in parts:
            stats = {m: location_scale(ref[m]) for m in self.methods_}
            Zh.append(self._stack_inputs(held, stats))
            Zr.append(self._stack_inputs(ref, stats))
            for m in self.methods_:
                self._held_pct[m].append(percentile_of(held[m], reference_quantiles(ref[m])))
        Zh, Zr = np.vstack(Zh), np.vstack(Zr)
        self._held_pct = {m: np.concatenate(p) for m, p in self._held_pct.items()}
        self._blend = fit_stack(Zh, Zr, self._stack_names())
        self._reference_blend = Zr @ self._blend["weights"]
        feature_methods = [m for m in self.methods_ if m != "graph"]
        self._blend_features = None
        if feature_methods and "graph" in self.methods_:
            cols = [self._stack_names().index(m) for m in feature_methods]
            self._blend_features = fit_stack(Zh[:, cols], Zr[:, cols], feature_methods)
            self._reference_features = Zr[:, cols] @ self._blend_features["weights"]
        elif feature_methods:
            self._blend_features = self._blend
            self._reference_features = self._reference_blend
        # The blend's held-out recall: its weights cross-fitted in two folds.
        self._held_pct["blend"] = crossfit_percentile(Zh, Zr, self._stack_names(),
                                                       self.random_state)

    def _stack_names(self) -> list[str]:
        names = list(self.methods_)
        return names + ["graph_known"] if "graph" in names else names

    def _stack_inputs(self, raw: dict, stats: dict) -> np.ndarray:
        cols = []
        for m in self.methods_:
            z = standardised(raw[m], stats[m])
            if m == "graph":
                known = ~np.isnan(raw[m])
                cols += [np.where(known, z, 0.0)]
                continue
            cols.append(z)
        if "graph" in self.methods_:
            cols.append((~np.isnan(raw["graph"])).astype(float))
        return np.column_stack(cols)

    def _score_universe(self, final: dict) -> None:
        raw = {m: np.asarray(final[m](None), dtype=float) for m in self.methods_}
        unlabeled = ~self.is_seed_
        measured = {m: raw[m][unlabeled] for m in self.methods_}
        if "classifier" in raw and not self.pu_.fully_scored_.all():
            # A cascade: its scale is measured on the (fully scored) random reference sample.
            measured["classifier"] = raw["classifier"][self._reference_rows]
        self._stats = {m: location_scale(v) for m, v in measured.items()}
        inputs = self._stack_inputs(raw, self._stats)
        self.scores_ = pd.DataFrame({m: inputs[:, i] for i, m in enumerate(self.methods_)},
                                    index=self._user_index.rename("user_id"))
        # Without the graph the feature blend is the blend: aligned and applied once.
        features_are_blend = self._blend_features is self._blend
        blend = inputs @ self._blend["weights"]
        self._blend = align_scale(self._blend, self._reference_blend, blend[unlabeled])
        self.scores_["score"] = calibrate(self._blend, blend)
        self._raw_graph = raw.get("graph")
        self.weights_ = dict(zip(self._blend["names"], self._blend["weights"].round(4).tolist(),
                                 strict=True))
        # Ranked by the blend before calibration: the calibrated probability saturates near 1,
        # where the most seed-like users would otherwise tie and fall in hash order.
        self.order_ = np.lexsort((tiebreak(self.user_ids_), -blend))
        self.scorer_ = None
        if features_are_blend:
            self._blend_features = self._blend
            self.scorer_ = LookalikeScorer(self, self.scores_["score"].to_numpy()[unlabeled])
        elif self._blend_features is not None:
            cols = [self._stack_names().index(m) for m in self._blend_features["names"]]
            self._blend_features = align_scale(
                self._blend_features, self._reference_features,
                inputs[unlabeled][:, cols] @ self._blend_features["weights"])
            feature_scores = apply_stack(self._blend_features, inputs[unlabeled][:, cols])
            self.scorer_ = LookalikeScorer(self, feature_scores)

    def _finish_report(self, rows, n_holdout: int) -> None:
        silos = {s: int(present[rows].sum()) for s, present in self._silo_rows.items()}
        if self._graph is not None:
            silos["groups"] = int((self._graph.n_links[rows] > 0).sum())
        silos["no silo history"] = int((~np.any(
            [p[rows] for s, p in self._silo_rows.items() if s != "profile"], axis=0)).sum()) \
            if len(self._silo_rows) > 1 else 0
        space = getattr(self, "space_", None)
        self.seed_report_ = SeedReport(
            n_given=self._seed_counts[0], n_duplicates=self._seed_counts[1],
            n_matched=len(rows), unknown=self._unknown, silos=silos,
            homogeneity=(1 - space.seed_variance_) if space is not None else float("nan"),
            n_clusters=len(space.centroids_) if space is not None else 0,
            largest_cluster_share=float(space.cluster_share_.max()) if space else float("nan"),
            n_holdout=n_holdout, holdout_recall=self.holdout_recall(),
            weights=self.weights_,
            estimated_share=float(self.scores_["score"][~self.is_seed_].mean()))

    # -- results -------------------------------------------------------------------------------
    def holdout_recall(self, sizes: Sequence[float] = SIZES) -> pd.DataFrame:
        """Share of held-out seeds ranked within the top ``size`` of the universe, per method
        (rows) and size (columns); random is the size itself. Lift is recall / size."""
        check_is_fitted(self, "scores_")
        table = {m: [float(np.mean(p >= 1 - s)) for s in sizes]
                 for m, p in self._held_pct.items()}
        table["random"] = list(sizes)
        return pd.DataFrame(table, index=[f"{s:.0%}" for s in sizes]).T.rename_axis("method")

    def recall_curve(self, points: int = 200) -> pd.DataFrame:
        """Held-out seed recall against reach (share of the universe), per method."""
        check_is_fitted(self, "scores_")
        reach = np.linspace(0, 1, points + 1)[1:]
        return pd.DataFrame({m: [np.mean(p >= 1 - r) for r in reach]
                             for m, p in self._held_pct.items()},
                            index=pd.Index(reach, name="reach"))

    def expand(self, size: int | float | None = None, *, threshold: float | None = None,
               include_seeds: bool = False, where: Mapping[str, Sequence] | None = None,
               exclude=None, exclude_buyers: bool | str = False,
               exclude_nonconsenting: bool = True, method: str | None = None):
        """The top of the ranking as an :class:`~targeting.Audience`.

        Parameters
        ----------
        size : int or float
            Users (int) or a share of the universe (float in (0, 1]). Audiences of one request
            are nested: the 1 % audience is inside the 2 % one.
        threshold : float, optional
            Instead of ``size``: every eligible user scoring at least this (threshold-locked).
        include_seeds : bool, default False
        where : dict, optional
            Hard constraints after scoring, e.g. ``{"city_tier": [3, 4, 5]}``; keys
            ``city_tier``, ``region``, ``age_band``.
        exclude : sequence of user ids or Audience, optional
        exclude_buyers : bool or str, default False
            Drop users who bought before ``as_of``: True for any purchase, or a category or
            brand name.
        exclude_nonconsenting : bool, default True
            Drop CRM members who did not consent to marketing.
        method : str, optional
            Rank by one method's score instead of the blend (for comparisons).
        """
        from targeting.models.lookalike.audience import Audience

        check_is_fitted(self, "scores_")
        eligible = self._eligible(include_seeds, where, exclude, exclude_buyers,
                                  exclude_nonconsenting)
        column = "score" if method in (None, "blend") else method
        if column not in self.scores_.columns:
            raise ValueError(f"method {method!r} was not fitted; have {list(self.methods_)}")
        order = self.order_ if column == "score" else self._order_by(column)
        ranked = order[eligible[order]]
        values = self.scores_[column].to_numpy()
        if (size is None) == (threshold is None):
            raise ValueError("give exactly one of size (a count or a share of the universe) "
                             "or threshold (a minimum score)")
        if threshold is not None:
            take = ranked[values[ranked] >= threshold]
        else:
            take = ranked[: self._size(size, ranked.size)]
        request = {"size": size, "threshold": threshold, "include_seeds": include_seeds,
                   "where": dict(where or {}), "exclude_buyers": exclude_buyers,
                   "exclude_nonconsenting": exclude_nonconsenting,
                   "method": method or "blend", "n_eligible": int(ranked.size)}
        return Audience(self, take, values[take], request, ranked)

    def _order_by(self, column: str) -> np.ndarray:
        ties = tiebreak(self.user_ids_)
        return np.lexsort((ties, -self.scores_[column].to_numpy()))

    def _size(self, size, n_eligible: int) -> int:
        n = len(self.user_ids_)
        if isinstance(size, bool) or not isinstance(size, int | float | np.integer | np.floating):
            raise TypeError(f"size must be a count (int) or a share of the universe (float), "
                            f"got {type(size).__name__}")
        if isinstance(size, float | np.floating):
            if not 0 < size <= 1:
                raise ValueError(f"size as a share of the universe must be in (0, 1], got "
                                 f"{size}; pass an int for a count of users")
            count = int(round(size * n))
        else:
            count = int(size)
        if count < 1:
            raise ValueError(f"size must be at least one user, got {size}")
        if count > n_eligible:
            raise ValueError(
                f"size {count:,} is larger than the {n_eligible:,} eligible users (universe "
                f"{n:,}, after excluding seeds, constraints and exclusions); ask for fewer, "
                "or relax the constraints")
        return count

    def _eligible(self, include_seeds, where, exclude, exclude_buyers, exclude_nonconsenting):
        ok = np.ones(len(self.user_ids_), dtype=bool)
        if not include_seeds:
            ok &= ~self.is_seed_
        if exclude_nonconsenting:
            ok &= self.consent_
        for key, allowed in (where or {}).items():
            if key not in ("city_tier", "region", "age_band"):
                raise ValueError(f"where: unknown key {key!r}; use city_tier, region, age_band")
            column = self.profile_[key]
            if column.isna().all():
                raise ValueError(f"where: {key!r} is not known for this universe (no users "
                                 "table or column)")
            allowed = list(allowed) if not isinstance(allowed, str | int) else [allowed]
            _check_where_values(key, allowed, column)
            ok &= column.isin(allowed).to_numpy()
        if exclude_buyers:
            name = "any" if exclude_buyers is True else str(exclude_buyers)
            if name not in self.buyers_.columns:
                raise ValueError(f"exclude_buyers: {name!r} unknown; have "
                                 f"{list(self.buyers_.columns)}")
            ok &= ~self.buyers_[name].to_numpy()
        if exclude is not None:
            ids = exclude.user_ids if hasattr(exclude, "user_ids") else np.asarray(list(exclude))
            ok &= ~pd.Index(self.user_ids_).isin(ids)
        return ok

    # -- scoring any user ----------------------------------------------------------------------
    def score_matrix(self, X: np.ndarray) -> np.ndarray:
        """Feature-based lookalike score of rows of the model matrix (what ``score()`` uses)."""
        check_is_fitted(self, "scores_")
        if self.scorer_ is None:
            raise ValueError("a graph-only model cannot score from features; it needs the "
                             "groups table")
        return self.scorer_.score_matrix(X)

    def decile(self, scores: np.ndarray) -> np.ndarray:
        return self.scorer_.decile(scores)


class LookalikeScorer(Scorable):
    """The feature-based part of a fitted model, without any user id: what MLflow stores.

    ``score_matrix`` ranks any user by the classifier and similarity methods blended with their
    own weights; the graph method needs the groups table and stays out.
    """

    def __init__(self, model: LookalikeModel, universe_scores: np.ndarray):
        self.pipeline_ = model.pipeline_
        self.methods = [m for m in model.methods_ if m != "graph"]
        self.space_ = getattr(model, "space_", None) if "similarity" in self.methods else None
        self.pu_ = getattr(model, "pu_", None) if "classifier" in self.methods else None
        self.stats_ = {m: model._stats[m] for m in self.methods}
        self.blend_ = model._blend_features
        self.scaler_ = model._space0
        self.seed_size_ = int(model.is_seed_.sum())
        self.decile_edges_ = decile_edges(universe_scores)

    def score_matrix(self, X: np.ndarray) -> np.ndarray:
        cols = []
        for m in self.methods:
            if m == "similarity":
                raw = self.space_.score_standardised(self.scaler_.standardise(X))
            else:
                raw = self.pu_.score(X)
            cols.append(standardised(np.asarray(raw, dtype=float), self.stats_[m]))
        return apply_stack(self.blend_, np.column_stack(cols))


def _check_where_values(key: str, allowed: list, column: pd.Series) -> None:
    """Refuse values that no user can have (``"3"`` for the integer ``city_tier``), instead of
    an empty audience."""
    known = set(column.dropna().tolist())  # the universe's own values, whatever their names
    unknown = [v for v in allowed if v not in known]
    if unknown:
        kinds = sorted({type(v).__name__ for v in known})
        raise ValueError(f"where: {key} value(s) {unknown!r} match no user; {key} holds "
                         f"{'/'.join(kinds)} values {sorted(known, key=str)}")
