"""A price per arm against one price for every arm, in true profit on the demo world.

    python benchmarks/plan_costs.py --users 20000 --seeds 0 1 2 3 4

Per seed: the demo world's randomised campaign (arms coupon, group_invite, push), an X-learner
fitted on a random half, plans for the other half. Prices chosen before looking: coupon 5.00,
group invite 1.00, push 0.05 per contact; one price for every arm is their mean (2.02, what a
brand with one cost field would enter). Each user's value: their mean order amount before the
campaign (users without an order: the median of those means); a constant 60 as a second run.
The budget, in money, is 10 % of the planned users at the one price.

Plans, each charged the real price of the arm it sends, true profit = value x true uplift of
that arm - the real costs, summed:

- ``per_arm``: ``plan_campaign`` with the prices per arm (profit per unit of cost first, and
  profit first: the two greedy rules);
- ``one_price``: today's plan, one price for every arm: its ``budget // price`` contacts, real
  spend reported (it may overspend or underspend the budget);
- ``one_price_same_money``: the one-price plan's ranking and arms, taken while the same money
  budget lasts at the real prices (the fair comparison);
- ``oracle``: the true uplift, per-arm prices, profit per unit of cost first.
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

import targeting as tg
from targeting.data.money import spend_budget

COSTS = {"coupon": 5.0, "group_invite": 1.0, "push": 0.05}
ONE_PRICE = float(np.mean(list(COSTS.values())))


def mean_order_value(tables, as_of, users: pd.Index) -> pd.Series:
    """Each user's mean order amount before ``as_of``; users without one get the median of
    those means."""
    orders = tables["orders"]
    orders = orders[orders.ts < as_of]
    ids = tables["identity"].dropna(subset=["shop_id"]).set_index("shop_id").user_id
    per_user = orders.assign(user_id=orders.shop_id.map(ids)).groupby("user_id").amount.mean()
    return per_user.reindex(users).fillna(per_user.median()).rename("value")


def true_profit(user_ids, arms, truth: pd.DataFrame, values: pd.Series) -> dict:
    uplift = np.array([truth.at[u, f"uplift_{a}"] for u, a in zip(user_ids, arms, strict=True)])
    cost = np.array([COSTS[a] for a in arms])
    v = values.reindex(user_ids).to_numpy()
    return {"contacts": len(cost), "spend": float(cost.sum()),
            "true_incremental": float(uplift.sum()),
            "true_profit": float(v @ uplift - cost.sum())}


def oracle(truth: pd.DataFrame, values: pd.Series, budget: float, by: str) -> dict:
    arms = list(COSTS)
    prices = np.array([COSTS[a] for a in arms])
    u = truth[[f"uplift_{a}" for a in arms]].to_numpy()
    profit = values.reindex(truth.index).to_numpy()[:, None] * u - prices
    best = profit.argmax(axis=1)
    gain = profit[np.arange(len(profit)), best]
    key = gain / prices[best] if by == "profit_per_cost" else gain
    order = np.argsort(-key, kind="stable")
    order = order[gain[order] > 0]
    rows = spend_budget(order, prices[best], budget)
    return true_profit(truth.index[rows], np.asarray(arms)[best[rows]], truth, values)


def fit_model(data, rows: np.ndarray, seed: int):
    """The X-learner with the loop's leaf rule (leaves of 2 % of the rows, 50 to 300): the
    package default of 300 users per leaf leaves a model of a few thousand rows flat."""
    leaf = int(np.clip(rows.sum() // 50, 50, 300))
    return tg.UpliftModel("x", categorical_feature=data.categorical_features, progress=False,
                          random_state=seed, min_child_samples=leaf).fit(
        data.X[rows], data.y[rows], data.treatment[rows])


def one_seed(seed: int, n_users: int, constant: float | None = None) -> pd.DataFrame:
    world = tg.demo_world(n_users=n_users, random_state=seed)
    data = tg.campaign_dataset(world.tables, world.campaign_id)
    half = np.random.default_rng(seed).random(len(data)) < 0.5
    model = fit_model(data, half, seed)
    X = data.X[~half]
    values = (mean_order_value(world.tables, data.as_of, data.X.index) if constant is None
              else pd.Series(constant, index=data.X.index))
    truth = world.truth["uplift"].set_index("user_id").loc[X.index]
    budget = 0.1 * len(X) * ONE_PRICE
    rows = {}
    for by in ("profit_per_cost", "profit"):
        plan = tg.plan_campaign(model, X, budget=budget, cost_per_contact=COSTS,
                                value_per_conversion=values, truth=truth.reset_index(), by=by)
        a = plan.audience
        rows[f"per_arm ({by})"] = true_profit(a.index, a.arm, truth, values)
        assert np.isclose(rows[f"per_arm ({by})"]["true_profit"],
                          plan.table.loc["uplift", "true_profit"])
    today = tg.plan_campaign(model, X, budget=budget, cost_per_contact=ONE_PRICE,
                             value_per_conversion=values)
    rows["one_price"] = true_profit(today.audience.index, today.audience.arm, truth, values)
    ranked = tg.plan_campaign(model, X, budget=len(X) * ONE_PRICE, cost_per_contact=ONE_PRICE,
                              value_per_conversion=values).ranking
    taken = spend_budget(np.arange(len(ranked)), ranked.arm.map(COSTS).to_numpy(), budget)
    rows["one_price_same_money"] = true_profit(ranked.index[taken], ranked.arm.iloc[taken],
                                               truth, values)
    for by in ("profit_per_cost", "profit"):
        rows[f"oracle ({by})"] = oracle(truth, values, budget, by)
    out = pd.DataFrame(rows).T
    out["share_of_oracle"] = out.true_profit / out.loc["oracle (profit_per_cost)", "true_profit"]
    return out.assign(seed=seed, budget=budget)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--constant", type=float, default=None,
                        help="one value per conversion for everyone instead of each user's "
                             "mean order amount")
    args = parser.parse_args()
    pd.set_option("display.width", 200)
    for seed in args.seeds:
        table = one_seed(seed, args.users, args.constant)
        print(f"\n== {args.users:,} users, seed {seed}, budget {table.budget.iloc[0]:,.0f}")
        print(table.drop(columns=["seed", "budget"]).round(2).to_string())


if __name__ == "__main__":
    main()
