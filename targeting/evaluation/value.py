"""Evaluate a value model on the revenue window after ``as_of``, beside the classic baselines.

The field's metrics, for the model, every baseline and (demo world) the oracle:

- ``gini``: the normalised Gini of revenue (Wang, Liu & Miao 2019; :mod:`targeting.models._gini`):
  1 is the ranking by realised revenue, 0 a random one;
- ``spearman``: rank correlation of the score with the realised revenue;
- ``capture_at_10pct`` / ``capture_at_20pct``: share of the window's revenue from the top 10 % /
  20 % of users by score (tied users share the places at the cut);
- ``decile_error``: users in ten groups by score, the absolute differences between predicted
  and realised revenue per group, summed, over the realised total (forecasts in money only);
- ``predicted_total``, ``realised_total`` and their ratio ``total_ratio`` (money only).

The paired noise: users are resampled with replacement (``n_bootstrap`` times) and the model's
Gini minus the best baseline's is recomputed on each resample; the interval is its percentiles.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.utils.validation import check_is_fitted

from targeting.data.dates import as_of_for
from targeting.data.labels import revenue_labels
from targeting.data.schema import TargetingError
from targeting.data.tables import checked_tables
from targeting.evaluation.metrics import gains_curve
from targeting.evaluation.propensity import check_label_window
from targeting.evaluation.value_baselines import MONEY_BASELINES, value_baseline_scores
from targeting.models._gini import gini, normalised_gini
from targeting.models.value import ValueModel

TOP_SHARES = (0.10, 0.20)
ORACLE = "oracle (true expected revenue)"


def revenue_capture(y, s, k: float) -> float:
    """Share of the total revenue ``y`` among the top ``k`` fraction of users by ``s``.

    Examples
    --------
    >>> revenue_capture([10.0, 0.0, 30.0, 0.0], [0.9, 0.8, 0.1, 0.2], 0.5)
    0.25
    """
    y, s = np.asarray(y, dtype=float), np.asarray(s, dtype=float)
    n = max(1, int(round(k * len(y))))
    cut = np.sort(s)[::-1][n - 1]
    above, tied = s > cut, s == cut
    found = y[above].sum() + (n - above.sum()) * y[tied].mean()
    return float(found / y.sum()) if y.sum() else float("nan")


def decile_table(y, predicted) -> pd.DataFrame:
    """Predicted and realised revenue per group of users by predicted value (1 = top 10 %).

    Users are placed by their mid-rank, so tied predictions share a group (with many ties some
    groups are empty and left out).

    Examples
    --------
    >>> t = decile_table(np.arange(20.0), np.arange(20.0))
    >>> t.loc[1, ["users", "realised"]].tolist()
    [2.0, 37.0]
    """
    frame = pd.DataFrame({"y": np.asarray(y, dtype=float),
                          "p": np.asarray(predicted, dtype=float)})
    rank = frame.p.rank(method="average").to_numpy()
    frame["decile"] = 10 - np.minimum(((rank - 0.5) * 10 / len(frame)).astype(int), 9)
    table = frame.groupby("decile").agg(users=("y", "size"), predicted=("p", "sum"),
                                        realised=("y", "sum"))
    return table.astype(float)


def decile_error(y, predicted) -> float:
    """Sum over deciles of |predicted - realised| revenue, over the realised total."""
    table = decile_table(y, predicted)
    return float((table.predicted - table.realised).abs().sum() / table.realised.sum())


def value_metrics(y, s, *, money: bool = True) -> dict[str, float]:
    """Every metric of one scorer (``money``: ``s`` forecasts the window's revenue)."""
    y, s = np.asarray(y, dtype=float), np.asarray(s, dtype=float)
    out = {"gini": normalised_gini(y, s), "spearman": float(stats.spearmanr(s, y)[0])}
    for k in TOP_SHARES:
        out[f"capture_at_{round(k * 100)}pct"] = revenue_capture(y, s, k)
    nan = float("nan")
    out["decile_error"] = decile_error(y, s) if money else nan
    out["predicted_total"] = float(s.sum()) if money else nan
    out["realised_total"] = float(y.sum())
    out["total_ratio"] = float(s.sum() / y.sum()) if money else nan
    return out


def paired_gini_difference(y, a, b, *, n_bootstrap: int = 200, confidence: float = 0.95,
                           random_state: int = 0) -> tuple[float, float, float]:
    """Normalised Gini of ``a`` minus that of ``b`` on the same users, with a percentile
    bootstrap interval over users (both rankings on each resample).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y = rng.gamma(0.3, 50, 2_000)
    >>> mid, low, high = paired_gini_difference(y, y + rng.normal(0, 5, 2_000),
    ...                                         rng.random(2_000))
    >>> bool(0 < low < mid < high)
    True
    """
    y, a, b = (np.asarray(v, dtype=float) for v in (y, a, b))
    rng = np.random.default_rng(random_state)
    diffs = []
    for _ in range(n_bootstrap):
        rows = rng.integers(0, len(y), len(y))
        best = gini(y[rows], y[rows])
        if best > 0:
            diffs.append((gini(y[rows], a[rows]) - gini(y[rows], b[rows])) / best)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(diffs, [tail, 100 - tail]) if diffs else (np.nan, np.nan)
    return normalised_gini(y, a) - normalised_gini(y, b), float(low), float(high)


@dataclass
class ValueEvaluation:
    """Evaluation of a value model on one window: the model, its other candidate (if fitted),
    the oracle (demo world) and every baseline, side by side.

    ``metrics`` is flat (for MLflow): the model's metrics, ``baseline_<name>_<metric>``,
    ``best_baseline_gini``, ``gini_margin_over_best_baseline`` with ``gini_margin_low`` /
    ``gini_margin_high`` (paired bootstrap), and ``oracle_gini`` when the truth is known.
    """

    metrics: dict[str, float]
    rows: pd.DataFrame  # one row per scorer: every metric
    gains: dict[str, pd.DataFrame]  # scorer -> share of users against share of revenue
    deciles: dict[str, pd.DataFrame]  # money scorers -> predicted and realised per decile
    label: str = "value model"
    extra: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # what the reader must know (fallbacks)

    @property
    def table(self) -> pd.DataFrame:
        """Gini, Spearman, top-decile capture, decile error and totals of every scorer."""
        return self.rows

    def beaten_by(self) -> str | None:
        """The best baseline if its Gini is at least the model's, else None."""
        if "best_baseline_gini" not in self.metrics:
            return None
        return (self.extra["best_baseline"]
                if self.metrics["gini_margin_over_best_baseline"] <= 0 else None)

    def _repr_html_(self) -> str:
        m = self.metrics
        title = html.escape(f"Value evaluation: {self.label}, {self.extra.get('users', 0):,} "
                            f"users, {self.extra.get('horizon_days')} days after "
                            f"{self.extra.get('as_of')}")
        verdict = ""
        if "best_baseline_gini" in m:
            beaten = self.beaten_by()
            verdict = html.escape(
                (f"baseline {beaten!r} matches or beats the model" if beaten else
                 "beats every baseline")
                + f" (Gini margin over {self.extra['best_baseline']!r} "
                f"{m['gini_margin_over_best_baseline']:+.4f}, "
                f"{self.extra['confidence']:.0%} interval {m['gini_margin_low']:+.4f} to "
                f"{m['gini_margin_high']:+.4f})")
            verdict = f"<p>{verdict}</p>"
        notes = "".join(f"<li>{html.escape(n)}</li>" for n in self.notes)
        notes = f"<p>Notes:</p><ul>{notes}</ul>" if notes else ""
        return (f"<h4>{title}</h4>{verdict}" + self.table.round(4).to_html()
                + "<p>decile_error and totals only for forecasts in money</p>" + notes)

    def plot(self, ax=None):
        """Gain curve of revenue (model, oracle, baselines, random) and the model's predicted
        against realised revenue per decile."""
        import matplotlib.pyplot as plt

        axes = ax
        if axes is None:
            _, axes = plt.subplots(1, 2, figsize=(11, 4))
        ax = axes[0]
        for name, curve in self.gains.items():
            main = name == self.label
            ax.plot(curve.share_contacted, curve.capture, lw=2 if main else 0.9,
                    ls="--" if name == ORACLE else "-", label=name)
        ax.plot([0, 1], [0, 1], ":", color="grey", label="random")
        ax.set(xlabel="share of users (by score)", ylabel="share of revenue",
               title=f"Revenue gain (normalised Gini {self.metrics['gini']:.3f})")
        ax.legend(loc="lower right", fontsize=8)
        ax = axes[1]
        table = self.deciles[self.label]
        width = 0.4
        ax.bar(table.index - width / 2, table.predicted, width, label="predicted")
        ax.bar(table.index + width / 2, table.realised, width, label="realised")
        if "bgnbd_gg" in self.deciles:
            other = self.deciles["bgnbd_gg"]
            ax.plot(other.index, other.predicted, "k.", label="BG/NBD x Gamma-Gamma predicted")
        ax.set(xlabel="decile of predicted value (1 = top 10 %)", ylabel="revenue",
               title=f"Revenue per decile (decile error {self.metrics['decile_error']:.3f})")
        ax.set_xticks(range(1, 11))
        ax.legend(fontsize=8)
        ax.figure.tight_layout()
        return ax.figure


def evaluate_value(model: ValueModel, data, as_of=None, *, oracle: pd.Series | None = None,
                   label: str | None = None, baselines: bool = True, n_bootstrap: int = 200,
                   confidence: float = 0.95, random_state: int = 0) -> ValueEvaluation:
    """Evaluate ``model`` on the revenue of the ``horizon_days`` after ``as_of`` (default: where
    training stopped), for the users who exist at ``as_of``.

    Parameters
    ----------
    model : ValueModel
        A fitted model.
    data : mapping of DataFrame or DemoWorld
        With a :class:`~targeting.DemoWorld`, its evaluation window, and its truth as the oracle
        (each user's expected revenue; for a model of every category over the world's horizon).
    as_of : date-like, optional
    oracle : Series, optional
        True expected revenue by ``user_id``, for the oracle's Gini.
    label : str, optional
    baselines : bool, default True
        Add historic value, RFM's monetary and BG/NBD x Gamma-Gamma on the same users.
    n_bootstrap : int, default 200
        Resamples of the paired Gini difference to the best baseline.
    confidence : float, default 0.95
    random_state : int, default 0

    Returns
    -------
    ValueEvaluation

    Examples
    --------
    >>> import targeting as tg
    >>> world = tg.demo_world(n_users=3_000, random_state=4)
    >>> model = tg.ValueModel(progress=False).fit(world.tables, world.as_of)
    >>> evaluation = evaluate_value(model, world)
    >>> 0 < evaluation.metrics["gini"] <= evaluation.metrics["oracle_gini"] + 0.1
    True
    """
    check_is_fitted(model, "candidates_")
    if hasattr(data, "truth"):  # a demo world: its window and its oracle
        world = data
        data, as_of = world.tables, as_of or world.as_of
        if (oracle is None and model.category is None
                and model.horizon_days == world.horizon_days
                and as_of_for(data, as_of) == world.as_of):
            oracle = world.truth["expected_revenue"]
    data = checked_tables(data, require=("orders",))
    as_of = model.as_of_ if as_of is None else as_of_for(data, as_of)
    check_label_window(data, as_of, model.horizon_days)
    X = model.features(data, as_of)
    X = X[model.pipeline_.has_record(X)]  # the users who exist at as_of
    y = revenue_labels(data, as_of, model.horizon_days, model.category, X.index).to_numpy()
    if not (y > 0).any():
        raise TargetingError(f"no revenue in the {model.horizon_days} days after "
                             f"{as_of.date()} among the {len(y):,} users: nothing to rank; "
                             "pick another as_of, horizon or category")
    matrix = model.pipeline_.to_matrix(X)
    label = label or f"value model ({model.method_})"
    # name -> (values, a forecast in money?, role)
    scorers = {label: (model.score_matrix(matrix), True, "model")}
    for method, candidate in model.candidates_.items():
        if method != model.method_:
            scorers[f"value model ({method}, not kept)"] = (candidate.expected(matrix), True,
                                                            f"candidate_{method}")
    if oracle is not None:
        scorers[ORACLE] = (oracle.reindex(X.index).to_numpy(dtype=float), True, "oracle")
    notes = []
    if baselines:
        scores = value_baseline_scores(data, as_of, X.index, model.category, model.horizon_days)
        for name in scores.columns:
            scorers[name] = (scores[name].to_numpy(), name in MONEY_BASELINES, "baseline")
        notes = scores.attrs.get("notes", [])
    evaluation = _evaluation(y, scorers, label, n_bootstrap, confidence, random_state)
    evaluation.notes.extend(notes)
    evaluation.extra.update(as_of=str(as_of.date()), horizon_days=model.horizon_days,
                            users=len(y), method=model.method_, confidence=confidence)
    return evaluation


def _evaluation(y, scorers, label, n_bootstrap, confidence, random_state) -> ValueEvaluation:
    rows, gains, deciles = {}, {}, {}
    for name, (s, money, _) in scorers.items():
        rows[name] = value_metrics(y, s, money=money)
        gains[name] = gains_curve(y, s)
        if money:
            deciles[name] = decile_table(y, s)
    table = pd.DataFrame(rows).T.rename_axis("scorer")
    metrics = dict(rows[label])
    extra = {}
    baselines = [name for name, (_, _, role) in scorers.items() if role == "baseline"]
    for name, row in rows.items():
        role = scorers[name][2]
        if role == "oracle":
            metrics["oracle_gini"] = row["gini"]
            metrics["gini_gap_to_oracle"] = row["gini"] - metrics["gini"]
        elif role == "baseline":
            metrics.update({f"baseline_{name}_{k}": v for k, v in row.items()
                            if np.isfinite(v) and k != "realised_total"})
        elif role.startswith("candidate_"):
            metrics[f"{role}_gini"] = row["gini"]
    if baselines:
        best = max(baselines, key=lambda b: rows[b]["gini"])
        mid, low, high = paired_gini_difference(
            y, scorers[label][0], scorers[best][0], n_bootstrap=n_bootstrap,
            confidence=confidence, random_state=random_state)
        extra["best_baseline"] = best
        metrics.update(best_baseline_gini=rows[best]["gini"], gini_margin_over_best_baseline=mid,
                       gini_margin_low=low, gini_margin_high=high)
    return ValueEvaluation(metrics, table, gains, deciles, label, extra)
