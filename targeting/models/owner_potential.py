"""Owner potential: which users would run an effective chat group if recruited as owners.

A lookalike of the owners who proved effective. The seeds are the owners with the largest
estimated incremental purchases (the top 30 % by :func:`targeting.models.owners.rank_owners`,
positive ones only: a cleaner seed than every owner with a positive estimate, whose bottom half
is mostly noise); the universe is every chat-group member at ``as_of`` (owners are recruited
from members, and comparing with members keeps "is in a group" from being the signal),
described by the profile, social and chat-group graph features (without their per-category
copies, see ``per_category``) plus the invitations they sent
(:mod:`targeting.features.community`). Purchase features are left out by default: a member's
purchases carry their own owner's influence, so they point to the members of effective groups,
not to people like the effective owners (with each of three seed choices tried on the
default world, adding them lowered the lift at 1 %). The seed is small (about a hundred
owners), so the PU classifier grows shallow trees (4 leaves, at least 50 users a leaf).
Features that are consequences of being an effective owner are left out (owning a group, one's
owner's referrals, what one's group bought, the share of one's orders that came through a
referral link): they would find the effective owners' groups, not people like the effective
owners. :class:`~targeting.LookalikeModel` does the rest; the ranking covers non-owners only,
and each user's reasons are the classifier's contributions summed by silo.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from targeting.data.dates import parse_as_of
from targeting.data.schema import InsufficientDataError, SchemaError
from targeting.features.common import slug
from targeting.features.community import invite_features
from targeting.features.pipeline import FeaturePipeline
from targeting.models.lookalike import LookalikeModel
from targeting.models.owners import OwnerValue

# What an owner has because they own a group, and what their group bought because of them:
# consequences of being an effective owner, not the traits of one.
MIN_SEEDS = 10  # below this the lookalike's held-out fifth has too few seeds to weigh methods
DEFAULT_BUILDERS = ("profile", "social", "graph")
SHALLOW = {"num_leaves": 4, "min_child_samples": 50, "learning_rate": 0.03}
CONSEQUENCES = ("graph_is_owner", "graph_owned_members", "graph_owner_", "graph_group_buy_",
                "pur_share_group_referral")


class OwnerPotentialModel(BaseEstimator):
    """Rank non-owner members by their likeness to the effective owners.

    Parameters
    ----------
    seed_share : float, default 0.3
        Share of the owners (best estimated incremental purchases first, positive only) used
        as seeds.
    builders : tuple of str, default ("profile", "social", "graph")
        Feature builders (the invitations are always added).
    members_only : bool, default True
        Rank chat-group members only; False ranks every user.
    per_category : bool, default False
        Keep the per-category features (engagement, shares, co-members' interest per
        category). Left out by default: running a group is about the person, not their
        taste, and a hundred seeds cannot sort through eight copies of every signal.
    min_seed_size : int, optional
        Passed to :class:`~targeting.LookalikeModel` (the organisation's floor by default).
    n_bags, n_estimators, random_state : passed to the lookalike model.
    progress : bool, default True
        Show a progress bar over the lookalike's steps.

    Attributes
    ----------
    lookalike_ : LookalikeModel
    seeds_ : DataFrame
        The effective owners used as seeds (``user_id``, ``incremental_orders``).
    scores_ : Series
        Calibrated lookalike score of every non-owner in the universe, best first.

    Examples
    --------
    >>> model = OwnerPotentialModel(seed_share=0.3)
    >>> model.get_params()["builders"]
    ('profile', 'social', 'graph')

    On a world with enough owners (tests/test_community.py fits one on 8,000 users):

    >>> value = tg.rank_owners(world.tables, world.as_of)  # doctest: +SKIP
    >>> model.fit(world.tables, value).expand(0.05)  # doctest: +SKIP
    """

    def __init__(self, *, seed_share: float = 0.3,
                 builders: tuple[str, ...] = DEFAULT_BUILDERS, members_only: bool = True,
                 per_category: bool = False,
                 min_seed_size: int | None = None, n_bags: int = 4, n_estimators: int = 300,
                 random_state: int = 0, progress: bool = True):
        self.seed_share = seed_share
        self.builders = builders
        self.members_only = members_only
        self.per_category = per_category
        self.min_seed_size = min_seed_size
        self.n_bags = n_bags
        self.n_estimators = n_estimators
        self.random_state = random_state
        self.progress = progress

    def fit(self, data: Mapping[str, pd.DataFrame], owners: OwnerValue,
            as_of=None) -> OwnerPotentialModel:
        """Fit the lookalike of the owners ``owners`` found most effective.

        Parameters
        ----------
        data : dict of DataFrame
            Contract tables.
        owners : OwnerValue
            :func:`~targeting.rank_owners`'s result: the seeds are its most effective owners.
        as_of : timestamp-like, optional
            Default: the ``as_of`` the owners were ranked at.
        """
        tables = data
        if not isinstance(owners, OwnerValue):
            raise SchemaError([f"owners must be the OwnerValue from rank_owners, got "
                               f"{type(owners).__name__}"])
        if not 0 < self.seed_share <= 1:
            raise SchemaError([f"seed_share must be in (0, 1], got {self.seed_share}"])
        as_of = parse_as_of(owners.as_of if as_of is None else as_of, tables)
        table = owners.table.sort_values("incremental_orders", ascending=False)
        top = table.head(max(1, int(self.seed_share * len(table))))
        good = top[top.incremental_orders > 0]
        if len(good) < MIN_SEEDS:
            raise InsufficientDataError(
                f"only {len(good)} owner(s) among the top {self.seed_share:.0%} have positive "
                f"incremental purchases; a lookalike needs at least {MIN_SEEDS}: use more "
                "users, a larger seed_share or a longer window_days in rank_owners")
        self.seeds_ = pd.DataFrame({"user_id": good.owner_user_id.to_numpy(),
                                    "incremental_orders": good.incremental_orders.to_numpy()})
        self.owner_ids_ = table.owner_user_id.to_numpy()
        features = self._features(tables, as_of)
        self.lookalike_ = LookalikeModel(
            min_seed_size=self.min_seed_size, n_bags=self.n_bags,
            n_estimators=self.n_estimators, random_state=self.random_state,
            progress=self.progress,
            **SHALLOW).fit(features, self.seeds_.user_id, as_of)
        scores = self.lookalike_.scores_["score"]
        scores = scores[~scores.index.isin(self.owner_ids_)]
        self.scores_ = scores.sort_values(ascending=False, kind="stable")
        return self

    def _features(self, tables, as_of) -> pd.DataFrame:
        pipe = FeaturePipeline(builders=self.builders)
        features = pipe.fit_transform(tables, as_of)
        # The categories the pipeline learnt (a brand's own, or the demo's eight).
        suffixes = tuple(f"_{slug(c)}{w}" for c in pipe.categories_ for w in ("", "_30d"))
        keep = [c for c in features.columns if not c.startswith(CONSEQUENCES)
                and (self.per_category or not c.endswith(suffixes))]
        features = features[keep]
        if self.members_only:
            features = features[features.index.isin(_group_members(tables, as_of))]
        return features.join(invite_features(tables, as_of, features.index))

    def expand(self, size: int | float):
        """The top non-owners (an :class:`~targeting.Audience`; consent respected)."""
        check_is_fitted(self, "scores_")
        return self.lookalike_.expand(size, exclude=self.owner_ids_)

    def reasons(self, user_ids, k: int = 2) -> pd.DataFrame:
        """Per user: how much each silo pushed the score up, and its strongest features.

        Contributions are the PU classifier's (LightGBM) contributions averaged over its bags,
        summed over each silo's features; ``<silo>_why`` names the ``k`` features of that
        silo that pushed the score up most.
        """
        check_is_fitted(self, "scores_")
        model = self.lookalike_
        rows = pd.Index(model.user_ids_).get_indexer(pd.Index(user_ids))
        if (rows < 0).any():
            raise SchemaError([f"reasons: {int((rows < 0).sum())} user id(s) not in the "
                               "universe the model was fitted on"])
        X = model._X[rows]
        contrib = np.mean([b.predict(X, pred_contrib=True,
                                     num_iteration=b.best_iteration or None)
                           for b in model.pu_.boosters_], axis=0)[:, :-1]
        names = np.array(model.pipeline_.feature_names_)
        silos = np.array([model.pipeline_.silo_of(n) for n in names])
        out = pd.DataFrame(index=pd.Index(user_ids, name="user_id"))
        for silo in dict.fromkeys(silos):
            cols = np.flatnonzero(silos == silo)
            part = contrib[:, cols]
            out[silo] = part.sum(axis=1)
            best = np.argsort(-part, axis=1, kind="stable")[:, :k]
            out[f"{silo}_why"] = [", ".join(names[cols[j]] for j in b if part[i, j] > 0)
                                  for i, b in enumerate(best)]
        return out


def _group_members(tables, as_of) -> np.ndarray:
    """User ids of everyone in a chat group before ``as_of`` (owners included)."""
    groups = tables["groups"]
    social = groups.loc[groups.joined_at < as_of, "social_id"].astype("int64")
    identity = tables["identity"].dropna(subset=["social_id"])
    return identity.loc[identity.social_id.astype("int64").isin(social), "user_id"].to_numpy()
