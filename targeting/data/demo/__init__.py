"""The demo world: a simulated brand with three data silos and planted ground truth.

Every table follows the contracts in :mod:`targeting.data.schema`; the ground truth
(`DemoWorld.truth`) holds what no real brand can see: each user's true purchase probability
in the evaluation window (the purchases there were drawn from it), the campaign's true
per-user uplift, the true credit of each touch channel and the planted lookalike segment.

How the world works, in one paragraph. Each user has a latent interest per category made of
demographic, chat-group (homophily), segment and individual parts, drifting slowly over time.
Social events are a noisy view of the current interest and of where it is heading (people read
before they buy); orders are Poisson draws whose rate adds a general spending propensity that
only the store sees, a replenishment habit for consumables, and the influence of chat-group
owners (KOCs), which flows through referral orders. Users in lower-tier cities buy mostly
through group owners. Silos overlap only partly, as in real data.

Customers have a life cycle, as on real purchase logs. They join over the whole span
(acquisition cohorts; ``scenario="cohort"`` puts most of them in one early cohort, like a
brand's launch), buy more in their first months, and drop out for good as in a
buy-till-you-die process (after each month an alive customer leaves with a probability of their
own); demand follows the seasons (a summer low, the 618 and Double 11 peaks) and the week
(weekends busier). A user exists in the data only from their first record on: users who join
later are in the identity table (prospects) but have no history before ``as_of``.

A world larger than memory is written block by block to Parquet partitioned by user
(:func:`write_demo_world`; see :mod:`targeting.data.demo.blocks` for what differs from the
world simulated in one piece).
"""

from __future__ import annotations

import numpy as np

from targeting.data.demo.blocks import read_demo_world, write_demo_world
from targeting.data.demo.common import (  # noqa: F401 - the world's constants, one place
    ALLOCATION,
    ARMS,
    AS_OF,
    CAMPAIGN_CATEGORY,
    CAMPAIGN_ID,
    HOLDOUT_CHANNEL,
    HOLDOUT_ID,
    PERIOD_DAYS,
    SCENARIOS,
)
from targeting.data.demo.simulator import _Simulator
from targeting.data.demo.world import DemoWorld, purchased_in_window

__all__ = ["DemoWorld", "demo_journeys", "demo_world", "purchased_in_window", "read_demo_world",
           "write_demo_world"]


def demo_world(n_users: int = 50_000, random_state: int = 0, *, horizon_days: int = 30,
               scenario: str = "default") -> DemoWorld:
    """Simulate a brand's world with planted ground truth.

    Parameters
    ----------
    n_users : int, default 50_000
        Size of the brand's universe.
    random_state : int, default 0
        Same random_state, same world, on any machine.
    horizon_days : int, default 30
        Length of the evaluation window after ``as_of`` (also the period of the simulation).
    scenario : {"default", "cohort"}
        ``"default"``: a base of existing customers and new ones joining every month;
        ``"cohort"``: most customers join in the first three months (one acquisition cohort
        that ages and churns, as in the CDNOW log).

    Returns
    -------
    DemoWorld

    Examples
    --------
    >>> world = demo_world(n_users=2_000, random_state=1)
    >>> sorted(world.tables)[:3]
    ['campaign', 'conversions', 'crm']
    >>> 0.6 < world.oracle_auc("beauty") < 0.95
    True
    """
    if n_users < 500:
        raise ValueError(f"n_users must be at least 500 to form chat groups, got {n_users}")
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; choose from {list(SCENARIOS)}")
    return _Simulator(n_users, random_state, horizon_days, scenario).run()


def demo_journeys(n_users: int = 100_000, random_state: int = 0, *, horizon_days: int = 30):
    """Only the multi-touch journeys of a demo world (half the users have one), fast at scale.

    Returns ``(touchpoints, conversions, channel_credit)``, the same generator as
    :func:`demo_world` uses, for attribution benchmarks with millions of journeys.

    Examples
    --------
    >>> touches, conversions, credit = demo_journeys(2_000, random_state=1)
    >>> round(float(credit.share.sum()), 6)
    1.0
    """
    sim = _Simulator(n_users, random_state, horizon_days)
    sim.user_id = np.arange(1, n_users + 1, dtype=np.int64) + 100_000_000
    sim._stage("journeys")
    return sim._journeys()[:3]
