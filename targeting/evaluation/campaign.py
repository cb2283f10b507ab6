"""Campaign readout: what did a randomised campaign add, with the checks that make it credible.

- **Sample-ratio mismatch**: a chi-square test of the arm sizes against the planned allocation.
  A tiny p-value means the randomisation or the logging broke, and no effect can be trusted.
- **Balance**: standardised mean differences of pre-campaign covariates, each arm against the
  control (|SMD| above 0.1 is the usual alarm). Text covariates are compared level by level.
  Balance is checked only on covariates that exist: the ones given, or (demo-world tables) the
  profile and store history the tables hold. ``trustworthy`` counts only the checks that ran and
  ``checks`` says which did not.
- **Effects**: for each outcome (conversion, visits, revenue, ...), the mean by arm; each arm's
  average effect over the control, a plain difference of means, with a normal-approximation
  confidence interval (unpooled standard errors), relative lift and a two-sided p-value; and the
  same for any treatment pooled.
- **Breakdown**: the effect within groups of any given column (a covariate or a column of the
  campaign table), so a campaign that only works for one kind of user shows it. Numeric columns
  with more than ten values are cut into quintiles. Nothing is broken down by a column that is
  not in the data.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from pandas.api import types as ptypes
from scipy import stats

from targeting.data.identity import resolve_identity
from targeting.data.io import CampaignInput
from targeting.data.schema import SchemaError, validate
from targeting.data.vocab import CONTROL_ARM
from targeting.features.campaign import campaign_rows

ANY_TREATMENT = "any treatment"
SRM_ALPHA = 0.001
SMD_THRESHOLD = 0.1
BREAKDOWNS = ("city_tier", "channel", "segment")
DEFAULT_OUTCOMES = ("converted", "revenue")
_BREAKDOWN_COLUMNS = ["outcome", "dimension", "group", "arm", "treated", "control", "effect",
                      "low", "high", "p_value"]


@dataclass
class CampaignReport:
    """The readout of one campaign.

    ``outcome_effects`` holds every outcome's effects (``(outcome, arm)`` index); ``table``
    is the first outcome's table, the one to quote.
    """

    campaign_id: str
    arms: pd.DataFrame
    srm: dict
    balance: pd.DataFrame  # SMD, one row per covariate (level), one column per treatment arm
    outcome_effects: pd.DataFrame
    breakdown: pd.DataFrame
    confidence: float
    outcomes: list[str] = field(default_factory=lambda: list(DEFAULT_OUTCOMES))
    not_checked: dict[str, str] = field(default_factory=dict)  # check -> why it did not run
    binary: dict[str, bool] = field(default_factory=dict)  # outcome -> 0/1 (else an amount)

    @property
    def checks(self) -> dict[str, str]:
        """Each check: ``"passed"``, ``"failed"`` or ``"not run: <why>"``."""
        out = {"sample_ratio": "failed" if self.srm["mismatch"] else "passed"}
        if "balance" in self.not_checked:
            out["balance"] = f"not run: {self.not_checked['balance']}"
        else:
            out["balance"] = "passed" if self.max_smd <= SMD_THRESHOLD else "failed"
        return out

    @property
    def trustworthy(self) -> bool:
        """Every check that ran passed (see ``checks`` for those that did not run)."""
        return all(v != "failed" for v in self.checks.values())

    @property
    def max_smd(self) -> float:
        """Largest |SMD| over covariates and arms (NaN when balance was not checked)."""
        values = self.balance.abs().to_numpy()
        return float(values.max()) if values.size else float("nan")

    @property
    def table(self) -> pd.DataFrame:
        """The first outcome's effects by arm (with revenue's beside them when reported)."""
        primary = self.outcomes[0]
        table = self.outcome_effects.loc[primary].copy()
        if self.binary.get(primary, True):
            table["incremental_conversions"] = table["incremental"]
        if "revenue" in self.outcomes and primary != "revenue":
            revenue = self.outcome_effects.loc["revenue"]
            for col in ("effect", "low", "high"):
                table[f"revenue_{col}"] = revenue[col]
        return table

    def _repr_html_(self) -> str:
        srm = self.srm
        verdict = "OK" if not srm["mismatch"] else "MISMATCH: do not trust the effects"
        checks = "; ".join(f"{k}: {v}" for k, v in self.checks.items())
        fmt = {"float_format": lambda v: f"{v:.4f}"}
        balance = ("not checked" if "balance" in self.not_checked
                   else f"{self.max_smd:.3f}")
        return (f"<h4>Campaign {html.escape(self.campaign_id)}</h4>"
                f"<p>Sample ratio: chi2 = {srm['chi2']:.2f}, p = {srm['p_value']:.3g} "
                f"({verdict}); largest covariate imbalance |SMD| = {balance}</p>"
                f"<p>Checks: {html.escape(checks)}; trustworthy: {self.trustworthy}</p>"
                + self.arms.to_html(**fmt)
                + f"<p>Average effect over the control ({self.confidence:.0%} intervals)</p>"
                + self.outcome_effects.to_html(**fmt))

    def plot(self, ax=None):
        """The first outcome by arm, and each arm's effect on it with its interval (or, with
        breakdowns, the pooled effect within the first breakdown's groups)."""
        import matplotlib.pyplot as plt

        axes = ax
        if axes is None:
            _, axes = plt.subplots(1, 2, figsize=(11, 4))
        ax, forest = axes
        primary = self.outcomes[0]
        mean = self.outcome_effects.loc[primary]
        control_mean = mean["control_mean"].iloc[0]
        arms = [CONTROL_ARM, *[a for a in mean.index if a != ANY_TREATMENT]]
        heights = [control_mean, *mean.loc[arms[1:], "treated_mean"]]
        ax.bar([str(a) for a in arms], heights,
               color=["grey" if a == CONTROL_ARM else "tab:blue" for a in arms])
        ax.set(ylabel=f"mean {primary}", title=f"{primary} by arm")
        b = self.breakdown
        if len(b):
            dim = b.dimension.iloc[0]
            b = b[(b.arm == ANY_TREATMENT) & (b.dimension == dim) & (b.outcome == primary)]
            labels, title = [f"{dim} = {g}" for g in b.group], f"Effect by {dim}"
        else:
            b = mean.reset_index()
            labels, title = list(b.arm), "Effect by arm"
        y = np.arange(len(b))
        forest.errorbar(b.effect, y, xerr=[b.effect - b.low, b.high - b.effect], fmt="o",
                        capsize=3)
        forest.axvline(0, color="grey", lw=0.8)
        forest.set_yticks(y, labels)
        forest.set(xlabel=f"effect on {primary} ({self.confidence:.0%} interval)", title=title)
        ax.figure.suptitle(f"Campaign {self.campaign_id}", fontsize=10)
        ax.figure.tight_layout()
        return ax.figure


def campaign_report(data: pd.DataFrame | Mapping[str, pd.DataFrame] | CampaignInput,
                    campaign_id: str | None = None, *,
                    covariates: pd.DataFrame | None = None,
                    outcomes: Sequence[str] | None = None,
                    breakdowns: Sequence[str] | None = None,
                    allocation: Mapping[str, float] | None = None, control: str = CONTROL_ARM,
                    confidence: float = 0.95) -> CampaignReport:
    """Read out a randomised campaign: sizes and SRM, balance, effects, breakdowns.

    Parameters
    ----------
    data : DataFrame, CampaignInput or dict of str to DataFrame
        The contract ``campaign`` table (e.g. from :func:`~targeting.from_campaign`, whose
        result can be passed whole: its covariates and outcomes are then the defaults), or
        contract tables with ``campaign`` (demo world: ``users`` and ``orders`` give
        covariates and the default breakdowns city tier, main channel and lifecycle segment).
    campaign_id : str, optional
        Needed only when the table holds several campaigns.
    covariates : DataFrame, optional
        Pre-campaign covariates, ``user_id`` index (or column). Balance is checked on them;
        without any, balance is reported as not checked.
    outcomes : list of str, optional
        Columns of the campaign table to read out, binary or amounts. Default: those given to
        ``from_campaign``, else ``converted`` and ``revenue``.
    breakdowns : list of str, optional
        Columns (covariates or campaign columns) to break the effects down by; ``()`` for none.
        Default: none, or city tier, channel and segment for demo-world tables.
    allocation : dict of arm to share, optional
        The planned split (e.g. ``{"control": 0.4, "coupon": 0.2, ...}``); default equal.
    confidence : float, default 0.95

    Examples
    --------
    >>> import targeting as tg
    >>> world = tg.demo_world(n_users=3_000, random_state=0)
    >>> report = campaign_report(world.tables, world.campaign_id,
    ...                          allocation=world.campaign_allocation)
    >>> report.table.index.tolist()
    ['coupon', 'group_invite', 'push', 'any treatment']
    >>> bool(report.srm["p_value"] > 0.001)
    True
    """
    source = _source(data, covariates, outcomes)
    data, covariates, outcomes = source
    if isinstance(data, Mapping):
        tables = data
        validate(tables)
        rows = _rows(tables, campaign_id, outcomes, control)
        derived = _derived_covariates(tables, rows) if covariates is None else None
        if breakdowns is None:  # the usual ones the tables can give, none made up
            breakdowns = [d for d in BREAKDOWNS if derived is not None and d in derived.columns]
    else:
        if not isinstance(data, pd.DataFrame):
            raise SchemaError([f"campaign_report needs the campaign table (a DataFrame), a "
                               f"from_campaign result or a dict of tables, got "
                               f"{type(data).__name__}"])
        validate({"campaign": data}, require=("campaign",))
        rows = _rows({"campaign": data}, campaign_id, outcomes, control)
        derived = None
        breakdowns = () if breakdowns is None else breakdowns
    if derived is not None:
        balance_on = derived.drop(columns=[c for c in BREAKDOWNS if c in derived.columns])
        groups = derived
    else:
        groups = balance_on = _aligned(covariates, rows) if covariates is not None else None
    not_checked = {}
    if balance_on is None or balance_on.shape[1] == 0:
        not_checked["balance"] = "no covariates given (pass covariates=)"
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1 (e.g. 0.95), got {confidence!r}")
    z = stats.norm.ppf(0.5 + confidence / 2)
    arm = rows.arm.to_numpy()
    arms = _arm_table(rows, outcomes, allocation, control, z)
    balance = (pd.DataFrame() if "balance" in not_checked
               else _balance(_numeric(balance_on), arm, control))
    return CampaignReport(
        campaign_id=str(rows["campaign_id"].iloc[0]), arms=arms, srm=_srm(arms),
        balance=balance, outcome_effects=_effects(rows, outcomes, control, z),
        breakdown=_breakdown(rows, groups, breakdowns, outcomes, control, z),
        confidence=confidence, outcomes=list(outcomes), not_checked=not_checked,
        binary={name: _binary(rows[name]) for name in outcomes})


def _source(campaign, covariates, outcomes):
    """Unpack a from_campaign result; pick the default outcomes."""
    if hasattr(campaign, "campaign") and hasattr(campaign, "covariates"):
        covariates = campaign.covariates if covariates is None else covariates
        outcomes = campaign.outcomes if outcomes is None else outcomes
        campaign = campaign.campaign
    if outcomes is None:
        table = campaign.get("campaign") if isinstance(campaign, Mapping) else campaign
        outcomes = getattr(table, "attrs", {}).get("targeting_outcomes", DEFAULT_OUTCOMES)
    outcomes = [outcomes] if isinstance(outcomes, str) else list(outcomes)
    if not outcomes:
        raise ValueError("outcomes is empty: name at least one outcome column")
    return campaign, covariates, outcomes


def _rows(tables, campaign_id, outcomes, control) -> pd.DataFrame:
    """The campaign's rows, checked (see ``campaign_rows``) for every outcome."""
    table = tables.get("campaign")
    if campaign_id is None and table is not None:
        ids = table["campaign_id"].astype(str).unique()
        if len(ids) != 1:
            raise ValueError(f"the campaign table holds {len(ids)} campaigns "
                             f"{sorted(ids)[:10]}: pass campaign_id=")
        campaign_id = ids[0]
    rows = campaign_rows(tables, campaign_id, "converted", control)
    problems = []
    for name in outcomes:
        if name not in rows.columns:
            problems.append(f"campaign: no outcome column {name!r}; columns are "
                            f"{list(rows.columns)}")
        elif rows[name].isna().any():
            problems.append(f"campaign.{name}: {int(rows[name].isna().sum())} missing value(s)")
        elif not (ptypes.is_numeric_dtype(rows[name]) or ptypes.is_bool_dtype(rows[name])):
            problems.append(f"campaign.{name}: an outcome must be bool or numeric, found "
                            f"dtype {rows[name].dtype}")
    if problems:
        raise SchemaError(problems)
    return rows


def _aligned(covariates: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    """Covariates in the campaign's row order, by user id."""
    if not isinstance(covariates, pd.DataFrame):
        raise SchemaError([f"covariates must be a DataFrame, got {type(covariates).__name__}"])
    frame = covariates.set_index("user_id") if "user_id" in covariates.columns else covariates
    if frame.index.has_duplicates:
        raise SchemaError(["covariates: user ids repeat; give one row per user"])
    missing = pd.Index(rows.user_id).difference(frame.index)
    if len(missing):
        raise SchemaError([f"covariates lack {len(missing)} of the campaign's "
                           f"{len(rows)} users (e.g. {missing[:3].tolist()}); index them by "
                           "user_id"])
    return frame.loc[rows.user_id.to_numpy()]


def _numeric(covariates: pd.DataFrame) -> pd.DataFrame:
    """Numbers as they are, bools as 0/1, text and categories as one indicator per level."""
    parts = {}
    for col in covariates.columns:
        s = covariates[col]
        if ptypes.is_bool_dtype(s) or (ptypes.is_numeric_dtype(s)
                                       and not isinstance(s.dtype, pd.CategoricalDtype)):
            parts[col] = s.astype(float).to_numpy()
        else:
            for level in pd.unique(s.dropna().astype(str)):
                parts[f"{col}={level}"] = (s.astype(str) == level).to_numpy(float)
    return pd.DataFrame(parts, index=covariates.index)


def _arm_table(rows: pd.DataFrame, outcomes, allocation, control, z: float) -> pd.DataFrame:
    g = rows.groupby("arm", sort=True)
    arms = pd.DataFrame({"users": g.size()})
    arms = arms.loc[[control] + [a for a in arms.index if a != control]]
    arms["share"] = arms.users / arms.users.sum()
    planned = _allocation(allocation, arms.index)
    arms["planned_share"] = [planned[a] for a in arms.index]
    for name in outcomes:
        y = rows[name].astype(float)
        total = y.groupby(rows.arm).sum().reindex(arms.index)
        if _binary(y):
            count, rate, low, high = (("conversions", "conversion_rate", "rate_low", "rate_high")
                                      if name == "converted" else
                                      (name, f"{name}_rate", f"{name}_low", f"{name}_high"))
            arms[count] = total.astype(int)
            arms[rate] = total / arms.users
            arms[low], arms[high] = _wilson(total, arms.users, z)
        else:
            arms[name] = total
            arms[f"{name}_per_user"] = total / arms.users
    return arms


def _binary(y) -> bool:
    return bool(np.isin(np.asarray(y, dtype=float), (0.0, 1.0)).all())


def _allocation(allocation, arms) -> dict:
    if allocation is None:
        return {a: 1 / len(arms) for a in arms}
    unknown = sorted(set(map(str, arms)) - set(allocation))
    if unknown:
        raise ValueError(f"allocation has no share for arm(s) {unknown}")
    total = sum(allocation[a] for a in arms)
    return {a: allocation[a] / total for a in arms}


def _wilson(successes, n, z: float):
    """Wilson score interval of a proportion (good near 0, where conversion rates live)."""
    p = successes / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    return centre - half, centre + half


def _srm(arms: pd.DataFrame) -> dict:
    expected = arms.planned_share * arms.users.sum()
    chi2, p = stats.chisquare(arms.users, expected)
    return {"chi2": float(chi2), "p_value": float(p), "mismatch": bool(p < SRM_ALPHA)}


def _derived_covariates(tables, rows: pd.DataFrame) -> pd.DataFrame | None:
    """Pre-campaign covariates from demo-style tables: profile and 90 days of store history,
    each only when its table is there (None when neither is)."""
    if "users" not in tables and "orders" not in tables:
        return None
    sent = pd.Timestamp(rows["sent_at"].min())
    out = pd.DataFrame(index=pd.Index(rows.user_id.to_numpy(), name="user_id"))
    if "users" in tables:
        users = tables["users"].set_index("user_id").reindex(out.index)
        tier = users["city_tier"]  # numbers (the 1-5 scale) or the brand's own labels
        out["city_tier"] = (tier.astype(float) if ptypes.is_numeric_dtype(tier)
                            else tier.astype(object).where(tier.notna(), None))
        for col in ("age_band", "gender"):
            dummies = pd.get_dummies(users[col].astype(str), prefix=col, dtype=float)
            out[dummies.columns] = dummies.to_numpy()
    if "orders" in tables:
        out = out.join(_store_history(tables, out.index, sent))
    return out


def _store_history(tables, users: pd.Index, sent: pd.Timestamp) -> pd.DataFrame:
    out = pd.DataFrame(index=users)
    out["orders_90d"], out["spend_90d"], out["channel"] = 0.0, 0.0, "none"
    identity = resolve_identity(tables).dropna(subset=["shop_id"])
    orders = tables["orders"]
    orders = orders[orders.ts < sent].merge(identity[["user_id", "shop_id"]], on="shop_id")
    orders = orders[orders.user_id.isin(users)]
    recent = orders[orders.ts >= sent - pd.Timedelta(days=90)]
    g = recent.groupby("user_id")
    out["orders_90d"] = g.order_id.nunique().reindex(users, fill_value=0).astype(float)
    out["spend_90d"] = g.amount.sum().reindex(users, fill_value=0.0)
    main = recent.groupby(["user_id", "channel"], observed=True).size().reset_index(name="n")
    main = main.sort_values(["user_id", "n"], ascending=[True, False]).drop_duplicates("user_id")
    out.loc[main.user_id.to_numpy(), "channel"] = main.channel.astype(str).to_numpy()
    ever = users.isin(orders.user_id)
    active = users.isin(recent.user_id)
    out["segment"] = np.select([active, ever], ["active", "lapsed"], "new")
    return out


def _balance(covariates: pd.DataFrame, arm: np.ndarray, control) -> pd.DataFrame:
    """Standardised mean difference of each covariate, each treatment arm vs the control."""
    base = covariates[arm == control]
    out = {}
    for name in sorted(set(arm) - {control}):
        group = covariates[arm == name]
        pooled = np.sqrt((group.var() + base.var()) / 2).replace(0, np.nan)
        out[name] = ((group.mean() - base.mean()) / pooled).fillna(0.0)
    return pd.DataFrame(out)


def _difference(y_t: np.ndarray, y_c: np.ndarray, z: float) -> dict:
    diff = y_t.mean() - y_c.mean()
    se = np.sqrt(y_t.var(ddof=1) / len(y_t) + y_c.var(ddof=1) / len(y_c))
    p = 2 * stats.norm.sf(abs(diff) / se) if se > 0 else float("nan")
    return {"effect": diff, "low": diff - z * se, "high": diff + z * se, "p_value": p}


def _groups(arm: np.ndarray, control) -> dict:
    groups = {a: arm == a for a in sorted(set(arm) - {control})}
    groups[ANY_TREATMENT] = arm != control
    return groups


def _effects(rows: pd.DataFrame, outcomes, control, z: float) -> pd.DataFrame:
    """Each outcome's effect per arm: a plain difference of means, with its interval."""
    arm = rows.arm.to_numpy()
    base = arm == control
    records = []
    for name in outcomes:
        y = rows[name].to_numpy(float)
        c_mean = y[base].mean()
        for group, treated in _groups(arm, control).items():
            d = _difference(y[treated], y[base], z)
            n = int(treated.sum())
            records.append({"outcome": name, "arm": group, "control_mean": c_mean,
                            "treated_mean": y[treated].mean(), **d,
                            "relative_lift": d["effect"] / c_mean if c_mean else np.nan,
                            "incremental": d["effect"] * n, "incremental_low": d["low"] * n,
                            "incremental_high": d["high"] * n})
    return pd.DataFrame(records).set_index(["outcome", "arm"])


def _breakdown(rows, covariates, dimensions, outcomes, control, z: float) -> pd.DataFrame:
    dimensions = list(dimensions)
    arm = rows.arm.to_numpy()
    records = []
    for dim in dimensions:
        values = _dimension(dim, rows, covariates)
        for group in pd.unique(values[~pd.isna(values)]):
            in_group = values == group
            base = in_group & (arm == control)
            for name, treated_arm in _groups(arm, control).items():
                treated = in_group & treated_arm
                if treated.sum() < 2 or base.sum() < 2:
                    continue
                for outcome in outcomes:
                    y = rows[outcome].to_numpy(float)
                    records.append({"outcome": outcome, "dimension": dim,
                                    "group": str(_plain(group)), "arm": name,
                                    "treated": int(treated.sum()), "control": int(base.sum()),
                                    **_difference(y[treated], y[base], z)})
    if not records:
        return pd.DataFrame(columns=_BREAKDOWN_COLUMNS)
    # Outcomes and dimensions in the order asked for; groups and arms sorted.
    rank = {"outcome": {o: i for i, o in enumerate(outcomes)},
            "dimension": {d: i for i, d in enumerate(dimensions)}}
    return pd.DataFrame(records).sort_values(
        ["outcome", "dimension", "group", "arm"], ignore_index=True,
        key=lambda col: col.map(rank[col.name]) if col.name in rank else col)


def _dimension(dim: str, rows: pd.DataFrame, covariates) -> np.ndarray:
    """A breakdown column's values per campaign row; numeric ones with many values in
    quintiles."""
    if covariates is not None and dim in covariates.columns:
        s = covariates[dim].reset_index(drop=True)
    elif dim in rows.columns and dim not in ("user_id", "arm"):
        s = rows[dim].reset_index(drop=True)
    else:
        known = sorted(set(covariates.columns if covariates is not None else [])
                       | (set(rows.columns) - {"user_id", "arm"}))
        raise ValueError(f"unknown breakdown {dim!r}: not a covariate or campaign column; "
                         f"choose from {known[:30]}")
    if (ptypes.is_numeric_dtype(s) and not ptypes.is_bool_dtype(s)
            and not isinstance(s.dtype, pd.CategoricalDtype) and s.nunique() > 10):
        return pd.qcut(s, 5, duplicates="drop").astype(str).to_numpy(dtype=object)
    return s.to_numpy(dtype=object)


def _plain(value):
    return int(value) if isinstance(value, float) and value.is_integer() else value
