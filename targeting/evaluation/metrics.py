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


# -- uplift ---------------------------------------------------------------------------------------
def _uplift_inputs(y, uplift, treatment):
    y, u, t = (np.asarray(a) for a in (y, uplift, treatment))
    if not (len(y) == len(u) == len(t)):
        raise ValueError(f"y, uplift and treatment differ in length: {len(y)}, {len(u)}, {len(t)}")
    if not set(np.unique(t)) <= {0, 1}:
        raise ValueError("treatment must be 0 (control) or 1 (treated)")
    return y.astype(float), u.astype(float), t.astype(int)


def _cumulative_by_score(y, uplift, treatment):
    """Counts after each distinct score, users sorted by uplift descending (ties together)."""
    y, u, t = _uplift_inputs(y, uplift, treatment)
    order = np.argsort(u, kind="mergesort")[::-1]
    y, u, t = y[order], u[order], t[order]
    ends = np.r_[np.flatnonzero(np.diff(u)), u.size - 1]
    n_t = np.cumsum(t)[ends].astype(float)
    y_t = np.cumsum(y * t)[ends]
    y_c = np.cumsum(y * (1 - t))[ends]
    n_all = (ends + 1).astype(float)
    return n_all, n_t, n_all - n_t, y_t, y_c


def _ratio(a, b):
    return np.divide(a, b, out=np.zeros_like(a, dtype=float), where=b != 0)


def qini_curve(y, uplift, treatment) -> tuple[np.ndarray, np.ndarray]:
    """Qini curve: incremental outcomes among the top ``n`` users by predicted uplift.

    ``Q(n) = Y_t(n) - Y_c(n) * N_t(n) / N_c(n)``, with ``Y`` the summed outcomes (conversions or
    revenue) and ``N`` the counts of treated/control users among the top ``n``; ties in the score
    are taken together. Same definition and points as scikit-uplift's ``qini_curve``.

    Examples
    --------
    >>> n, q = qini_curve([1, 0, 1, 0], [0.9, 0.8, 0.2, 0.1], [1, 0, 0, 1])
    >>> q.tolist()
    [0.0, 1.0, 1.0, 0.5, 0.0]
    """
    n_all, n_t, n_c, y_t, y_c = _cumulative_by_score(y, uplift, treatment)
    return np.r_[0.0, n_all], np.r_[0.0, y_t - y_c * _ratio(n_t, n_c)]


def uplift_curve(y, uplift, treatment) -> tuple[np.ndarray, np.ndarray]:
    """Uplift curve: ``(Y_t/N_t - Y_c/N_c) * n`` among the top ``n`` users (scikit-uplift's).

    Examples
    --------
    >>> n, u = uplift_curve([1, 0, 1, 0], [0.9, 0.8, 0.2, 0.1], [1, 0, 0, 1])
    >>> u.tolist()
    [0.0, 1.0, 2.0, 1.5, 0.0]
    """
    n_all, n_t, n_c, y_t, y_c = _cumulative_by_score(y, uplift, treatment)
    values = (_ratio(y_t, n_t) - _ratio(y_c, n_c)) * n_all  # an empty arm counts as rate 0
    return np.r_[0.0, n_all], np.r_[0.0, values]


def _perfect_order(y, treatment) -> np.ndarray:
    """The score of a perfect model: treated responders first, control responders last."""
    y, t = np.asarray(y, dtype=float), np.asarray(treatment)
    return y * t - y * (1 - t)


def _perfect_uplift_order(y, treatment) -> np.ndarray:
    """The perfect ranking for the uplift curve: treated responders and control non-responders
    first, ordered so the curve's rates peak earliest (scikit-uplift's construction)."""
    y, t = np.asarray(y), np.asarray(treatment)
    control_responders = np.sum((y == 1) & (t == 0))
    treated_non_responders = np.sum((y == 0) & (t == 1))
    tie_break = y if control_responders > treated_non_responders else t
    return 2.0 * (y == t) + tie_break


def _normalised_area(curve, perfect, y, uplift, treatment) -> float:
    x, v = curve(y, uplift, treatment)
    xp, vp = curve(y, perfect(y, treatment), treatment)
    baseline = np.trapezoid([0.0, vp[-1]], [0.0, xp[-1]])
    return float((np.trapezoid(v, x) - baseline) / (np.trapezoid(vp, xp) - baseline))


def qini_coefficient(y, uplift, treatment) -> float:
    """Area between the Qini curve and the random line, as a share of the perfect model's.

    This is scikit-uplift's ``qini_auc_score`` convention (the perfect model may rank users
    whom the campaign puts off last). 1 is perfect, 0 random, negative worse than random.

    Examples
    --------
    >>> round(qini_coefficient([1, 0, 1, 0, 1, 0], [.9, .8, .7, .3, .2, .1], [1, 1, 0, 0, 1, 0]), 4)
    -0.1538
    """
    return _normalised_area(qini_curve, _perfect_order, y, uplift, treatment)


def auuc(y, uplift, treatment) -> float:
    """Area under the uplift curve relative to the perfect model's (scikit-uplift's
    ``uplift_auc_score``)."""
    return _normalised_area(uplift_curve, _perfect_uplift_order, y, uplift, treatment)


def uplift_at_k(y, uplift, treatment, k: float = 0.3, strategy: str = "overall") -> float:
    """Treated minus control response rate among the top ``k`` users by predicted uplift.

    ``k`` is a fraction in (0, 1) or a count. ``strategy="overall"`` takes the top ``k`` of all
    users; ``"by_group"`` the top ``k`` of each arm separately (scikit-uplift's conventions).

    Examples
    --------
    >>> uplift_at_k([1, 0, 1, 0], [0.9, 0.8, 0.2, 0.1], [1, 0, 0, 1], k=0.5)
    1.0
    """
    y, u, t = _uplift_inputs(y, uplift, treatment)
    order = np.argsort(u, kind="mergesort")[::-1]
    y, t = y[order], t[order]
    fraction = isinstance(k, float)
    if strategy == "overall":
        top = int(len(y) * k) if fraction else int(k)
        y, t = y[:top], t[:top]
        return float(y[t == 1].mean() - y[t == 0].mean())
    if strategy == "by_group":
        n_t = int((t == 1).sum() * k) if fraction else int(k)
        n_c = int((t == 0).sum() * k) if fraction else int(k)
        return float(y[t == 1][:n_t].mean() - y[t == 0][:n_c].mean())
    raise ValueError(f"strategy must be 'overall' or 'by_group', got {strategy!r}")


def uplift_by_decile(y, uplift, treatment, bins: int = 10) -> pd.DataFrame:
    """Response rates per arm and their difference in each score decile (1 = highest uplift)."""
    y, u, t = _uplift_inputs(y, uplift, treatment)
    order = np.argsort(u, kind="mergesort")[::-1]
    decile = np.empty(len(u), dtype=int)
    decile[order] = np.arange(len(u)) * bins // len(u) + 1
    frame = pd.DataFrame({"decile": decile, "y": y, "t": t})
    rates = frame.groupby(["decile", "t"]).y.agg(["mean", "size"]).unstack("t")
    out = pd.DataFrame({"treated_rate": rates[("mean", 1)], "control_rate": rates[("mean", 0)],
                        "treated": rates[("size", 1)], "control": rates[("size", 0)]})
    out["uplift"] = out.treated_rate - out.control_rate
    return out


def bootstrap_interval(metric, y, uplift, treatment, n_bootstrap: int = 200,
                       confidence: float = 0.9, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of any ``metric(y, uplift, treatment)`` over users."""
    y, u, t = _uplift_inputs(y, uplift, treatment)
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n_bootstrap):
        pick = rng.integers(0, len(y), len(y))
        draws.append(metric(y[pick], u[pick], t[pick]))
    alpha = (1 - confidence) / 2
    return float(np.quantile(draws, alpha)), float(np.quantile(draws, 1 - alpha))
