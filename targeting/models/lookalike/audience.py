"""Audience: the result of an expansion, with its reasons, curves, composition and export."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pandas as pd

from targeting.data.vocab import lower_tier
from targeting.models.lookalike.seeds import round_count
from targeting.privacy import (  # noqa: F401 - hash_ids, normalise_id: where they were
    DEFAULTS,
    hash_ids,
    normalise_id,
    require_floor,
    write_hashed,
)

PROFILE = ("city_tier", "region", "age_band")
MIN_EXPORT = DEFAULTS["min_export_size"]  # the default floor; see targeting.privacy


class Audience:
    """Ranked users chosen by a :class:`~targeting.LookalikeModel` expansion.

    Attributes
    ----------
    users : DataFrame
        ``user_id, score, rank, reasons`` (rank 1 = most similar), best first. Built on first
        access: the classifier's reasons take LightGBM feature contributions, which cost far
        more than the ranking; :meth:`head` explains only the top.
    request : dict
        The request that made it (size or threshold, constraints, exclusions).
    """

    def __init__(self, model, rows: np.ndarray, scores: np.ndarray, request: dict,
                 ranked: np.ndarray):
        self._model = model
        self._rows = rows
        self._scores = np.asarray(scores)
        self._ranked = ranked  # every eligible user, best first: the reach curve
        self.request = request
        self._table: pd.DataFrame | None = None

    @property
    def table(self) -> pd.DataFrame:
        """Every member, best first: ``user_id``, ``score``, ``rank`` and ``reasons``."""
        if self._table is None:
            self._table = self.head(len(self))
        return self._table

    def head(self, n: int = 10) -> pd.DataFrame:
        """The ``n`` best users with their reasons (only theirs are computed)."""
        rows = self._rows[:n]
        return pd.DataFrame({
            "user_id": self._model.user_ids_[rows],
            "score": self._scores[:n],
            "rank": np.arange(1, len(rows) + 1),
            "reasons": _reasons(self._model, rows, self.request.get("method", "blend")),
        })

    def __len__(self) -> int:
        return len(self._rows)

    @property
    def user_ids(self) -> np.ndarray:
        return self._model.user_ids_[self._rows]

    @property
    def reported_size(self) -> int:
        """The size rounded (tens under 1,000, hundreds above): safe to report."""
        return round_count(len(self))

    def top(self, size: int | float) -> Audience:
        """The nested smaller audience of the same request (the 1 % inside the 2 %)."""
        count = self._model._size(size, len(self))
        rows = self._rows[:count]
        return Audience(self._model, rows, self._scores[:count],
                        {**self.request, "size": size}, self._ranked)

    # -- curves and composition ------------------------------------------------------------
    def reach_curve(self, points: int = 100) -> pd.DataFrame:
        """Reach (eligible users, and share of the universe) against the lowest score reached,
        with the held-out seed recall the model measured at that reach."""
        scores = self._model.scores_["score"].to_numpy()[self._ranked]
        n = len(self._model.user_ids_)
        if len(scores) == 0:
            return pd.DataFrame(columns=["reach", "share", "min_score", "heldout_recall"])
        reach = np.unique(np.linspace(1, len(scores), points).astype(int))
        curve = pd.DataFrame({"reach": reach, "share": reach / n,
                              "min_score": scores[reach - 1]})
        recall = self._model.recall_curve()
        blend = recall["blend" if "blend" in recall else recall.columns[0]]
        curve["heldout_recall"] = np.interp(curve.share, blend.index, blend.to_numpy())
        return curve

    def composition(self) -> pd.DataFrame:
        """Shares by city tier, region and age band: audience vs seed vs universe."""
        model = self._model
        profile = model.profile_
        parts = []
        for col in PROFILE:
            if profile[col].isna().all():
                continue
            values = profile[col].astype(str).where(profile[col].notna(), "unknown").to_numpy()
            frame = pd.DataFrame({
                "audience": pd.Series(values[self._rows]).value_counts(normalize=True),
                "seed": pd.Series(values[model.is_seed_]).value_counts(normalize=True),
                "universe": pd.Series(values).value_counts(normalize=True),
            }).fillna(0.0)
            frame.index = pd.MultiIndex.from_product([[col], frame.index.astype(str)],
                                                     names=["attribute", "value"])
            parts.append(frame.sort_index())
        if not parts:
            return pd.DataFrame(columns=["audience", "seed", "universe"])
        return pd.concat(parts)

    def summary(self) -> pd.DataFrame:
        """Rounded, id-free statistics of the audience (what gets logged), one per row."""
        out = {"audience_size": self.reported_size,
               # From the rounded size: an exact share times the universe is an exact count.
               "audience_share": round(self.reported_size / len(self._model.user_ids_), 4),
               "audience_min_score": round(float(self._scores.min()), 4) if len(self) else 0,
               "audience_mean_score": round(float(self._scores.mean()), 4) if len(self)
               else 0, "eligible_users": round_count(self.request["n_eligible"])}
        tiers = self._model.profile_["city_tier"]
        # Only on the 1-5 tier scale: a brand's own labels (urban, rural) have no lower tier.
        lower = lower_tier(tiers) if tiers.notna().any() else None
        if lower is not None:
            # Two decimals: a finer share of a small audience is a count of its members.
            out["audience_lower_tier_share"] = (round(float(lower[self._rows].mean()), 2)
                                                if len(self) else 0.0)
            out["universe_lower_tier_share"] = round(float(lower.mean()), 2)
        return pd.Series(out, name="value").rename_axis("what").to_frame()

    # -- display ---------------------------------------------------------------------------
    def _repr_html_(self) -> str:
        req = {k: v for k, v in self.request.items() if v not in (None, {}, False)}
        head = (f"<b>Audience</b> of about {self.reported_size:,} users "
                f"({len(self) / len(self._model.user_ids_):.1%} of the universe); request: "
                f"{html.escape(str(req))}")
        top = self.head(10).to_html(index=False)
        comp = self.composition()
        comp_html = comp.round(3).to_html() if len(comp) else ""
        return f"<div>{head}<p>Top of the ranking:</p>{top}<p>Composition:</p>{comp_html}</div>"

    def __repr__(self) -> str:
        return f"Audience(size~{self.reported_size}, request={self.request})"

    def plot(self, ax=None):
        """Reach-similarity curve (with held-out seed recall) and composition by city tier
        (``ax``: a pair of Axes, new ones by default)."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(1, 2, figsize=(11, 4))
        ax1, ax2 = ax
        fig = ax1.figure
        curve = self.reach_curve()
        ax1.plot(curve.share * 100, curve.min_score, label="lowest score reached")
        ax1.axvline(len(self) / len(self._model.user_ids_) * 100, color="grey", ls=":",
                    label="this audience")
        ax1.set_xlabel("reach (% of the universe)")
        ax1.set_ylabel("lookalike score")
        twin = ax1.twinx()
        twin.plot(curve.share * 100, curve.heldout_recall, color="tab:orange",
                  label="held-out seed recall")
        twin.set_ylabel("held-out seed recall")
        ax1.legend(loc="center right", fontsize=8)
        ax1.set_title("reach vs similarity")
        comp = self.composition()
        if "city_tier" in comp.index.get_level_values(0):
            comp.loc["city_tier"].plot.bar(ax=ax2)
            ax2.set_title("composition by city tier")
            ax2.set_ylabel("share")
        fig.tight_layout()
        return fig

    # -- activation ------------------------------------------------------------------------
    def export(self, path: str | Path, salt: str, *, min_size: int | None = None) -> dict:
        """Write salted SHA-256 hashes of the normalised user ids (CSV or parquet by suffix).

        Identifiers are normalised (text, stripped, lower case) and hashed with
        ``sha256(salt + ":" + id)``; only hashes and ranks are written. Refuses audiences
        smaller than ``min_size`` and salts shorter than 8 characters. ``min_size`` defaults
        to the organisation's floor (:mod:`targeting.privacy`, 100 unless
        ``TARGETING_MIN_EXPORT_SIZE`` says otherwise) and cannot go below it
        (:class:`~targeting.privacy.PrivacyFloorError`).

        Returns
        -------
        dict
            The path and the rounded size written.
        """
        min_size = require_floor("min_export_size", min_size)
        if len(self) < min_size:
            raise ValueError(f"audience too small to export: fewer than {min_size} users "
                             "(min_size); a small hashed list can still single people out")
        write_hashed(path, self.user_ids, salt, rank=np.arange(1, len(self) + 1))
        return {"path": str(path), "size": self.reported_size}


def _reasons(model, rows: np.ndarray, method: str = "blend", top: int = 3) -> list[str]:
    """Top reasons per user, from the methods that made the score that ranked them.

    With the blend, only methods it gives weight to speak, in the order of what each added to
    the user's blended score (weight x the method's score): chat-group ties for the graph, the
    features that pushed the classifier's score up most (LightGBM contributions, averaged over
    the bags), the features matching the nearest seed centroid for similarity. With
    ``method=`` one method, only that one.
    """
    if len(rows) == 0:
        return []
    if method in (None, "blend"):
        weights = {m: w for m, w in model.weights_.items() if m in model.scores_.columns}
    else:
        weights = {method: 1.0}
    found = {m: _method_reasons(model, m, rows, top) for m, w in weights.items() if w > 0}
    if not found:
        return [""] * len(rows)
    names = list(found)
    push = np.column_stack([weights[m] * model.scores_[m].to_numpy()[rows] for m in names])
    order = np.argsort(-np.nan_to_num(push, nan=-np.inf), axis=1, kind="stable")
    out = []
    for i, ranked in enumerate(order):
        texts = [t for j in ranked for t in found[names[j]][i]]
        out.append("; ".join(texts[:top]))
    return out


def _method_reasons(model, method: str, rows: np.ndarray, top: int) -> list[list[str]]:
    if method == "graph":
        graph = getattr(model, "_graph", None)
        if graph is None:
            return [[] for _ in rows]
        ties = graph.ties(rows, model.is_seed_)
        strong = model.scores_["graph"].to_numpy()[rows] > 1.0
        return [[f"shares chat groups with {t} seed(s)"] if s and t > 0 else []
                for t, s in zip(ties, strong, strict=True)]
    if method == "similarity":
        return model.space_.reasons(model._z(rows), top)
    return _classifier_reasons(model, rows, top)


def _classifier_reasons(model, rows: np.ndarray, top: int) -> list[list[str]]:
    """The features with the largest positive contributions to the PU classifier's score."""
    X = model._X[rows]
    contrib = np.mean([b.predict(X, pred_contrib=True, num_iteration=b.best_iteration or None)
                       for b in model.pu_.boosters_], axis=0)[:, :-1]  # drop the bias column
    pipe = model.pipeline_
    names = pipe.feature_names_
    cats = dict(zip(pipe.categorical_indices_, [names[j] for j in pipe.categorical_indices_],
                    strict=True))
    space = model._space0
    centre = dict(zip(space.numeric_, space.mean_[:len(space.numeric_)], strict=True))
    order = np.argsort(-contrib, axis=1, kind="stable")[:, :top]
    out = []
    for i, cols in enumerate(order):
        texts = []
        for j in cols[contrib[i, cols] > 0]:
            value = float(X[i, j])  # a float32 matrix: logged in double, as the centre
            if np.isnan(value):
                texts.append(f"{names[j]} missing")
            elif j in cats:
                levels = pipe.vocabularies_.get(cats[j], [])
                level = levels[int(value)] if int(value) < len(levels) else int(value)
                texts.append(f"{names[j]}={level}")
            else:
                logged = np.log1p(max(value, 0)) if space.log_[space.numeric_.index(j)] else value
                texts.append(f"{names[j]} {'high' if logged > centre[j] else 'low'}")
        out.append(texts)
    return out
