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
- ``markov``: removal effect in a Markov chain of order 1 to 4 over the touches, computed in
  closed form from the absorbing chain (deterministic, unlike simulation-based peers). A channel's
  credit is its removal effect (the share of conversions lost when its states lead nowhere),
  normalised to the conversions;
- ``shapley``: Shapley value of the coalition game in which a set of channels is worth the
  conversions of the journeys whose channels all lie in it; exact up to ``max_exact`` channels,
  sampled permutations (with a standard error) beyond.

Every data-driven credit comes with a Poisson-bootstrap confidence interval over journeys.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass, field
from math import factorial

import numpy as np
import pandas as pd

SEP = " > "
HEURISTICS = ("last_touch", "first_touch", "linear", "time_decay", "position")
DATA_DRIVEN = ("markov", "shapley")
METHODS = HEURISTICS + DATA_DRIVEN
PATH_COLUMNS = ("path", "conversions", "value", "nulls")


# -- journeys ------------------------------------------------------------------------------------
@dataclass
class Journeys:
    """Ordered paths per journey and the path table they aggregate to.

    Attributes
    ----------
    paths : DataFrame
        The path table (``path, conversions, value, nulls``), most frequent first.
    journeys : DataFrame
        One row per journey: ``user_id, path, length, converted, value, days_to_convert``.
    excluded : dict of str to int
        Rows left out and why (never silently).
    """

    paths: pd.DataFrame
    journeys: pd.DataFrame
    excluded: dict[str, int] = field(default_factory=dict)

    def stats(self) -> pd.DataFrame:
        """Journey counts, conversion rate, path length and time to convert."""
        j = self.journeys
        conv = j[j.converted]
        return pd.DataFrame({"value": {
            "journeys": len(j), "converting": int(j.converted.sum()),
            "conversion rate": float(j.converted.mean()) if len(j) else np.nan,
            "mean path length": float(j.length.mean()) if len(j) else np.nan,
            "median days to convert": float(conv.days_to_convert.median())
            if len(conv) else np.nan,
            "distinct paths": len(self.paths),
            **{f"excluded: {k}": v for k, v in self.excluded.items()},
        }})

    def _repr_html_(self) -> str:
        top = self.paths.head(10)
        return ("<h4>Journeys</h4>" + self.stats().to_html()
                + "<h5>Top paths</h5>" + top.to_html(index=False))

    def plot(self, axes=None):
        """Path length by outcome, and the most frequent converting paths."""
        import matplotlib.pyplot as plt

        if axes is None:
            _, axes = plt.subplots(1, 2, figsize=(11, 4))
        j = self.journeys
        lengths = j.groupby(["length", "converted"]).size().unstack(fill_value=0)
        (lengths / lengths.sum()).plot.bar(ax=axes[0])
        axes[0].set(xlabel="touches in the journey", ylabel="share of journeys",
                    title="Path length by outcome")
        top = self.paths.nlargest(10, "conversions").set_index("path").conversions[::-1]
        top.plot.barh(ax=axes[1])
        axes[1].set(xlabel="conversions", title="Top converting paths")
        axes[0].figure.tight_layout()
        return axes[0].figure


def journeys(tables: Mapping[str, pd.DataFrame], lookback_days: float | None = 30) -> Journeys:
    """Cut each user's touches into journeys that end at a conversion (or at the data's end).

    Any channel name is accepted (channels are learned from the data). Rules, applied in this
    order and counted in ``Journeys.excluded``:
    touches are sorted by time per user (input order does not matter); touches with a missing
    channel are dropped; a conversion closes the journey of the touches since the user's previous
    conversion, keeping those within ``lookback_days`` before it; touches after a user's last
    conversion form a non-converting journey; a conversion with no touch in its window has an
    empty path and is left out.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"user_id": [1, 1, 2], "channel": ["video", "search", "video"],
    ...                   "ts": pd.to_datetime(["2026-01-01", "2026-01-02", "2026-01-01"])})
    >>> c = pd.DataFrame({"user_id": [1], "ts": pd.to_datetime(["2026-01-03"]), "value": [9.0]})
    >>> journeys({"touchpoints": t, "conversions": c}).paths
                 path  conversions  value  nulls
    0  video > search            1    9.0      0
    1           video            0    0.0      1
    """
    touches, conversions = tables["touchpoints"], tables["conversions"]
    excluded = {}
    missing = int(touches["channel"].isna().sum())
    if missing:
        excluded["touches without a channel"] = missing
    t = touches.loc[touches["channel"].notna(), ["user_id", "ts", "channel"]].assign(kind=0)
    c = conversions[["user_id", "ts", "value"]].assign(kind=1)
    events = pd.concat([t, c], ignore_index=True)
    # A conversion at the same instant as a touch comes after it.
    events = events.sort_values(["user_id", "ts", "kind"], kind="stable")
    conv_before = events.groupby("user_id").kind.cumsum() - events.kind
    events["journey"] = conv_before.astype(np.int64)
    conv = events[events.kind == 1].set_index(["user_id", "journey"])
    touch = events[events.kind == 0]
    key = pd.MultiIndex.from_frame(touch[["user_id", "journey"]])
    conv_ts = conv.ts.reindex(key).to_numpy()
    if lookback_days is not None:
        too_old = ~pd.isna(conv_ts) & (touch.ts.to_numpy()
                                       < conv_ts - np.timedelta64(int(lookback_days * 86400), "s"))
        if too_old.any():
            excluded[f"touches more than {lookback_days} days before their conversion"] = int(
                too_old.sum())
        touch = touch[~too_old]
    # Strings summed per journey (pandas concatenates in a C loop), then the last separator cut.
    touch = touch.assign(step=touch.channel.astype(str).astype(object) + SEP)
    grouped = touch.groupby(["user_id", "journey"], sort=True)
    per = pd.DataFrame({
        "path": grouped.step.sum().str.slice(stop=-len(SEP)),
        "length": grouped.size(),
        "first_ts": grouped.ts.min(),
    })
    per = per.join(conv[["ts", "value"]].rename(columns={"ts": "conv_ts"}), how="outer")
    empty = per.path.isna()
    if empty.any():
        excluded["conversions with no touch in their window"] = int(empty.sum())
    per = per[~empty]
    per["converted"] = per.conv_ts.notna()
    per["value"] = per.value.fillna(0.0)
    per["days_to_convert"] = (per.conv_ts - per.first_ts).dt.total_seconds() / 86_400
    per = per.reset_index()[["user_id", "path", "length", "converted", "value",
                             "days_to_convert"]]
    paths = path_table(per)
    return Journeys(paths, per, excluded)


def path_table(per_journey: pd.DataFrame) -> pd.DataFrame:
    """Aggregate journeys (``path, converted, value``) to the path table."""
    g = per_journey.assign(conv=per_journey.converted.astype(int),
                           null=(~per_journey.converted).astype(int))
    out = g.groupby("path").agg(conversions=("conv", "sum"), value=("value", "sum"),
                                nulls=("null", "sum")).reset_index()
    return out.sort_values(["conversions", "nulls", "path"], ascending=[False, False, True],
                           ignore_index=True)


def _as_paths(data) -> pd.DataFrame:
    """The path table from tables, a Journeys object or a path table; checked."""
    if isinstance(data, Journeys):
        return data.paths
    if isinstance(data, Mapping):
        return journeys(data).paths
    missing = [c for c in ("path", "conversions") if c not in data.columns]
    if missing:
        from targeting.data.schema import SchemaError

        raise SchemaError([f"path table: missing column(s) {missing}; expected {PATH_COLUMNS}"])
    out = data.copy()
    for col in ("value", "nulls"):
        if col not in out.columns:
            out[col] = 0.0
    empty = out.path.fillna("").str.strip() == ""
    return out[~empty].reset_index(drop=True)


def _touches(paths: pd.DataFrame) -> pd.DataFrame:
    """One row per touch of each distinct path: ``row, pos, n, channel`` plus path counts."""
    paths = paths.reset_index(drop=True)
    steps = paths.path.str.split(SEP.strip()).explode()
    out = pd.DataFrame({"row": steps.index.to_numpy(), "channel": steps.str.strip().to_numpy()})
    out["pos"] = out.groupby("row").cumcount().to_numpy()
    out["n"] = out.groupby("row").pos.transform("size").to_numpy()
    for col in ("conversions", "value", "nulls"):
        out[col] = paths[col].to_numpy(dtype=float)[out.row.to_numpy()]
    return out


# -- heuristics ---------------------------------------------------------------------------------
def _heuristic(paths: pd.DataFrame, method: str, half_life: float = 2.0) -> pd.DataFrame:
    t = _touches(paths[paths.conversions > 0].reset_index(drop=True))
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


# -- Markov chain removal effect ----------------------------------------------------------------
def _markov_credit(paths: pd.DataFrame, order: int = 1) -> pd.Series:
    """Removal effects of each channel, in closed form (absorbing Markov chain)."""
    t = _touches(paths)
    # A state is the last `order` channels; built with shifted copies within each path.
    state = t.channel.astype(object)
    for lag in range(1, order):
        earlier = t.groupby("row").channel.shift(lag)
        state = (earlier + SEP).where(earlier.notna(), "") + state
    t["state"] = state
    t["from"] = t.groupby("row").state.shift(1).fillna("(start)")
    t["weight"] = t.conversions + t.nulls
    moves = t.groupby(["from", "state"], sort=False).weight.sum()
    last = t[t.pos == t.n - 1]
    ends = last.groupby("state")[["conversions", "nulls"]].sum()
    states = sorted(pd.unique(t.state))
    transient = pd.CategoricalDtype(["(start)", *states])
    index = {s: i for i, s in enumerate(transient.categories)}
    k = len(transient.categories)

    def codes(values) -> np.ndarray:
        return np.asarray(pd.Series(values).astype(transient).cat.codes)

    counts = np.zeros((k, k))
    np.add.at(counts, (codes(moves.index.get_level_values(0)),
                       codes(moves.index.get_level_values(1))), moves.to_numpy())
    conv = np.zeros(k)
    null = np.zeros(k)
    conv[codes(ends.index)] = ends.conversions.to_numpy()
    null[codes(ends.index)] = ends.nulls.to_numpy()
    totals = counts.sum(axis=1) + conv + null
    totals[totals == 0] = 1.0
    Q, r = counts / totals[:, None], conv / totals
    base = _absorb(Q, r)
    channels_of = {s: set(s.split(SEP)) for s in states}
    effects = {}
    for ch in sorted(pd.unique(t.channel)):
        dead = [index[s] for s, chs in channels_of.items() if ch in chs]
        Qr, rr = Q.copy(), r.copy()
        Qr[:, dead] = 0.0  # transitions into a removed state fall to null
        rr[dead] = 0.0
        effects[ch] = 1.0 - _absorb(Qr, rr) / base if base > 0 else 0.0
    return pd.Series(effects)


def _absorb(Q: np.ndarray, r: np.ndarray) -> float:
    """Probability of reaching conversion from the start state: solve (I - Q) x = r."""
    x = np.linalg.solve(np.eye(len(r)) - Q, r)
    return float(x[0])


# -- Shapley ------------------------------------------------------------------------------------
def _shapley_credit(paths: pd.DataFrame, max_exact: int = 15, n_permutations: int = 2000,
                    seed: int = 0) -> tuple[pd.Series, pd.Series]:
    """Shapley values of v(S) = conversions of journeys whose channel set lies within S."""
    paths = paths.reset_index(drop=True)
    t = _touches(paths)
    channel = pd.Categorical(t.channel)
    channels = list(channel.categories)
    k = len(channels)
    masks = np.zeros(len(paths), dtype=np.int64)  # each path's set of channels, as bits
    np.bitwise_or.at(masks, t.row.to_numpy(), np.left_shift(1, channel.codes.astype(np.int64)))
    conv = paths.conversions.to_numpy(dtype=float)
    if k <= max_exact:
        v = np.zeros(1 << k)
        np.add.at(v, masks, conv)
        idx = np.arange(1 << k)
        for i in range(k):  # zeta transform: v(S) = sum of the conversions of subsets of S
            has = ((idx >> i) & 1) == 1
            v[has] += v[idx[has] ^ (1 << i)]
        size = np.array([bin(m).count("1") for m in range(1 << k)])
        weight = np.array([factorial(s) * factorial(k - s - 1) / factorial(k) if s < k else 0.0
                           for s in range(k + 1)])
        phi = {}
        for i, ch in enumerate(channels):
            without = np.flatnonzero(((np.arange(1 << k) >> i) & 1) == 0)
            phi[ch] = float(np.sum(weight[size[without]] * (v[without | (1 << i)] - v[without])))
        return pd.Series(phi), pd.Series(0.0, index=channels)
    rng = np.random.default_rng(seed)
    draws = np.zeros((n_permutations, k))
    for t in range(n_permutations):
        order = rng.permutation(k)
        covered = 0
        before = 0.0
        for i in order:
            covered |= 1 << i
            now = conv[(masks & ~covered) == 0].sum()
            draws[t, i] = now - before
            before = now
    mean = pd.Series(draws.mean(axis=0), index=channels)
    return mean, pd.Series(draws.std(axis=0) / np.sqrt(n_permutations), index=channels)


# -- one call -----------------------------------------------------------------------------------
@dataclass
class Attribution:
    """Credit per channel: conversions and value, absolute and share, with intervals."""

    method: str
    credit: pd.DataFrame
    params: dict = field(default_factory=dict)

    def _repr_html_(self) -> str:
        title = html.escape(f"Attribution: {self.method} {self.params or ''}")
        return f"<h4>{title}</h4>" + self.credit.round(4).to_html()

    def plot(self, ax=None):
        """Share of conversions per channel, with the bootstrap interval where there is one."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(7, 4))
        c = self.credit.sort_values("share")
        err = None
        if "share_low" in c:
            err = np.vstack([c.share - c.share_low, c.share_high - c.share])
        ax.barh(c.index, c.share, xerr=err)
        ax.set(xlabel="share of conversions", title=f"Attribution: {self.method}")
        ax.figure.tight_layout()
        return ax.figure


def attribute(data, method: str = "markov", *, order: int = 1, half_life: float = 2.0,
              n_bootstrap: int = 200, confidence: float = 0.9, seed: int = 0) -> Attribution:
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

    Returns
    -------
    Attribution
        ``credit``: per channel ``conversions``, ``value``, ``share`` (and for data-driven
        methods ``share_low``/``share_high``).

    Examples
    --------
    >>> import pandas as pd
    >>> paths = pd.DataFrame({"path": ["a > b", "b"], "conversions": [3, 1], "value": [30., 5.],
    ...                       "nulls": [1, 5]})
    >>> attribute(paths, "last_touch").credit.conversions.to_dict()
    {'a': 0.0, 'b': 4.0}
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose from {METHODS}")
    if method == "markov" and order not in (1, 2, 3, 4):
        raise ValueError(f"Markov order must be 1 to 4, got {order}")
    paths = _as_paths(data)
    credit = _credit(paths, method, order, half_life, seed)
    params = {"order": order} if method == "markov" else (
        {"half_life": half_life} if method == "time_decay" else {})
    if method in DATA_DRIVEN and n_bootstrap:
        rng = np.random.default_rng(seed)
        shares = []
        for _ in range(n_bootstrap):
            boot = paths.assign(conversions=rng.poisson(paths.conversions),
                                nulls=rng.poisson(paths.nulls))
            boot = boot[(boot.conversions + boot.nulls) > 0]
            shares.append(_credit(boot, method, order, half_life, seed).share)
        table = pd.concat(shares, axis=1).reindex(credit.index).fillna(0.0)
        alpha = (1 - confidence) / 2
        credit["share_low"] = table.quantile(alpha, axis=1)
        credit["share_high"] = table.quantile(1 - alpha, axis=1)
    return Attribution(method, credit, params)


def _credit(paths, method, order, half_life, seed) -> pd.DataFrame:
    total_conv = float(paths.conversions.sum())
    total_value = float(paths.value.sum())
    if method in HEURISTICS:
        out = _heuristic(paths, method, half_life)
    else:
        se = None
        if method == "markov":
            raw = _markov_credit(paths, order)
        else:
            raw, se = _shapley_credit(paths, seed=seed)
        raw = raw.clip(lower=0.0)
        share = raw / raw.sum() if raw.sum() > 0 else raw
        out = pd.DataFrame({"conversions": share * total_conv, "value": share * total_value})
        if se is not None and (se > 0).any():  # sampled Shapley: its Monte Carlo error
            out["share_se"] = se / raw.sum()
    out = out.sort_index()
    out["share"] = out.conversions / out.conversions.sum() if total_conv else 0.0
    out["value_share"] = out.value / total_value if total_value else 0.0
    out.index.name = "channel"
    return out


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
    paths = _as_paths(data)
    table = pd.DataFrame({m: attribute(paths, m, order=order, n_bootstrap=n_bootstrap)
                          .credit.share for m in methods}).fillna(0.0)
    errors = None
    if truth is not None:
        table["truth"] = truth.reindex(table.index).fillna(0.0)
        errors = pd.Series({m: float((table[m] - table.truth).abs().mean()) for m in methods})
    return AttributionComparison(table, errors)


# -- incrementality ------------------------------------------------------------------------------
@dataclass
class Incrementality:
    """A channel's increment measured by a randomised holdout, against attributed credit.

    ``measured`` is the exposed arm's extra conversions, ``(rate_exposed - rate_held_out) *
    exposed``, with a normal-approximation interval; ``table`` sets each attribution method's
    credit to the channel (over the exposed journeys) beside it, with the calibration factor
    ``measured / attributed`` that would rescale that method's credit to the experiment.
    """

    channel: str
    campaign_id: str
    exposed: int
    held_out: int
    rate_exposed: float
    rate_held_out: float
    measured: float
    measured_low: float
    measured_high: float
    attributed: pd.Series

    @property
    def table(self) -> pd.DataFrame:
        out = pd.DataFrame({"attributed": self.attributed})
        out["measured"] = self.measured
        out["calibration_factor"] = self.measured / out.attributed.replace(0, np.nan)
        out["within_interval"] = out.attributed.between(self.measured_low, self.measured_high)
        return out

    def _repr_html_(self) -> str:
        head = html.escape(
            f"{self.channel}: {self.measured:.1f} incremental conversions measured by "
            f"{self.campaign_id} ({self.measured_low:.1f} to {self.measured_high:.1f}); "
            f"exposed {self.exposed:,} at {self.rate_exposed:.2%}, held out {self.held_out:,} "
            f"at {self.rate_held_out:.2%}")
        return f"<h4>Incrementality</h4><p>{head}</p>" + self.table.round(3).to_html()

    def plot(self, ax=None):
        """Attributed credit per method against the measured increment and its interval."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(7, 4))
        ax.barh(self.attributed.index, self.attributed.to_numpy(), label="attributed")
        ax.axvspan(self.measured_low, self.measured_high, color="grey", alpha=0.3,
                   label="measured (interval)")
        ax.axvline(self.measured, color="black", label="measured")
        ax.set(xlabel=f"conversions credited to {self.channel}",
               title=f"Attribution vs experiment: {self.channel}")
        ax.legend(loc="lower right")
        ax.figure.tight_layout()
        return ax.figure


def incrementality(tables: Mapping[str, pd.DataFrame], campaign_id: str, channel: str, *,
                   methods=("last_touch", "linear", "markov", "shapley"),
                   control: str = "control", confidence: float = 0.9,
                   lookback_days: float | None = 30) -> Incrementality:
    """Measure a channel's increment with a randomised holdout and compare attribution to it.

    ``campaign`` rows of ``campaign_id`` split users into a held-out arm (``control``: the
    channel never reached them) and exposed arms. Attribution says who touched; the experiment
    says what was added.

    Examples
    --------
    >>> import targeting as tg
    >>> w = tg.demo_world(n_users=5_000, seed=2)
    >>> inc = incrementality(w.tables, "group_chat_holdout_2026", "group_chat")
    >>> inc.exposed > inc.held_out
    True
    """
    from scipy.stats import norm

    campaign = tables["campaign"]
    rows = campaign[campaign["campaign_id"] == campaign_id]
    held = rows[rows["arm"] == control]
    exposed = rows[rows["arm"] != control]
    if held.empty or exposed.empty:
        raise ValueError(f"campaign {campaign_id!r} needs a {control!r} arm and an exposed arm; "
                         f"found arms {sorted(map(str, rows['arm'].unique()))}")
    p_e, p_c = exposed["converted"].mean(), held["converted"].mean()
    n_e, n_c = len(exposed), len(held)
    se = np.sqrt(p_e * (1 - p_e) / n_e + p_c * (1 - p_c) / n_c) * n_e
    z = norm.ppf(0.5 + confidence / 2)
    measured = (p_e - p_c) * n_e
    ids = set(exposed["user_id"])
    sub = {name: tables[name][tables[name]["user_id"].isin(ids)]
           for name in ("touchpoints", "conversions")}
    paths = journeys(sub, lookback_days).paths
    attributed = pd.Series({m: float(attribute(paths, m, n_bootstrap=0).credit.conversions
                                     .get(channel, 0.0)) for m in methods})
    return Incrementality(channel, campaign_id, n_e, n_c, float(p_e), float(p_c),
                          float(measured), float(measured - z * se), float(measured + z * se),
                          attributed)
