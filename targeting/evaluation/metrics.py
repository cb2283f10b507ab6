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

TOP_FRACTIONS = (0.01, 0.05, 0.10)


def _top(y: np.ndarray, s: np.ndarray, k: float) -> np.ndarray:
    n = max(1, int(round(k * len(y))))
    order = np.argsort(-s, kind="stable")
    return np.asarray(y)[order[:n]]


def capture_at(y, s, k: float) -> float:
    """Share of all positives in the top ``k`` fraction by score.

    Examples
    --------
    >>> capture_at([1, 0, 0, 1], [0.9, 0.8, 0.1, 0.2], 0.5)
    0.5
    """
    y = np.asarray(y)
    return float(_top(y, np.asarray(s), k).sum() / max(y.sum(), 1))


def lift_at(y, s, k: float) -> float:
    """Positive rate in the top ``k`` fraction divided by the overall positive rate.

    Examples
    --------
    >>> lift_at([1, 0, 0, 0], [0.9, 0.8, 0.1, 0.2], 0.25)
    4.0
    """
    y = np.asarray(y)
    base = y.mean()
    return float(_top(y, np.asarray(s), k).mean() / base) if base > 0 else float("nan")


def gains_curve(y, s, points: int = 101) -> pd.DataFrame:
    """Capture (share of positives found) against the share of users contacted.

    Examples
    --------
    >>> g = gains_curve([1, 0, 1, 0], [0.9, 0.1, 0.8, 0.2], points=3)
    >>> g.capture.tolist()
    [0.0, 1.0, 1.0]
    """
    y = np.asarray(y)[np.argsort(-np.asarray(s), kind="stable")]
    found = np.r_[0, np.cumsum(y)] / max(y.sum(), 1)
    share = np.linspace(0, 1, points)
    idx = np.round(share * len(y)).astype(int)
    return pd.DataFrame({"share_contacted": share, "capture": found[idx]})


def calibration_table(y, p, bins: int = 10) -> pd.DataFrame:
    """Mean predicted probability and observed rate per score-quantile bin."""
    frame = pd.DataFrame({"y": np.asarray(y, dtype=float), "p": np.asarray(p, dtype=float)})
    frame["bin"] = pd.qcut(frame.p.rank(method="first"), bins, labels=False)
    table = frame.groupby("bin").agg(predicted=("p", "mean"), observed=("y", "mean"),
                                     users=("y", "size"))
    return table.reset_index(drop=True)


def classification_metrics(y, p) -> dict[str, float]:
    """AUC, PR-AUC, log loss, Brier score, and lift and capture at the top 1/5/10 %."""
    y, p = np.asarray(y), np.asarray(p, dtype=float)
    if len(np.unique(y)) < 2:
        raise ValueError("evaluation needs both outcomes (0 and 1) among the users; the window "
                         "has only one: pick another as_of, horizon or category")
    out = {
        "auc": skm.roc_auc_score(y, p),
        "pr_auc": skm.average_precision_score(y, p),
        "log_loss": skm.log_loss(y, np.clip(p, 1e-12, 1 - 1e-12)),
        "brier": skm.brier_score_loss(y, p),
        "positive_rate": float(y.mean()),
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
    """

    metrics: dict[str, float]
    gains: pd.DataFrame
    calibration: pd.DataFrame
    label: str = "model"
    oracle_auc: float | None = None
    oracle_gains: pd.DataFrame | None = None
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_scores(cls, y, p, *, label: str = "model", oracle=None) -> PropensityEvaluation:
        metrics = classification_metrics(y, p)
        oracle_auc = oracle_gains = None
        if oracle is not None:
            oracle_auc = float(skm.roc_auc_score(y, oracle))
            oracle_gains = gains_curve(y, oracle)
            metrics["oracle_auc"] = oracle_auc
            metrics["auc_gap_to_oracle"] = oracle_auc - metrics["auc"]
        return cls(metrics, gains_curve(y, p), calibration_table(y, p), label, oracle_auc,
                   oracle_gains)

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"value": self.metrics}).rename_axis("metric")

    def _repr_html_(self) -> str:
        title = html.escape(f"Propensity evaluation: {self.label}")
        return f"<h4>{title}</h4>" + self.to_frame().round(4).to_html()

    def plot(self, axes=None):
        """Gains curve (with the oracle and random lines) and calibration, side by side."""
        import matplotlib.pyplot as plt

        if axes is None:
            _, axes = plt.subplots(1, 2, figsize=(10, 4))
        ax = axes[0]
        ax.plot(self.gains.share_contacted, self.gains.capture, label="model")
        if self.oracle_gains is not None:
            ax.plot(self.oracle_gains.share_contacted, self.oracle_gains.capture, "--",
                    label="oracle (true probability)")
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
