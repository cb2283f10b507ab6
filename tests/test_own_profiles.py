"""A brand's own profile table and CRM export, with their own labels, fused with a real order
log: the labels are learnt, never refused, and the demo world's features do not move.

The orders are CDNOW's (tests/data, through ``from_transactions``); the profile and CRM
tables are made here for a seeded sample of its customers, in a European brand's vocabulary
(regions North/South/Scotland/..., settlement types instead of city tiers, membership tiers
Bronze/Silver/Gold, genders F/M/X, age groups 18-24 ... 65+).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import targeting as tg
from targeting.data.vocab import (
    AGE_BANDS,
    CRM_TIERS,
    GENDERS,
    ORDER_CHANNELS,
    REGIONS,
    SCENES,
    SOCIAL_EVENTS,
)
from targeting.features.common import slug

AS_OF = "1998-01-01"
REGION_NAMES = ["North", "South", "Scotland", "Wales", "Midlands"]
SETTLEMENTS = ["urban", "town", "rural"]
AGE_GROUPS = ["18-24", "25-34", "35-44", "45-54", "55-64", "65+"]
TIERS = ["Bronze", "Silver", "Gold"]
PROFILE_COLUMNS = {"user": "Customer ID", "region": "Region", "city_tier": "Settlement",
                   "age_band": "Age group", "gender": "Gender", "first_seen": "Registered"}
CRM_COLUMNS = {"member": "Card number", "user": "Customer ID", "tier": "Membership",
               "points": "Points", "store_visits": "Store visits",
               "consent": "Marketing opt-in", "joined_at": "Joined"}


@pytest.fixture(scope="module")
def brand(cdnow_log):
    """A 4,000-customer sample of CDNOW, a profile for 2,000 of them, a CRM for 1,200."""
    rng = np.random.default_rng(7)
    sample = rng.choice(np.sort(cdnow_log.customer_id.unique()), 4_000, replace=False)
    log = cdnow_log[cdnow_log.customer_id.isin(sample)]
    first = pd.to_datetime(log.groupby("customer_id").date.min())
    profiled = rng.choice(sample, 2_000, replace=False)
    n = len(profiled)
    profiles = pd.DataFrame({
        "Customer ID": profiled,
        "Region": rng.choice(REGION_NAMES, n),
        "Settlement": rng.choice(SETTLEMENTS, n),
        "Age group": rng.choice(AGE_GROUPS, n),
        "Gender": rng.choice(["F", "M", "X", None], n, p=[0.46, 0.46, 0.04, 0.04]),
        "Registered": (first.loc[profiled] - pd.to_timedelta(rng.integers(0, 90, n), "D"))
        .dt.strftime("%Y-%m-%d").to_numpy(),
    })
    members = rng.choice(profiled, 1_200, replace=False)
    m = len(members)
    crm = pd.DataFrame({
        "Card number": [f"LC{i:06d}" for i in range(m)],
        "Customer ID": members,
        "Membership": rng.choice(TIERS, m, p=[0.6, 0.3, 0.1]),
        "Points": rng.gamma(2.0, 150.0, m).round(),
        "Store visits": rng.poisson(3, m),
        "Marketing opt-in": rng.choice(["yes", "no"], m, p=[0.7, 0.3]),
        # Some joined after as_of: they are not members yet at as_of.
        "Joined": (first.loc[members] + pd.to_timedelta(rng.integers(0, 500, m), "D"))
        .dt.strftime("%Y-%m-%d").to_numpy(),
    })
    orders = tg.from_transactions(log, user="customer_id", ts="date", amount="dollars",
                                  quantity="cds", verbose=False)
    return log, profiles, crm, orders


@pytest.fixture(scope="module")
def tables(brand):
    _, profiles, crm, orders = brand
    return tg.fuse(orders, tg.from_profiles(profiles, **PROFILE_COLUMNS, verbose=False),
                   tg.from_crm(crm, **CRM_COLUMNS, verbose=False))


@pytest.fixture(scope="module")
def features(tables):
    pipe = tg.FeaturePipeline()
    return pipe, pipe.fit_transform(tables, AS_OF)


def test_the_adapters_say_what_they_did(brand, capsys):
    _, profiles, crm, _ = brand
    tg.from_profiles(profiles, **PROFILE_COLUMNS)
    line = capsys.readouterr().out
    assert line.startswith("from_profiles: 2,000 customers;")
    assert "city_tier: 3 label(s) of the brand's own, kept as categories" in line
    missing = int(profiles.Gender.isna().sum())
    assert f"gender: {missing:,} missing" in line
    tg.from_crm(crm.drop(columns=["Points", "Marketing opt-in"]), member="Card number",
                tier="Membership")
    line = capsys.readouterr().out
    assert line.startswith("from_crm: 1,200 members, 0 consenting;")
    for said in ("points: missing (absent)", "consent: no member consented (absent)",
                 "member_id: taken to be the orders' customer id (no user=)"):
        assert said in line


def test_fuse_puts_every_customer_on_one_user(brand, tables):
    log, profiles, crm, _ = brand
    identity = tables["identity"].set_index("user_id")
    assert set(identity.index) == set(log.customer_id)  # every profile is a buyer here
    assert identity.index.is_unique and identity.social_id.isna().all()
    assert (identity.shop_id == identity.index).all()  # the orders' customer id is the user
    linked = identity.member_id.dropna()
    expected = crm.set_index("Customer ID")["Card number"]
    assert len(linked) == len(crm)
    assert (linked == expected.reindex(linked.index)).all()
    tg.validate(tables)


def test_the_brands_labels_become_features(brand, features):
    _, profiles, crm, _ = brand
    pipe, X = features
    assert pipe.vocabularies_ == {
        "region": sorted(REGION_NAMES), "age_band": sorted(AGE_GROUPS),
        "gender": ["F", "M", "X"], "city_tier": sorted(SETTLEMENTS),
        "crm_tier": sorted(TIERS)}
    assert pipe.rare_levels_ == {}
    profile = profiles.set_index("Customer ID")
    rows = X.loc[profile.index]
    for column, source in (("region", "Region"), ("age_band", "Age group"),
                           ("city_tier", "Settlement")):
        assert (rows[column] == profile[source]).all(), column
    assert rows.gender.isna().sum() == profile.Gender.isna().sum()
    # Text tiers are a categorical feature (LightGBM groups levels), not numbers made up.
    assert "city_tier" in pipe.vocabularies_
    assert pipe.feature_names_.index("city_tier") in pipe.categorical_indices_
    assert X.drop(index=profile.index)[["region", "city_tier"]].isna().all().all()
    matrix = pipe.to_matrix(X)
    assert np.isfinite(matrix[:, pipe.feature_names_.index("region")]).sum() == len(profile)


def test_crm_features_respect_consent_and_time(brand, features):
    _, _, crm, _ = brand
    _, X = features
    crm = crm.assign(joined=pd.to_datetime(crm.Joined)).set_index("Customer ID")
    crm_columns = [c for c in X.columns if c.startswith("crm_")]
    refused = crm.index[crm["Marketing opt-in"] == "no"]
    assert len(refused) > 100
    assert X.loc[refused, crm_columns].isna().all().all()  # nothing about them is built
    member = crm[(crm["Marketing opt-in"] == "yes") & (crm.joined < pd.Timestamp(AS_OF))]
    later = crm[(crm["Marketing opt-in"] == "yes") & (crm.joined >= pd.Timestamp(AS_OF))]
    assert len(member) > 100 and len(later) > 20
    assert (X.loc[member.index, "crm_member"] == 1).all()
    assert (X.loc[member.index, "crm_tier"] == member.Membership).all()
    np.testing.assert_array_equal(X.loc[member.index, "crm_points"], member.Points)
    assert X.loc[later.index, crm_columns].isna().all().all()  # not a member yet at as_of


def test_a_propensity_model_learns_from_the_fused_tables(tables):
    model = tg.PropensityModel(None, horizon_days=90, max_snapshots=2, n_estimators=40,
                               progress=False).fit(tables, AS_OF)
    names = model.pipeline_.feature_names_
    added = {"city_tier", "region", "age_band", "gender", "days_since_first_seen",
             "crm_member", "crm_tier", "crm_points", "crm_store_visits", "crm_days_member"}
    assert added <= set(names)
    scores = tg.score(tables, model, AS_OF)
    assert len(scores) == len(tables["identity"]) and scores.score.between(0, 1).all()


def test_the_mapping_file_reads_the_same_tables(brand, tables, tmp_path):
    log, profiles, crm, _ = brand
    log.to_csv(tmp_path / "orders.csv", index=False)
    profiles.to_csv(tmp_path / "customers.csv", index=False)
    crm.to_csv(tmp_path / "loyalty.csv", index=False)
    lines = ["[transactions]", 'user = "customer_id"', 'ts = "date"', 'amount = "dollars"',
             'quantity = "cds"', "[profiles]", 'path = "customers.csv"']
    lines += [f'{k} = "{v}"' for k, v in PROFILE_COLUMNS.items()]
    lines += ["[crm]", 'path = "loyalty.csv"'] + [f'{k} = "{v}"' for k, v in CRM_COLUMNS.items()]
    (tmp_path / "mapping.toml").write_text("\n".join(lines) + "\n")
    read = tg.read_tables(tmp_path / "orders.csv", tmp_path / "mapping.toml", verbose=False)
    assert sorted(read) == ["crm", "identity", "orders", "users"]
    a = tg.build_features(read, AS_OF)
    b = tg.build_features(tables, AS_OF)
    pd.testing.assert_frame_equal(a.sort_index(), b.sort_index(), check_index_type=False)


def test_a_mapping_section_names_its_mistakes(brand, tmp_path):
    log, profiles, _, _ = brand
    log.head(50).to_csv(tmp_path / "orders.csv", index=False)
    mapping = {"transactions": {"user": "customer_id", "ts": "date"},
               "profiles": {"user": "Customer ID", "regoin": "Region"}}
    with pytest.raises(tg.SchemaError) as err:
        tg.read_tables(tmp_path / "orders.csv", mapping, verbose=False)
    text = str(err.value)
    assert "[profiles] unknown key(s) ['regoin']" in text and "[profiles] needs 'path'" in text


# -- labels of the brand's own through every consumer ------------------------------------------
@pytest.fixture(scope="module")
def labelled_world():
    """A demo world whose profiles and CRM speak another vocabulary."""
    world = tg.demo_world(n_users=3_000, random_state=5)
    users = world.tables["users"]
    rename = {"users": users.assign(
        city_tier=users.city_tier.map({1: "urban", 2: "urban", 3: "town"}).fillna("rural"),
        region=users.region.astype(str).str.title(),
        gender=users.gender.astype(str).str.upper())}
    return world, {**world.tables, **rename}


def test_lower_tier_rules_skip_labels_they_cannot_read(labelled_world):
    world, tables = labelled_world
    value = tg.rank_owners(tables, world.as_of, n_folds=3, n_estimators=30, progress=False)
    assert value.table.lower_tier_share.isna().all()
    assert "not on the 1-5 tier scale" in value.diagnostics["notes"][0]
    # On the demo's own 1-5 tiers the share is there.
    value = tg.rank_owners(world.tables, world.as_of, n_folds=3, n_estimators=30,
                           progress=False)
    assert value.table.lower_tier_share.between(0, 1).all() and "notes" not in value.diagnostics
    report = tg.campaign_report(tables, "autumn_push_2026")
    assert set(report.breakdown.query("dimension == 'city_tier'").group) == {
        "urban", "town", "rural"}


def test_lookalike_constraints_and_summary_follow_the_labels(labelled_world):
    world, tables = labelled_world
    seeds = tg.segment_seed(world, size=1.0)
    model = tg.LookalikeModel("similarity", n_bags=2, progress=False).fit(tables, seeds,
                                                                         world.as_of)
    audience = model.expand(size=200, where={"city_tier": ["rural", "town"]})
    users = tables["users"].set_index("user_id")
    assert users.loc[audience.user_ids, "city_tier"].isin(["rural", "town"]).all()
    summary = audience.summary()
    assert "audience_lower_tier_share" not in summary.index
    assert set(audience.composition().loc["city_tier"].index) <= {"urban", "town", "rural"}
    with pytest.raises(ValueError, match="where: city_tier value"):
        model.expand(size=200, where={"city_tier": [3]})  # the demo's tiers are not theirs


def test_city_tier_labels_map_onto_the_tier_scale():
    profiles = pd.DataFrame({"id": [1, 2, 3], "place": ["Urban", "rural ", "town"]})
    users = tg.from_profiles(profiles, user="id", city_tier="place",
                             city_tiers={"urban": 1, "town": 3, "rural": 5},
                             verbose=False)["users"]
    assert users.city_tier.tolist() == [1, 5, 3]
    text_numbers = tg.from_profiles(profiles.assign(place=["1", "5", "3"]), user="id",
                                    city_tier="place", verbose=False)["users"]
    assert pd.api.types.is_integer_dtype(text_numbers.city_tier)
    with pytest.raises(tg.SchemaError, match=r"label\(s\) not in city_tiers="):
        tg.from_profiles(profiles, user="id", city_tier="place", city_tiers={"urban": 1},
                         verbose=False)
    with pytest.raises(tg.SchemaError, match="numbers and text labels mixed"):
        tg.from_profiles(profiles.assign(place=["1", "rural", "3"]), user="id",
                         city_tier="place", verbose=False)


def test_a_pipeline_reads_city_tiers_as_at_fit(labelled_world):
    world, tables = labelled_world
    pipe = tg.FeaturePipeline(builders=("profile",)).fit(world.tables, world.as_of)
    with pytest.raises(tg.SchemaError, match="fitted on numbers but the data hold text"):
        pipe.transform(tables, world.as_of)


# -- vocabularies: caps, unknown values, column names -------------------------------------------
def _one_silo(users: pd.DataFrame) -> dict[str, pd.DataFrame]:
    return {"users": users.assign(first_seen=pd.Timestamp("2026-01-01"))}


def test_rare_levels_are_missing_and_unseen_ones_refused_or_ignored():
    rng = np.random.default_rng(3)
    regions = np.r_[np.repeat(["North", "South", "East"], 30), [f"town {i}" for i in range(12)]]
    users = pd.DataFrame({"user_id": np.arange(len(regions)), "city_tier": 1,
                          "region": rng.permutation(regions), "age_band": "18-24",
                          "gender": "F"})
    pipe = tg.FeaturePipeline(builders=("profile",), max_categories=3)
    X = pipe.fit_transform(_one_silo(users), "2026-02-01")
    assert pipe.vocabularies_["region"] == ["East", "North", "South"]
    assert len(pipe.rare_levels_["region"]) == 12
    assert X.region.isna().sum() == 12 and np.isfinite(pipe.to_matrix(X)).any()
    new = _one_silo(users.assign(region="Atlantis"))
    with pytest.raises(tg.SchemaError, match=r"region: value\(s\) \['Atlantis'\] were not seen"):
        pipe.transform(new, "2026-02-01")
    pipe.set_params(unknown="ignore")
    assert pipe.transform(new, "2026-02-01").region.isna().all()


def test_learnt_names_give_distinct_column_names():
    ts = pd.date_range("2026-01-01", periods=6, freq="D")
    orders = pd.DataFrame({"order_id": range(6), "shop_id": [1, 1, 2, 2, 3, 3], "ts": ts,
                           "category": ["Last", "last", "Gift Cards", "gift-cards", "***", "a"],
                           "brand": pd.array([pd.NA] * 6, dtype="string"), "amount": 1.0,
                           "quantity": 1,
                           "channel": ["Store", "store", "App", "kiosk", "kiosk", "web"],
                           "referrer_social_id": pd.array([pd.NA] * 6, dtype="Int64"),
                           "promo": False})
    pipe = tg.FeaturePipeline(builders=("purchase",))
    X = pipe.fit_transform({"orders": orders}, "2026-02-01")
    assert X.columns.is_unique
    assert pipe.categories_ == ["Gift Cards", "a"]  # 'last' would repeat pur_days_since_last
    assert pipe.channels_ == [*ORDER_CHANNELS, "kiosk", "Store"]  # 'App' is the package's app
    assert X.loc[3, "pur_share_kiosk"] == 0.5 and X.loc[1, "pur_share_store"] == 0.5


# -- the demo world's own features do not move --------------------------------------------------
def test_the_demo_world_learns_the_packages_own_vocabularies(small_world):
    pipe = tg.FeaturePipeline()
    X = pipe.fit_transform(small_world.tables, small_world.as_of)
    assert pipe.channels_ == list(ORDER_CHANNELS)
    assert pipe.events_ == list(SOCIAL_EVENTS) and pipe.scenes_ == list(SCENES)
    assert pipe.vocabularies_ == {"region": sorted(REGIONS), "age_band": sorted(AGE_BANDS),
                                  "gender": sorted(GENDERS), "crm_tier": sorted(CRM_TIERS)}
    assert pipe.rare_levels_ == {}
    # The columns named after values, in the package's fixed order; city_tier numeric.
    social = [c for c in X.columns if c.startswith(("soc_n_", "soc_scene_"))]
    assert social == ([f"soc_n_{e}" for e in SOCIAL_EVENTS]
                      + [f"soc_scene_{s}" for s in SCENES])
    assert [c for c in X.columns if c.startswith("pur_share_")] == [
        f"pur_share_{slug(c)}" for c in ORDER_CHANNELS]
    assert X.city_tier.dtype == float and pipe.feature_names_.index("city_tier") not in \
        pipe.categorical_indices_


def test_the_demo_worlds_vocabulary_columns_hold_the_same_counts(small_world):
    """Counted again here with pandas, from the tables: the columns named after learnt values
    hold exactly what the package's fixed vocabularies gave."""
    tables, as_of = small_world.tables, small_world.as_of
    X = tg.build_features(tables, as_of)
    events = tables["social_events"]
    events = events[events.ts < as_of]
    identity = tables["identity"].dropna(subset=["social_id"])
    user = pd.Series(identity.user_id.to_numpy(), index=identity.social_id.to_numpy())
    events = events.assign(user_id=user.reindex(events.social_id.to_numpy()).to_numpy())
    for column, prefix in (("event", "soc_n_"), ("scene", "soc_scene_")):
        counts = pd.crosstab(events.user_id, events[column].astype(str))
        for value in counts.columns:
            np.testing.assert_array_equal(X.loc[counts.index, f"{prefix}{value}"],
                                          counts[value].to_numpy(float), err_msg=value)
    users = tables["users"].set_index("user_id")
    np.testing.assert_array_equal(X.loc[users.index, "city_tier"], users.city_tier.to_numpy(float))
    for column in ("region", "age_band", "gender"):
        assert (X.loc[users.index, column] == users[column].astype(str)).all(), column


# -- fusing: what cannot be joined is said, never guessed ---------------------------------------
def test_fuse_refuses_what_would_not_join(brand):
    _, profiles, crm, orders = brand
    users = tg.from_profiles(profiles, user="Customer ID", verbose=False)
    as_numbers = tg.from_profiles(profiles.assign(**{"Customer ID": profiles["Customer ID"]
                                                     .astype(int)}),
                                  user="Customer ID", verbose=False)
    with pytest.raises(tg.SchemaError, match="customer ids are numbers in one table and text"):
        tg.fuse(orders, as_numbers)
    with pytest.raises(tg.SchemaError, match="table 'users' given twice"):
        tg.fuse(orders, users, users)
    linked = tg.from_crm(crm, member="Card number", user="Customer ID", consent="Marketing opt-in",
                         verbose=False)
    # Merged by hand, the CRM's link would leave every order without a user: refused by name.
    with pytest.raises(tg.SchemaError, match=r"identity\.shop_id: no shop_id is known"):
        tg.validate({**orders, **linked})
    twice = crm.assign(**{"Customer ID": crm["Customer ID"].iloc[0]})
    with pytest.raises(tg.SchemaError, match="customer id\\(s\\) with several member numbers"):
        tg.from_crm(twice, member="Card number", user="Customer ID", verbose=False)


def test_the_adapters_refuse_broken_columns():
    profiles = pd.DataFrame({"id": ["a", "a", None], "since": ["2026-01-01", "01/02/2026", None]})
    with pytest.raises(tg.SchemaError) as err:
        tg.from_profiles(profiles, user="id", first_seen="since", verbose=False)
    text = str(err.value)
    assert "1 missing customer id(s)" in text and "1 repeated customer id(s)" in text
    assert "profiles.since: dates must be datetimes or ISO 8601 text" in text
    crm = pd.DataFrame({"m": [1, 2, 3], "pts": ["10", "many", "-5"], "ok": ["yes", "maybe", "no"]})
    with pytest.raises(tg.SchemaError) as err:
        tg.from_crm(crm, member="m", points="pts", consent="ok", verbose=False)
    text = str(err.value)
    assert "crm.pts: 1 value(s) are not numbers, e.g. 'many'" in text
    assert "crm.pts: 1 negative value(s)" in text and "found ['maybe']" in text
