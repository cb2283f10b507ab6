"""Social-graph features from chat groups: group size, ownership and reach, the pull of the
group owner (KOC) through referral sales, and what a user's co-members buy and read.

Unlike the per-user builders, these aggregate over groups first (a group's members must meet),
then come back to users; co-member signals leave the user out (leave-one-out means).

The work is split in three steps so the same code runs on one frame or per partition of data
shuffled by user (see :mod:`targeting.features.dask`): :func:`partial_aggregates` sums what one
slice of users contributes to each group (sizes, co-member counts, owners, referral sales),
:func:`combine_aggregates` adds the slices up into group-level tables, and :func:`from_groups`
brings the group tables back to each user. Every sum is over integers, so the result does not
depend on how users were sliced or in which order slices are added.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import polars as pl

from targeting.data.vocab import GROUP_ROLES
from targeting.features.common import BuildContext, events_before, link, slug, to_pandas

PREFIX = "graph_"
# The contract columns this builder reads itself (it also reads the social and purchase
# builders' features of co-members); docs/reference/contracts.md is generated from it.
READS = {"groups": ("group_id", "social_id", "role", "joined_at"),
         "orders": ("referrer_social_id", "ts", "category")}


def build(ctx: BuildContext, social: pl.DataFrame | None = None,
          purchase: pl.DataFrame | None = None) -> pl.DataFrame | None:
    """Per-user graph features; ``social``/``purchase`` are those builders' outputs, if any."""
    if not ctx.has("groups"):
        return None
    groups = combine_aggregates([partial_aggregates(ctx, social, purchase)])
    return from_groups(ctx, groups, social, purchase)


def memberships(ctx: BuildContext) -> pl.DataFrame:
    """Group memberships known before ``as_of``: group_id, social_id, is_owner."""
    members = events_before(ctx.tables["groups"], ["group_id", "social_id", "role", "joined_at"],
                            "joined_at", ctx.as_of, codes={"role": GROUP_ROLES}).drop("age_days")
    return members.with_columns(
        (pl.col("role") == GROUP_ROLES.index("owner")).alias("is_owner")).drop("role")


def group_memberships(tables, as_of) -> pd.DataFrame:
    """Group memberships known strictly before ``as_of`` as pandas: group_id, social_id,
    is_owner (the same rows the graph features read; the lookalike graph reads these too).

    Examples
    --------
    >>> import targeting as tg
    >>> w = tg.demo_world(n_users=1_000, random_state=0)
    >>> list(group_memberships(w.tables, w.as_of).columns)
    ['group_id', 'social_id', 'is_owner']
    """
    ctx = BuildContext(tables, tables["identity"], as_of, (), ())
    return memberships(ctx).select("group_id", "social_id", "is_owner").to_pandas()


def partial_aggregates(ctx: BuildContext, social: pl.DataFrame | None,
                       purchase: pl.DataFrame | None) -> dict[str, pl.DataFrame]:
    """What the users of ``ctx`` contribute to each group, as integer sums.

    Returns ``groups`` (group_id, group_size and the members' count sums), ``owners``
    (group_id, owner social_id) and ``referrals`` (referrer_social_id, referral orders in all
    and per category; orders are counted where the buyer is, whoever the referrer).
    """
    members = memberships(ctx)
    people = _people_counts(ctx, social, purchase)
    names = [] if people is None else [c for c in people.columns if c != "social_id"]
    joined = members.select("group_id", "social_id")
    if people is not None:
        joined = joined.join(people, on="social_id", how="left").with_columns(
            pl.col(names).fill_null(0))
    sizes = joined.group_by("group_id").agg(pl.len().cast(pl.Int64).alias("group_size"),
                                            *[pl.col(n).sum() for n in names])
    owners = members.filter(pl.col("is_owner")).select(
        "group_id", pl.col("social_id").alias("referrer_social_id"))
    return {"groups": sizes, "owners": owners, "referrals": _referral_counts(ctx)}


def sum_partials(parts: Sequence[dict[str, pl.DataFrame]]) -> dict[str, pl.DataFrame]:
    """Add up :func:`partial_aggregates` of disjoint slices of users (same shape out)."""
    groups = pl.concat([p["groups"] for p in parts])
    sums = [c for c in groups.columns if c != "group_id"]
    referrals = [p["referrals"] for p in parts if p["referrals"] is not None]
    by_owner = None
    if referrals:
        by_owner = pl.concat(referrals)
        counts = [c for c in by_owner.columns if c != "referrer_social_id"]
        by_owner = by_owner.group_by("referrer_social_id").agg(pl.col(counts).sum())
    return {"groups": groups.group_by("group_id").agg(pl.col(sums).sum()),
            "owners": pl.concat([p["owners"] for p in parts]), "referrals": by_owner}


def combine_aggregates(parts: Sequence[dict[str, pl.DataFrame]]) -> dict[str, pl.DataFrame]:
    """Group-level tables from the :func:`partial_aggregates` of disjoint slices of users.

    ``groups``: group_id, group_size and the members' count sums; ``pull``: each group's
    owner's referral orders (None without orders).
    """
    total = sum_partials(parts)
    out = {"groups": total["groups"], "pull": None}
    by_owner = total["referrals"]
    if by_owner is not None:
        counts = [c for c in by_owner.columns if c != "referrer_social_id"]
        pull = total["owners"].join(by_owner, on="referrer_social_id", how="left")
        out["pull"] = pull.select("group_id", *[pl.col(c).fill_null(0).cast(pl.Float64)
                                                for c in counts])
    return out


def from_groups(ctx: BuildContext, groups: dict[str, pl.DataFrame],
                social: pl.DataFrame | None, purchase: pl.DataFrame | None) -> pl.DataFrame:
    """Per-user graph features of the users in ``ctx`` from the group-level tables."""
    members = memberships(ctx).join(groups["groups"].select("group_id", "group_size"),
                                    on="group_id")
    owned = pl.when(pl.col("is_owner"))
    per_user = members.group_by("social_id").agg(
        pl.len().cast(pl.Float64).alias(f"{PREFIX}n_groups"),
        pl.col("is_owner").any().cast(pl.Float64).alias(f"{PREFIX}is_owner"),
        owned.then(pl.col("group_size")).otherwise(0).sum().cast(pl.Float64)
        .alias(f"{PREFIX}owned_members"),
        pl.col("group_size").mean().cast(pl.Float64).alias(f"{PREFIX}mean_group_size"),
        pl.col("group_size").max().cast(pl.Float64).alias(f"{PREFIX}max_group_size"),
    )
    per_user = link(per_user, ctx.identity, "social_id")
    extras = (_owner_pull(ctx, members, groups["pull"]),
              _co_members(ctx, members, groups["groups"], social, purchase))
    for extra in extras:
        if extra is not None:
            per_user = per_user.join(extra, on="user_id", how="left")
    return per_user


def _referral_counts(ctx: BuildContext) -> pl.DataFrame | None:
    if not ctx.has("orders"):
        return None
    referrals = events_before(ctx.tables["orders"], ["referrer_social_id", "ts", "category"],
                              "ts", ctx.as_of, ctx.lookback_days,
                              codes={"category": ctx.categories})
    referrals = referrals.drop_nulls("referrer_social_id")
    return referrals.group_by("referrer_social_id").agg(
        [pl.len().cast(pl.Int64).alias("ref_all")]
        + [(pl.col("category") == i).sum().cast(pl.Int64).alias(f"ref_{slug(c)}")
           for i, c in enumerate(ctx.categories)])


def _owner_pull(ctx: BuildContext, members: pl.DataFrame,
                pull: pl.DataFrame | None) -> pl.DataFrame | None:
    """For each user, the strongest referral record among the owners of the user's groups."""
    if pull is None:
        return None
    cats = ctx.categories
    pulled = members.join(pull, on="group_id").group_by("social_id").agg(
        [pl.col("ref_all").max().alias(f"{PREFIX}owner_referrals")]
        + [pl.col(f"ref_{slug(c)}").max().alias(f"{PREFIX}owner_ref_{slug(c)}") for c in cats])
    return link(pulled, ctx.identity, "social_id")


def _people_counts(ctx: BuildContext, social: pl.DataFrame | None,
                   purchase: pl.DataFrame | None) -> pl.DataFrame | None:
    """Per social id: bought ``c`` (0/1), engaged events about ``c`` and in all (integers)."""
    cats = [slug(c) for c in ctx.categories]
    counts = []
    if purchase is not None:
        counts += [(pl.col(f"pur_n_{c}").fill_null(0) > 0).cast(pl.Int64).alias(f"buy_{c}")
                   for c in cats]
    if social is not None:
        counts += [pl.col(f"soc_eng_{c}").fill_null(0).cast(pl.Int64).alias(f"eng_{c}")
                   for c in cats]
        counts.append(pl.col("soc_engaged").fill_null(0).cast(pl.Int64).alias("eng_all"))
    if not counts:
        return None
    people = ctx.identity.select("user_id", "social_id").drop_nulls("social_id")
    for frame in (purchase, social):
        if frame is not None:
            people = people.join(frame, on="user_id", how="left")
    return people.select("social_id", *counts)


def _co_members(ctx: BuildContext, members: pl.DataFrame, totals: pl.DataFrame,
                social: pl.DataFrame | None, purchase: pl.DataFrame | None) -> pl.DataFrame | None:
    """What a user's co-members buy and read, the user left out.

    ``graph_group_buy_<c>``: share of co-members who bought ``c``; ``graph_group_int_<c>``:
    share of co-members' engaged social events about ``c``. Both pool all of a user's groups and
    are ratios of integer sums, so they do not depend on the order rows are added in.
    """
    people = _people_counts(ctx, social, purchase)
    if people is None:
        return None
    cats = [slug(c) for c in ctx.categories]
    names = [c for c in people.columns if c != "social_id"]
    joined = members.select("group_id", "social_id", "group_size").join(
        people, on="social_id", how="left").with_columns(pl.col(names).fill_null(0))
    joined = joined.join(totals.select("group_id", *[pl.col(n).alias(f"{n}_group")
                                                     for n in names]), on="group_id")
    # Leave-one-out integer counts per membership, pooled over the user's groups.
    others = [(pl.col(f"{n}_group") - pl.col(n)).alias(n) for n in names]
    pooled = joined.select("social_id", (pl.col("group_size") - 1).alias("others"), *others)
    pooled = pooled.group_by("social_id").agg(pl.col("others", *names).sum())
    ratios = []
    if purchase is not None:
        ratios += [(pl.col(f"buy_{c}") / pl.col("others")).alias(f"{PREFIX}group_buy_{c}")
                   for c in cats]
    if social is not None:
        ratios += [(pl.col(f"eng_{c}") / pl.col("eng_all")).alias(f"{PREFIX}group_int_{c}")
                   for c in cats]
    per_user = pooled.select("social_id", *[r.fill_nan(None) for r in ratios])
    return link(per_user, ctx.identity, "social_id")


def graph_features(tables: dict[str, pd.DataFrame], as_of, categories) -> pd.DataFrame:
    """Graph features per user in a chat group, indexed by ``user_id``.

    Examples
    --------
    >>> import targeting as tg
    >>> w = tg.demo_world(n_users=2_000, random_state=3)
    >>> f = graph_features(w.tables, w.as_of, ["beauty"])
    >>> bool((f["graph_n_groups"] >= 1).all())
    True
    """
    ctx = BuildContext(tables, tables["identity"], as_of, categories, ())
    return to_pandas(build(ctx))
