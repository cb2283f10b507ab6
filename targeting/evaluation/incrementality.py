"""Incrementality: what a channel really added, read from a randomised holdout in the campaign
table (the experiment that attribution models cannot replace)."""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from targeting.evaluation.attribution import attribute
from targeting.evaluation.journeys import journeys


# -- incrementality ------------------------------------------------------------------------------
@dataclass
class Incrementality:
    """A channel's increment measured by a randomised holdout, against attributed credit.

    ``measured`` is the exposed arm's extra conversions, ``(rate_exposed - rate_held_out) *
    exposed``, with a normal-approximation interval; ``table`` sets each attribution method's
    credit to the channel (over the exposed journeys) beside it, with the calibration factor
    ``measured / attributed`` that would rescale that method's credit to the experiment and its
    interval (``calibration_low``/``calibration_high``, the measured interval over the
    attributed credit). Both intervals cover the experiment's sampling noise only; the
    attributed credit is taken as fixed.
    """

    channel: str
    campaign_id: str
    exposed: int
    held_out: int
    rate_exposed: float
    rate_held_out: float
    measured: float
    measured_low: float
    measured_high: float
    attributed: pd.Series
    confidence: float = 0.95

    @property
    def table(self) -> pd.DataFrame:
        out = pd.DataFrame({"attributed": self.attributed})
        out["measured"] = self.measured
        attributed = out.attributed.replace(0, np.nan)
        out["calibration_factor"] = self.measured / attributed
        out["calibration_low"] = self.measured_low / attributed
        out["calibration_high"] = self.measured_high / attributed
        out["within_interval"] = out.attributed.between(self.measured_low, self.measured_high)
        return out

    def _repr_html_(self) -> str:
        head = html.escape(
            f"{self.channel}: {self.measured:.1f} incremental conversions measured by "
            f"{self.campaign_id} ({self.measured_low:.1f} to {self.measured_high:.1f}); "
            f"exposed {self.exposed:,} at {self.rate_exposed:.2%}, held out {self.held_out:,} "
            f"at {self.rate_held_out:.2%}")
        note = (f"<p>Intervals: {self.confidence:.0%} normal approximation of the experiment's "
                "sampling noise only (attributed credit taken as fixed).</p>")
        return f"<h4>Incrementality</h4><p>{head}</p>{note}" + self.table.round(3).to_html()

    def plot(self, ax=None):
        """Attributed credit per method against the measured increment and its interval."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(7, 4))
        ax.barh(self.attributed.index, self.attributed.to_numpy(), label="attributed")
        ax.axvspan(self.measured_low, self.measured_high, color="grey", alpha=0.3,
                   label="measured (interval)")
        ax.axvline(self.measured, color="black", label="measured")
        ax.set(xlabel=f"conversions credited to {self.channel}",
               title=f"Attribution vs experiment: {self.channel}")
        ax.legend(loc="lower right")
        ax.figure.tight_layout()
        return ax.figure


def incrementality(data: Mapping[str, pd.DataFrame], campaign_id: str, channel: str, *,
                   methods=("last_touch", "linear", "markov", "shapley"),
                   control: str = "control", confidence: float = 0.95,
                   lookback_days: float | None = 30) -> Incrementality:
    """Measure a channel's increment with a randomised holdout and compare attribution to it.

    ``campaign`` rows of ``campaign_id`` split users into a held-out arm (``control``: the
    channel never reached them) and exposed arms. Attribution says who touched; the experiment
    says what was added.

    Examples
    --------
    >>> import targeting as tg
    >>> w = tg.demo_world(n_users=5_000, random_state=2)
    >>> inc = incrementality(w.tables, "group_chat_holdout_2026", "group_chat")
    >>> inc.exposed > inc.held_out
    True
    """
    from scipy.stats import norm

    from targeting.data.schema import SchemaError, validate

    if not isinstance(data, Mapping) or "campaign" not in data:
        raise SchemaError(["incrementality needs the 'campaign' table (user_id, campaign_id, "
                           "arm, sent_at, converted, revenue) beside touchpoints and conversions"])
    validate({"campaign": data["campaign"]})
    campaign = data["campaign"]
    rows = campaign[campaign["campaign_id"] == campaign_id]
    held = rows[rows["arm"] == control]
    exposed = rows[rows["arm"] != control]
    if held.empty or exposed.empty:
        raise ValueError(f"campaign {campaign_id!r} needs a {control!r} arm and an exposed arm; "
                         f"found arms {sorted(map(str, rows['arm'].unique()))}")
    p_e, p_c = exposed["converted"].mean(), held["converted"].mean()
    n_e, n_c = len(exposed), len(held)
    se = np.sqrt(p_e * (1 - p_e) / n_e + p_c * (1 - p_c) / n_c) * n_e
    z = norm.ppf(0.5 + confidence / 2)
    measured = (p_e - p_c) * n_e
    ids = set(exposed["user_id"])
    sub = {name: data[name][data[name]["user_id"].isin(ids)]
           for name in ("touchpoints", "conversions")}
    paths = journeys(sub, lookback_days).paths
    attributed = pd.Series({m: float(attribute(paths, m, n_bootstrap=0).table.conversions
                                     .get(channel, 0.0)) for m in methods})
    return Incrementality(channel, campaign_id, n_e, n_c, float(p_e), float(p_c),
                          float(measured), float(measured - z * se), float(measured + z * se),
                          attributed, confidence)
