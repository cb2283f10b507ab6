"""A randomised campaign as a learning problem: features before it was sent, outcome after.

Features are built strictly before the campaign's first send time, so nothing the campaign
caused can leak into them; the outcome (``converted`` or ``revenue``) and the arm come from the
campaign table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from targeting.data.schema import SchemaError
from targeting.data.tables import checked_tables
from targeting.data.vocab import CONTROL_ARM
from targeting.features.pipeline import BUILDERS, FeaturePipeline

OUTCOMES = ("converted", "revenue")


@dataclass
class CampaignData:
    """Model matrix, outcome and arm (``treatment``) of every user a campaign reached (control
    included).

    ``X`` is the numeric model matrix as a frame (``user_id`` index, the pipeline's columns,
    categorical features as level codes), ready for LightGBM and scikit-learn tools;
    ``pipeline`` turns raw tables into the same columns at scoring time.
    """

    X: pd.DataFrame
    y: np.ndarray
    treatment: np.ndarray
    pipeline: FeaturePipeline
    campaign_id: str
    as_of: pd.Timestamp
    outcome: str
    control: str = CONTROL_ARM

    @property
    def arms(self) -> list[str]:
        """The treatment arms, in a fixed (sorted) order."""
        return sorted(set(self.treatment.tolist()) - {self.control})

    @property
    def categorical_features(self) -> list[str]:
        return [self.pipeline.feature_names_[i] for i in self.pipeline.categorical_indices_]

    def __len__(self) -> int:
        return len(self.y)


def campaign_rows(tables: Mapping[str, pd.DataFrame], campaign_id: str,
                  outcome: str = "converted", control: str = CONTROL_ARM) -> pd.DataFrame:
    """The campaign table's rows for ``campaign_id``, checked: the id exists, the control arm
    and at least one treatment arm are present, and the outcome has no missing values."""
    if "campaign" not in tables:
        raise SchemaError(["campaign: table missing; uplift needs the randomised campaign"])
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {OUTCOMES}, got {outcome!r}")
    campaign = tables["campaign"]
    rows = campaign[campaign["campaign_id"].astype(str) == str(campaign_id)]
    if rows.empty:
        known = sorted(campaign["campaign_id"].astype(str).unique().tolist())
        raise SchemaError([f"campaign {campaign_id!r} not found; the campaign table holds "
                           f"{known}: pass one of them"])
    arms = rows["arm"].astype(str)
    problems = []
    if not (arms == control).any():
        problems.append(f"campaign {campaign_id!r}: no {control!r} arm, so nothing to compare "
                        f"against (arms found: {sorted(arms.unique())})")
    if (arms != control).sum() == 0:
        problems.append(f"campaign {campaign_id!r}: every user is in the {control!r} arm")
    missing = int(rows[outcome].isna().sum())
    if missing:
        problems.append(f"campaign.{outcome}: {missing} missing value(s) for {campaign_id!r}; "
                        f"an outcome must be known for every user sent to")
    if problems:
        raise SchemaError(problems)
    return rows.assign(arm=arms.to_numpy()).reset_index(drop=True)


def campaign_dataset(data: Mapping[str, pd.DataFrame], campaign_id: str,
                     outcome: str = "converted", *, builders: Sequence[str] = BUILDERS,
                     control: str = CONTROL_ARM) -> CampaignData:
    """Build the uplift learning problem of a randomised campaign.

    Examples
    --------
    >>> import targeting as tg
    >>> world = tg.demo_world(n_users=2_000, random_state=1)
    >>> data = campaign_dataset(world.tables, world.campaign_id)
    >>> data.arms
    ['coupon', 'group_invite', 'push']
    >>> sent = world.tables["campaign"].query("campaign_id == @world.campaign_id").sent_at
    >>> bool(data.as_of == sent.min()) and len(data) == len(sent)
    True
    """
    tables = checked_tables(data)
    rows = campaign_rows(tables, campaign_id, outcome, control)
    as_of = pd.Timestamp(rows["sent_at"].min())
    pipeline = FeaturePipeline(builders=builders)
    # One build: vocabularies from everyone, rows of the campaign's users.
    features = pipeline.fit_transform(tables, as_of, users=rows["user_id"].to_numpy())
    X = pd.DataFrame(pipeline.to_matrix(features), index=features.index,
                     columns=pipeline.feature_names_)
    y = rows[outcome].to_numpy(dtype=float)
    return CampaignData(X=X, y=y, treatment=rows["arm"].to_numpy(dtype=object), pipeline=pipeline,
                        campaign_id=str(campaign_id), as_of=as_of, outcome=outcome,
                        control=control)
