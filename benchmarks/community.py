"""Community commerce on the demo world: owner value and owner potential against the truth.

For each world seed: the owner-value ranking (``tg.rank_owners``) against the planted influence
beside the naive rankings (group size, referral revenue), the coverage of the per-owner
intervals, a budgeted owner plan, and (with ``--potential``) the owner-potential audience at
1 % and 5 % against the planted potential, beside a purchase propensity (any category, next
30 days) and random.

    .venv/bin/python benchmarks/community.py [--users 50000] [--seeds 0] [--potential]
"""

from __future__ import annotations

import argparse
import os
import time

import pandas as pd

import targeting as tg


def owner_value(world):
    started = time.perf_counter()
    value = tg.rank_owners(world.tables, world.as_of)
    ev = tg.evaluate_owners(value, truth=world.truth["owners"])
    plans = {by: tg.plan_owners(value, budget=BUDGET, by=by) for by in ("net_low", "net_value")}
    return value, ev, plans, time.perf_counter() - started


def owner_potential(world, value):
    model = tg.OwnerPotentialModel().fit(world.tables, value)
    propensity = tg.PropensityModel(None, progress=False).fit(world.tables, world.as_of)
    features = propensity.features(world.tables, world.as_of)
    scores = pd.Series(propensity.predict_proba(features)[:, 1], index=features.index)
    return model, tg.evaluate_potential(model.scores_, truth=world.truth["owner_potential"],
                                        baselines={"propensity (any purchase)": scores})


BUDGET = 20_000.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--potential", action="store_true")
    parser.add_argument("--min-seed-size", type=int, default=None,
                        help="lower the organisation's seed floor (small worlds only)")
    args = parser.parse_args()
    if args.min_seed_size:
        os.environ["TARGETING_MIN_SEED_SIZE"] = str(args.min_seed_size)
    pd.set_option("display.width", 160)
    for seed in args.seeds:
        world = tg.demo_world(n_users=args.users, random_state=seed)
        value, ev, plans, seconds = owner_value(world)
        print(f"\n== {args.users:,} users, seed {seed}: {len(value.table)} owners, "
              f"rank_owners {seconds:.0f} s, interval coverage {ev.coverage:.3f} "
              f"({value.confidence:.0%} nominal)")
        print(ev.table.round(3).to_string())
        for by, plan in plans.items():
            s = plan.totals
            true = world.truth["owners"].incremental_orders.reindex(plan.table.index).sum()
            print(f"plan by {by}, commission budget {BUDGET:,.0f}: {s.owners:.0f} owners, "
                  f"commission {s.cost:,.0f}, net value {s.expected_profit:,.0f} "
                  f"({s.profit_low:,.0f} to {s.profit_high:,.0f}); true incremental orders of the "
                  f"backed owners {true:,.0f} (estimated {s.incremental_orders:,.0f})")
        if args.potential:
            model, pev = owner_potential(world, value)
            print(f"owner potential: {len(model.seeds_)} seed owners, "
                  f"{pev.n_eligible:,} non-owner members, population mean potential "
                  f"{pev.population_mean:.3f}")
            print(pev.table.round(3).to_string())


if __name__ == "__main__":
    main()
