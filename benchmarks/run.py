"""Benchmarks, as ratios against the obvious alternative measured in the same run.

    .venv/bin/python benchmarks/run.py [--users 200000] [--repeat 3]

1. Feature building: the social and purchase builders (pandas at the door; social events
   streamed through numpy bincounts by account, orders in Polars) against DuckDB computing
   the same per-user aggregations in SQL on the same frames, with each one's peak memory.
2. ``score()`` batch throughput against raw ``Booster.predict`` on the same feature matrix.
3. Single-user ``score()`` latency (feature frame of one row), p50 and p99.

The machine is shared and noisy: each figure is the median of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import time

import duckdb
import numpy as np
from _rss import GIB, peak_during
from _timing import timed

import targeting as tg
from targeting.data.vocab import ORDER_CHANNELS, SCENES, SOCIAL_EVENTS
from targeting.features import purchase, social
from targeting.features.common import BuildContext, slug


# -- 1. feature building ----------------------------------------------------------------------
def duckdb_features(tables, as_of, categories, windows=(7, 30, 90), recent=30):
    """The same social and purchase aggregations as the builders, written in DuckDB SQL."""
    con = duckdb.connect()
    con.execute("SET threads TO 2")
    for name in ("social_events", "orders", "identity"):
        con.register(name, tables[name])
    ts = f"TIMESTAMP '{as_of}'"
    age = f"(epoch({ts}) - epoch(ts)) / 86400.0"
    eng = "event <> 'impression'"
    soc = ["count(*) AS soc_events", f"count(*) FILTER ({eng}) AS soc_engaged",
           f"min({age}) AS soc_days_since_last", f"max({age}) AS soc_days_since_first"]
    soc += [f"count(*) FILTER ({age} < {w}) AS soc_events_{w}d" for w in windows]
    soc += [f"count(*) FILTER (event = '{e}') AS soc_n_{e}" for e in SOCIAL_EVENTS]
    soc += [f"count(*) FILTER (scene = '{s}') AS soc_scene_{s}" for s in SCENES]
    soc += _per_category(categories, f"{eng} AND ", "soc_eng", "soc", age, recent)
    shares = ", ".join(f"soc_eng_{slug(c)} / nullif(soc_engaged, 0) AS soc_share_{slug(c)}"
                       for c in categories)
    social_sql = f"""
        WITH a AS (SELECT social_id, {", ".join(soc)} FROM social_events
                   WHERE ts < {ts} GROUP BY social_id)
        SELECT i.user_id, a.*, {shares} FROM a JOIN identity i USING (social_id)"""
    pur = ["count(*) AS pur_orders", "sum(amount) AS pur_amount", "avg(amount) AS pur_avg_amount",
           f"min({age}) AS pur_days_since_last", f"max({age}) AS pur_days_since_first",
           "count(DISTINCT category) AS pur_n_categories", "avg(promo::INT) AS pur_promo_share"]
    pur += [f"count(*) FILTER ({age} < {w}) AS pur_orders_{w}d" for w in windows]
    pur += [f"avg((channel = '{ch}')::INT) AS pur_share_{ch}" for ch in ORDER_CHANNELS]
    pur += _per_category(categories, "", "pur_n", "pur", age, recent)
    purchase_sql = f"""
        WITH a AS (SELECT shop_id, {", ".join(pur)} FROM orders WHERE ts < {ts} GROUP BY shop_id)
        SELECT i.user_id, a.* FROM a JOIN identity i USING (shop_id)"""
    out = con.execute(social_sql).df(), con.execute(purchase_sql).df()
    con.close()
    return out


def _per_category(categories, condition, count_name, prefix, age, recent) -> list[str]:
    out = []
    for c in categories:
        cond, name = f"{condition}category = '{c}'", f"{count_name}_{slug(c)}"
        out += [f"count(*) FILTER ({cond}) AS {name}",
                f"count(*) FILTER ({cond} AND {age} < {recent}) AS {name}_{recent}d",
                f"min({age}) FILTER ({cond}) AS {prefix}_days_since_{slug(c)}"]
    return out


def ours(tables, as_of, categories):
    ctx = BuildContext(tables, tables["identity"], as_of, categories, (7, 30, 90))
    return social.build(ctx).to_pandas(), purchase.build(ctx).to_pandas()


def bench_features(world, repeat):
    tables, as_of = world.tables, world.as_of
    categories = tg.FeaturePipeline().fit(tables, as_of).categories_
    # Peak resident memory while each runs, above what was resident before it. A lower bound:
    # memory freed earlier (the world's, the other engine's) stays resident and is reused, so
    # the second engine's figure in particular can read near zero.
    (t_ours, (s1, p1)), before, peak_ours = peak_during(
        lambda: timed(lambda: ours(tables, as_of, categories), repeat))
    (t_duck, (s2, p2)), before_duck, peak_duck = peak_during(
        lambda: timed(lambda: duckdb_features(tables, as_of, categories), repeat))
    # Same aggregations, same answers: compare one column from each builder.
    a = s1.set_index("user_id")["soc_eng_beauty"].sort_index()
    b = s2.set_index("user_id")["soc_eng_beauty"].sort_index().astype(float)
    assert np.allclose(a.to_numpy(), b.to_numpy()), "social aggregations disagree"
    a = p1.set_index("user_id")["pur_amount"].sort_index()
    b = p2.set_index("user_id")["pur_amount"].sort_index()
    assert np.allclose(a.to_numpy(), b.to_numpy()), "purchase aggregations disagree"
    rows = len(tables["social_events"]) + len(tables["orders"])
    return {"feature rows in": rows, "targeting (s)": t_ours, "duckdb (s)": t_duck,
            "ratio targeting/duckdb": t_ours / t_duck,
            "targeting events/s": rows / t_ours,
            "targeting peak RSS added, >= (GiB)": (peak_ours - before) / GIB,
            "duckdb peak RSS added, >= (GiB)": (peak_duck - before_duck) / GIB}


# -- 2 and 3. scoring -------------------------------------------------------------------------
def bench_scoring(world, repeat):
    model = tg.PropensityModel("beauty", progress=False).fit(world.tables, world.as_of)
    features = model.features(world.tables, world.as_of)
    matrix = model.pipeline_.to_matrix(features)
    scorer = tg.scoring.Scorer(model)
    t_raw, _ = timed(lambda: model.booster_.predict(matrix), repeat)
    t_score, _ = timed(lambda: tg.score(features, scorer), repeat)
    one = [features.iloc[[i]] for i in range(0, 2_000)]
    latencies = []
    for frame in one:
        start = time.perf_counter()
        tg.score(frame, scorer)
        latencies.append(time.perf_counter() - start)
    lat = np.array(latencies) * 1000
    row = matrix[:1]
    raw_one = []
    for _ in range(2_000):
        start = time.perf_counter()
        model.booster_.predict(row)
        raw_one.append(time.perf_counter() - start)
    return {"users": len(features), "trees": model.booster_.num_trees(),
            "raw Booster.predict (s)": t_raw, "score() (s)": t_score,
            "score() throughput vs raw": t_raw / t_score,
            "single-user score() p50 (ms)": float(np.percentile(lat, 50)),
            "single-user score() p99 (ms)": float(np.percentile(lat, 99)),
            "single-row Booster.predict p50 (ms)": float(np.median(raw_one) * 1000)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", choices=["features", "scoring"], default=None)
    args = parser.parse_args()
    world = tg.demo_world(n_users=args.users, seed=0)
    print(f"demo world: {args.users:,} users, {len(world.tables['social_events']):,} social "
          f"events, {len(world.tables['orders']):,} orders")
    benches = {"features": ("feature building", bench_features),
               "scoring": ("scoring", bench_scoring)}
    for key, (title, bench) in benches.items():
        if args.only not in (None, key):
            continue
        result = bench(world, args.repeat)
        print(f"\n{title}")
        for key, value in result.items():
            print(f"  {key:<38} {value:,.4g}" if isinstance(value, float)
                  else f"  {key:<38} {value:,}")


if __name__ == "__main__":
    main()
