"""Vocabularies shared by the table contracts, the demo world and the feature builders."""

from __future__ import annotations

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
CITY_TIERS: tuple[int, ...] = (1, 2, 3, 4, 5)
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
