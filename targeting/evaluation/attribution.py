"""Attribution: which scenes and channels earned the conversions.

Input is either the ``touchpoints`` and ``conversions`` tables, turned into journeys by
:func:`journeys`, or an aggregated *path table*, one row per distinct path, in the interchange
format of ChannelAttribution and most attribution tools::

    path                          conversions  value   nulls
    "moments > group_chat > app"  12           1830.0  240

Methods (:func:`attribute`):

- heuristics: ``last_touch``, ``first_touch``, ``linear`` (equal split over the touches),
  ``time_decay`` (weight halves every ``half_life`` touches back from the conversion),
  ``position`` (U-shape: 40 % first, 40 % last, 20 % shared by the middle);
- ``markov``: removal effect in a Markov chain of order 1 to 4 over the touches, computed
  exactly from the absorbing chain over the observed states (deterministic, unlike
  simulation-based peers). A channel's credit is its removal effect (the share of conversions
  lost when its states lead nowhere), normalised to the conversions; its value credit is the
  same removal effect in the chain rewarded with each end state's conversion value;
- ``shapley``: per set of channels seen together in journeys, the Shapley value of the
  conversion rate of exposure (converting and non-converting journeys alike), weighted by the
  journeys with that set; exact up to ``max_exact`` channels in a set, sampled beyond.

Every data-driven credit comes with a Poisson-bootstrap interval over journeys. It covers the
sampling noise of the data only: not the method's own error, which only a known truth shows
(``compare_attribution(..., truth=...)`` on the demo world), nor an experiment's
(:func:`incrementality`).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from targeting.evaluation.journeys import as_paths, touches
from targeting.evaluation.markov import MarkovChain, markov_credit
from targeting.evaluation.shapley import shapley_credit

HEURISTICS = ("last_touch", "first_touch", "linear", "time_decay", "position")
DATA_DRIVEN = ("markov", "shapley")
METHODS = HEURISTICS + DATA_DRIVEN


# -- heuristics ---------------------------------------------------------------------------------
def _heuristic(paths: pd.DataFrame, method: str, half_life: float = 2.0) -> pd.DataFrame:
    t = touches(paths[paths.conversions > 0].reset_index(drop=True))
    pos, n = t.pos.to_numpy(), t.n.to_numpy()
    if method == "last_touch":
        w = (pos == n - 1).astype(float)
    elif method == "first_touch":
        w = (pos == 0).astype(float)
    elif method == "linear":
        w = 1.0 / n
    elif method == "time_decay":
        w = 0.5 ** ((n - 1 - pos) / half_life)
        w = w / pd.Series(w).groupby(t.row.to_numpy()).transform("sum").to_numpy()
    elif method == "position":
        ends = (pos == 0) | (pos == n - 1)
        w = np.where(n <= 2, 1.0 / n, np.where(ends, 0.4, 0.2 / np.maximum(n - 2, 1)))
    else:
        raise ValueError(f"unknown heuristic {method!r}; choose from {HEURISTICS}")
    credit = pd.DataFrame({"channel": t.channel, "conversions": w * t.conversions,
                           "value": w * t.value})
    return credit.groupby("channel")[["conversions", "value"]].sum()


# -- one call -----------------------------------------------------------------------------------
@dataclass
class Attribution:
    """Credit per channel: conversions and value, absolute and share, with intervals.

    ``share_low``/``share_high`` (data-driven methods) bound the share over Poisson-bootstrap
    replicates of the journeys: sampling noise only, not the method's error against the truth.
    """

    method: str
    table: pd.DataFrame
    params: dict = field(default_factory=dict)

    def _repr_html_(self) -> str:
        title = html.escape(f"Attribution: {self.method} {self.params or ''}")
        note = ""
        if "share_low" in self.table:
            note = ("<p>share_low / share_high: bootstrap interval over journeys, sampling noise "
                    "only (not the method's error against the truth).</p>")
        return f"<h4>{title}</h4>" + note + self.table.round(4).to_html()

    def plot(self, ax=None):
        """Share of conversions per channel, with the bootstrap interval where there is one."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(7, 4))
        c = self.table.sort_values("share")
        err = None
        if "share_low" in c:
            err = np.vstack([c.share - c.share_low, c.share_high - c.share])
        ax.barh(c.index, c.share, xerr=err)
        ax.set(xlabel="share of conversions", title=f"Attribution: {self.method}")
        ax.figure.tight_layout()
        return ax.figure


def attribute(data, method: str = "markov", *, order: int = 1, half_life: float = 2.0,
              n_bootstrap: int = 200, confidence: float = 0.95,
              random_state: int = 0) -> Attribution:
    """Credit each channel with conversions and value.

    Parameters
    ----------
    data : dict of tables, Journeys or path table
        ``touchpoints`` + ``conversions``, the result of :func:`journeys`, or a path table.
    method : str
        One of ``last_touch, first_touch, linear, time_decay, position, markov, shapley``.
    order : int, default 1
        Markov order (1 to 4).
    half_life : float, default 2
        For ``time_decay``: touches back from the conversion at which the weight halves.
    n_bootstrap : int, default 200
        Poisson-bootstrap replicates over journeys for the data-driven intervals (0: none).
    confidence : float, default 0.95
        Coverage of those intervals (sampling noise only).
    random_state : int, default 0
        Seed of the bootstrap (and of sampled Shapley orders).

    Returns
    -------
    Attribution
        ``table``: per channel ``conversions``, ``value``, ``share`` (and for data-driven
        methods ``share_low``/``share_high``: a ``confidence`` Poisson-bootstrap interval over
        journeys, which covers sampling noise only, not the method's error).

    Raises
    ------
    SchemaError
        Input that is not tables, a Journeys or a path table, or whose tables or columns break
        their contract (see :func:`journeys` and :func:`journeys_from_paths`).
    ValueError
        An unknown method, a Markov order outside 1-4, a negative ``n_bootstrap`` or a
        ``confidence`` outside (0, 1).

    Examples
    --------
    >>> import pandas as pd
    >>> paths = pd.DataFrame({"path": ["a > b", "b"], "conversions": [3, 1], "value": [30., 5.],
    ...                       "nulls": [1, 5]})
    >>> attribute(paths, "last_touch").table.conversions.to_dict()
    {'a': 0.0, 'b': 4.0}
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose from {METHODS}")
    if method == "markov" and order not in (1, 2, 3, 4):
        raise ValueError(f"Markov order must be 1 to 4, got {order}")
    if n_bootstrap < 0 or not 0 < confidence < 1:
        raise ValueError(f"n_bootstrap must be >= 0 and confidence in (0, 1), got {n_bootstrap} "
                         f"and {confidence}")
    paths = as_paths(data)
    chain = MarkovChain.build(paths, order) if method == "markov" else None
    credit = _credit(paths, method, order, half_life, random_state, chain)
    params = {"order": order} if method == "markov" else (
        {"half_life": half_life} if method == "time_decay" else {})
    if method in DATA_DRIVEN and n_bootstrap:
        table = _bootstrap(paths, method, order, random_state, chain, n_bootstrap)
        table = table.reindex(credit.index).fillna(0.0)
        alpha = (1 - confidence) / 2
        credit["share_low"] = table.quantile(alpha, axis=1)
        credit["share_high"] = table.quantile(1 - alpha, axis=1)
    return Attribution(method, credit, params)


def _bootstrap(paths, method, order, random_state, chain, n_bootstrap) -> pd.DataFrame:
    """Shares of conversions over Poisson-bootstrap replicates of the journeys (one column each).

    A path's conversions and nulls are redrawn, its value scaled with its conversions. The
    Markov chain is parsed once and re-weighted per replicate.
    """
    rng = np.random.default_rng(random_state)
    conv = paths.conversions.to_numpy(dtype=float)
    per_conversion = np.divide(paths.value.to_numpy(dtype=float), conv,
                               out=np.zeros(len(conv)), where=conv > 0)
    shares = []
    for _ in range(n_bootstrap):
        drawn = rng.poisson(conv)
        boot = paths.assign(conversions=drawn, nulls=rng.poisson(paths.nulls),
                            value=drawn * per_conversion)
        if chain is None:
            boot = boot[(boot.conversions + boot.nulls) > 0]
        shares.append(_credit(boot, method, order, 2.0, random_state, chain).share)
    return pd.concat(shares, axis=1)


def _credit(paths, method, order, half_life, random_state, chain=None) -> pd.DataFrame:
    total_conv = float(paths.conversions.sum())
    total_value = float(paths.value.sum())
    if method in HEURISTICS:
        out = _heuristic(paths, method, half_life)
    else:
        se = None
        if method == "markov":
            raw = markov_credit(paths, order, chain)
        else:
            raw, se = shapley_credit(paths, random_state=random_state)
        raw = raw.clip(lower=0.0)
        out = pd.DataFrame({"conversions": _scaled(raw.conversions, total_conv),
                            "value": _scaled(raw.value, total_value)})
        if se is not None and (se > 0).any():  # sampled Shapley: its Monte Carlo error
            out["share_se"] = se / raw.conversions.sum()
    out = out.sort_index()
    out["share"] = out.conversions / out.conversions.sum() if total_conv else 0.0
    out["value_share"] = out.value / total_value if total_value else 0.0
    out.index.name = "channel"
    return out


def _scaled(raw: pd.Series, total: float) -> pd.Series:
    """``raw`` rescaled to sum to ``total`` (zeros when there is nothing to share)."""
    return raw / raw.sum() * total if raw.sum() > 0 else raw * 0.0


@dataclass
class AttributionComparison:
    """Every method's share of conversions per channel, side by side (and the truth, if known).

    ``table`` has one column per method (plus ``truth``); with the truth, ``errors`` holds each
    method's mean absolute error in channel share.
    """

    table: pd.DataFrame
    errors: pd.Series | None = None

    def _repr_html_(self) -> str:
        out = "<h4>Attribution: share of conversions by channel</h4>" + self.table.round(
            3).to_html()
        if self.errors is not None:
            out += "<h5>Mean absolute error against the truth</h5>" + self.errors.round(
                4).to_frame("MAE").to_html()
        return out

    def plot(self, ax=None):
        """Grouped bars: channels on the axis, one bar per method (truth in black)."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(10, 4.5))
        colors = [("black" if c == "truth" else None) for c in self.table.columns]
        self.table.plot.bar(ax=ax, width=0.85, color=[c or f"C{i}" for i, c in
                                                      enumerate(colors)])
        ax.set(ylabel="share of conversions", xlabel="", title="Attribution by method")
        ax.legend(ncol=4, fontsize=8)
        ax.figure.tight_layout()
        return ax.figure


def compare_attribution(data, methods=METHODS, *, truth: pd.Series | None = None,
                        order: int = 1, n_bootstrap: int = 0) -> AttributionComparison:
    """Share of conversions per channel for each method, side by side.

    With ``truth`` (a share per channel, e.g. the demo world's true credit) the table gains a
    ``truth`` column and ``errors`` holds each method's mean absolute error against it.

    Examples
    --------
    >>> import pandas as pd
    >>> paths = pd.DataFrame({"path": ["a > b", "b"], "conversions": [3, 1], "nulls": [1, 5]})
    >>> compare_attribution(paths, ["first_touch", "last_touch"]).table.loc["a"].tolist()
    [0.75, 0.0]
    """
    paths = as_paths(data)
    table = pd.DataFrame({m: attribute(paths, m, order=order, n_bootstrap=n_bootstrap)
                          .table.share for m in methods}).fillna(0.0)
    errors = None
    if truth is not None:
        table["truth"] = truth.reindex(table.index).fillna(0.0)
        errors = pd.Series({m: float((table[m] - table.truth).abs().mean()) for m in methods})
    return AttributionComparison(table, errors)
