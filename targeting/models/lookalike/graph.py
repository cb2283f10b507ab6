"""Graph expansion: from seeds to the chat groups they sit in and the owners who run them.

Community commerce spreads through chat groups led by owners (KOCs). A user's graph score is the
seed rate of the groups around them: the groups they are a member of, plus the groups of owners
they bought from through a referral ("owners whose groups convert"). Rates are pooled over a
user's groups, leave the user out, and are shrunk towards the overall seed rate, so one seed in
a group of three says little and a group that is half seeds says a lot.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from targeting.data.dates import as_timestamp
from targeting.features.graph import group_memberships


class GroupGraph:
    """Memberships (user row, group) before ``as_of``, linked to the universe's rows.

    Parameters
    ----------
    tables : dict of DataFrame
        Needs ``groups`` and ``identity``; ``orders`` adds referral ties.
    user_ids : array
        The universe, in row order.
    as_of : timestamp-like
    """

    def __init__(self, tables, user_ids: np.ndarray, as_of):
        identity = tables["identity"]
        pos = pd.Series(np.arange(len(user_ids)), index=pd.Index(user_ids))
        social = identity.dropna(subset=["social_id"])
        social_row = pd.Series(pos.reindex(social.user_id.to_numpy()).to_numpy(),
                               index=social.social_id.astype("int64").to_numpy())
        groups = group_memberships(tables, as_of)
        rows = social_row.reindex(groups.social_id.to_numpy()).to_numpy()
        keep = ~np.isnan(rows)
        member_row = rows[keep].astype(np.int64)
        member_group = groups.group_id.to_numpy()[keep]
        owner = groups.is_owner.to_numpy()[keep]
        self.owner_of = pd.Series(member_group[owner], index=member_row[owner])
        ties = self._referral_ties(tables, pos, social_row, as_of)
        links = pd.DataFrame({"row": member_row, "group": member_group})
        if ties is not None:
            links = pd.concat([links, ties], ignore_index=True)
        links = links.drop_duplicates()
        self.row = links.row.to_numpy()
        self.group, self.group_ids = pd.factorize(links.group.to_numpy())
        self.size = np.bincount(self.group)
        self.n_users = len(user_ids)
        self.n_links = np.bincount(self.row, minlength=self.n_users)

    def _referral_ties(self, tables, pos, social_row, as_of):
        """Buyers tied to every group owned by an owner who referred them."""
        if "orders" not in tables or not len(self.owner_of):
            return None
        orders = tables["orders"]
        orders = orders[(orders.ts < as_timestamp(as_of, orders.ts))
                        & orders.referrer_social_id.notna()]
        identity = tables["identity"].dropna(subset=["shop_id"])
        shop_row = pd.Series(pos.reindex(identity.user_id.to_numpy()).to_numpy(),
                             index=identity.shop_id.astype("int64").to_numpy())
        buyer = shop_row.reindex(orders.shop_id.to_numpy()).to_numpy()
        owner = social_row.reindex(orders.referrer_social_id.astype("int64").to_numpy()).to_numpy()
        ok = ~np.isnan(buyer) & ~np.isnan(owner)
        pairs = pd.DataFrame({"row": buyer[ok].astype(np.int64),
                              "owner": owner[ok].astype(np.int64)}).drop_duplicates()
        owned = self.owner_of.rename("group").rename_axis("owner").reset_index()
        return pairs.merge(owned, on="owner")[["row", "group"]]

    def score(self, is_seed: np.ndarray, prior_strength: float = 20.0) -> np.ndarray:
        """Log of each user's shrunk, leave-one-out seed rate; NaN for users with no groups."""
        seed_link = is_seed[self.row].astype(float)
        seeds_in = np.bincount(self.group, weights=seed_link)
        others_seed = seeds_in[self.group] - seed_link
        others = self.size[self.group] - 1.0
        s = np.bincount(self.row, weights=others_seed, minlength=self.n_users)
        m = np.bincount(self.row, weights=others, minlength=self.n_users)
        prior = max(seed_link.mean(), 1e-6)
        rate = (s + prior_strength * prior) / (m + prior_strength)
        out = np.log(rate)
        out[self.n_links == 0] = np.nan
        return out

    def ties(self, rows: np.ndarray, is_seed: np.ndarray) -> np.ndarray:
        """How many seeds share a group with each of ``rows`` (for the reasons)."""
        seeds_in = np.bincount(self.group, weights=is_seed[self.row].astype(float),
                               minlength=len(self.group_ids))
        per_link = seeds_in[self.group] - is_seed[self.row]
        total = np.bincount(self.row, weights=per_link, minlength=self.n_users)
        return total[rows].astype(int)
