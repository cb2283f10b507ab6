"""The demo world answers campaigns: outcomes drawn from the planted truth, wave after wave.

The demo world plants each campaign user's true conversion probability without a contact
(``truth["uplift"].p_control``, from the ``campaign`` stage of :mod:`targeting.data.demo`)
and the true uplift of every arm (``uplift_<arm>``). :func:`respond` draws the outcome of
each assigned user from them: converted with probability ``p_control + uplift_<arm received>``
(``p_control`` for the control). The population that can be contacted is the users the truth
covers: a random 60 % of the users who exist at ``as_of``. The planted effects do not change
over time, so a user contacted again converts again with the same probability, and waves are
independent draws.

Time advances by ``wave_days`` (default 7) per wave: wave ``k`` is sent at
``as_of + k * wave_days`` (:func:`wave_time`), so that the world's own past randomised campaign
(sent at ``as_of``) has been read out before wave 1, as a brand's last campaign would be. Each
campaign's outcomes come from a random stream of their own (the world's seed and the campaign
id), so the same assignments give the same outcomes in any order and in any process.

The truth per wave (:func:`policy_increments`): the true expected increment of any set of
contacts (the sum of the true uplift of the arm each contacted user gets), and that of the
static policies with the same number of contacts or the same money: the oracle (the best true
uplift, or true profit, first), the likeliest buyers (true ``p_control`` first) and random users,
both with the arm that adds (or earns) most on average.
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from targeting.data.money import arm_costs, spend_budget, user_values
from targeting.data.schema import SchemaError
from targeting.data.vocab import CONTROL_ARM

if TYPE_CHECKING:
    from targeting.data.demo import DemoWorld

WAVE_DAYS = 7
_STREAM = 9_013  # the responses' random streams: (random_state, _STREAM, crc32(campaign_id))


def truth_table(world: DemoWorld) -> pd.DataFrame:
    """``p_control`` and ``uplift_<arm>`` per user (``user_id`` index) for every user the
    planted campaign truth covers.

    Examples
    --------
    >>> import targeting as tg
    >>> truth = truth_table(tg.demo_world(n_users=1_000, random_state=0))
    >>> list(truth.columns)
    ['p_control', 'uplift_coupon', 'uplift_group_invite', 'uplift_push']
    """
    truth = world.truth["uplift"].set_index("user_id")
    return truth[["p_control", *[c for c in truth.columns if c.startswith("uplift_")]]]


def arms(world: DemoWorld) -> list[str]:
    """The treatment arms the world has a true uplift for."""
    return [c.removeprefix("uplift_") for c in truth_table(world).columns[1:]]


def population(world: DemoWorld) -> np.ndarray:
    """The users who can be contacted (the planted truth covers them), in id order."""
    return np.sort(truth_table(world).index.to_numpy())


def wave_time(world: DemoWorld, wave: int, wave_days: int = WAVE_DAYS) -> pd.Timestamp:
    """When wave ``wave`` (1, 2, ...) is sent: ``wave_days`` per wave after ``as_of`` (when
    the world's past randomised campaign was sent), so wave 1 is a wave after it.

    Examples
    --------
    >>> import targeting as tg
    >>> world = tg.demo_world(n_users=1_000, random_state=0)
    >>> str(wave_time(world, 3).date())
    '2026-09-19'
    """
    if int(wave) < 1:
        raise ValueError(f"waves are numbered from 1, got {wave}")
    return world.as_of + pd.Timedelta(days=int(wave) * wave_days)


def respond(world: DemoWorld, assignments: pd.DataFrame, *,
            sent_at: pd.Timestamp | None = None) -> pd.DataFrame:
    """Each assigned user's outcome, drawn from the planted truth.

    Parameters
    ----------
    world : DemoWorld
    assignments : DataFrame
        ``user_id``, ``arm`` (``"control"`` for users held out, not contacted) and
        ``campaign_id`` (one value), e.g. ``wave.assignments`` of a campaign loop.
    sent_at : Timestamp, optional
        Send time written on the rows; default ``assignments.sent_at`` if present, else
        ``world.as_of``.

    Returns
    -------
    DataFrame
        A campaign table (``user_id``, ``campaign_id``, ``arm``, ``sent_at``, ``converted``,
        ``revenue``), one row per assignment, in input order.

    Examples
    --------
    >>> import targeting as tg
    >>> world = tg.demo_world(n_users=2_000, random_state=0)
    >>> users = population(world)[:500]
    >>> sent = pd.DataFrame({"user_id": users, "arm": "coupon", "campaign_id": "w1"})
    >>> out = world.respond(sent)
    >>> out.columns.tolist()
    ['user_id', 'campaign_id', 'arm', 'sent_at', 'converted', 'revenue']
    >>> bool(out.equals(world.respond(sent)))  # the same assignments, the same outcomes
    True
    """
    rows, campaign_id = _checked(world, assignments)
    truth = truth_table(world)
    user = rows["user_id"].to_numpy(dtype=np.int64)
    arm = rows["arm"].astype(str).to_numpy(dtype=object)
    p = _probability(truth, user, arm)
    # Draws in user-id order, so the outcomes do not depend on the row order.
    order = np.argsort(user, kind="stable")
    rng = np.random.default_rng([world.random_state, _STREAM, zlib.crc32(campaign_id.encode())])
    draw, amount = np.empty(len(user)), np.empty(len(user))
    draw[order] = rng.random(len(user))
    amount[order] = np.round(rng.lognormal(np.log(160), 0.4, len(user)), 2)
    converted = draw < p
    if sent_at is None:
        sent_at = rows["sent_at"].iloc[0] if "sent_at" in rows.columns and len(rows) else \
            world.as_of
    return pd.DataFrame({
        "user_id": user,
        "campaign_id": campaign_id,
        "arm": arm,
        "sent_at": pd.Timestamp(sent_at),
        "converted": converted,
        "revenue": np.where(converted, amount, 0.0),
    })


def true_increment(world: DemoWorld, assignments: pd.DataFrame) -> float:
    """Expected incremental conversions of the assignments: the sum of the true uplift of the
    arm each contacted user gets (held-out users add nothing).

    Examples
    --------
    >>> import targeting as tg
    >>> world = tg.demo_world(n_users=2_000, random_state=0)
    >>> users = population(world)[:100]
    >>> held = pd.DataFrame({"user_id": users, "arm": "control", "campaign_id": "w"})
    >>> true_increment(world, held)
    0.0
    """
    rows, _ = _checked(world, assignments, need_campaign=False)
    truth = truth_table(world)
    user = rows["user_id"].to_numpy(dtype=np.int64)
    arm = rows["arm"].astype(str).to_numpy(dtype=object)
    return float(_uplift_of(truth, user, arm).sum())


def policy_increments(world: DemoWorld, contacts: int | None = None, *,
                      budget: float | None = None, value_per_conversion=1.0,
                      cost_per_contact: float | dict = 0.0, users: np.ndarray | None = None,
                      by: str = "profit_per_cost") -> dict[str, float]:
    """True expected increment (conversions) of the static policies with ``contacts`` contacts,
    or spending ``budget`` (money) when it is given.

    ``oracle``: each user's best arm by true profit (true uplift times the user's value minus
    the arm's price), only users worth their cost, the best first (with a budget: by ``by``,
    profit per unit of cost or profit, as :func:`~targeting.plan_campaign` ranks); with one
    price and a number of contacts, the best true uplift first. ``propensity``: the highest
    true ``p_control`` first (the likeliest buyers: the best a response model could do);
    ``random``: an expectation over random users. Both of these send everyone the arm of best
    average true profit (of largest true uplift, with one price), as many as the contacts or
    the money allow.

    Parameters
    ----------
    value_per_conversion : float or Series
        One value, or a value per user (``user_id`` index, covering ``users``).
    cost_per_contact : float or dict of arm to float
        One price, or one per arm (then ``budget`` is needed).

    Examples
    --------
    >>> import targeting as tg
    >>> world = tg.demo_world(n_users=2_000, random_state=0)
    >>> p = policy_increments(world, 100, value_per_conversion=60, cost_per_contact=1)
    >>> bool(p["oracle"] > p["random"])
    True
    >>> m = policy_increments(world, budget=100, value_per_conversion=60,
    ...                       cost_per_contact={"coupon": 5, "group_invite": 1, "push": 0.05})
    >>> bool(m["oracle"] > m["random"])
    True
    """
    truth = truth_table(world)
    if users is not None:
        truth = truth.loc[truth.index.intersection(pd.Index(users))]
    if budget is None:
        if contacts is None or int(contacts) < 0:
            raise ValueError(f"contacts must be zero or more, got {contacts}")
        if isinstance(cost_per_contact, dict) or isinstance(value_per_conversion, pd.Series):
            raise ValueError("prices per arm or values per user need a budget in money")
        return _by_contacts(truth, int(contacts), value_per_conversion, cost_per_contact)
    return _by_money(truth, float(budget), value_per_conversion, cost_per_contact, by)


def _by_contacts(truth: pd.DataFrame, contacts: int, value: float, cost: float) -> dict:
    uplift = truth.filter(like="uplift_").to_numpy()
    n = min(contacts, len(truth))
    best = uplift.max(axis=1)
    worth = best * value - cost
    top = np.sort(worth)[::-1]
    reach = min(n, int((top > 0).sum()))
    oracle = float(np.sort(best[worth > 0])[::-1][:reach].sum())
    column = int(uplift.mean(axis=0).argmax())
    likeliest = np.argsort(-truth["p_control"].to_numpy(), kind="stable")[:n]
    return {"oracle": oracle,
            "propensity": float(uplift[likeliest, column].sum()),
            "random": float(n * uplift[:, column].mean())}


def _by_money(truth: pd.DataFrame, budget: float, value, cost, by: str) -> dict:
    names = [c.removeprefix("uplift_") for c in truth.columns if c.startswith("uplift_")]
    prices = np.array(list(arm_costs(cost, names).values()))
    uplift = truth[[f"uplift_{a}" for a in names]].to_numpy()
    values = user_values(value, truth)
    profit = values[:, None] * uplift - prices
    best = profit.argmax(axis=1)
    gain = profit[np.arange(len(profit)), best]
    key = gain / prices[best] if by == "profit_per_cost" else gain
    order = np.argsort(-key, kind="stable")
    taken = spend_budget(order[gain[order] > 0], prices[best], budget)
    column = int(profit.mean(axis=0).argmax())
    n = min(int(budget * (1 + 1e-9) // prices[column]), len(truth))
    likeliest = np.argsort(-truth["p_control"].to_numpy(), kind="stable")[:n]
    return {"oracle": float(uplift[taken, best[taken]].sum()),
            "propensity": float(uplift[likeliest, column].sum()),
            "random": float(n * uplift[:, column].mean())}


def _checked(world: DemoWorld, assignments: pd.DataFrame,
             need_campaign: bool = True) -> tuple[pd.DataFrame, str]:
    """The assignments, checked against the world: known users, known arms, one campaign."""
    if not isinstance(assignments, pd.DataFrame):
        raise SchemaError([f"assignments must be a DataFrame (user_id, arm, campaign_id), got "
                           f"{type(assignments).__name__}"])
    needed = ["user_id", "arm", *(["campaign_id"] if need_campaign else [])]
    missing = [c for c in needed if c not in assignments.columns]
    if missing:
        raise SchemaError([f"assignments: missing column(s) {missing}; have "
                           f"{list(assignments.columns)}"])
    problems = []
    known = set(arms(world)) | {CONTROL_ARM}
    unknown_arms = sorted(set(assignments["arm"].astype(str)) - known)
    if unknown_arms:
        problems.append(f"assignments.arm: unknown arm(s) {unknown_arms}; the demo world "
                        f"knows {sorted(known)}")
    truth = truth_table(world)
    unknown = ~assignments["user_id"].isin(truth.index)
    if unknown.any():
        problems.append(f"assignments.user_id: {int(unknown.sum())} user(s) the planted truth "
                        f"does not cover; draw them from demo_response.population(world)")
    if assignments["user_id"].duplicated().any():
        problems.append("assignments.user_id: a user is assigned twice in one campaign")
    campaign_id = ""
    if need_campaign:
        ids = assignments["campaign_id"].astype(str).unique()
        if len(ids) != 1:
            problems.append(f"assignments.campaign_id: one campaign at a time, found "
                            f"{sorted(ids)[:5]}")
        else:
            campaign_id = str(ids[0])
    if problems:
        raise SchemaError(problems)
    return assignments.reset_index(drop=True), campaign_id


def _uplift_of(truth: pd.DataFrame, user: np.ndarray, arm: np.ndarray) -> np.ndarray:
    rows = truth.index.get_indexer(user)
    uplift = np.zeros(len(user))
    for name in pd.unique(arm):
        if name == CONTROL_ARM:
            continue
        hit = arm == name
        uplift[hit] = truth[f"uplift_{name}"].to_numpy()[rows[hit]]
    return uplift


def _probability(truth: pd.DataFrame, user: np.ndarray, arm: np.ndarray) -> np.ndarray:
    base = truth["p_control"].to_numpy()[truth.index.get_indexer(user)]
    return np.clip(base + _uplift_of(truth, user, arm), 0.0, 1.0)
