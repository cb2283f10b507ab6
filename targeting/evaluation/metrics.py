"""Ranking and probability metrics for propensity models, and the result object that shows them.

Definitions (``y`` the 0/1 outcome, ``s`` the score, users sorted by ``s`` descending):

- *capture at k*: share of all positives found in the top ``k`` fraction of users;
- *lift at k*: the positive rate in the top ``k`` divided by the overall positive rate;
- *gains curve*: capture at every k;
- *calibration*: mean predicted probability against the observed rate, in score quantile bins.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from targeting.data.schema import InsufficientDataError, TargetingError
from targeting.evaluation.delong import AucDifference, paired_auc_difference

TOP_FRACTIONS = (0.01, 0.05, 0.10)


def _top_positives(y: np.ndarray, s: np.ndarray, k: float) -> tuple[float, int]:
    """Expected positives among the top ``k`` fraction by score, and how many users that is.

    Users whose score ties at the cut-off share the remaining places: each counts with the
    share of the tie that fits (the mean over every order of the tied users), so the answer
    does not depend on the order of the input.
    """
    y, s = np.asarray(y, dtype=float), np.asarray(s, dtype=float)
    n = max(1, int(round(k * len(y))))
    cut = np.sort(s)[::-1][n - 1]
    above, tied = s > cut, s == cut
    inside = n - int(above.sum())
    return float(y[above].sum() + inside * y[tied].mean()), n


def capture_at(y, s, k: float) -> float:
    """Share of all positives in the top ``k`` fraction by score.

    Examples
    --------
    >>> capture_at([1, 0, 0, 1], [0.9, 0.8, 0.1, 0.2], 0.5)
    0.5
    """
    y = np.asarray(y)
    found, _ = _top_positives(y, s, k)
    return float(found / max(y.sum(), 1))


def lift_at(y, s, k: float) -> float:
    """Positive rate in the top ``k`` fraction divided by the overall positive rate.

    Examples
    --------
    >>> lift_at([1, 0, 0, 0], [0.9, 0.8, 0.1, 0.2], 0.25)
    4.0
    """
    y = np.asarray(y)
    base = y.mean()
    if base <= 0:
        return float("nan")
    found, n = _top_positives(y, s, k)
    return float(found / n / base)


def gains_curve(y, s, points: int = 101) -> pd.DataFrame:
    """Capture (share of positives found) against the share of users contacted.

    Examples
    --------
    >>> g = gains_curve([1, 0, 1, 0], [0.9, 0.1, 0.8, 0.2], points=3)
    >>> g.capture.tolist()
    [0.0, 1.0, 1.0]
    """
    y, s = np.asarray(y, dtype=float), np.asarray(s, dtype=float)
    found = _tied_cumsum(y, s) / max(y.sum(), 1)
    share = np.linspace(0, 1, points)
    idx = np.round(share * len(y)).astype(int)
    return pd.DataFrame({"share_contacted": share, "capture": found[idx]})


def _tied_cumsum(y: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Positives found after contacting 0, 1, ..., n users, best score first, with users of
    tied scores taken in every order alike (found grows linearly through a tie)."""
    order = np.argsort(-s, kind="stable")
    ys, ss = y[order], s[order]
    start = np.flatnonzero(np.r_[True, ss[1:] != ss[:-1]])
    counts = np.diff(np.r_[start, len(ss)])
    sums = np.add.reduceat(ys, start) if len(ys) else np.zeros(0)
    before = np.r_[0.0, np.cumsum(sums)[:-1]]
    block = np.repeat(np.arange(len(start)), counts)
    taken = np.arange(1, len(ys) + 1) - start[block]
    return np.r_[0.0, before[block] + taken * (sums / counts)[block]]


def calibration_table(y, p, bins: int = 10) -> pd.DataFrame:
    """Mean predicted probability and observed rate per score-quantile bin.

    Users are binned by their mid-rank, so tied scores always share a bin (the table does not
    depend on the order of the input); with many ties some bins are empty and left out.
    """
    frame = pd.DataFrame({"y": np.asarray(y, dtype=float), "p": np.asarray(p, dtype=float)})
    rank = frame.p.rank(method="average").to_numpy()
    frame["bin"] = np.minimum(((rank - 0.5) * bins / len(frame)).astype(int), bins - 1)
    table = frame.groupby("bin").agg(predicted=("p", "mean"), observed=("y", "mean"),
                                     users=("y", "size"))
    return table.reset_index(drop=True)


def check_scores(s, scorer: str) -> np.ndarray:
    """``s`` as floats, or a :class:`~targeting.data.schema.TargetingError` naming ``scorer``
    when any score is NaN or infinite (a ranking of such scores means nothing).

    Examples
    --------
    >>> check_scores([0.2, 0.9], "the model")
    array([0.2, 0.9])
    """
    s = np.asarray(s, dtype=float)
    bad = int((~np.isfinite(s)).sum())
    if bad:
        raise TargetingError(
            f"{scorer} gave {bad:,} non-finite score{'s' if bad > 1 else ''} (NaN or inf) of "
            f"{len(s):,} users; no metric is computed from them: this is a fault of the "
            f"scorer, not of the data, so report it with the data that produced it")
    return s


def classification_metrics(y, p, *, scorer: str = "the model") -> dict[str, float]:
    """AUC, PR-AUC, log loss, Brier score, and lift and capture at the top 1/5/10 %."""
    y, p = np.asarray(y), check_scores(p, scorer)
    if len(np.unique(y)) < 2:
        raise InsufficientDataError(
            "evaluation needs both outcomes (0 and 1) among the users; the window has only "
            "one: pick another as_of, horizon or category")
    out = {
        "auc": skm.roc_auc_score(y, p),
        "pr_auc": skm.average_precision_score(y, p),
        "log_loss": skm.log_loss(y, np.clip(p, 1e-12, 1 - 1e-12)),
        "brier": skm.brier_score_loss(y, p),
        "positive_rate": float(y.mean()),
        "users": float(len(y)),
        "mean_score": float(p.mean()),
    }
    for k in TOP_FRACTIONS:
        pct = int(round(k * 100))
        out[f"lift_at_{pct}pct"] = lift_at(y, p, k)
        out[f"capture_at_{pct}pct"] = capture_at(y, p, k)
    return {k: float(v) for k, v in out.items()}


@dataclass
class PropensityEvaluation:
    """Evaluation of a propensity model on one window: metrics, gains and calibration.

    ``oracle_auc`` is the AUC of the true probabilities (demo world), the best any model can do.
    With baselines, ``comparison`` is the paired difference of the model's AUC to the best
    baseline's on the same users, with DeLong's interval at ``confidence``
    (:func:`~targeting.evaluation.delong.paired_auc_difference`): the model *beats* the
    baselines only when the whole interval lies above 0, and is *beaten* when the point
    difference is not above 0; in between it is within noise of the analyst's score.
    ``selection`` is the model's choice of capacity on its validation snapshot (each
    candidate's AUC and why), when the model made one.
    ``notes`` says what the numbers do not: e.g. a baseline scored otherwise than its name
    ("bgnbd: fit did not converge ...; scored by recency instead"); they are shown with the
    table.
    """

    metrics: dict[str, float]
    gains: pd.DataFrame
    calibration: pd.DataFrame
    label: str = "model"
    oracle_auc: float | None = None
    oracle_gains: pd.DataFrame | None = None
    extra: dict = field(default_factory=dict)
    baselines: pd.DataFrame | None = None
    baseline_gains: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # what the reader must know (fallbacks)
    comparison: AucDifference | None = None
    selection: dict | None = None
    confidence: float = 0.95
    _outcomes: np.ndarray | None = field(default=None, repr=False)
    _scores: np.ndarray | None = field(default=None, repr=False)

    def add_baselines(self, scores: pd.DataFrame, y) -> None:
        """Score each baseline (a column of ``scores``) on the same users and outcomes.

        Adds ``baseline_<name>_auc`` and ``_lift_at_5pct`` metrics, ``best_baseline_auc``
        and ``auc_margin_over_best_baseline`` (the model's AUC minus the best baseline's), and
        ``scores.attrs["notes"]`` (see :func:`~targeting.evaluation.baselines.baseline_scores`)
        to ``notes``.
        """
        y = np.asarray(y)
        rows = {}
        for name in scores.columns:
            s = check_scores(scores[name], f"baseline {name!r}")
            rows[name] = {"auc": float(skm.roc_auc_score(y, s)),
                          "lift_at_5pct": lift_at(y, s, 0.05),
                          "lift_at_10pct": lift_at(y, s, 0.10)}
            self.baseline_gains[name] = gains_curve(y, s)
        table = pd.DataFrame(rows).T.rename_axis("baseline")
        self.baselines = table
        self.notes.extend(scores.attrs.get("notes", []))
        for name, row in table.iterrows():
            self.metrics[f"baseline_{name}_auc"] = row["auc"]
            self.metrics[f"baseline_{name}_lift_at_5pct"] = row["lift_at_5pct"]
        best = table["auc"].idxmax()
        self.extra["best_baseline"] = best
        self.metrics["best_baseline_auc"] = float(table.loc[best, "auc"])
        self.metrics["auc_margin_over_best_baseline"] = (self.metrics["auc"]
                                                         - float(table.loc[best, "auc"]))
        positives = int(np.asarray(y, dtype=bool).sum())
        if min(positives, len(y) - positives) < 2:
            self.notes.append("paired interval: fewer than two users of one outcome; the "
                              "margin over the best baseline has no interval here")
        elif self._scores is not None and len(self._scores) == len(y):
            self.comparison = paired_auc_difference(y, self._scores, scores[best].to_numpy(),
                                                    confidence=self.confidence)
            self.metrics["auc_margin_low"] = self.comparison.low
            self.metrics["auc_margin_high"] = self.comparison.high

    def beats_baselines(self) -> bool:
        """Whether the model beats the best baseline beyond noise: the paired interval of the
        AUC difference lies above 0 (without the model's scores, the point difference > 0)."""
        if self.baselines is None:
            return True
        if self.comparison is not None:
            return self.comparison.low > 0
        return self.metrics["auc_margin_over_best_baseline"] > 0

    def verdict(self) -> str:
        """One line: how the model compares with the best baseline, and whether beyond noise."""
        if self.baselines is None:
            return "no baselines"
        best = self.extra["best_baseline"]
        margin = self.metrics["auc_margin_over_best_baseline"]
        interval = (f" ({self.confidence:.0%} paired interval {self.comparison.low:+.4f} to "
                    f"{self.comparison.high:+.4f}, DeLong)" if self.comparison else "")
        if self.beaten_by():
            return f"baseline {best!r} matches or beats the model: AUC margin {margin:+.4f}" + (
                interval)
        if self.beats_baselines():
            return f"beats every baseline beyond noise: AUC margin {margin:+.4f}{interval}"
        return (f"ahead of baseline {best!r} by {margin:+.4f} but within noise{interval}")

    def beaten_by(self) -> str | None:
        """The best baseline if its AUC is at least the model's, else None."""
        if self.baselines is None:
            return None
        return (self.extra["best_baseline"]
                if self.metrics["auc_margin_over_best_baseline"] <= 0 else None)

    @property
    def table(self) -> pd.DataFrame:
        """The model, the oracle (if known) and each baseline: AUC and lift, side by side
        (every metric of the model is in ``metrics``)."""
        rows = {self.label: {"auc": self.metrics["auc"],
                             "lift_at_5pct": self.metrics["lift_at_5pct"],
                             "lift_at_10pct": self.metrics["lift_at_10pct"]}}
        if self.oracle_auc is not None:
            rows["oracle (true probability)"] = {"auc": self.oracle_auc}
        if self.baselines is not None:
            rows.update({f"baseline: {k}": v for k, v in self.baselines.to_dict("index").items()})
        table = pd.DataFrame(rows).T
        noted = {f"baseline: {n.split(':', 1)[0]}": n.split(":", 1)[1].strip()
                 for n in self.notes if n.split(":", 1)[0] in self.baseline_gains}
        if noted:
            table["note"] = pd.Series(noted).reindex(table.index).fillna("")
        if self.comparison is not None:
            # On the model's row: its paired AUC difference to the best baseline and interval.
            c = self.comparison
            for column, value in (("margin_over_best_baseline", c.difference),
                                  ("margin_low", c.low), ("margin_high", c.high)):
                table[column] = pd.Series({self.label: value})
        return table

    @property
    def candidates(self) -> pd.DataFrame | None:
        """The model's candidates on its validation snapshot: AUC, difference to the chosen
        one and what each is (None when the model chose none)."""
        if not self.selection:
            return None
        table = pd.DataFrame(self.selection["candidates"]).T.rename_axis("candidate")
        table["chosen"] = table.index == self.selection["chosen"]
        return table

    @classmethod
    def from_scores(cls, y, p, *, label: str = "model", oracle=None) -> PropensityEvaluation:
        metrics = classification_metrics(y, p, scorer=repr(label))
        oracle_auc = oracle_gains = None
        if oracle is not None:
            oracle = check_scores(oracle, "the oracle (true probabilities)")
            oracle_auc = float(skm.roc_auc_score(y, oracle))
            oracle_gains = gains_curve(y, oracle)
            metrics["oracle_auc"] = oracle_auc
            metrics["auc_gap_to_oracle"] = oracle_auc - metrics["auc"]
        return cls(metrics, gains_curve(y, p), calibration_table(y, p), label, oracle_auc,
                   oracle_gains, _outcomes=np.asarray(y), _scores=np.asarray(p, dtype=float))

    def _repr_html_(self) -> str:
        title = html.escape(f"Propensity evaluation: {self.label}")
        verdict = ""
        if self.baselines is not None:
            verdict = f"<p>{html.escape(self.verdict())}</p>"
        if self.selection:
            verdict += (f"<p>Capacity chosen on the validation snapshot: "
                        f"{html.escape(self.selection['reason'])}</p>"
                        + self.candidates.round(4).to_html())
        metrics = pd.DataFrame({"value": self.metrics}).rename_axis("metric")
        notes = "".join(f"<li>{html.escape(n)}</li>" for n in self.notes)
        notes = f"<p>Notes:</p><ul>{notes}</ul>" if notes else ""
        return (f"<h4>{title}</h4>{verdict}" + self.table.round(4).to_html() + notes
                + "<details><summary>every metric</summary>" + metrics.round(4).to_html()
                + "</details>")

    def plot(self, ax=None):
        """Gains curve (with the oracle and random lines) and calibration, side by side."""
        import matplotlib.pyplot as plt

        axes = ax
        if axes is None:
            _, axes = plt.subplots(1, 2, figsize=(10, 4))
        ax = axes[0]
        ax.plot(self.gains.share_contacted, self.gains.capture, label="model")
        if self.oracle_gains is not None:
            ax.plot(self.oracle_gains.share_contacted, self.oracle_gains.capture, "--",
                    label="oracle (true probability)")
        for name, gains in self.baseline_gains.items():
            ax.plot(gains.share_contacted, gains.capture, lw=0.8, alpha=0.7,
                    label=f"baseline: {name}")
        ax.plot([0, 1], [0, 1], ":", color="grey", label="random")
        ax.set(xlabel="share of users contacted", ylabel="share of buyers found",
               title=f"Gains (AUC {self.metrics['auc']:.3f})")
        ax.legend(loc="lower right")
        ax = axes[1]
        cal = self.calibration
        top = max(cal.predicted.max(), cal.observed.max()) * 1.05
        ax.plot([0, top], [0, top], ":", color="grey", label="perfect")
        ax.plot(cal.predicted, cal.observed, "o-", label="model")
        ax.set(xlabel="mean predicted probability", ylabel="observed rate",
               title="Calibration (score deciles)")
        ax.legend(loc="upper left")
        ax.figure.suptitle(self.label, fontsize=10)
        ax.figure.tight_layout()
        return ax.figure
