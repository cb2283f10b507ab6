"""The social platform's events and the identity, profile and chat-group tables."""

from __future__ import annotations

import numpy as np
import pandas as pd

from targeting.data.demo.common import (
    _nullable_id,
)
from targeting.data.vocab import (
    AGE_BANDS,
    CATEGORIES,
    GENDERS,
    REGIONS,
    SCENES,
    SOCIAL_EVENTS,
)

_EVENT_COLUMNS = ("social_id", "ts", "event", "scene", "category")
_CODES = {"event": SOCIAL_EVENTS, "scene": SCENES, "category": CATEGORIES}


def _stack_columns(columns: dict[str, list[np.ndarray]]) -> pd.DataFrame:
    """One frame from per-period column pieces, a column at a time: the pieces of a column are
    freed as soon as it is stacked, so the peak is the pieces plus one column (a million users'
    150 M events would otherwise sit in memory twice)."""
    out = {}
    for name in _EVENT_COLUMNS:
        pieces = columns.pop(name)
        values = np.concatenate(pieces)
        del pieces[:]
        out[name] = pd.Categorical.from_codes(values, _CODES[name]) if name in _CODES \
            else values
    return pd.DataFrame(out, copy=False)


class _Social:
    """Social events and the tables that link and describe users."""

    # -- social platform -------------------------------------------------------------------
    def _social_events(self) -> pd.DataFrame:
        rng, C = self.rng, self.C
        social = np.flatnonzero(self.has_social)
        columns = {name: [] for name in _EVENT_COLUMNS}
        # Engaged events per category; weights give the event mix of engaged attention.
        engaged_events = np.array([SOCIAL_EVENTS.index(e) for e in (
            "read", "click", "like", "share", "comment", "mini_program_visit", "group_message")])
        engaged_p = np.array([0.34, 0.24, 0.14, 0.09, 0.07, 0.06, 0.06])
        for p in range(self.n_history_periods + 1):
            # People read about what they are about to want: the view mixes now and next period.
            view = 0.5 * (self.interest(p) + self.interest(p + 1))[social]
            # Present from joining on; those who dropped out as customers engage less.
            present = self._joined_share(p) * np.where(self.alive[p], 1.0, 0.4)
            activity = self.activity[social] * present[social]
            rate = activity[:, None] * self.engaged_rate * np.exp(
                self.interest_gain * view - 0.5)
            counts = rng.poisson(rate)
            user, cat = np.nonzero(counts)
            reps = counts[user, cat]
            user, cat = social[np.repeat(user, reps)], np.repeat(cat, reps)
            event = engaged_events[rng.choice(engaged_p.size, user.size, p=engaged_p)]
            # Untargeted impressions: plenty of rows, little information.
            n_imp = rng.poisson(activity * 4)
            imp_user = np.repeat(social, n_imp)
            imp_cat = rng.integers(0, C, imp_user.size)
            user = np.r_[user, imp_user]
            cat = np.r_[cat, imp_cat]
            event = np.r_[event, np.zeros(imp_user.size, dtype=int)]
            group_msg = event == SOCIAL_EVENTS.index("group_message")
            event[group_msg & (self.primary_group[user] < 0)] = SOCIAL_EVENTS.index("click")
            social_id, ts = self.social_id[user], self._period_ts(p, user)
            scene = self._scene(event, user)
            # Periods do not overlap in time: sorting each one (stable, by time then id) and
            # stacking them in order is the whole table's sort, without its memory.
            order = np.lexsort((social_id, ts.view("int64")))
            for name, values in zip(_EVENT_COLUMNS, (social_id, ts, event, scene, cat),
                                    strict=True):
                values = values[order]
                columns[name].append(values.astype(np.int8) if name in _CODES else values)
            del user, cat, event, social_id, ts, scene, order
        return _stack_columns(columns)

    def _scene(self, event: np.ndarray, user: np.ndarray) -> np.ndarray:
        """Where each event happened: fixed by the event type, with tier-dependent habits."""
        rng = self.rng
        # Rows: events in SOCIAL_EVENTS order; columns: SCENES order.
        mix = np.array([
            [0.45, 0.05, 0.0, 0.0, 0.35, 0.15],   # impression
            [0.35, 0.2, 0.1, 0.0, 0.2, 0.15],     # click
            [0.6, 0.1, 0.0, 0.0, 0.3, 0.0],       # like
            [0.4, 0.1, 0.5, 0.0, 0.0, 0.0],       # share
            [0.5, 0.2, 0.0, 0.0, 0.3, 0.0],       # comment
            [0.2, 0.7, 0.0, 0.0, 0.0, 0.1],       # read
            [0.0, 0.0, 0.0, 1.0, 0.0, 0.0],       # mini_program_visit
            [0.0, 0.0, 1.0, 0.0, 0.0, 0.0],       # group_message
        ])
        cum = mix.cumsum(axis=1)
        draw = rng.random(event.size)
        scene = np.empty(event.size, dtype=np.int64)
        for kind in range(len(cum)):  # the count of cumulative shares below the draw
            rows = event == kind
            scene[rows] = np.searchsorted(cum[kind], draw[rows], side="left")
        # Lower-tier group members share into chat groups more often than to Moments.
        lower = (self.tier[user] >= 3) & (self.primary_group[user] >= 0)
        to_group = lower & (event == SOCIAL_EVENTS.index("click")) & (rng.random(event.size) < 0.3)
        scene[to_group] = SCENES.index("group_chat")
        return np.minimum(scene, len(SCENES) - 1)

    # -- the other tables ------------------------------------------------------------------
    def _identity(self) -> pd.DataFrame:
        shop = self.has_shop | self.buyers
        return pd.DataFrame({
            "user_id": self.user_id,
            "social_id": _nullable_id(self.social_id, self.has_social),
            "shop_id": _nullable_id(self.shop_id, shop),
            "member_id": _nullable_id(self.member_id, self.is_member),
        })

    def _users_table(self) -> pd.DataFrame:
        first_seen = self.join_ts
        return pd.DataFrame({
            "user_id": self.user_id,
            "city_tier": self.tier.astype("int8"),
            "region": pd.Categorical.from_codes(self.region, REGIONS),
            "age_band": pd.Categorical.from_codes(self.age, AGE_BANDS),
            "gender": pd.Categorical.from_codes((~self.female).astype(int), GENDERS),
            "first_seen": first_seen.astype("datetime64[ns]"),
        })

    def _groups_table(self) -> pd.DataFrame:
        members = np.flatnonzero(self.primary_group >= 0)
        extra_user, extra_group = self.second_group
        user = np.r_[members, extra_user]
        group = np.r_[self.primary_group[members], extra_group]
        frame = pd.DataFrame({"group_id": group + 1, "user": user})
        frame = frame.drop_duplicates(["group_id", "user"])
        owner = self.group_owner[frame.group_id.to_numpy() - 1] == frame.user.to_numpy()
        user = frame.user.to_numpy()
        joined = np.maximum(self.joined_at[user], self.join_ts[user]).astype("datetime64[ns]")
        return pd.DataFrame({
            "group_id": frame.group_id.to_numpy().astype(np.int64),
            "social_id": self.social_id[frame.user.to_numpy()],
            "role": pd.Categorical(np.where(owner, "owner", "member"), ["owner", "member"]),
            "joined_at": joined,
        }).sort_values(["group_id", "social_id"]).reset_index(drop=True)
