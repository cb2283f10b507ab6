"""The campaign loop on the responsive demo world, against static policies with the same budget.

Every wave, the loop plans at the wave's time, the world answers (:meth:`DemoWorld.respond`,
outcomes drawn from the planted truth) and the loop records the answer. Beside it, with the
same number of contacts per wave, the true expected increment of:

- ``oracle``: the best true uplift first, each user's best arm;
- ``propensity``: the likeliest buyers first (true base probability), the arm best on average;
- ``random``: random users, the arm best on average (an expectation);
- ``one_shot``: one uplift model, never refitted, its budgeted plan every wave: with history
  (the world's past randomised campaign), the model fitted on it alone, which is also the
  loop's wave-1 model; without, the model fitted on wave 1 (the pilot) only, reused every later
  wave (wave 1 is the pilot itself).
  ``one_shot_held_out``: the same model measured as the loop measures itself, a random
  ``holdout_share`` of a list as long as the loop's held out (the same contacts, no exploration;
  its expectation). Not a policy of the comparison: it shows what the holdout costs.

The loop's own truth is the sum of the true uplift of the arm each contacted user got, its
measurement the increment read out of the randomised parts; ``covered`` says whether the
measurement's 95 % interval holds the truth. Regret is the oracle's increment minus the loop's.
A loop whose store already holds waves is resumed: recorded waves are not replayed.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from targeting.data import demo_response
from targeting.data.demo import DemoWorld
from targeting.data.money import ValueSource, arm_costs, unit_cost, user_values
from targeting.loop.campaign_loop import CampaignLoop, listed_for

POLICIES = ("loop", "oracle", "one_shot", "propensity", "random")


@dataclass
class LoopSimulation:
    """Per wave truth and measurement of a simulated loop (``table``), and the loop itself."""

    table: pd.DataFrame
    loop: CampaignLoop

    def cumulative(self) -> pd.DataFrame:
        """Cumulative true incremental conversions per policy, by wave."""
        return self.table[list(POLICIES)].cumsum()

    def share_of_oracle(self) -> pd.Series:
        """Each policy's cumulative true increment as a share of the oracle's, at the last
        wave."""
        total = self.cumulative().iloc[-1]
        return total / total["oracle"]

    @property
    def covered_waves(self) -> int:
        """Waves whose measured 95 % interval holds the true increment."""
        return int(self.table["covered"].sum())

    def _repr_html_(self) -> str:
        share = self.share_of_oracle()
        text = ", ".join(f"{p} {share[p]:.0%}" for p in POLICIES)
        return (f"<h4>Closed loop, {len(self.table)} waves</h4><p>Cumulative true incremental "
                f"conversions as a share of the oracle's: {html.escape(text)}; measured "
                f"interval covers the truth in {self.covered_waves} of {len(self.table)} "
                f"waves</p>" + self.table.to_html(float_format=lambda v: f"{v:,.1f}"))

    def plot(self, ax=None):
        """Cumulative true increment per policy, and the loop's regret per wave."""
        import matplotlib.pyplot as plt

        axes = ax
        if axes is None:
            _, axes = plt.subplots(1, 2, figsize=(11, 4))
        ax, regret = axes
        cumulative = self.cumulative()
        for policy in POLICIES:
            ax.plot(cumulative.index, cumulative[policy], "o-", label=policy)
        ax.set(xlabel="wave", ylabel="incremental conversions (true, cumulative)",
               title="The loop against static policies, same budget")
        ax.legend(fontsize=8)
        regret.bar(self.table.index, self.table["regret"], color="tab:red")
        regret.set(xlabel="wave", ylabel="oracle minus loop (true conversions)",
                   title="Regret per wave")
        ax.figure.tight_layout()
        return ax.figure


def simulate_loop(world: DemoWorld, waves: int = 5, *, store: str | Path,
                  budget: float | None = None, cost_per_contact: float | dict = 1.0,
                  value_per_conversion: float | pd.Series | ValueSource = 60.0,
                  arms: list[str] | None = None,
                  holdout_share: float | list[float] = 0.1,
                  explore_share: float | list[float] = 0.05,
                  control_share: float = 0.5, learner: str = "x", random_state: int = 0,
                  wave_days: int = demo_response.WAVE_DAYS,
                  tracking: bool = True, experiment: str = "targeting-loop",
                  progress: bool = True, history: bool = True,
                  exploration: str = "margin", guard: bool = True) -> LoopSimulation:
    """Run ``waves`` waves of a :class:`CampaignLoop` on the demo world.

    Parameters
    ----------
    world : DemoWorld
    waves : int, default 5
    store : path
        The loop's store; an existing one is resumed (and must hold the same loop).
    budget : float, optional
        Money per wave; default 10 % of the users the world can answer for, times the price
        (the mean price, with one per arm).
    cost_per_contact, value_per_conversion
        As :class:`CampaignLoop` (default one price of 1 and a value of 60 per conversion).
        With prices per arm or values per user, the static policies spend the same money
        (:func:`~targeting.data.demo_response.policy_increments` with a budget), the oracle
        ranking users by true profit.
    arms : list of str, optional
        Default: every arm the world has a true uplift for.
    history : bool, default True
        Let wave 1 learn from the world's past randomised campaign (see
        :class:`CampaignLoop`); False starts with a randomised pilot.
    learner, exploration, guard, holdout_share, explore_share, control_share
        As :class:`CampaignLoop` (defaults: the X-learner, exploration at the list's margin,
        the champion/challenger guard on).

    Examples
    --------
    >>> import tempfile, targeting as tg
    >>> world = tg.demo_world(n_users=3_000, random_state=0)
    >>> sim = simulate_loop(world, 2, store=tempfile.mkdtemp(), tracking=False)
    >>> sim.table.index.tolist()
    [1, 2]
    >>> bool((sim.table.oracle >= sim.table.loop).all())
    True
    """
    from tqdm.auto import tqdm

    if int(waves) < 1:
        raise ValueError(f"waves must be at least 1, got {waves}")
    users = demo_response.population(world)
    contacts = max(1, int(round(0.1 * len(users))))
    if budget is None:
        prices = arm_costs(cost_per_contact, arms or demo_response.arms(world))
        budget = contacts * (unit_cost(prices) or float(np.mean(list(prices.values()))))
    loop = CampaignLoop(store, arms=arms or demo_response.arms(world), budget=budget,
                        cost_per_contact=cost_per_contact,
                        value_per_conversion=value_per_conversion, holdout_share=holdout_share,
                        explore_share=explore_share, control_share=control_share, learner=learner,
                        random_state=random_state, tracking=tracking, experiment=experiment,
                        history=history, exploration=exploration, guard=guard)
    rows = []
    for number in tqdm(range(1, int(waves) + 1), desc="waves", disable=not progress):
        as_of = demo_response.wave_time(world, number, wave_days)
        if number > len(loop.waves) or loop.waves[number - 1]["status"] == "planned":
            wave = loop.plan(world.tables, as_of, users=users)
            loop.record(world.respond(wave.assignments))
        rows.append(_truth(world, loop, number, users))
    return LoopSimulation(pd.DataFrame(rows).set_index("wave"), loop)


def _truth(world: DemoWorld, loop: CampaignLoop, number: int, users: np.ndarray) -> dict:
    wave = loop.wave(number)
    if _in_money(loop):
        static = demo_response.policy_increments(
            world, budget=loop.budget, value_per_conversion=_values(world, loop, wave, users),
            cost_per_contact=loop.costs, users=users)
    else:
        static = demo_response.policy_increments(
            world, loop.contacts_per_wave, value_per_conversion=loop.value_per_conversion,
            cost_per_contact=loop.cost_per_contact, users=users)
    truth = demo_response.true_increment(world, wave.assignments)
    metrics = next(w["metrics"] for w in loop.waves if w["number"] == number)
    return {"wave": number, "contacts": wave.contacts, "loop": truth,
            "measured": metrics["measured_increment"], "low": metrics["increment_low"],
            "high": metrics["increment_high"],
            "covered": bool(metrics["increment_low"] <= truth <= metrics["increment_high"]),
            "oracle": static["oracle"],
            **_one_shot(world, loop, wave, users, truth),
            "propensity": static["propensity"], "random": static["random"],
            "regret": static["oracle"] - truth}


def _one_shot(world: DemoWorld, loop: CampaignLoop, wave, users: np.ndarray,
              truth: float) -> dict:
    """True increment of the first model's budgeted plan at this wave's time (``one_shot``:
    the model of the history alone if the loop has one, else the model fitted on wave 1,
    whose own wave is the pilot: ``truth``), and of the same model measured as the loop
    measures itself (``one_shot_held_out``: a list as long as the loop's, the wave's
    ``holdout_share`` of it held out at random, the same contacts; its expectation)."""
    from targeting.evaluation.planning import plan_campaign

    if wave.number == 1 and not loop.state.get("history"):
        return {"one_shot": truth, "one_shot_held_out": truth}
    X = loop.features(world.tables, wave.as_of, users)
    first = loop.model(0 if loop.state.get("history") else 1)
    share = loop.holdout_share_at(wave.number)
    if _in_money(loop):  # the budget, and a list a holdout's share dearer
        plans = {name: plan_campaign(first, X, budget=money, cost_per_contact=loop.costs,
                                     value_per_conversion=loop.value_per_conversion,
                                     random_state=int(loop.random_state)).audience
                 for name, money in (("one_shot", loop.budget),
                                     ("one_shot_held_out", loop.budget / (1 - share)))}
        return {name: demo_response.true_increment(world, _sent(top))
                * min(1.0, loop.budget / top["cost"].sum() if len(top) else 0.0)
                for name, top in plans.items()}
    contacts = loop.contacts_per_wave
    listed = listed_for(contacts, share)
    plan = plan_campaign(first, X, budget=listed * loop.cost_per_contact,
                         cost_per_contact=loop.cost_per_contact,
                         value_per_conversion=loop.value_per_conversion,
                         random_state=int(loop.random_state))
    ranked = plan.audience
    out = {}
    for name, size in (("one_shot", contacts), ("one_shot_held_out", listed)):
        top = ranked.iloc[:size]
        sent = pd.DataFrame({"user_id": top.index.to_numpy(), "arm": top["arm"].to_numpy()})
        share = min(1.0, contacts / len(top)) if len(top) else 0.0
        out[name] = demo_response.true_increment(world, sent) * share
    return out


def _in_money(loop: CampaignLoop) -> bool:
    """Prices per arm or values per user: the static policies spend the budget in money."""
    return unit_cost(loop.costs) is None or not isinstance(loop.value_per_conversion,
                                                            int | float)


def _values(world: DemoWorld, loop: CampaignLoop, wave, users: np.ndarray):
    """The loop's values for the whole population at the wave's time (a value model is read
    at the wave's features)."""
    value = loop.value_per_conversion
    if isinstance(value, int | float | pd.Series):
        return value
    X = loop.features(world.tables, wave.as_of, users)
    return pd.Series(user_values(value, X), index=X.index)


def _sent(audience: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"user_id": audience.index.to_numpy(),
                         "arm": audience["arm"].to_numpy()})


def run_demo_loop(waves: int = 5, *, n_users: int = 50_000, random_state: int = 0,
                  store: str | Path = "campaign-loop", experiment: str = "targeting-loop",
                  progress: bool = True, history: bool = True) -> str:
    """``targeting loop``: simulate the loop on a demo world and describe it in text
    (``history=False``: ``targeting loop --no-history``, wave 1 a randomised pilot)."""
    import targeting as tg

    world = tg.demo_world(n_users=n_users, random_state=random_state)
    sim = simulate_loop(world, waves, store=store, random_state=random_state, experiment=experiment,
                        progress=progress, history=history)
    return describe(sim)


def describe(sim: LoopSimulation) -> str:
    """The simulation in text: per-wave truth and measurement, shares of the oracle."""
    table = sim.table.copy()
    table["covered"] = table["covered"].map({True: "yes", False: "no"})
    share = sim.share_of_oracle()
    last = sim.table.iloc[-1]
    lines = [f"Closed loop on the demo world: {len(table)} waves, up to "
             f"{sim.loop.contacts_per_wave:,} contacts per wave (true expected incremental "
             f"conversions; measured = read out of the randomised parts, 95 % interval)",
             table.to_string(float_format=lambda v: f"{v:,.1f}"), "",
             "cumulative true increment as a share of the oracle's: "
             + ", ".join(f"{p} {share[p]:.1%}" for p in POLICIES),
             "one-shot: " + ("the model fitted on the past randomised campaign(s) alone"
                             if sim.loop.state.get("history") else
                             "the model fitted on wave 1 (the randomised pilot) alone")
             + ", never refitted",
             f"one-shot measured as the loop measures itself (the same holdout, no "
             f"exploration): {sim.table.one_shot_held_out.sum() / sim.table.oracle.sum():.1%}",
             f"last wave: loop {last.loop / last.oracle:.1%} of the oracle",
             f"measured interval covers the true increment in {sim.covered_waves} of "
             f"{len(table)} waves", "",
             sim.loop.report().table.to_string(float_format=lambda v: f"{v:,.2f}")]
    return "\n".join(lines)
