"""Evaluating lookalike audiences as positive-unlabeled learning.

Precision against the unlabeled pool means little (it hides more people like the seed), so the
model is judged by the recall of held-out seeds at each audience size, and its lift (recall
divided by the share of the universe reached; a random audience has lift 1). On the demo world,
where the planted segment is known, precision and recall against it and the audience's true
purchase rate against a random audience of the same size are reported too.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass
class LookalikeEvaluation:
    """Per method and audience size: held-out seed recall and lift, and (demo world) precision,
    recall and purchase rate against the truth.

    ``table`` has one row per method and a column per (metric, size):
    ``table["segment_precision"]`` is the method x size grid of one metric.
    """

    table: pd.DataFrame
    extra: dict = field(default_factory=dict)

    @property
    def metrics(self) -> dict[str, float]:
        """Flat ``{metric_method_size: value}`` for MLflow."""
        out = {}
        for method, row in self.table.iterrows():
            for (name, size), value in row.items():
                if pd.notna(value):
                    out[f"{name}_{method}_{int(round(size * 100))}pct"] = float(value)
        return out

    def _names(self) -> list[str]:
        return [n for n in dict.fromkeys(self.table.columns.get_level_values(0))
                if self.table[n].notna().any().any()]

    def _repr_html_(self) -> str:
        parts = [f"<b>Lookalike evaluation</b> {html.escape(str(self.extra))}"]
        for name in self._names():
            parts.append(f"<p>{name}</p>" + self.table[name].round(3).to_html())
        return "<div>" + "".join(parts) + "</div>"

    def plot(self, ax=None):
        """Held-out seed recall and (when known) segment precision by audience size."""
        import matplotlib.pyplot as plt

        names = [n for n in ("heldout_recall", "segment_precision", "purchase_rate")
                 if n in self._names()]
        if ax is None:
            _, ax = plt.subplots(1, len(names), figsize=(4.5 * len(names), 3.6),
                                 squeeze=False)
        axes = np.ravel(ax)
        fig = axes[0].figure
        for ax, name in zip(axes, names, strict=False):
            grid = self.table[name].T
            grid.index = [f"{s:.0%}" for s in grid.index]
            grid.plot.bar(ax=ax, rot=0)
            ax.set_title(name.replace("_", " "))
            ax.set_xlabel("audience size (share of the universe)")
            ax.legend(fontsize=7)
        fig.tight_layout()
        return fig


def evaluate_lookalike(model, world=None, sizes: Sequence[float] = (0.01, 0.05, 0.10),
                       category: str | None = None) -> LookalikeEvaluation:
    """Held-out seed recall and lift per method and size; with a demo world, also precision
    and recall against its planted segment and the audience's true purchase rate.

    Parameters
    ----------
    model : LookalikeModel
        A fitted model.
    world : DemoWorld, optional
        The planted truth to score against.
    sizes : sequence of float
        Audience sizes as shares of the universe.
    category : str, optional
        With a world: the category whose true purchase rate the audience is scored on.

    Returns
    -------
    LookalikeEvaluation
    """
    held = model.holdout_recall(sizes)
    rows = []
    n = len(model.user_ids_)
    # Only users ``expand`` would deliver by default: no seeds, no CRM member who refused.
    eligible = ~model.is_seed_ & np.asarray(model.consent_, dtype=bool)
    truth = _truth(model, world, category)
    for method in [*held.index]:
        for size, label in zip(sizes, held.columns, strict=True):
            recall = float(held.loc[method, label])
            row = {"method": method, "size": size, "heldout_recall": recall,
                   "lift": recall / size}
            if truth is not None:
                take = _top(model, method, eligible, int(round(size * n)))
                row.update(_against_truth(truth, take, eligible, size, n))
            rows.append(row)
    extra = {"seed_matched": model.seed_report_.n_matched,
             "heldout_seeds": model.seed_report_.n_holdout}
    long = pd.DataFrame(rows).set_index(["method", "size"])
    table = long.unstack("size")
    table = table.loc[list(dict.fromkeys(long.index.get_level_values("method")))]
    return LookalikeEvaluation(table, extra)


def _truth(model, world, category):
    if world is None:
        return None
    ids = pd.Index(model.user_ids_)
    segment = world.truth["segment"].reindex(ids).fillna(False).to_numpy(dtype=bool)
    proba = world.truth["purchase_proba"].reindex(ids)
    if category is None:
        buy = 1 - np.prod(1 - proba.fillna(0).to_numpy(), axis=1)
    else:
        buy = proba[category].fillna(0).to_numpy()
    return segment, buy


def _top(model, method: str, eligible: np.ndarray, k: int) -> np.ndarray | None:
    if method == "random":
        return None
    column = "score" if method == "blend" else method
    order = model.order_ if column == "score" else model._order_by(column)
    return order[eligible[order]][:k]


def _against_truth(truth, take, eligible, size, n) -> dict:
    segment, buy = truth
    pool = segment & eligible
    if take is None:  # a random audience of the same size, in expectation
        k = int(round(size * n))
        return {"segment_precision": float(segment[eligible].mean()),
                "segment_recall": k / max(int(eligible.sum()), 1),
                "purchase_rate": float(buy[eligible].mean())}
    return {"segment_precision": float(segment[take].mean()),
            "segment_recall": float(segment[take].sum() / max(pool.sum(), 1)),
            "purchase_rate": float(buy[take].mean())}


def segment_seed(world, size: int | float = 0.4, random_state: int = 0) -> np.ndarray:
    """A seed drawn from a demo world's planted segment: ``size`` members (an int), or that
    share of it (a float in (0, 1]).

    Examples
    --------
    >>> import targeting as tg
    >>> world = tg.demo_world(n_users=2_000, random_state=1)
    >>> seeds = segment_seed(world, 50)
    >>> bool(world.truth["segment"].loc[seeds].all())
    True
    """
    members = world.truth["segment"]
    members = members[members].index.to_numpy()
    k = int(size) if isinstance(size, int | np.integer) else int(round(size * members.size))
    if k > members.size:
        raise ValueError(f"the planted segment has {members.size} users; asked for {k}")
    return np.sort(np.random.default_rng(random_state).choice(members, k, replace=False))


def persuadable_share(user_ids, uplift_model, pipeline, data, as_of, *,
                      truth: pd.DataFrame | None = None) -> pd.Series:
    """How much of an audience a campaign would move, not only how similar it is.

    ``uplift_model`` (a fitted :class:`~targeting.UpliftModel`) scores the audience's
    features at ``as_of`` (built by ``pipeline``, the one it was trained with): the mean
    predicted uplift of each user's best arm and the share predicted to respond (uplift > 0).
    With the demo world's ``truth["uplift"]``, the true persuadable share among audience members
    who were in the campaign is added.

    Examples
    --------
    >>> import targeting as tg
    >>> world = tg.demo_world(n_users=3_000, random_state=0)
    >>> data = tg.campaign_dataset(world.tables, world.campaign_id)
    >>> model = tg.UpliftModel("t", n_estimators=20).fit(data.X, data.y, data.treatment)
    >>> share = persuadable_share(data.X.index[:500], model, data.pipeline, world.tables,
    ...                           data.as_of, truth=world.truth["uplift"])
    >>> sorted(share.index)
    ['mean_predicted_uplift', 'predicted_responders', 'true_persuadable', 'users']
    """
    ids = np.asarray(user_ids)
    features = pipeline.transform(data, as_of, users=ids)
    best = uplift_model.predict(pipeline.to_matrix(features))
    out = {"users": float(len(ids)), "mean_predicted_uplift": float(best.mean()),
           "predicted_responders": float((best > 0).mean())}
    if truth is not None:
        known = truth.set_index("user_id").persuadable.reindex(ids).dropna()
        out["true_persuadable"] = float(known.astype(float).mean()) if len(known) else np.nan
    return pd.Series(out)


@dataclass
class ReliabilityCurve:
    """Calibrated lookalike score against the share of each score bin in the planted segment
    (users outside the seed only). ``table``: ``low, high, users, mean_score, segment_share``;
    ``estimated_share`` and ``true_share``: the mean score and the segment's share over them."""

    table: pd.DataFrame
    estimated_share: float
    true_share: float

    def _repr_html_(self) -> str:
        head = (f"<b>Reliability of the lookalike score</b>: estimated share "
                f"{self.estimated_share:.4f}, planted segment {self.true_share:.4f}")
        return f"<div>{head}{self.table.round(4).to_html(index=False)}</div>"

    def plot(self, ax=None):
        """Mean score against the segment share per bin, with the diagonal."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(4.5, 4))
        ax.plot([0, 1], [0, 1], ":", color="grey", label="perfectly calibrated")
        ax.plot(self.table.mean_score, self.table.segment_share, "o-", label="lookalike score")
        ax.set(xlabel="mean calibrated score", ylabel="share in the planted segment",
               title="Reliability (users outside the seed)")
        ax.legend(loc="upper left", fontsize=8)
        return ax.figure


def reliability_curve(model, world, edges: Sequence[float] = (0, 0.02, 0.05, 0.1, 0.2, 0.4,
                                                              0.7, 1.0)) -> ReliabilityCurve:
    """How well the calibrated ``score`` of a fitted model estimates membership of the demo
    world's planted segment, per score bin (``edges``), among users outside the seed.

    Examples
    --------
    >>> import targeting as tg
    >>> world = tg.demo_world(n_users=3_000, random_state=4)
    >>> seg = world.truth["segment"]
    >>> model = tg.LookalikeModel(progress=False, n_bags=2).fit(
    ...     world.tables, seg[seg].index[:120], world.as_of)
    >>> curve = reliability_curve(model, world)
    >>> int(curve.table.users.sum()) == int((~model.is_seed_).sum())
    True
    """
    unlabeled = ~model.is_seed_
    score = model.scores_["score"].to_numpy()[unlabeled]
    segment = world.truth["segment"].reindex(model.user_ids_).fillna(False).to_numpy(bool)
    segment = segment[unlabeled]
    edges = np.asarray(edges, dtype=float)
    where = np.clip(np.searchsorted(edges, score, side="right") - 1, 0, len(edges) - 2)
    frame = pd.DataFrame({"bin": where, "score": score, "segment": segment.astype(float)})
    table = frame.groupby("bin").agg(users=("score", "size"), mean_score=("score", "mean"),
                                     segment_share=("segment", "mean")).reset_index()
    table.insert(1, "low", edges[table.bin])
    table.insert(2, "high", edges[table.bin + 1])
    return ReliabilityCurve(table.drop(columns="bin"), float(score.mean()),
                            float(segment.mean()))
