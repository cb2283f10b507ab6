"""Social-graph features from chat groups: group size, ownership and reach, the pull of the
group owner (KOC) through referral sales, and what a user's co-members buy and read.

Unlike the per-user builders, these aggregate over groups first (a group's members must meet),
then come back to users; co-member signals leave the user out (leave-one-out means).
"""

from __future__ import annotations

import pandas as pd
import polars as pl

from targeting.data.vocab import GROUP_ROLES
from targeting.features.common import BuildContext, events_before, link, slug, to_pandas

PREFIX = "graph_"


def build(ctx: BuildContext, social: pl.DataFrame | None = None,
          purchase: pl.DataFrame | None = None) -> pl.DataFrame | None:
    """Per-user graph features; ``social``/``purchase`` are those builders' outputs, if any."""
    if not ctx.has("groups"):
        return None
    members = events_before(ctx.tables["groups"], ["group_id", "social_id", "role", "joined_at"],
                            "joined_at", ctx.as_of, codes={"role": GROUP_ROLES}).drop("age_days")
    members = members.with_columns(
        (pl.col("role") == GROUP_ROLES.index("owner")).alias("is_owner")).drop("role")
    members = members.join(members.group_by("group_id").len("group_size"), on="group_id")
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
    for extra in (_owner_pull(ctx, members), _co_members(ctx, members, social, purchase)):
        if extra is not None:
            per_user = per_user.join(extra, on="user_id", how="left")
    return per_user


def _owner_pull(ctx: BuildContext, members: pl.DataFrame) -> pl.DataFrame | None:
    """For each user, the strongest referral record among the owners of the user's groups."""
    if not ctx.has("orders"):
        return None
    referrals = events_before(ctx.tables["orders"], ["referrer_social_id", "ts", "category"],
                              "ts", ctx.as_of, ctx.lookback_days,
                              codes={"category": ctx.categories})
    referrals = referrals.drop_nulls("referrer_social_id")
    cats = ctx.categories
    by_owner = referrals.group_by("referrer_social_id").agg(
        [pl.len().cast(pl.Float64).alias("ref_all")]
        + [(pl.col("category") == i).sum().cast(pl.Float64).alias(f"ref_{slug(c)}")
           for i, c in enumerate(cats)])
    owners = members.filter(pl.col("is_owner")).select(
        "group_id", pl.col("social_id").alias("referrer_social_id"))
    group_pull = owners.join(by_owner, on="referrer_social_id", how="left").with_columns(
        pl.exclude("group_id", "referrer_social_id").fill_null(0.0))
    pulled = members.join(group_pull, on="group_id").group_by("social_id").agg(
        [pl.col("ref_all").max().alias(f"{PREFIX}owner_referrals")]
        + [pl.col(f"ref_{slug(c)}").max().alias(f"{PREFIX}owner_ref_{slug(c)}") for c in cats])
    return link(pulled, ctx.identity, "social_id")


def _co_members(ctx: BuildContext, members: pl.DataFrame, social: pl.DataFrame | None,
                purchase: pl.DataFrame | None) -> pl.DataFrame | None:
    """What a user's co-members buy and read, the user left out.

    ``graph_group_buy_<c>``: share of co-members who bought ``c``; ``graph_group_int_<c>``:
    share of co-members' engaged social events about ``c``. Both pool all of a user's groups and
    are ratios of integer sums, so they do not depend on the order rows are added in.
    """
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
    people = people.select("social_id", *counts)
    names = [c for c in people.columns if c != "social_id"]
    joined = members.select("group_id", "social_id", "group_size").join(
        people, on="social_id", how="left").with_columns(pl.col(names).fill_null(0))
    totals = joined.group_by("group_id").agg(pl.col(names).sum().name.suffix("_group"))
    joined = joined.join(totals, on="group_id")
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
    >>> w = tg.demo_world(n_users=2_000, seed=3)
    >>> f = graph_features(w.tables, w.as_of, ["beauty"])
    >>> bool((f["graph_n_groups"] >= 1).all())
    True
    """
    ctx = BuildContext(tables, tables["identity"], as_of, categories, ())
    return to_pandas(build(ctx))
