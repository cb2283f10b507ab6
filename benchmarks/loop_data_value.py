"""What more randomised data is worth to the loop's model on the demo world: the README's
explanation of why, with the world's past campaign as history, the loop only ties the one-shot
model across seeds.

    python benchmarks/loop_data_value.py --seeds 0 1 2

Per seed (50,000-user world): the loop's first model (its learner and leaf rule, fitted on the
world's past randomised campaign, about 28,400 rows) and the same recipe fitted on half of
those rows (two random halves), and on the past campaign plus one or two more fully randomised
campaigns of the same users (a random arm or the control for every user, features at waves 1
and 2, outcomes drawn by ``world.respond``), plus the past campaign with every user observed
uncontacted at waves 1 and 2 (free control rows); and the past campaign alone fitted with
LightGBM seeds 0-4 (the spread the fitting itself adds) and those five models averaged. Each
model plans wave 1 (the budget of 10 % of the population, ``plan_campaign``) and the plan's
true expected increment is given as a share of the oracle's. A loop wave adds about 3,020 listed
rows, nine in ten of them treated with the arm the model recommends, so its refits see far less
new randomised evidence per wave than one more campaign brings. About two minutes per seed
on a 2-core machine.
"""

from __future__ import annotations

import argparse
import tempfile

import numpy as np
import pandas as pd
from sklearn.base import clone

import targeting as tg
from targeting.data import demo_response
from targeting.evaluation.planning import plan_campaign
from targeting.loop.campaign_loop import CampaignLoop


def one_seed(seed: int, n_users: int = 50_000) -> dict[str, float]:
    world = tg.demo_world(n_users=n_users, random_state=seed)
    users, arms = demo_response.population(world), demo_response.arms(world)
    contacts = int(round(0.1 * len(users)))
    loop = CampaignLoop(tempfile.mkdtemp(), arms=arms, budget=contacts, cost_per_contact=1.0,
                        value_per_conversion=60.0, tracking=False)
    first = demo_response.wave_time(world, 1)
    X = loop.features(world.tables, first, users)
    loop._learn_history(world.tables, first)
    history = loop.training_data(0)
    oracle = demo_response.policy_increments(world, contacts, value_per_conversion=60,
                                             cost_per_contact=1, users=users)["oracle"]

    def plans(model) -> float:
        plan = plan_campaign(model, X, budget=contacts, cost_per_contact=1,
                             value_per_conversion=60)
        top = plan.audience.iloc[:contacts]
        sent = pd.DataFrame({"user_id": top.index.to_numpy(), "arm": top["arm"].to_numpy()})
        return demo_response.true_increment(world, sent) / oracle

    def share(parts) -> float:
        return plans(loop._fit_on(pd.concat([p[0] for p in parts], ignore_index=True),
                                  np.concatenate([p[1] for p in parts]),
                                  np.concatenate([p[2] for p in parts])))

    own = loop._fit_on(*history)  # the one-shot model: LightGBM seeded by the loop's seed
    rng = np.random.default_rng([seed, 5])
    row = {"history rows": len(history[1]), "history": plans(own)}
    for k in (1, 2):
        half = rng.permutation(len(history[1]))[:len(history[1]) // 2]
        row[f"half {k}"] = share([tuple(_take(part, half) for part in history)])
    randomised, observed = [history], [history]
    for wave in (1, 2):
        Xw = loop.features(world.tables, demo_response.wave_time(world, wave), users)
        arm = np.asarray(["control", *arms], dtype=object)[rng.integers(0, len(arms) + 1,
                                                                         len(Xw))]
        randomised.append(_answered(world, Xw, arm, f"random-{wave}"))
        row[f"+{wave} random campaign(s)"] = share(randomised)
        observed.append(_answered(world, Xw, np.full(len(Xw), "control", dtype=object),
                                  f"observed-{wave}"))
        row[f"+{wave} wave(s) observed uncontacted"] = share(observed)
    models = [clone(own).set_params(random_state=r).fit(*history) for r in range(5)]
    seeds = [plans(model) for model in models]
    row["seeds 0-4, lowest"], row["seeds 0-4, highest"] = min(seeds), max(seeds)
    row["seeds 0-4, mean"] = float(np.mean(seeds))
    row["seeds 0-4, their average uplift"] = plans(_Average(models))
    return row


class _Average:
    """Several fitted uplift models planned as one: their predictions averaged."""

    def __init__(self, models):
        self.models, self.control = models, models[0].control

    def predict_uplift(self, X):
        return sum(m.predict_uplift(X) for m in self.models) / len(self.models)

    def predict_outcome(self, X):
        return sum(m.predict_outcome(X) for m in self.models) / len(self.models)


def _take(part, rows):
    return part.iloc[rows].reset_index(drop=True) if isinstance(part, pd.DataFrame) \
        else part[rows]


def _answered(world, X: pd.DataFrame, arm: np.ndarray, campaign_id: str) -> tuple:
    sent = pd.DataFrame({"user_id": X.index.to_numpy(), "arm": arm,
                         "campaign_id": campaign_id})
    out = world.respond(sent)
    return X.reset_index(drop=True), out["converted"].to_numpy(dtype=float), arm


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--users", type=int, default=50_000)
    args = parser.parse_args()
    rows = {seed: one_seed(seed, args.users) for seed in args.seeds}
    table = pd.DataFrame(rows)
    print("Share of the oracle's true increment in wave 1, by what the model was fitted on")
    print(table.to_string(float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
