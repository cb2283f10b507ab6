"""The demo world's calendar, campaign constants, random-stream stages and small helpers."""

from __future__ import annotations

import numpy as np
import pandas as pd

from targeting.data.vocab import (
    CONTROL_ARM,
)

PERIOD_DAYS = 30
CAMPAIGN_ID = "autumn_push_2026"
CAMPAIGN_CATEGORY = "beauty"
HOLDOUT_ID = "group_chat_holdout_2026"
HOLDOUT_CHANNEL = "group_chat"
ARMS = (CONTROL_ARM, "coupon", "group_invite", "push")
ALLOCATION = (0.4, 0.2, 0.2, 0.2)  # the planned share of each arm
_SEGMENT_TASTE = np.array([0.8, 1.8, 0.2, 0.0, -0.3, -0.6, 0.1, 0.3])  # = seg_effect, _interests
_DAY = np.timedelta64(1, "D")
AS_OF = np.datetime64("2026-08-29T00:00:00", "s")
# Share of users who are customers before the history starts, and when the rest join.
SCENARIOS = {"default": {"existing": 0.4, "cohort_periods": None},
             "cohort": {"existing": 0.0, "cohort_periods": 3}}
# The stages of the simulation, each drawing from its own random stream: changing one stage
# leaves the others' draws as they were.
_STAGES = ("people", "silos", "groups", "interests", "lifecycle", "orders", "social", "users",
           "crm", "campaign", "journeys", "community")
_SEC = np.timedelta64(1, "s")


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _nullable_id(ids: np.ndarray, present: np.ndarray) -> pd.Series:
    return pd.Series(pd.array(np.where(present, ids, 0), dtype="Int64")).where(present)
