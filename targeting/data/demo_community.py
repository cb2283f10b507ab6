"""Community commerce in the demo world: owner influence, owner potential and the invite log.

The demo world (:mod:`targeting.data.demo`) already plants chat groups with one owner (KOC)
each, 45 % of them influential: their members buy more of the category the owner promotes
(a log-rate shift of ``owner_influence``) and more of those orders come through the owner's
referral link. This module adds what a community team needs to be scored against, without
touching the draws of the other stages (it runs last, on a random stream of its own):

- **owner truth** (``world.truth["owners"]``): per group, its owner, the planted influence, the
  promoted category, and the *expected* incremental orders the owner's influence caused among
  the group's members (the direct effect: rate minus rate without the influence, summed over
  the members and the periods; no draw involved);
- **owner potential** (``world.truth["owner_potential"]``): each user's chance of running an
  effective (influential) group if made an owner. It rises with lower-tier cities, social
  activity, young mothers and promotion buying, plus a personal part nobody sees. The owners'
  personal parts are drawn consistent with the influence their groups were dealt (a posterior
  draw given "influential or not"), so effective owners are a sample of high-potential users;
- **the invite log** (``tables["invites"]``): group invitations users send (the fission log of a
  community-commerce mini program), more often the higher their potential. No feature builder
  of the main pipeline reads it, so every other figure of the world stays as it was.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import brentq

from targeting.data.vocab import CATEGORIES

WINDOW_PERIODS = 6  # the owner truth's history window: the last six periods before as_of
EFFECTIVE_SHARE = 0.45  # = the share of influential owners planted in demo._groups
INVITE_RATE = 0.25  # invites per month of a median user
INVITE_GAIN = 0.6  # how loudly owner potential shows in invites (log-rate per logit unit)
ACCEPT_RATE = 0.45
OWN_SD = 2.0  # the personal part of owner potential (logit scale) no silo sees


def record_increment(sim, period: int, rate: np.ndarray) -> None:
    """Accumulate, per group and period, the orders the owners' influence added (no draws).

    Called by the order stage with each period's Poisson rates (users x categories).
    """
    if period == 0:
        sim.owner_increment = np.zeros((sim.n_history_periods + 1, sim.n_groups))
    added = (rate * -np.expm1(-sim.influence)).sum(axis=1)
    members = sim.primary_group >= 0
    sim.owner_increment[period] = np.bincount(sim.primary_group[members], weights=added[members],
                                              minlength=sim.n_groups)


def simulate(sim) -> tuple[pd.DataFrame, dict[str, pd.DataFrame | pd.Series]]:
    """The invite table and the community truth; draws only from the current stage's stream."""
    logit = _potential_logit(sim)
    invites = _invites(sim, logit)
    owners = _owner_truth(sim)
    index = pd.Index(sim.user_id, name="user_id")
    potential = pd.Series(_sigmoid(logit), index=index, name="owner_potential")
    return invites, {"owners": owners, "owner_potential": potential}


def _observable_logit(sim) -> np.ndarray:
    """The part of owner potential the silos can see (profile, social activity, promotions)."""
    young_mother = sim.female & (sim.age == 1)
    return (1.4 * (sim.tier >= 3) + 1.2 * np.log(sim.activity) / 0.4 + 1.0 * young_mother
            + 0.7 * sim.promo_sensitive)


def _potential_logit(sim) -> np.ndarray:
    rng = sim.rng
    seen = _observable_logit(sim)
    own = rng.normal(0.0, OWN_SD, sim.n)
    members = sim.primary_group >= 0
    # The intercept puts the mean potential of group members at the planted effective share.
    alpha = brentq(lambda a: _sigmoid(a + seen[members] + own[members]).mean()
                   - EFFECTIVE_SHARE, -20, 20)
    # Owners: redraw the personal part until it agrees with the influence they were dealt.
    owners = sim.group_owner
    effective = sim.owner_influence > 0
    pending = np.arange(owners.size)
    for _ in range(200):
        if pending.size == 0:
            break
        draw = rng.normal(0.0, OWN_SD, pending.size)
        ok = (rng.random(pending.size) < _sigmoid(alpha + seen[owners[pending]] + draw)) \
            == effective[pending]
        own[owners[pending[ok]]] = draw[ok]
        pending = pending[~ok]
    return alpha + seen + own


def _invites(sim, logit: np.ndarray) -> pd.DataFrame:
    """Group invitations sent, from joining on, over the history and the evaluation window."""
    rng = sim.rng
    social = np.flatnonzero(sim.has_social)
    periods = sim.n_history_periods + 1
    centred = logit[social] - np.median(logit[social])
    rate = INVITE_RATE * sim.activity[social] * np.exp(INVITE_GAIN * centred)
    parts = []
    for p in range(periods):
        present = sim._joined_share(p)[social]
        counts = rng.poisson(rate * present)
        user = np.repeat(social, counts)
        parts.append(pd.DataFrame({
            "social_id": sim.social_id[user],
            "ts": sim._period_ts(p, user),
            "accepted": rng.random(user.size) < ACCEPT_RATE,
        }))
    invites = pd.concat(parts, ignore_index=True)
    return invites.sort_values(["ts", "social_id"], kind="stable").reset_index(drop=True)


def _owner_truth(sim) -> pd.DataFrame:
    last = sim.n_history_periods
    window = sim.owner_increment[last - WINDOW_PERIODS:last].sum(axis=0)
    members = np.bincount(sim.primary_group[sim.primary_group >= 0], minlength=sim.n_groups)
    return pd.DataFrame({
        "owner_user_id": sim.user_id[sim.group_owner],
        "influence": sim.owner_influence,
        "influential": sim.owner_influence > 0,
        "promoted_category": pd.Categorical.from_codes(sim.promoted_category, CATEGORIES),
        "primary_members": members,
        "incremental_orders": window,
        "incremental_orders_next": sim.owner_increment[last],
    }, index=pd.Index(np.arange(1, sim.n_groups + 1), name="group_id"))


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))
