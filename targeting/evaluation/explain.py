"""Explanations: SHAP values of LightGBM models, per-user reasons, and the share of each silo.

Every model here is LightGBM trees over the matrix of a :class:`~targeting.FeaturePipeline`, so
one engine explains them all: the exact path-dependent TreeSHAP values of the booster, which
LightGBM computes itself (``Booster.predict(X, pred_contrib=True)``; ``shap.TreeExplainer`` on a
LightGBM booster calls the same routine, and the tests check the two agree to the last bit).

The values are in **log-odds of the raw booster**: for each user they sum, with the base value,
to the booster's margin. A propensity model's score is ``expit(a * margin + b)`` (Platt
calibration), so a reason's effect on the calibrated log-odds is ``a`` times its value; ranks
and signs are the same as long as ``a > 0`` (it is, for any model better than chance).

A model is explainable if it has ``booster_`` and ``pipeline_`` (propensity, the lookalike
classifier), or if it defines ``explain_boosters()`` returning ``[(booster, weight), ...]``
whose weighted margins add up to the quantity to explain; a T-learner's uplift is
``[(treated, 1.0), (control, -1.0)]``. SHAP values are additive, so the weighted sum of the
boosters' values explains the weighted sum of their margins exactly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

SILOS = ("profile", "social", "purchase", "crm", "graph")


# -- the engine ----------------------------------------------------------------------------
def explain_boosters(model) -> list[tuple[lgb.Booster, float]]:
    """The boosters whose weighted margins a model's explanation adds up to."""
    if hasattr(model, "explain_boosters"):
        return list(model.explain_boosters())
    if isinstance(model, lgb.Booster):
        return [(model, 1.0)]
    if hasattr(model, "booster_"):
        return [(model.booster_, 1.0)]
    raise TypeError(f"cannot explain a {type(model).__name__}: expected a fitted model with "
                    "booster_ and pipeline_, a model with explain_boosters(), or a "
                    "lightgbm.Booster")


def model_feature_names(model) -> list[str]:
    """The columns a model's boosters read: its own ``feature_names_`` (the pipeline's and
    any it computes, such as the classic scores), else its pipeline's."""
    names = getattr(model, "feature_names_", None)
    return list(names) if names is not None else list(model.pipeline_.feature_names_)


def contributions(model, X: np.ndarray, *, method: str = "lightgbm",
                  chunk_size: int = 20_000, progress: bool = False) -> np.ndarray:
    """SHAP values of a model's margin for each row of a model matrix.

    Parameters
    ----------
    model : fitted model or lightgbm.Booster
        See the module docstring for what is explainable.
    X : ndarray of shape (n_users, n_features)
        The model matrix (``pipeline_.to_matrix(features)``).
    method : {"lightgbm", "shap"}, default "lightgbm"
        ``"lightgbm"``: ``Booster.predict(pred_contrib=True)`` in chunks. ``"shap"``:
        ``shap.TreeExplainer(booster).shap_values`` (the same numbers, with shap's checks).
    chunk_size : int, default 20,000
        Rows per call; memory is about ``chunk_size * n_features * 8`` bytes.
    progress : bool, default False
        Show a progress bar over the chunks.

    Returns
    -------
    ndarray of shape (n_users, n_features + 1)
        Log-odds contributions; the last column is the base value (expected margin). Rows sum to
        the (weighted) raw margin.

    Examples
    --------
    >>> import targeting as tg
    >>> world = tg.demo_world(n_users=3_000, random_state=4)
    >>> model = tg.PropensityModel("snacks", progress=False).fit(world.tables, world.as_of)
    >>> X = model.pipeline_.to_matrix(model.features(world.tables, world.as_of))
    >>> phi = contributions(model, X)
    >>> margin = model.booster_.predict(model.model_matrix(X), raw_score=True)
    >>> bool(np.allclose(phi.sum(axis=1), margin))
    True
    """
    if method not in ("lightgbm", "shap"):
        raise ValueError(f"method must be 'lightgbm' or 'shap', got {method!r}")
    boosters = explain_boosters(model)
    if hasattr(model, "model_matrix"):  # the pipeline's columns and the model's own (classic)
        X = model.model_matrix(X)
    out = np.zeros((len(X), X.shape[1] + 1))
    starts = range(0, len(X), chunk_size)
    for start in tqdm(starts, desc="SHAP values", disable=not progress, leave=False):
        rows = slice(start, start + chunk_size)
        for booster, weight in boosters:
            out[rows] += weight * _booster_contrib(booster, X[rows], method)
    return out


def _booster_contrib(booster: lgb.Booster, X: np.ndarray, method: str) -> np.ndarray:
    if method == "lightgbm":
        return booster.predict(X, pred_contrib=True)
    import shap

    explainer = shap.TreeExplainer(booster)
    values = explainer(X, check_additivity=False)
    base = np.full((len(X), 1), float(np.ravel(values.base_values)[0]))
    return np.hstack([values.values, base])


# -- reasons -------------------------------------------------------------------------------
def top_reasons(values: np.ndarray, names: Sequence[str], k: int = 3) -> pd.DataFrame:
    """The ``k`` features that moved each user's score most, with their signed effect.

    Parameters
    ----------
    values : ndarray of shape (n_users, n_features)
        SHAP values (without the base column).
    names : sequence of str
        Feature names, one per column.
    k : int, default 3

    Returns
    -------
    DataFrame
        ``reason_1, reason_1_effect, ..., reason_k, reason_k_effect``: the feature and its
        contribution in log-odds (positive raises the score, negative lowers it), largest
        absolute effect first.

    Examples
    --------
    >>> top_reasons(np.array([[0.1, -0.5, 0.2]]), ["a", "b", "c"], k=2)
    ... # doctest: +NORMALIZE_WHITESPACE
       reason_1  reason_1_effect reason_2  reason_2_effect
    0        b             -0.5        c              0.2
    """
    k = int(min(k, values.shape[1]))
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    magnitude = np.abs(values)
    # argpartition then a sort of k columns: O(n * f), not O(n * f log f).
    top = np.argpartition(-magnitude, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(magnitude, top, axis=1), axis=1, kind="stable")
    top = np.take_along_axis(top, order, axis=1)
    effects = np.take_along_axis(values, top, axis=1)
    labels = np.asarray(names, dtype=object)
    columns: dict[str, Any] = {}
    for i in range(k):
        columns[f"reason_{i + 1}"] = labels[top[:, i]]
        columns[f"reason_{i + 1}_effect"] = effects[:, i]
    return pd.DataFrame(columns)


def silo_totals(values: np.ndarray, names: Sequence[str], silo_of) -> pd.DataFrame:
    """Each user's SHAP values summed by silo: how much of the score each silo explains.

    Columns ``silo_profile, silo_social, silo_purchase, silo_crm, silo_graph`` (those present),
    in log-odds; with the base value they add up to the margin.

    Examples
    --------
    >>> silo_totals(np.array([[0.1, -0.5, 0.2]]), ["soc_a", "pur_b", "soc_c"],
    ...             lambda f: {"soc": "social", "pur": "purchase"}[f[:3]])
       silo_social  silo_purchase
    0          0.3           -0.5
    """
    silos = np.array([silo_of(n) for n in names])
    present = [s for s in SILOS if s in set(silos)] + sorted(set(silos) - set(SILOS))
    return pd.DataFrame({f"silo_{s}": values[:, silos == s].sum(axis=1) for s in present})


def reason_columns(model, X: np.ndarray, k: int = 3, *, chunk_size: int = 20_000,
                   progress: bool = False) -> pd.DataFrame:
    """Reason and silo columns for ``score(..., reasons=k)``, computed chunk by chunk.

    Cost: one TreeSHAP pass, ``O(trees * leaves * depth**2)`` per user. On the 2-core reference
    machine that is about 0.16 ms per user per 100 trees of 15 leaves (about 45 times a plain
    prediction): 100,000 users with the demo beauty model (213 trees) take 35 s, so 1,000,000
    users about 6 minutes, in memory bounded by ``chunk_size`` rows (``benchmarks/explain.py``).
    """
    pipeline = model.pipeline_
    names = model_feature_names(model)
    parts = []
    for start in tqdm(range(0, len(X), chunk_size), desc="reasons", disable=not progress,
                      leave=False):
        phi = contributions(model, X[start:start + chunk_size], chunk_size=chunk_size)
        part = top_reasons(phi[:, :-1], names, k)
        part = pd.concat([part, silo_totals(phi[:, :-1], names, pipeline.silo_of)], axis=1)
        part["base_value"] = phi[:, -1]
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


# -- the result object ---------------------------------------------------------------------
@dataclass
class Explanation:
    """SHAP values of a model for a set of users, in log-odds of the raw booster.

    Attributes
    ----------
    values : DataFrame
        One row per user (index ``user_id``), one column per feature.
    base_value : float
        The expected margin; ``values.sum(axis=1) + base_value`` is each user's margin.
    features : DataFrame
        The feature values explained (categorical ones as their labels).
    matrix : ndarray
        The same as the model sees them (categorical ones as codes), for plots.
    silos : dict of str to str
        Each feature's silo.
    """

    values: pd.DataFrame
    base_value: float
    features: pd.DataFrame
    matrix: np.ndarray
    silos: dict[str, str]
    label: str = "model"
    extra: dict = field(default_factory=dict)

    @property
    def table(self) -> pd.DataFrame:
        """Global importance: each feature's silo and mean absolute SHAP value, largest
        first."""
        importance = self.values.abs().mean().sort_values(ascending=False)
        return pd.DataFrame({"silo": [self.silos[f] for f in importance.index],
                             "mean_abs_shap": importance.to_numpy()},
                            index=pd.Index(importance.index, name="feature"))

    def silo_importance(self) -> pd.Series:
        """Share of the total mean absolute SHAP value that each silo carries."""
        by_silo = self.table.groupby("silo")["mean_abs_shap"].sum()
        return (by_silo / by_silo.sum()).sort_values(ascending=False).rename("share")

    def by_silo(self) -> pd.DataFrame:
        """Per user: the SHAP values summed by silo (log-odds), with the base value."""
        out = silo_totals(self.values.to_numpy(), list(self.values.columns), self.silos.get)
        out.index = self.values.index
        out["base_value"] = self.base_value
        return out

    def reasons(self, k: int = 3) -> pd.DataFrame:
        """Per user: the top ``k`` reasons with their signed effect, and the silo totals."""
        out = top_reasons(self.values.to_numpy(), list(self.values.columns), k)
        out.index = self.values.index
        return out.join(self.by_silo())

    def portrait(self, user, k: int = 5) -> pd.DataFrame:
        """One user's top ``k`` reasons, readable: feature, silo, value, effect."""
        row = self.values.loc[user]
        top = row.abs().sort_values(ascending=False).index[:k]
        return pd.DataFrame({"silo": [self.silos[f] for f in top],
                             "value": [self.features.loc[user, f] for f in top],
                             "effect": row[top].to_numpy(),
                             "direction": np.where(row[top] > 0, "raises", "lowers")},
                            index=pd.Index(top, name="feature"))

    def to_shap(self):
        """A ``shap.Explanation`` (categorical features as their codes), for shap's plots."""
        import shap

        return shap.Explanation(self.values.to_numpy(), base_values=self.base_value,
                                data=self.matrix, feature_names=list(self.values.columns))

    def top_features(self, k: int = 3) -> list[str]:
        """The ``k`` most important features, most important first."""
        return self.table.index[:k].tolist()

    def plot(self, ax=None, *, kind: str = "summary", feature: str | None = None,
             max_display: int = 15):
        """SHAP summary (beeswarm), silo bar chart, or the dependence plot of one feature.

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Where to draw (a new figure by default).
        kind : {"summary", "silo", "dependence"}
        feature : str, optional
            For ``"dependence"``: the feature (default the most important one).
        max_display : int, default 15
            Features shown by the summary plot.

        Returns
        -------
        matplotlib.figure.Figure
        """
        import matplotlib.pyplot as plt
        import shap

        if kind not in ("summary", "silo", "dependence"):
            raise ValueError(f"kind must be 'summary', 'silo' or 'dependence', got {kind!r}")
        if kind == "dependence":
            feature = feature or self.top_features(1)[0]
            if feature not in self.values.columns:
                raise KeyError(f"unknown feature {feature!r}; e.g. {self.top_features(5)}")
        if ax is None:
            size = {"silo": (6, 3.2), "summary": (8, 0.35 * max_display + 1.5),
                    "dependence": (6, 4)}[kind]
            _, ax = plt.subplots(figsize=size)
        fig = ax.figure
        if kind == "silo":
            self.silo_importance().sort_values().plot.barh(ax=ax, color="#1E88E5")
            ax.set_xlabel("share of mean |SHAP| (log-odds)")
            ax.set_title(f"{self.label}: what each silo explains")
            fig.tight_layout()
            return fig
        if kind == "summary":
            shap.plots.beeswarm(self.to_shap(), max_display=max_display, show=False,
                                plot_size=None, ax=ax)
            ax.set_title(f"{self.label}: SHAP values (log-odds of the raw booster)")
            fig.tight_layout()
            return fig
        shap.plots.scatter(self.to_shap()[:, feature], ax=ax, show=False)
        ax.set_title(f"{feature} ({self.silos[feature]})")
        fig.tight_layout()
        return fig

    def save(self, folder, n_dependence: int = 3) -> list[str]:
        """Write the summary, silo and top dependence plots and the importance table.

        Returns the file names written (what a tracked run carries as artifacts).
        """
        import matplotlib.pyplot as plt

        folder = Path(folder)
        figures = {"shap_summary.png": self.plot(kind="summary"),
                   "shap_silos.png": self.plot(kind="silo")}
        for feature in self.top_features(n_dependence):
            figures[f"shap_dependence_{feature}.png"] = self.plot(kind="dependence",
                                                                   feature=feature)
        for name, fig in figures.items():
            fig.savefig(folder / name, dpi=100)
            plt.close(fig)
        self.table.to_csv(folder / "shap_importance.csv")
        return [*figures, "shap_importance.csv"]

    def _repr_html_(self) -> str:
        imp = self.table.head(10)
        silos = self.silo_importance().to_frame().T
        return (f"<b>{self.label}</b>: SHAP values of {len(self.values):,} users, base value "
                f"{self.base_value:.3f} (log-odds of the raw booster)<br>"
                f"{silos.to_html(float_format='{:.3f}'.format)}"
                f"{imp.to_html(float_format='{:.4f}'.format)}")


def explain(model, data: Mapping[str, pd.DataFrame] | pd.DataFrame, as_of=None, *,
            users: Sequence | None = None, sample: int | None = 5_000,
            method: str = "lightgbm", random_state: int = 0,
            label: str | None = None) -> Explanation:
    """Explain a fitted model on raw tables or a feature frame.

    Parameters
    ----------
    model : fitted model
        With ``pipeline_`` and ``booster_`` (or ``explain_boosters()``).
    data : dict of DataFrame or DataFrame
        Contract tables (features built at ``as_of`` by the model's pipeline) or a feature
        frame indexed by ``user_id``.
    as_of, users
        As in :func:`~targeting.score`.
    sample : int or None, default 5,000
        Explain a random sample of this many users (None: all of them).
    method : {"lightgbm", "shap"}
        See :func:`contributions`.

    Returns
    -------
    Explanation

    Examples
    --------
    >>> import targeting as tg
    >>> world = tg.demo_world(n_users=3_000, random_state=4)
    >>> model = tg.PropensityModel("snacks", progress=False).fit(world.tables, world.as_of)
    >>> ex = tg.explain(model, world.tables, world.as_of, sample=500)
    >>> ex.values.shape[0], round(float(ex.silo_importance().sum()), 6)
    (500, 1.0)
    """
    pipeline = getattr(model, "pipeline_", None)
    if pipeline is None:
        raise TypeError(f"cannot explain a {type(model).__name__} without its pipeline_: pass "
                        "a fitted model")
    if isinstance(data, Mapping):
        features = pipeline.transform(data, as_of, users=users)
    else:
        features = data.set_index("user_id") if "user_id" in data.columns else data
    if hasattr(features, "compute"):  # a lazy (Dask) frame: sample a fraction, then collect
        rows = len(features)
        if sample is not None and rows > sample:
            features = features.sample(frac=sample / rows, random_state=random_state)
        features = features.compute()
    if sample is not None and len(features) > sample:
        features = features.sample(sample, random_state=random_state)
    X = pipeline.to_matrix(features)
    phi = contributions(model, X, method=method)
    names = model_feature_names(model)
    if len(names) > len(pipeline.feature_names_):  # the model's own columns, shown as features
        X = model.model_matrix(X)
        extra = names[len(pipeline.feature_names_):]
        features = features.assign(**dict(zip(extra, X[:, -len(extra):].T, strict=True)))
    values = pd.DataFrame(phi[:, :-1], index=features.index, columns=names)
    base = float(phi[0, -1]) if len(phi) else 0.0
    return Explanation(values, base, features, X, {f: pipeline.silo_of(f) for f in names},
                       label=label or type(model).__name__, extra={"method": method})
