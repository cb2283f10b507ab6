"""Owner value: which chat-group owners (KOCs) cause purchases, and what backing them earns.

Members of a chat group are alike (people join groups of their region, city tier, life stage
and taste), so a group that buys a lot says little about its owner. For each owner the model
sets what the group's members bought against what *the same people* would be expected to buy
without the group: a Poisson LightGBM per category, fitted on everyone's purchases in the
window from what does not pass through the owner (profile, social interest, purchases in the
other categories), cross-fitted so that a group's members are always predicted by a model
that never saw them or their group. Their excess is the owner's incremental purchases;
the expectation is a comparison with similar users outside the group.

Per owner the result carries reach (members, lower-tier share: missing, with a note in
``diagnostics``, when the users' city tiers are a brand's own labels), referral orders and revenue,
the commission cost of those referrals, the incremental orders and revenue, the net value
(``margin x incremental revenue - commission``) and an interval per owner. The interval adds
two parts: the members' own noise (the spread of their residuals) and the group-level noise
of shared taste, whose size is read from the owners whose estimate falls below zero (owners
do not make members buy less, so their spread is noise).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import lightgbm as lgb
import numpy as np
import pandas as pd
from scipy import stats
from tqdm.auto import tqdm

from targeting.data.dates import parse_as_of
from targeting.data.schema import InsufficientDataError, SchemaError, validate
from targeting.data.vocab import LOWER_TIER_NOTE, lower_tier
from targeting.features.pipeline import FeaturePipeline

REQUIRED = ("identity", "groups", "orders")
CONTROL_BUILDERS = ("profile", "social")
_LGB = {"objective": "poisson", "learning_rate": 0.05, "num_leaves": 15,
        "min_child_samples": 50, "verbose": -1, "n_jobs": 1}


@dataclass
class OwnerValue:
    """Per-owner incremental purchases, reach, referral economics and net value.

    ``table`` has one row per chat group (index ``group_id``), ranked by ``net_value``.
    """

    table: pd.DataFrame
    as_of: pd.Timestamp
    window_days: int
    commission_rate: float
    margin: float
    confidence: float
    diagnostics: dict = field(default_factory=dict)

    def top(self, k: int = 10, by: str = "net_value") -> pd.DataFrame:
        """The ``k`` best owners by a column (``net_value`` or ``incremental_orders``)."""
        if by not in self.table.columns:
            raise SchemaError([f"top: unknown column {by!r}; use one of "
                               f"{list(self.table.columns)}"])
        return self.table.sort_values(by, ascending=False).head(k)

    def _repr_html_(self) -> str:
        head = (f"<h4>Owner value: {len(self.table):,} group owners, "
                f"{self.window_days} days before {self.as_of.date()}</h4>"
                f"<p>commission {self.commission_rate:.0%} of referral revenue, margin "
                f"{self.margin:.0%}; {self.confidence:.0%} intervals</p>")
        cols = ["owner_user_id", "members", "lower_tier_share", "referral_revenue",
                "commission_cost", "incremental_orders", "incremental_low",
                "incremental_high", "net_value", "net_low", "net_high"]
        return head + self.top(10)[cols].to_html(
            float_format=lambda v: f"{v:,.2f}")

    def plot(self, ax=None):
        """Net value per owner with its interval, best first."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(8, 3.5))
        ranked = self.table.sort_values("net_value", ascending=False)
        x = np.arange(len(ranked))
        ax.fill_between(x, ranked.net_low, ranked.net_high, alpha=0.3, label="interval")
        ax.plot(x, ranked.net_value, lw=1.5, label="net value")
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_xlabel("owners, best first")
        ax.set_ylabel("net value")
        ax.legend()
        return ax.figure


def rank_owners(data: Mapping[str, pd.DataFrame], as_of, *, window_days: int = 180,
                commission_rate: float = 0.10, margin: float = 0.35, n_folds: int = 5,
                n_estimators: int = 150, confidence: float = 0.95,
                random_state: int = 0, progress: bool = True) -> OwnerValue:
    """Estimate each chat-group owner's incremental purchases and net value.

    Parameters
    ----------
    data : dict of DataFrame
        Contract tables; needs ``identity``, ``groups`` and ``orders`` (``users`` and
        ``social_events`` sharpen the comparison, ``orders.referrer_social_id`` gives the
        referral revenue).
    as_of : timestamp-like
        Only data before it are read; purchases in ``[as_of - window_days, as_of)`` are judged.
    window_days : int, default 180
    commission_rate : float, default 0.10
        Commission paid on referral revenue.
    margin : float, default 0.35
        Gross margin on incremental revenue.
    n_folds : int, default 5
        Cross-fitting folds, drawn by group.
    confidence : float, default 0.95
        Level of the per-owner intervals.
    progress : bool, default True
        Show a progress bar over the categories' cross-fitted models.

    Returns
    -------
    OwnerValue

    Examples
    --------
    >>> import targeting as tg
    >>> world = tg.demo_world(n_users=3_000, random_state=2)
    >>> value = rank_owners(world.tables, world.as_of, n_folds=3, n_estimators=40)
    >>> int(value.table.members.min()) > 0
    True
    """
    tables = data
    _check(tables, window_days, commission_rate, margin, n_folds, confidence)
    as_of = parse_as_of(as_of, tables)
    members = _members(tables, as_of)
    users = pd.Index(np.unique(np.r_[members.user_id.to_numpy(),
                                     tables["identity"].user_id.to_numpy()]), name="user_id")
    orders = _window_orders(tables, as_of, window_days)
    counts = pd.crosstab(orders.user_id, orders.category).reindex(index=users, fill_value=0)
    if counts.shape[1] == 0 or counts.to_numpy().sum() == 0:
        raise InsufficientDataError(f"no orders in the {window_days} days before {as_of}; "
                                    "pass an earlier as_of or a longer window_days")
    price = orders.groupby("category", observed=True).amount.mean().reindex(counts.columns)
    X = _controls(tables, as_of, users)
    fold = _folds(members, users, n_folds, random_state)
    expected = _expected(counts.to_numpy(float), X, fold, n_folds, n_estimators, random_state,
                         progress)
    table, diag = _per_owner(members, users, counts, expected, price.to_numpy(), confidence)
    reach = _reach(tables, members)
    if reach.lower_tier_share.isna().all() and "users" in tables:
        diag["notes"] = [LOWER_TIER_NOTE]
    table = table.join(reach, how="left")
    table = table.join(_referrals(tables, members, orders), how="left").fillna(
        {"referral_orders": 0, "referral_revenue": 0.0})
    table["commission_cost"] = commission_rate * table.referral_revenue
    for out, src in (("net_value", "incremental_revenue"), ("net_low", "revenue_low"),
                     ("net_high", "revenue_high")):
        table[out] = margin * table[src] - table.commission_cost
    table = table.sort_values("net_value", ascending=False)
    return OwnerValue(table, as_of, window_days, commission_rate, margin, confidence, diag)


def _check(tables, window_days, commission_rate, margin, n_folds, confidence) -> None:
    problems = [f"missing table {name!r}: rank_owners needs {list(REQUIRED)}"
                for name in REQUIRED if name not in tables]
    if problems:
        raise SchemaError(problems)
    validate(tables)
    checks = [(window_days >= 7, f"window_days must be at least 7, got {window_days}"),
              (0 <= commission_rate < 1, f"commission_rate must be in [0, 1), got "
                                         f"{commission_rate}"),
              (0 < margin <= 1, f"margin must be in (0, 1], got {margin}"),
              (n_folds >= 2, f"n_folds must be at least 2, got {n_folds}"),
              (0 < confidence < 1, f"confidence must be in (0, 1), got {confidence}")]
    problems = [message for ok, message in checks if not ok]
    if problems:
        raise SchemaError(problems)


def _members(tables, as_of: pd.Timestamp) -> pd.DataFrame:
    """group_id, user_id, social_id, is_owner for memberships that began before ``as_of``."""
    groups = tables["groups"]
    groups = groups[groups.joined_at < as_of]
    identity = tables["identity"].dropna(subset=["social_id"])
    by_social = pd.Series(identity.user_id.to_numpy(),
                          index=identity.social_id.astype("int64").to_numpy())
    user = by_social.reindex(groups.social_id.astype("int64").to_numpy()).to_numpy()
    out = pd.DataFrame({"group_id": groups.group_id.to_numpy(), "user_id": user,
                        "social_id": groups.social_id.astype("int64").to_numpy(),
                        "is_owner": (groups.role.astype(str) == "owner").to_numpy()})
    out = out.dropna(subset=["user_id"]).astype({"user_id": "int64"})
    owners = out[out.is_owner].group_id.unique()
    if owners.size == 0:
        raise InsufficientDataError(f"no chat group with an owner before {as_of}; owner value "
                                    "needs groups with role 'owner'")
    return out[out.group_id.isin(owners)].reset_index(drop=True)


def _window_orders(tables, as_of, window_days) -> pd.DataFrame:
    orders = tables["orders"]
    start = as_of - pd.Timedelta(days=window_days)
    orders = orders[(orders.ts >= start) & (orders.ts < as_of)]
    identity = tables["identity"].dropna(subset=["shop_id"])
    by_shop = pd.Series(identity.user_id.to_numpy(),
                        index=identity.shop_id.astype("int64").to_numpy())
    user = by_shop.reindex(orders.shop_id.astype("int64").to_numpy()).to_numpy()
    out = orders.assign(user_id=user).dropna(subset=["user_id"])
    return out.assign(category=out.category.astype(str))


def _controls(tables, as_of, users: pd.Index) -> np.ndarray:
    """Profile and social features: who the members are, not what the owner made them buy."""
    builders = tuple(b for b in CONTROL_BUILDERS
                     if b != "social" or "social_events" in tables)
    if "users" not in tables:
        builders = tuple(b for b in builders if b != "profile")
    if not builders:
        return np.zeros((len(users), 0))
    pipe = FeaturePipeline(builders=builders)
    features = pipe.fit_transform(tables, as_of).reindex(users)
    return pipe.to_matrix(features)


def _folds(members, users: pd.Index, n_folds: int, random_state: int) -> np.ndarray:
    """One fold per group: all members of a group (by their first group) share a fold."""
    rng = np.random.default_rng(random_state)
    group_fold = pd.Series(rng.integers(0, n_folds, members.group_id.nunique()),
                           index=np.sort(members.group_id.unique()))
    first = members.groupby("user_id").group_id.min()
    fold = rng.integers(0, n_folds, len(users))
    pos = users.get_indexer(first.index)
    fold[pos] = group_fold.reindex(first.to_numpy()).to_numpy()
    return fold


def _expected(Y: np.ndarray, X: np.ndarray, fold: np.ndarray, n_folds: int,
              n_estimators: int, random_state: int, progress: bool) -> np.ndarray:
    """Cross-fitted expected counts per user and category, from the controls and the user's
    purchases in the other categories."""
    total = Y.sum(axis=1)
    out = np.zeros_like(Y)
    for j in tqdm(range(Y.shape[1]), desc="owner value, per category", disable=not progress,
                  leave=False):
        Xj = np.column_stack([X, total - Y[:, j]])
        for k in range(n_folds):
            train, test = fold != k, fold == k
            if Y[train, j].sum() == 0:
                continue
            model = lgb.LGBMRegressor(n_estimators=n_estimators, random_state=random_state,
                                      **_LGB)
            out[test, j] = model.fit(Xj[train], Y[train, j]).predict(Xj[test])
    return out


def _per_owner(members, users, counts, expected, price, confidence):
    """Sum the members' excess per group; the interval adds member noise and group noise."""
    pos = users.get_indexer(members.user_id)
    resid = counts.to_numpy(float)[pos] - expected[pos]
    gid = members.group_id.to_numpy()
    frame = pd.DataFrame({"group_id": gid, "orders": resid.sum(axis=1),
                          "revenue": resid @ np.nan_to_num(price),
                          "expected": expected[pos] @ np.nan_to_num(price)})
    by = frame.groupby("group_id")
    inc, rev = by.orders.sum(), by.revenue.sum()
    n = by.size()
    var_orders = by.orders.var(ddof=1).fillna(0) * n
    var_rev = by.revenue.var(ddof=1).fillna(0) * n
    expected_rev = by.expected.sum()
    # Group-level noise (shared taste): owners with a negative estimate show only noise.
    below = rev < 0
    excess = np.clip(rev[below] ** 2 - var_rev[below], 0, None) / expected_rev[below] ** 2
    tau2 = float(excess.mean()) if below.sum() >= 3 else 0.0
    var_rev = var_rev + tau2 * expected_rev ** 2
    share = np.where(rev != 0, inc / rev.where(rev != 0, 1.0), 0.0)
    var_orders = var_orders + tau2 * (expected_rev * share) ** 2
    z = stats.norm.ppf(0.5 + confidence / 2)
    category = pd.DataFrame(resid, columns=counts.columns).groupby(gid).sum().idxmax(axis=1)
    table = pd.DataFrame({
        "incremental_orders": inc, "incremental_low": inc - z * np.sqrt(var_orders),
        "incremental_high": inc + z * np.sqrt(var_orders),
        "incremental_revenue": rev, "revenue_low": rev - z * np.sqrt(var_rev),
        "revenue_high": rev + z * np.sqrt(var_rev), "top_category": category})
    table.index.name = "group_id"
    return table, {"group_noise_sd": float(np.sqrt(tau2)), "n_owners": int(len(table))}


def _reach(tables, members) -> pd.DataFrame:
    owner = members[members.is_owner].drop_duplicates("group_id").set_index("group_id").user_id
    out = pd.DataFrame({"owner_user_id": owner,
                        "members": members.groupby("group_id").size()})
    users = tables.get("users")
    lower = None if users is None else lower_tier(users.city_tier)
    if lower is not None:
        flag = pd.Series(lower, index=users.user_id.to_numpy())
        lower = flag.reindex(members.user_id.to_numpy(), fill_value=False).to_numpy()
        out["lower_tier_share"] = pd.Series(lower, index=members.group_id).groupby(level=0).mean()
    else:  # no profiles, or city tiers that are not on the 1-5 scale
        out["lower_tier_share"] = np.nan
    return out


def _referrals(tables, members, orders: pd.DataFrame) -> pd.DataFrame:
    if "referrer_social_id" not in orders.columns:
        return pd.DataFrame(columns=["referral_orders", "referral_revenue"])
    owners = members[members.is_owner]
    ref = orders.dropna(subset=["referrer_social_id"])
    ref = ref.assign(social_id=ref.referrer_social_id.astype("int64")).merge(
        owners[["social_id", "group_id"]], on="social_id")
    by = ref.groupby("group_id")
    return pd.DataFrame({"referral_orders": by.order_id.nunique(),
                         "referral_revenue": by.amount.sum()})
