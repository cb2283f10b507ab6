"""The brand's own history for the loop's first model: past randomised campaigns.

A past campaign qualifies when the ``campaign`` table holds it with a control arm and every one
of the loop's arms, and all of it was sent strictly before the loop's first wave (so its
outcomes could be known by then). Its users' features are built at its first send time, as
:func:`~targeting.features.campaign.campaign_dataset` does, with the loop's own feature
pipeline, so the rows join the loop's own randomised rows in one training set. Rows of arms
the loop does not use are left out; the loop's own waves (ids starting with its name) never
count as history.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from targeting.data.vocab import CONTROL_ARM


def past_campaigns(tables: Mapping[str, pd.DataFrame], arms: Sequence[str], as_of,
                   *, exclude_prefix: str = "") -> list[str]:
    """Ids of the randomised campaigns usable as the loop's history, oldest first.

    Examples
    --------
    >>> import targeting as tg
    >>> world = tg.demo_world(n_users=1_000, random_state=0)
    >>> arms = ["coupon", "group_invite", "push"]
    >>> past_campaigns(world.tables, arms, world.as_of + pd.Timedelta(days=7))
    ['autumn_push_2026']
    >>> past_campaigns(world.tables, arms, world.as_of)  # still being sent: not history yet
    []
    """
    campaign = tables.get("campaign")
    if campaign is None or campaign.empty:
        return []
    as_of = pd.Timestamp(as_of)
    frame = campaign.assign(campaign_id=campaign["campaign_id"].astype(str),
                            arm=campaign["arm"].astype(str))
    found = []
    for cid, rows in frame.groupby("campaign_id", sort=False):
        if exclude_prefix and cid.startswith(exclude_prefix):
            continue
        present = set(rows["arm"])
        if CONTROL_ARM not in present or not set(arms) <= present:
            continue
        if rows["converted"].isna().any() or not (rows["sent_at"] < as_of).all():
            continue
        found.append((pd.Timestamp(rows["sent_at"].min()), cid))
    return [cid for _, cid in sorted(found)]


def history_rows(pipeline, tables: Mapping[str, pd.DataFrame], campaign_ids: Sequence[str],
                 arms: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame, list[dict]]:
    """Model matrix (``user_id`` index) and outcomes (``campaign_id``, ``arm``, ``converted``)
    of the past campaigns' users in the loop's arms and the control, features built at each
    campaign's first send time; and one description per campaign (id, send time, rows)."""
    from targeting.features.campaign import campaign_rows

    keep = {*map(str, arms), CONTROL_ARM}
    Xs, outs, described = [], [], []
    for cid in campaign_ids:
        rows = campaign_rows(tables, cid)
        rows = rows[rows["arm"].isin(keep)].drop_duplicates("user_id")
        sent = pd.Timestamp(rows["sent_at"].min())
        frame = pipeline.transform(tables, sent, users=rows["user_id"].to_numpy())
        X = pd.DataFrame(pipeline.to_matrix(frame), index=frame.index,
                         columns=[str(c) for c in pipeline.feature_names_])
        rows = rows.set_index("user_id").loc[X.index]
        Xs.append(X)
        outs.append(pd.DataFrame({"user_id": X.index.to_numpy(), "campaign_id": cid,
                                  "arm": rows["arm"].to_numpy(dtype=object),
                                  "converted": rows["converted"].to_numpy(dtype=bool)}))
        described.append({"campaign_id": cid, "sent_at": str(sent), "rows": int(len(X)),
                          "arms": sorted(set(rows["arm"]) - {CONTROL_ARM})})
    return pd.concat(Xs), pd.concat(outs, ignore_index=True), described


def describe_sources(history: list[dict]) -> str:
    """``'autumn_push_2026 (28,597 users)'`` for the wave's policy text."""
    return ", ".join(f"{h['campaign_id']} ({h['rows']:,} users)" for h in history)


def as_arrays(outcomes: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    return outcomes["converted"].to_numpy(dtype=float), outcomes["arm"].to_numpy(dtype=object)
