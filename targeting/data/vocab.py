"""The package's own vocabularies: the demo world's values, and the names builders know.

A brand's data need not use them. The feature pipeline learns the values of every profile,
CRM, channel, event and scene column from the data before ``as_of``; these tuples are what
the demo world draws from, the columns whose order never moves (they come first), and the
names a few rules read (``"impression"`` is not an engagement; an ``"owner"`` leads a group).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

CATEGORIES: tuple[str, ...] = (
    "beauty",
    "baby",
    "snacks",
    "fresh",
    "apparel",
    "electronics",
    "home",
    "health",
)
SOCIAL_EVENTS: tuple[str, ...] = (
    "impression",
    "click",
    "like",
    "share",
    "comment",
    "read",
    "mini_program_visit",
    "group_message",
)
SCENES: tuple[str, ...] = (
    "moments",
    "official_account",
    "group_chat",
    "mini_program",
    "video",
    "search",
)
ORDER_CHANNELS: tuple[str, ...] = ("app", "web", "mini_program", "group_referral")
TOUCH_CHANNELS: tuple[str, ...] = (*SCENES, "app")  # every scene, plus the store app
GROUP_ROLES: tuple[str, ...] = ("owner", "member")
CITY_TIERS: tuple[int, ...] = (1, 2, 3, 4, 5)  # 1 = tier-1 city ... 5 = rural
LOWER_TIER = 3  # tier 3 and below: the "lower-tier markets" of community commerce
REGIONS: tuple[str, ...] = (
    "north",
    "northeast",
    "east",
    "south",
    "central",
    "southwest",
    "northwest",
)
AGE_BANDS: tuple[str, ...] = ("18-24", "25-34", "35-44", "45-54", "55+")
GENDERS: tuple[str, ...] = ("f", "m")
CRM_TIERS: tuple[str, ...] = ("bronze", "silver", "gold", "platinum")
CONTROL_ARM = "control"


def lower_tier(city_tier: pd.Series) -> np.ndarray | None:
    """Whether each user lives in a lower-tier city, or None when ``city_tier`` is not on the
    package's scale.

    The rule "lower tier = ``city_tier >= 3``" reads numeric tiers 1 (tier-1 city) to 5
    (rural), the demo world's scale. A brand's own labels (``"urban"``, ``"rural"``) or another
    numeric scale say nothing about it, so callers skip lower-tier shares and say so; mapping
    the labels to 1-5 (``from_profiles(..., city_tiers={"urban": 1, "rural": 5})``) brings them
    back. Missing values are not lower tier.

    Examples
    --------
    >>> lower_tier(pd.Series([1, 3, 5])).tolist()
    [False, True, True]
    >>> lower_tier(pd.Series(["urban", "rural"])) is None
    True
    """
    if not pd.api.types.is_numeric_dtype(city_tier) or pd.api.types.is_bool_dtype(city_tier):
        return None
    known = city_tier.dropna()
    if not known.isin(CITY_TIERS).all():
        return None
    return (city_tier >= LOWER_TIER).fillna(False).to_numpy(dtype=bool)


LOWER_TIER_NOTE = ("lower-tier shares skipped: users.city_tier is not on the 1-5 tier scale "
                   "(1 = tier-1 city, 5 = rural); map the brand's labels to it with "
                   "from_profiles(..., city_tiers=) to get them")
