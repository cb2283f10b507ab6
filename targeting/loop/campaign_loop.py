"""The closed campaign loop: plan a wave, send it, record its outcomes, learn, plan the next.

Layering: the loop orchestrates features, the uplift model, the campaign readout, the budgeted
plan and MLflow tracking, so it sits at the experiments level (above ``tracking``); nothing
below imports it.

Each wave has up to three parts, all randomised so that every wave can be read out without
bias and the next model learns from randomised data:

- **pilot** (wave 1, when the brand has no past randomised campaign with the loop's arms sent
  before it, :mod:`targeting.loop.history`): the budget's contacts drawn at random, each arm
  equally often, and a random control group as large as one arm;
- **target** (every wave with a model: wave 1 too when such history exists, the first model
  then being fitted on it): the budgeted uplift policy of the current model
  (:func:`~targeting.plan_campaign`: best arm per user, highest expected worth first), with a
  random ``holdout_share`` of its list held out (not contacted): the holdout reads the policy's
  increment out;
- **explore** (with every target slice): ``explore_share`` of the contacts go to users drawn
  at random with a random arm, beside a random control group (``control_share`` of the slice),
  so the model keeps learning every arm against the control from randomised data. Where they
  are drawn is ``exploration``: ``"margin"`` (default) draws them from the band of users
  ranked right after the policy's list (twice the slice's size): the users whose contact the
  policy is least sure of, where a better estimate would change the decision, and who would
  be nearly worth their contact anyway, so exploring there costs little; ``"random"`` draws
  them from everyone off the list (the whole population, at the cost of contacting users the
  model expects little from). Both are randomised given the features (the band is a function
  of the features and the model), so the readout of the slice against its own control stays
  unbiased for the users it covers.

Assignment depends only on the features and on random draws, so within the recorded data the
outcome of each arm is unconfounded given the features; the model is refitted on the history's
and every wave's randomised rows after each ``record``.
"""

from __future__ import annotations

import html
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from targeting.data.dates import parse_as_of
from targeting.data.money import ValueSource, arm_costs, unit_cost
from targeting.data.schema import InsufficientDataError, SchemaError, TargetingError
from targeting.data.vocab import CONTROL_ARM
from targeting.loop.store import LoopStore

_CONFIG = ("arms", "budget", "cost_per_contact", "value_per_conversion", "holdout_share",
           "explore_share", "control_share", "learner", "random_state", "name", "history",
           "exploration", "guard")
_DEFAULTS = {"holdout_share": 0.1, "explore_share": 0.05, "control_share": 0.5, "learner": "x",
             "random_state": 0, "name": "campaign-loop", "history": True, "exploration": "margin",
             "guard": True}
# Stores made before a setting existed resume as they were made: exploring at random, unguarded.
_LEGACY = {"exploration": "random", "guard": False}
EXPLORATIONS = ("margin", "random")
_VALUES, _VALUE_MODEL = "values.parquet", "value_model.pkl"
_MARGIN_POOL = 2  # the margin band holds twice the exploration slice's users
_PILOT = "randomised pilot (no campaign history yet): the budget's contacts at random, " \
         "every arm equally often, and a random control group"
_TARGET = "uplift policy of the model fitted on {sources}, with a random {h:.0%} holdout " \
          "of its list and a random {e:.0%} exploration slice"
_GUARD_COLUMNS = {"guard_champion_qini": "champion_qini",
                  "guard_challenger_qini": "challenger_qini",
                  "guard_difference_se": "difference_se"}
Z95 = float(stats.norm.ppf(0.975))


@dataclass
class Wave:
    """One planned wave: who gets which arm, and why.

    ``assignments`` has one row per user in the wave: ``user_id``, ``campaign_id``, ``arm``
    (``control`` = not contacted), ``slice`` (pilot, target, holdout, explore),
    ``recommended`` (the arm the policy chose; for the holdout, the one it was denied),
    ``contacted``, ``predicted_uplift`` and ``sent_at``. ``costs`` prices one contact per arm.
    """

    number: int
    as_of: pd.Timestamp
    campaign_id: str
    policy: str
    assignments: pd.DataFrame
    costs: dict

    @property
    def contacts(self) -> int:
        return int(self.assignments["contacted"].sum())

    @property
    def spend(self) -> float:
        """Each contact at its arm's price."""
        sent = self.assignments.loc[self.assignments["contacted"], "arm"]
        return float(sent.map(self.costs).sum())

    def export(self, path: str | Path, salt: str, *, min_size: int | None = None) -> dict:
        """Write the contacted users' salted hashes and their arm (CSV or Parquet by suffix),
        as :meth:`targeting.Audience.export` does, one file for the whole wave.

        Every arm's list must reach ``min_size`` (the organisation's floor by default,
        :mod:`targeting.privacy`): a short list per arm could single people out.

        Returns
        -------
        dict
            The path and the rounded number of contacts per arm.
        """
        from targeting.models.lookalike.seeds import round_count
        from targeting.privacy import require_floor, write_hashed

        if not isinstance(salt, str) or len(salt) < 8:  # before any check that reads the wave
            raise ValueError("export needs a secret salt of at least 8 characters, shared only "
                             "with the activation partner")
        min_size = require_floor("min_export_size", min_size)
        sent = self.assignments[self.assignments["contacted"]]
        sizes = sent["arm"].value_counts()
        small = sorted(sizes.index[sizes < min_size])
        if small:
            raise ValueError(f"arm(s) {small} too small to export: fewer than {min_size} users "
                             "(min_size); a small hashed list can still single people out")
        write_hashed(path, sent["user_id"].to_numpy(), salt, arm=sent["arm"].to_numpy())
        return {"path": str(path), "sizes": {a: round_count(n) for a, n in sizes.items()}}

    def _repr_html_(self) -> str:
        counts = (self.assignments.groupby(["slice", "arm"], observed=True).size()
                  .rename("users").to_frame())
        return (f"<h4>Wave {self.number} ({html.escape(self.campaign_id)}), "
                f"{self.as_of.date()}: {self.contacts:,} contacts, spend {self.spend:,.0f}</h4>"
                f"<p>{html.escape(self.policy)}</p>" + counts.to_html())


@dataclass
class LoopReport:
    """Per wave: contacts, spend (each contact at its arm's price), measured increment with its
    95 % interval, measured value, ROI, cumulative ROI. The measured value is the increment in
    money (each user's outcome times their value, read out the same way); ROI = (measured
    value - spend) / spend."""

    table: pd.DataFrame

    def _repr_html_(self) -> str:
        return ("<h4>Campaign loop</h4><p>Measured increments from the randomised parts of "
                "each wave (95 % intervals)</p>"
                + self.table.to_html(float_format=lambda v: f"{v:,.2f}"))

    def plot(self, ax=None):
        """Measured increment by wave (with its interval), and ROI by wave and cumulative."""
        import matplotlib.pyplot as plt

        axes = ax
        if axes is None:
            _, axes = plt.subplots(1, 2, figsize=(11, 4))
        t = self.table
        ax, roi = axes
        ax.errorbar(t.index, t.measured_increment,
                    yerr=[t.measured_increment - t.increment_low,
                          t.increment_high - t.measured_increment], fmt="o-", capsize=3)
        ax.axhline(0, color="grey", lw=0.8)
        ax.set(xlabel="wave", ylabel="incremental conversions",
               title="Measured increment per wave (95 % interval)")
        roi.plot(t.index, t.roi, "o-", label="wave")
        roi.plot(t.index, t.cumulative_roi, "s--", label="cumulative")
        roi.axhline(0, color="grey", lw=0.8)
        roi.set(xlabel="wave", ylabel="ROI", title="Return on spend")
        roi.legend()
        ax.figure.tight_layout()
        return ax.figure


class CampaignLoop:
    """Campaign waves that learn from their own outcomes.

    Parameters
    ----------
    store : path
        The loop's folder (created if missing). Its state, assignments, features, outcomes and
        models live there; opening an existing store resumes the loop (parameters left out
        are read from it; given ones must match).
    arms : list of str
        The treatment arms (the control, ``"control"``, is not contacted).
    budget : float
        Money per wave.
    cost_per_contact : float or dict of arm to float
        Price of one contact: one for every arm (each wave then contacts ``budget //
        cost_per_contact`` users), or one per arm (``{"coupon": 5.0, "push": 0.05}``; every
        arm priced): the policy's list is spent in money (:func:`~targeting.plan_campaign`),
        and the random slices (pilot, exploration) contact ``budget // mean price`` users per
        budget, the cheaper arms taking any odd contact.
    value_per_conversion : float, Series or value model
        What one conversion is worth: a margin for everyone, a ``Series`` of values by
        ``user_id`` (every user the loop may contact needs one), or a value model with
        ``predict_value(X)`` on the loop's feature matrix
        (:class:`~targeting.data.money.ValueSource`). A contact with arm ``a`` is worth value
        x uplift(a) - cost(a); the readout's value and ROI use the same values. A Series or a
        model is kept in the store (``values.parquet``, ``value_model.pkl``).
    holdout_share : float or list of float, default 0.1
        Share of the policy's list held out at random (not contacted) to measure it; a list
        is a schedule, one share per wave, the last one for every later wave (e.g.
        ``[0.1, 0.05]``: 10 % in wave 1, 5 % from wave 2). Every share must be above 0. That
        schedule was measured on the default demo world and not kept: it did not beat the
        one-shot model on seeds 1 and 2 (see the README's loop section).
    explore_share : float or list of float, default 0.05
        Share of the contacts spent on the exploration slice (a random arm each, beside a
        random control group), drawn where ``exploration`` says; a list is a schedule, one
        share per wave, the last one for every later wave (e.g. ``[0.2, 0.1, 0.05]``). The
        default was 0.1 until the 5 % slice was measured better on the default demo world
        (see the README's loop section); a store made with another share keeps it.
    exploration : {"margin", "random"}, default "margin"
        Where the exploration slice is drawn: at random from the band of users ranked right
        after the policy's list (twice the slice's size: where the decision is closest, at
        little cost), or from everyone off the list. A store made before this setting
        explored at random, and resumes so.
    control_share : float, default 0.5
        Share of each random slice (the pilot, the exploration) kept as its control group:
        not contacted, so it costs nothing but recording its outcomes, and it halves the
        noise of what the model learns about the control.
    learner : str, default "x"
        The :class:`~targeting.UpliftModel` learner fitted on the history and refitted after
        every wave. With a 10 % exploration slice the X-learner (the package's default)
        reached 70.1 % and 72.4 % of the oracle over five waves on the default demo world
        (seeds 0 and 1), the T-learner 65.9 % and 70.0 % (72.0 % and 73.0 % with the X-learner
        and the 5 % default). Its known propensity (each arm's share of its rows) only blends
        its two effect models, so the loop's unequal shares (the list 90/10, the exploration
        slice half control) do not bias it.
    random_state : int, default 0
        Seeds the random parts of every wave and the model.
    name : str, default "campaign-loop"
        Prefix of the waves' campaign ids and the MLflow run names.
    tracking : bool, default True
        Log a parent MLflow run for the loop and a nested run per recorded wave (aggregate
        metrics and plots only, never ids).
    experiment : str, default "targeting-loop"
    history : bool, default True
        Learn wave 1 from the brand's own history: if the ``campaign`` table holds past
        randomised campaigns with a control and every one of ``arms``, sent before wave 1
        (:func:`~targeting.loop.history.past_campaigns`), the first model is fitted on them
        (features at each campaign's send time) and wave 1 is the budgeted uplift policy
        (with its holdout and exploration slice); every later model learns from them too.
        Without such history (or with ``history=False``), wave 1 is a randomised pilot.
    guard : bool, default True
        Champion/challenger after every ``record``: the refitted model replaces the current
        one unless it is worse out of fold on every randomised row so far (the history and
        every wave, the new one included): both recipes (the current model's rows, and all
        rows) are cross-fitted in two folds and scored by the Qini of each arm within each
        randomised stratum (:mod:`targeting.loop.guard`); worse means below by more than
        1.645 standard errors of the paired difference (bootstrap). Then the current model
        stays and the refitted one is stored as ``challenger_NNN.pkl``. Each wave's summary
        row and MLflow run say which, with both scores. It costs four more fits per wave. A
        store made before this setting resumes unguarded.

    Examples
    --------
    >>> import tempfile, targeting as tg
    >>> from targeting.data import demo_response
    >>> world = tg.demo_world(n_users=3_000, random_state=0)
    >>> loop = tg.CampaignLoop(store=tempfile.mkdtemp(), arms=["coupon", "push"], budget=300,
    ...                        cost_per_contact=1.0, value_per_conversion=60, tracking=False)
    >>> wave = loop.plan(world.tables, world.as_of, users=demo_response.population(world))
    >>> wave.contacts
    300
    >>> loop.record(world.respond(wave.assignments))
    >>> loop.report().table.contacts.tolist()
    [300]
    """

    def __init__(self, store: str | Path, *, arms: Sequence[str] | None = None,
                 budget: float | None = None,
                 cost_per_contact: float | Mapping[str, float] | None = None,
                 value_per_conversion: float | pd.Series | ValueSource | None = None,
                 holdout_share: float | Sequence[float] = 0.1,
                 explore_share: float | Sequence[float] = 0.05,
                 control_share: float = 0.5,
                 learner: str = "x", random_state: int = 0,
                 name: str = "campaign-loop", tracking: bool = True,
                 experiment: str = "targeting-loop", history: bool = True,
                 exploration: str = "margin", guard: bool = True):
        self.store = LoopStore(store)
        given = {"arms": None if arms is None else [str(a) for a in arms], "budget": budget,
                 "cost_per_contact": _prices(cost_per_contact),
                 "value_per_conversion": value_per_conversion,
                 "holdout_share": _schedule(holdout_share),
                 "explore_share": _schedule(explore_share),
                 "control_share": control_share,
                 "learner": learner, "random_state": random_state, "name": name,
                 "history": bool(history),
                 "exploration": exploration, "guard": bool(guard)}
        self.tracking, self.experiment = tracking, experiment
        if self.store.exists():
            self.state = self.store.read_json()
            self._check_same(given)
        else:
            _check_config(given)
            given["value_per_conversion"] = self._keep_value(given["value_per_conversion"])
            self.state = {"config": given, "waves": [], "mlflow": {}}
            self.store.write_json(self.state)
        stored = {**_DEFAULTS, **_LEGACY, **self.state["config"]}
        for key in _CONFIG:
            setattr(self, key, stored.get(key))
        self.value_per_conversion = self._read_value(self.value_per_conversion)

    # -- configuration ---------------------------------------------------------------------
    def _check_same(self, given: dict) -> None:
        stored = {**_DEFAULTS, **_LEGACY, **self.state["config"]}
        value = given.pop("value_per_conversion")
        differ = [f"{k}={given[k]!r} (the store has {stored[k]!r})" for k in _CONFIG
                  if k in given and given[k] is not None and given[k] != stored[k]
                  and not (k in _DEFAULTS and given[k] == _DEFAULTS[k])]
        if value is not None and not self._same_value(value, stored["value_per_conversion"]):
            differ.append(f"value_per_conversion (the store has "
                          f"{stored['value_per_conversion']!r})")
        if differ:
            raise TargetingError(f"the loop in {self.store.path} was started with other "
                                 f"parameters: {'; '.join(differ)}. Leave them out to resume "
                                 f"it, or use a new store for a new loop")

    def _keep_value(self, value):
        """The value setting as the state file holds it: a number, or the file that keeps
        the per-user values or the value model."""
        if isinstance(value, pd.Series):
            self.store.write_frame(_VALUES, value.rename("value").to_frame())
            return {"per_user": _VALUES}
        if not isinstance(value, int | float):
            self.store.write_object(_VALUE_MODEL, value)
            return {"model": _VALUE_MODEL}
        return float(value)

    def _read_value(self, stored):
        if isinstance(stored, dict) and "per_user" in stored:
            return self.store.read_frame(stored["per_user"])["value"]
        if isinstance(stored, dict) and "model" in stored:
            return self.store.read_object(stored["model"])
        return stored

    def _same_value(self, given, stored) -> bool:
        """Whether ``given`` is the value setting the store keeps (a model: byte for byte)."""
        import pickle

        kind = next(iter(stored)) if isinstance(stored, dict) else "number"
        if isinstance(given, pd.Series):
            return kind == "per_user" and given.rename("value").equals(self._read_value(stored))
        if isinstance(given, int | float):
            return kind == "number" and float(given) == float(stored)
        return kind == "model" and pickle.dumps(given, protocol=pickle.HIGHEST_PROTOCOL) == (
            self.store.path / stored["model"]).read_bytes()

    @property
    def costs(self) -> dict[str, float]:
        """Price of one contact per arm."""
        return arm_costs(self.cost_per_contact, self.arms)

    @property
    def contacts_per_wave(self) -> int:
        """Contacts the budget buys: at the one price, or at the arms' mean price (a random
        arm each, as the pilot and the exploration slice send)."""
        return int(self.budget // (unit_cost(self.costs) or np.mean(list(self.costs.values()))))

    def _cheapest_first(self) -> np.ndarray:
        """The arms by price (stable): a random slice's odd contacts go to the cheaper ones,
        so it never costs more than its contacts at the mean price."""
        return np.asarray(sorted(self.arms, key=self.costs.get), dtype=object)

    @property
    def waves(self) -> list[dict]:
        """The waves so far: number, as_of, campaign_id, status (planned/recorded), metrics."""
        return list(self.state["waves"])

    # -- planning --------------------------------------------------------------------------
    def plan(self, data: Mapping[str, pd.DataFrame], as_of, *,
             users: Sequence | np.ndarray | None = None) -> Wave:
        """Plan the next wave: who gets which arm at ``as_of``.

        Parameters
        ----------
        data : dict of str to DataFrame
            Contract tables; features are built from rows strictly before ``as_of``.
        as_of : str or Timestamp
            The wave's send time (ISO 8601), after the previous wave's.
        users : array, optional
            The users who may be contacted; default every user who exists at ``as_of``.

        Returns
        -------
        Wave
            Saved in the store before it is returned. If the previous wave is planned but
            not recorded, planning the same ``as_of`` again returns it unchanged.
        """
        as_of = parse_as_of(as_of, data)
        pending = self._pending()
        if pending is not None:
            if pd.Timestamp(pending["as_of"]) == as_of:
                return self.wave(pending["number"])
            raise TargetingError(f"wave {pending['number']} (planned for {pending['as_of']}) "
                                 f"has no outcomes yet: record them with loop.record(outcomes) "
                                 f"before planning the next wave")
        done = self.state["waves"]
        if done and as_of <= pd.Timestamp(done[-1]["as_of"]):
            raise TargetingError(f"as_of {as_of} is not after the last wave's "
                                 f"({done[-1]['as_of']}): waves go forward in time")
        number = len(done) + 1
        X = self.features(data, as_of, users)
        rng = np.random.default_rng([int(self.random_state), number])
        if number == 1:
            self._learn_history(data, as_of)
        model = self.model()
        if model is None:
            assignments, policy = self._pilot(X, rng), _PILOT
        else:
            assignments = self._targeted(X, model, rng, self.explore_share_at(number),
                                         self.holdout_share_at(number))
            policy = _TARGET.format(sources=self._sources(self._model_source(number - 1)),
                                    h=self.holdout_share_at(number),
                                    e=self.explore_share_at(number))
        campaign_id = f"{self.name}-wave-{number:02d}"
        assignments.insert(1, "campaign_id", campaign_id)
        assignments["sent_at"] = as_of
        self.store.write_frame(f"wave_{number:03d}_plan.parquet", assignments)
        self.store.write_frame(f"wave_{number:03d}_X.parquet", X.loc[assignments.user_id])
        self.state["waves"].append({"number": number, "as_of": str(as_of),
                                    "campaign_id": campaign_id, "status": "planned",
                                    "policy": policy})
        self.store.write_json(self.state)
        return self.wave(number)

    def _learn_history(self, tables: Mapping[str, pd.DataFrame], as_of: pd.Timestamp) -> None:
        """Before wave 1: find the past randomised campaigns, store their rows and fit the
        first model (``model(0)``) on them; ``state["history"]`` lists them (empty: none)."""
        from targeting.loop.history import history_rows, past_campaigns

        found = past_campaigns(tables, self.arms, as_of, exclude_prefix=f"{self.name}-wave-") \
            if self.history else []
        self.state["history"] = []
        if found:
            X, rows, described = history_rows(self.store.read_object("pipeline.pkl"), tables,
                                              found, self.arms)
            self.store.write_frame("history_X.parquet", X)
            self.store.write_frame("history_outcomes.parquet", rows)
            self.state["history"] = described
            self.store.write_object("model_000.pkl", self._fit(0))

    def _sources(self, last: int) -> str:
        from targeting.loop.history import describe_sources

        parts = []
        if self.state.get("history"):
            parts.append("the past randomised campaign(s) "
                         + describe_sources(self.state["history"]))
        if last >= 1:
            parts.append("wave 1" if last == 1 else f"waves 1-{last}")
        return " and ".join(parts)

    def features(self, data: Mapping[str, pd.DataFrame], as_of,
                 users: Sequence | np.ndarray | None = None) -> pd.DataFrame:
        """The model matrix at ``as_of`` (``user_id`` index) of ``users``, or of every user
        who exists then; the feature pipeline is fitted once, at the first wave."""
        from targeting.features.pipeline import FeaturePipeline

        as_of = parse_as_of(as_of, data)
        if (self.store.path / "pipeline.pkl").exists():
            pipeline = self.store.read_object("pipeline.pkl")
        else:
            pipeline = FeaturePipeline().fit(data, as_of)
            self.store.write_object("pipeline.pkl", pipeline)
        wanted = None if users is None else np.asarray(users)
        frame = pipeline.transform(data, as_of, users=wanted)
        if users is None:
            frame = frame[pipeline.has_record(frame)]
        if len(frame) == 0:
            raise InsufficientDataError(f"no users exist at {as_of}: nobody to contact")
        X = pd.DataFrame(pipeline.to_matrix(frame), index=frame.index,
                         columns=pipeline.feature_names_)
        X.columns = X.columns.astype(str)
        return X

    def _pilot(self, X: pd.DataFrame, rng) -> pd.DataFrame:
        k = len(self.arms)
        contacts = min(self.contacts_per_wave, int(len(X) * (1 - self.control_share)))
        control = _control_size(contacts, k, self.control_share)
        if contacts < k:
            raise InsufficientDataError(f"{len(X)} users cannot fill a pilot of {k} arms and a "
                                        f"control: raise the budget or widen the users")
        picked = rng.permutation(len(X))[:contacts + control]
        arm = np.asarray([CONTROL_ARM] * control + list(np.resize(self._cheapest_first(),
                                                                  contacts)), dtype=object)
        arm = arm[rng.permutation(len(arm))]
        return _frame(X.index[picked], arm, "pilot", arm, np.nan)

    def explore_share_at(self, number: int) -> float:
        """The exploration share of wave ``number``: ``explore_share``, or its ``number``-th
        entry if it is a schedule (the last entry for every later wave)."""
        return _share_at(self.explore_share, number)

    def holdout_share_at(self, number: int) -> float:
        """The holdout share of wave ``number``: ``holdout_share``, or its ``number``-th entry
        if it is a schedule (the last entry for every later wave)."""
        return _share_at(self.holdout_share, number)

    def _targeted(self, X: pd.DataFrame, model, rng, explore_share: float,
                  holdout_share: float) -> pd.DataFrame:
        from targeting.evaluation.planning import plan_campaign

        k, costs, unit = len(self.arms), self.costs, unit_cost(self.costs)
        n_explore = int(round(explore_share * self.contacts_per_wave))
        n_slice = n_explore + _control_size(n_explore, k, self.control_share)
        explore_arms = np.resize(self._cheapest_first(), n_explore)
        if unit is not None:  # one price: the list is counted in contacts, rounded up
            target_contacts = self.contacts_per_wave - n_explore
            list_budget = listed_for(target_contacts, holdout_share) * unit
        else:  # prices per arm: what the exploration slice leaves, the holdout's share added
            target_money = self.budget - sum(costs[a] for a in explore_arms)
            list_budget = target_money / (1 - holdout_share)
        margin = self.exploration == "margin"
        if margin:  # the band ranked right after the list: where the decision is closest
            candidates = np.arange(len(X))
        else:
            order = rng.permutation(len(X))
            explore_rows, candidates = order[:n_slice], np.sort(order[n_slice:])
        plan = plan_campaign(model, X.iloc[candidates], budget=list_budget,
                             cost_per_contact=costs,
                             value_per_conversion=self.value_per_conversion,
                             random_state=int(self.random_state))
        audience = plan.audience
        if margin:
            after = plan.ranking.index[~plan.ranking["planned"].to_numpy()]
            explore_rows = _margin_rows(X.index, audience.index,
                                        after[:n_slice * _MARGIN_POOL], n_slice, rng)
        order = rng.permutation(len(audience))
        held = int(round(holdout_share * len(audience)))
        if unit is not None:
            held = max(len(audience) - target_contacts, held)
        else:  # hold out, at random, until the contacts fit what the list may spend
            held = max(_over(audience["cost"].to_numpy()[order], target_money), held)
        holdout = np.zeros(len(audience), dtype=bool)
        holdout[order[:held]] = True
        recommended = audience["arm"].to_numpy(dtype=object)
        parts = [_frame(audience.index, np.where(holdout, CONTROL_ARM, recommended),
                        np.where(holdout, "holdout", "target"), recommended,
                        audience["uplift"].to_numpy())]
        if len(explore_rows):
            arm = np.asarray([CONTROL_ARM] * (len(explore_rows) - n_explore)
                             + list(explore_arms), dtype=object)
            arm = arm[rng.permutation(len(arm))]
            parts.append(_frame(X.index[explore_rows], arm, "explore", arm, np.nan))
        return pd.concat(parts, ignore_index=True)

    # -- recording -------------------------------------------------------------------------
    def record(self, outcomes: pd.DataFrame) -> None:
        """Record the pending wave's outcomes, read it out and refit the uplift model.

        Parameters
        ----------
        outcomes : DataFrame
            A campaign table for the wave: ``user_id``, ``converted`` (and ``revenue``,
            ``arm`` if known), one row per user in the wave (contacted or held out).
        """
        pending = self._pending()
        if pending is None:
            raise TargetingError("no planned wave is waiting for outcomes: plan one first "
                                 "(loop.plan(tables, as_of))")
        number = pending["number"]
        wave = self.wave(number)
        rows = _joined(wave.assignments, outcomes)
        self.store.write_frame(f"wave_{number:03d}_outcomes.parquet", rows)
        metrics = {**self._readout(rows, wave), **_report_metrics(self.readout(number, rows))}
        model, decision, source = self._refit(number)
        self.store.write_object(f"model_{number:03d}.pkl", model)
        if decision is not None:
            metrics.update(decision.metrics())
            pending.update(guard=decision.verdict, model_from=source)
        pending.update(status="recorded", metrics=metrics)
        self.store.write_json(self.state)
        if self.tracking:
            self._log_pending_runs()

    def _readout(self, rows: pd.DataFrame, wave: Wave) -> dict:
        y = rows["converted"].to_numpy(dtype=float)
        increment, se, parts = _increment(rows, y)
        value, value_se, _ = _increment(rows, y * self._values(wave.number, rows["user_id"]))
        spend = wave.spend
        contacted = rows["contacted"].to_numpy()
        predicted = rows.loc[rows["slice"] == "target", "predicted_uplift"].sum()
        return {"contacts": wave.contacts, "spend": spend, "measured_increment": increment,
                "increment_se": se, "increment_low": increment - Z95 * se,
                "increment_high": increment + Z95 * se, "measured_value": value,
                "value_low": value - Z95 * value_se, "value_high": value + Z95 * value_se,
                "roi": (value - spend) / spend if spend else float("nan"),
                "conversion_rate_contacted": float(y[contacted].mean()) if contacted.any()
                else float("nan"),
                "predicted_increment_target": float(predicted),
                **{f"increment_{k}": float(v) for k, v in parts.items()}}

    def _values(self, number: int, users) -> np.ndarray:
        """Each wave user's value: the loop's number, or its per-user values or value model
        read at the wave's features."""
        from targeting.data.money import user_values

        if isinstance(self.value_per_conversion, int | float):
            return np.full(len(users), float(self.value_per_conversion))
        X = self.store.read_frame(f"wave_{number:03d}_X.parquet")
        return user_values(self.value_per_conversion, X.loc[np.asarray(users)])

    def _refit(self, number: int):
        """The model after wave ``number`` and the guard's decision: the refitted model (the
        challenger), unless the guard finds it worse than the current champion (then the
        champion stays; the challenger is kept in the store as ``challenger_NNN.pkl``).
        Also returns the wave whose rows the model was fitted on (0: the history alone)."""
        from targeting.loop.guard import decide

        challenger = self._fit(number)
        if not self.guard or (number == 1 and not self.state.get("history")):
            return challenger, None, number
        source = self._model_source(number - 1)
        ev, wave_of = self.evidence(number)
        decision = decide(self._fit_on, self._fit_on, ev, int((wave_of <= source).sum()),
                          random_state=[int(self.random_state), number, 1])
        if decision.replaced:
            return challenger, decision, number
        self.store.write_object(f"challenger_{number:03d}.pkl", challenger)
        return self.model(number - 1), decision, source

    def _model_source(self, number: int) -> int:
        """The wave whose rows (with the history's and every earlier wave's) ``model(number)``
        was fitted on: ``number`` itself unless the guard kept an older champion."""
        found = [w for w in self.state["waves"] if w["number"] == number]
        return int(found[0].get("model_from", number)) if found else number

    def evidence(self, last: int | None = None):
        """:class:`~targeting.loop.guard.Evidence` of the rows :meth:`training_data` returns
        (each row's randomised block), and each row's wave (0: the history)."""
        from targeting.loop.guard import Evidence

        X, y, arm = self.training_data(last)
        blocks, only, wave_of = [], [], []
        if self.state.get("history"):
            past = self.store.read_frame("history_outcomes.parquet")
            blocks.append("history:" + past["campaign_id"].astype(str).to_numpy(dtype=object))
            only.append(np.full(len(past), None, dtype=object))
            wave_of.append(np.zeros(len(past), dtype=int))
        for w in self.state["waves"]:
            if (last is None and w["status"] != "recorded") or \
                    (last is not None and w["number"] > last) or not self._has_outcomes(w):
                continue
            rows = self.outcomes(w["number"])
            part = rows["slice"].to_numpy(dtype=object)
            listed = np.isin(part, ["target", "holdout"])
            blocks.append(np.where(listed, f"{w['number']}:list", f"{w['number']}:" + part))
            only.append(np.where(listed, rows["recommended"].to_numpy(dtype=object), None))
            wave_of.append(np.full(len(rows), w["number"]))
        ev = Evidence(X, y, arm, np.concatenate(blocks).astype(object),
                      np.concatenate(only).astype(object))
        return ev, np.concatenate(wave_of)

    def _fit(self, last: int):
        return self._fit_on(*self.training_data(last))

    def _fit_on(self, X: pd.DataFrame, y: np.ndarray, arm: np.ndarray):
        from targeting.models.uplift import UpliftModel

        pipeline = self.store.read_object("pipeline.pkl")
        categorical = [pipeline.feature_names_[i] for i in pipeline.categorical_indices_]
        # Leaves of at least 2 % of the rows (50 to 300): the package default of 300 users per
        # leaf suits a campaign of tens of thousands, and leaves the first waves' models flat.
        leaf = int(np.clip(len(X) // 50, 50, 300))
        return UpliftModel(self.learner, categorical_feature=categorical, progress=False,
                           random_state=int(self.random_state), min_child_samples=leaf).fit(X, y,
                                                                                            arm)

    def training_data(self, last: int | None = None) -> tuple[pd.DataFrame, np.ndarray,
                                                               np.ndarray]:
        """Features, outcomes and arms of the past campaigns (the loop's history, if any) and
        of every recorded wave up to ``last`` (all: None; 0: the history alone).

        The rows are not weighted: every part was randomised given the features (the policy's
        list and the margin band are functions of them), so each arm's outcome model is
        unconfounded as it is. Inverse assignment-probability weights (the list's few held-out
        users weighing about nine times its contacted ones) were measured on 20,000-user
        worlds and did not help (seeds 0 and 1: 62.4 % and 65.5 % of the oracle against
        61.7 % and 68.4 % unweighted).
        """
        from targeting.loop.history import as_arrays

        Xs, ys, arms = [], [], []
        if self.state.get("history"):
            y, arm = as_arrays(self.store.read_frame("history_outcomes.parquet"))
            Xs.append(self.store.read_frame("history_X.parquet").reset_index(drop=True))
            ys.append(y)
            arms.append(arm)
        for w in self.state["waves"]:
            if last is None and w["status"] != "recorded":
                continue
            if (last is not None and w["number"] > last) or not self._has_outcomes(w):
                continue
            rows = self.store.read_frame(f"wave_{w['number']:03d}_outcomes.parquet")
            X = self.store.read_frame(f"wave_{w['number']:03d}_X.parquet")
            Xs.append(X.reset_index(drop=True))
            ys.append(rows["converted"].to_numpy(dtype=float))
            arms.append(rows["arm"].to_numpy(dtype=object))
        if not Xs:
            raise InsufficientDataError("no recorded wave yet: nothing to learn from")
        return pd.concat(Xs, ignore_index=True), np.concatenate(ys), np.concatenate(arms)

    def _has_outcomes(self, w: dict) -> bool:
        return (self.store.path / f"wave_{w['number']:03d}_outcomes.parquet").exists()

    # -- reading back --------------------------------------------------------------------------
    def wave(self, number: int) -> Wave:
        """Wave ``number`` as planned (read from the store)."""
        found = [w for w in self.state["waves"] if w["number"] == number]
        if not found:
            raise TargetingError(f"no wave {number}; the loop has {len(self.state['waves'])}")
        w = found[0]
        assignments = self.store.read_frame(f"wave_{number:03d}_plan.parquet")
        return Wave(number, pd.Timestamp(w["as_of"]), w["campaign_id"], w["policy"],
                    assignments, self.costs)

    def outcomes(self, number: int) -> pd.DataFrame:
        """Wave ``number``'s assignments joined to its recorded outcomes."""
        return self.store.read_frame(f"wave_{number:03d}_outcomes.parquet")

    def model(self, number: int | None = None):
        """The uplift model fitted after wave ``number`` (default the latest), or None; wave 0
        is the model fitted on the past campaigns alone (the loop's history), if any."""
        recorded = [w["number"] for w in self.state["waves"] if w["status"] == "recorded"]
        if self.state.get("history"):
            recorded = [0, *recorded]
        if number is None:
            if not recorded:
                return None
            number = recorded[-1]
        if number not in recorded:
            raise TargetingError(f"wave {number} is not recorded; recorded: {recorded}")
        return self.store.read_object(f"model_{number:03d}.pkl")

    def readout(self, number: int, rows: pd.DataFrame | None = None) -> dict:
        """:func:`~targeting.campaign_report` of each randomised part of wave ``number``:
        ``pilot``, or ``target`` (policy against its holdout) and ``explore``."""
        from targeting.evaluation.campaign import campaign_report

        rows = self.outcomes(number) if rows is None else rows
        reports = {}
        for name, slices in (("pilot", ["pilot"]), ("target", ["target", "holdout"]),
                             ("explore", ["explore"])):
            part = rows[rows["slice"].isin(slices)]
            if part.empty or part["arm"].nunique() < 2:
                continue
            table = part[["user_id", "campaign_id", "arm", "sent_at", "converted", "revenue"]]
            table = table.assign(campaign_id=f"{part.campaign_id.iloc[0]}-{name}")
            shares = (table["arm"].value_counts(normalize=True)).to_dict()
            with warnings.catch_warnings():  # an arm the policy gave to one user: NaN interval
                warnings.simplefilter("ignore", RuntimeWarning)
                reports[name] = campaign_report(table, outcomes=["converted", "revenue"],
                                                allocation=shares, breakdowns=())
        return reports

    def report(self) -> LoopReport:
        """Per recorded wave: contacts, spend, measured increment and interval, measured value
        (the increment in money), ROI, and the cumulative increment (with its 95 % interval,
        pooling every wave's randomised parts), spend, value and ROI; with the guard, both
        recipes' out-of-fold Qini, the standard error of their difference, and whether the
        refitted model replaced the champion or it was kept (``first``: no champion yet, the
        first model)."""
        rows = [{"wave": w["number"], "as_of": pd.Timestamp(w["as_of"]), **w["metrics"]}
                for w in self.state["waves"] if w["status"] == "recorded"]
        columns = ["as_of", "contacts", "spend", "measured_increment", "increment_low",
                   "increment_high", "measured_value", "roi"]
        if not rows:
            return LoopReport(pd.DataFrame(columns=[*columns, "cumulative_increment",
                                                     "cumulative_low", "cumulative_high",
                                                     "cumulative_spend", "cumulative_value",
                                                     "cumulative_roi"]))
        table = pd.DataFrame(rows).set_index("wave")
        guarded = [c for c in _GUARD_COLUMNS if c in table.columns]
        table = table[[*columns, *guarded]].rename(columns=_GUARD_COLUMNS)
        if guarded:
            table["model"] = [w.get("guard", "first") for w in self.state["waves"]
                              if w["status"] == "recorded"]
        table["cumulative_increment"] = table.measured_increment.cumsum()
        # Every wave's randomised parts are independent draws: their variances add, so the
        # cumulative interval pools every wave's holdout (narrower, relative to the increment,
        # than any one wave's).
        se = pd.Series([w["metrics"].get("increment_se", np.nan)
                        for w in self.state["waves"] if w["status"] == "recorded"],
                       index=table.index)
        pooled_se = np.sqrt((se**2).cumsum())
        table["cumulative_low"] = table.cumulative_increment - Z95 * pooled_se
        table["cumulative_high"] = table.cumulative_increment + Z95 * pooled_se
        table["cumulative_spend"] = table.spend.cumsum()
        table["cumulative_value"] = table.measured_value.cumsum()
        table["cumulative_roi"] = ((table.cumulative_value - table.cumulative_spend)
                                   / table.cumulative_spend)
        return LoopReport(table)

    def _pending(self) -> dict | None:
        waves = self.state["waves"]
        return waves[-1] if waves and waves[-1]["status"] == "planned" else None

    # -- MLflow ------------------------------------------------------------------------------
    def _log_pending_runs(self) -> None:
        from targeting.loop.mlflow_runs import log_wave_runs

        log_wave_runs(self)

    def _repr_html_(self) -> str:
        return (f"<h4>CampaignLoop {html.escape(str(self.name))}: "
                f"{len(self.state['waves'])} wave(s), {self.contacts_per_wave:,} contacts per "
                f"wave</h4>" + self.report()._repr_html_())


# -- helpers ----------------------------------------------------------------------------------
def _check_config(c: dict) -> None:
    problems = []
    if not c["arms"]:
        problems.append("arms: name at least one treatment arm, e.g. arms=['coupon']")
    elif CONTROL_ARM in c["arms"] or len(set(c["arms"])) != len(c["arms"]):
        problems.append(f"arms: distinct treatment arms, without {CONTROL_ARM!r} (the control "
                        f"is who is not contacted); got {c['arms']}")
    if c["budget"] is None or not _positive(c["budget"]):
        problems.append(f"budget: a positive amount of money is needed, got {c['budget']!r}")
    costs = None
    try:
        costs = arm_costs(c["cost_per_contact"], c["arms"] or [])
    except SchemaError as err:
        problems.extend(err.problems)
    value = c["value_per_conversion"]
    if not (isinstance(value, pd.Series) or _positive(value) or hasattr(value, "predict_value")
            or hasattr(value, "score_matrix")):
        problems.append(f"value_per_conversion: a positive number, a Series of values by "
                        f"user_id or a value model with predict_value(X) is needed, got "
                        f"{value!r}")
    for key in ("holdout_share", "explore_share"):
        if isinstance(c[key], (list, tuple)) and not c[key]:
            problems.append(f"{key}: a share, or a non-empty list of shares (one per wave)")
    for key in ("holdout_share", "explore_share", "control_share"):
        if not all(isinstance(v, (int, float)) and 0 <= float(v) < 1 for v in _shares(c[key])):
            problems.append(f"{key}: a share in [0, 1), got {c[key]!r}")
    if not problems and costs and c["budget"] < max(costs.values()):
        problems.append(f"budget: smaller than one contact's cost ({max(costs.values())})")
    if c["exploration"] not in EXPLORATIONS:
        problems.append(f"exploration: one of {list(EXPLORATIONS)}, got {c['exploration']!r}")
    if any(isinstance(v, (int, float)) and float(v) <= 0 for v in _shares(c["holdout_share"])):
        problems.append("holdout_share: must be above 0 in every wave; without a holdout a "
                        "wave cannot be read out")
    if problems:
        raise SchemaError(problems)


def _prices(cost):
    """A price per arm as the state file holds it (arm names as text), or the one price."""
    if isinstance(cost, Mapping):
        return {str(a): float(c) if _positive(c) else c for a, c in cost.items()}
    return cost


def _positive(v) -> bool:
    return (isinstance(v, int | float | np.number) and not isinstance(v, bool)
            and bool(np.isfinite(v)) and float(v) > 0)


def _over(cost: np.ndarray, money: float) -> int:
    """How many of the first users (in ``cost``'s order) to hold out so that the others'
    costs fit ``money``."""
    left = cost.sum() - np.r_[0.0, np.cumsum(cost)]  # spend if the first k are held out
    return int(np.argmax(left <= money * (1 + 1e-9)))


def _schedule(share):
    """A share as given, or a schedule (list or tuple) as a list of floats."""
    return [float(v) for v in share] if isinstance(share, (list, tuple)) else share


def _shares(share) -> list:
    """Every share of a schedule, or the one share as a list."""
    return list(share) if isinstance(share, (list, tuple)) else [share]


def listed_for(contacts: int, holdout_share: float) -> int:
    """Length of a policy's list whose random ``holdout_share`` held out leaves ``contacts``
    to contact."""
    return int(math.ceil(contacts / (1 - holdout_share)))


def _share_at(shares, number: int) -> float:
    """``shares`` itself, or its ``number``-th entry if it is a schedule (the last entry for
    every later wave)."""
    if isinstance(shares, (int, float)):
        return float(shares)
    return float(shares[min(number, len(shares)) - 1])


def _control_size(contacts: int, arms: int, share: float | None) -> int:
    """Control users beside ``contacts`` random contacts: ``share`` of the slice, or (None) as
    many as one arm gets."""
    if contacts <= 0:
        return 0
    if share is None:
        return math.ceil(contacts / arms)
    return math.ceil(contacts * share / (1 - share))


def _margin_rows(index: pd.Index, listed: pd.Index, band: pd.Index, size: int,
                 rng) -> np.ndarray:
    """Positions in ``index`` of ``size`` users drawn at random from ``band`` (the users ranked
    right after the policy's list); if the band is short (few users worth a contact), the
    rest at random from everyone else off the list."""
    picked = rng.permutation(index.get_indexer(band))[:size]
    if len(picked) < size:
        others = np.flatnonzero(~index.isin(listed) & ~index.isin(band))
        picked = np.r_[picked, rng.permutation(others)[:size - len(picked)]]
    return picked


def _frame(users, arm, slice_, recommended, predicted) -> pd.DataFrame:
    arm = np.asarray(arm, dtype=object)
    return pd.DataFrame({"user_id": np.asarray(users), "arm": arm,
                         "slice": np.broadcast_to(np.asarray(slice_, dtype=object), arm.shape),
                         "recommended": np.where(arm == CONTROL_ARM, recommended, arm)
                         if np.ndim(recommended) else arm,
                         "contacted": arm != CONTROL_ARM,
                         "predicted_uplift": np.broadcast_to(predicted, arm.shape).astype(float)})


def _joined(assignments: pd.DataFrame, outcomes: pd.DataFrame) -> pd.DataFrame:
    """The wave's assignments with their outcomes, checked: every user once, arms as planned."""
    if not isinstance(outcomes, pd.DataFrame):
        raise SchemaError([f"outcomes must be a DataFrame (a campaign table), got "
                           f"{type(outcomes).__name__}"])
    missing_cols = [c for c in ("user_id", "converted") if c not in outcomes.columns]
    if missing_cols:
        raise SchemaError([f"outcomes: missing column(s) {missing_cols}; have "
                           f"{list(outcomes.columns)}"])
    problems = []
    out = outcomes.drop_duplicates("user_id")
    if len(out) != len(outcomes):
        problems.append("outcomes.user_id: a user appears twice; one row per user in the wave")
    merged = assignments.merge(out, on="user_id", how="left", suffixes=("", "_out"),
                               indicator=True)
    absent = int((merged["_merge"] == "left_only").sum())
    if absent:
        problems.append(f"outcomes: {absent} user(s) of the wave have no outcome; every "
                        f"contacted and held-out user needs one")
    extra = int((~outcomes["user_id"].isin(assignments["user_id"])).sum())
    if extra:
        problems.append(f"outcomes: {extra} user(s) not in the wave; record only the wave's "
                        f"users")
    if "arm_out" in merged.columns:
        wrong = int((merged["arm_out"].astype(str) != merged["arm"].astype(str))
                    [merged["_merge"] == "both"].sum())
        if wrong:
            problems.append(f"outcomes.arm: {wrong} user(s) got another arm than planned; the "
                            f"readout needs the planned arms")
    if not absent and merged["converted"].isna().any():
        problems.append("outcomes.converted: missing values")
    if problems:
        raise SchemaError(problems)
    merged["converted"] = merged["converted"].astype(bool)
    revenue = merged["revenue"] if "revenue" in merged.columns else 0.0
    merged["revenue"] = pd.Series(revenue, index=merged.index).fillna(0.0).astype(float)
    keep = [*assignments.columns, "converted", "revenue"]
    return merged[keep]


def _report_metrics(reports: dict) -> dict:
    """What each part's campaign report says, as flat metrics: the sample-ratio p-value and
    the pooled effect on conversion with its interval."""
    out = {}
    for name, report in reports.items():
        pooled = report.table.iloc[-1]
        out[f"{name}_srm_p_value"] = float(report.srm["p_value"])
        out[f"{name}_effect"] = float(pooled["effect"])
        out[f"{name}_effect_low"] = float(pooled["low"])
        out[f"{name}_effect_high"] = float(pooled["high"])
    return out


def _increment(rows: pd.DataFrame, y: np.ndarray) -> tuple[float, float, dict]:
    """The wave's increment in ``y`` (conversions, or conversions x value), its standard
    error, and each randomised part's: the pilot and exploration slices against their own
    control groups, the policy's list against its holdout."""
    from targeting.evaluation.planning import measured_increment

    arm = rows["arm"].to_numpy(dtype=object)
    parts, variances = {}, []
    for name in ("pilot", "explore"):
        mask = (rows["slice"] == name).to_numpy()
        if mask.any():
            inc, var = _random_slice_increment(y[mask], arm[mask])
            parts[name] = inc
            variances.append(var)
    listed = rows["slice"].isin(["target", "holdout"]).to_numpy()
    if listed.any():
        rec = rows["recommended"].to_numpy(dtype=object)
        per, se, _ = measured_increment(y, arm, listed, np.where(listed, rec, None),
                                        CONTROL_ARM)
        n = int((rows["slice"] == "target").sum())
        parts["target"] = per * n
        variances.append((se * n) ** 2)
    return (float(np.nansum(list(parts.values()))), float(np.sqrt(np.nansum(variances))),
            parts)


def _random_slice_increment(y: np.ndarray, arm: np.ndarray) -> tuple[float, float]:
    """Incremental conversions of a randomised slice's contacts over its own control group,
    and the variance: conversions of the treated minus (treated x control rate)."""
    control = arm == CONTROL_ARM
    treated = ~control
    n_c, n_t = int(control.sum()), int(treated.sum())
    if n_c < 2 or n_t < 2:
        return float("nan"), float("nan")
    rate_c = y[control].mean()
    inc = y[treated].sum() - n_t * rate_c
    var_t = sum(((arm == a).sum()) * y[arm == a].var(ddof=1)
                for a in pd.unique(arm[treated]) if (arm == a).sum() > 1)
    var = var_t + n_t**2 * y[control].var(ddof=1) / n_c
    return float(inc), float(var)
