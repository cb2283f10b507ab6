"""Audience: the result of an expansion, with its reasons, curves, composition and export."""

from __future__ import annotations

import hashlib
import html
from pathlib import Path

import numpy as np
import pandas as pd

from targeting.models.lookalike.seeds import round_count

PROFILE = ("city_tier", "region", "age_band")
MIN_EXPORT = 100


class Audience:
    """Ranked users chosen by a :class:`~targeting.LookalikeModel` expansion.

    Attributes
    ----------
    users : DataFrame
        ``user_id, score, rank, reasons`` (rank 1 = most similar), best first.
    request : dict
        The request that made it (size or threshold, constraints, exclusions).
    """

    def __init__(self, model, rows: np.ndarray, scores: np.ndarray, request: dict,
                 ranked: np.ndarray):
        self._model = model
        self._rows = rows
        self._ranked = ranked  # every eligible user, best first: the reach curve
        self.request = request
        self.users = pd.DataFrame({
            "user_id": model.user_ids_[rows],
            "score": scores,
            "rank": np.arange(1, len(rows) + 1),
            "reasons": _reasons(model, rows),
        })

    def __len__(self) -> int:
        return len(self._rows)

    @property
    def user_ids(self) -> np.ndarray:
        return self.users["user_id"].to_numpy()

    @property
    def reported_size(self) -> int:
        """The size rounded (tens under 1,000, hundreds above): safe to report."""
        return round_count(len(self))

    def top(self, size: int | float) -> Audience:
        """The nested smaller audience of the same request (the 1 % inside the 2 %)."""
        count = self._model._size(size, len(self))
        rows = self._rows[:count]
        return Audience(self._model, rows, self.users.score.to_numpy()[:count],
                        {**self.request, "size": size}, self._ranked)

    # -- curves and composition ------------------------------------------------------------
    def reach_curve(self, points: int = 100) -> pd.DataFrame:
        """Reach (eligible users, and share of the universe) against the lowest score reached,
        with the held-out seed recall the model measured at that reach."""
        scores = self._model.scores_["score"].to_numpy()[self._ranked]
        n = len(self._model.user_ids_)
        if len(scores) == 0:
            return pd.DataFrame(columns=["reach", "share", "min_score", "heldout_recall"])
        reach = np.unique(np.linspace(1, len(scores), points).astype(int))
        curve = pd.DataFrame({"reach": reach, "share": reach / n,
                              "min_score": scores[reach - 1]})
        recall = self._model.recall_curve()
        blend = recall["blend" if "blend" in recall else recall.columns[0]]
        curve["heldout_recall"] = np.interp(curve.share, blend.index, blend.to_numpy())
        return curve

    def composition(self) -> pd.DataFrame:
        """Shares by city tier, region and age band: audience vs seed vs universe."""
        model = self._model
        profile = model.profile_
        parts = []
        for col in PROFILE:
            if profile[col].isna().all():
                continue
            values = profile[col].astype(str).where(profile[col].notna(), "unknown").to_numpy()
            frame = pd.DataFrame({
                "audience": pd.Series(values[self._rows]).value_counts(normalize=True),
                "seed": pd.Series(values[model.is_seed_]).value_counts(normalize=True),
                "universe": pd.Series(values).value_counts(normalize=True),
            }).fillna(0.0)
            frame.index = pd.MultiIndex.from_product([[col], frame.index.astype(str)],
                                                     names=["attribute", "value"])
            parts.append(frame.sort_index())
        if not parts:
            return pd.DataFrame(columns=["audience", "seed", "universe"])
        return pd.concat(parts)

    def summary(self) -> dict:
        """Rounded, id-free statistics of the audience (what gets logged)."""
        out = {"audience_size": self.reported_size,
               "audience_share": round(len(self) / len(self._model.user_ids_), 4),
               "audience_min_score": round(float(self.users.score.min()), 4) if len(self) else 0,
               "audience_mean_score": round(float(self.users.score.mean()), 4) if len(self)
               else 0, "eligible_users": round_count(self.request["n_eligible"])}
        comp = self.composition()
        if ("city_tier", "1") in comp.index:
            lower = comp.loc["city_tier"].drop(["1", "2"], errors="ignore").sum()
            out["audience_lower_tier_share"] = round(float(lower["audience"]), 4)
            out["universe_lower_tier_share"] = round(float(lower["universe"]), 4)
        return out

    # -- display ---------------------------------------------------------------------------
    def _repr_html_(self) -> str:
        req = {k: v for k, v in self.request.items() if v not in (None, {}, False)}
        head = (f"<b>Audience</b> of about {self.reported_size:,} users "
                f"({len(self) / len(self._model.user_ids_):.1%} of the universe); request: "
                f"{html.escape(str(req))}")
        top = self.users.head(10).to_html(index=False)
        comp = self.composition()
        comp_html = comp.round(3).to_html() if len(comp) else ""
        return f"<div>{head}<p>Top of the ranking:</p>{top}<p>Composition:</p>{comp_html}</div>"

    def __repr__(self) -> str:
        return f"Audience(size~{self.reported_size}, request={self.request})"

    def plot(self):
        """Reach-similarity curve (with held-out seed recall) and composition by city tier."""
        import matplotlib.pyplot as plt

        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
        curve = self.reach_curve()
        ax1.plot(curve.share * 100, curve.min_score, label="lowest score reached")
        ax1.axvline(len(self) / len(self._model.user_ids_) * 100, color="grey", ls=":",
                    label="this audience")
        ax1.set_xlabel("reach (% of the universe)")
        ax1.set_ylabel("lookalike score")
        twin = ax1.twinx()
        twin.plot(curve.share * 100, curve.heldout_recall, color="tab:orange",
                  label="held-out seed recall")
        twin.set_ylabel("held-out seed recall")
        ax1.legend(loc="center right", fontsize=8)
        ax1.set_title("reach vs similarity")
        comp = self.composition()
        if "city_tier" in comp.index.get_level_values(0):
            comp.loc["city_tier"].plot.bar(ax=ax2)
            ax2.set_title("composition by city tier")
            ax2.set_ylabel("share")
        fig.tight_layout()
        return fig

    # -- activation ------------------------------------------------------------------------
    def export(self, path: str | Path, salt: str, *, min_size: int = MIN_EXPORT) -> dict:
        """Write salted SHA-256 hashes of the normalised user ids (CSV or parquet by suffix).

        Identifiers are normalised (text, stripped, lower case) and hashed with
        ``sha256(salt + ":" + id)``; only hashes and ranks are written. Refuses audiences
        smaller than ``min_size`` and salts shorter than 8 characters.

        Returns
        -------
        dict
            The path and the rounded size written.
        """
        if not isinstance(salt, str) or len(salt) < 8:
            raise ValueError("export needs a secret salt of at least 8 characters, shared only "
                             "with the activation partner")
        if len(self) < min_size:
            raise ValueError(f"audience too small to export: fewer than {min_size} users "
                             "(min_size); a small hashed list can still single people out")
        hashed = hash_ids(self.user_ids, salt)
        out = pd.DataFrame({"hashed_id": hashed, "rank": self.users["rank"].to_numpy()})
        path = Path(path)
        if path.suffix == ".parquet":
            out.to_parquet(path, index=False)
        elif path.suffix == ".csv":
            out.to_csv(path, index=False)
        else:
            raise ValueError(f"export path must end in .csv or .parquet, got {path.name!r}")
        return {"path": str(path), "size": self.reported_size}


def normalise_id(value) -> str:
    """Identifiers as hashed: text, stripped, lower case (``" 00A1 "`` -> ``"00a1"``)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip().lower()


def hash_ids(ids, salt: str) -> np.ndarray:
    """Salted SHA-256 of normalised identifiers.

    Examples
    --------
    >>> hash_ids([7, " 7 "], "pepper-123")[0] == hash_ids(["7"], "pepper-123")[0]
    True
    """
    prefix = f"{salt}:".encode()
    return np.array([hashlib.sha256(prefix + normalise_id(v).encode()).hexdigest() for v in ids],
                    dtype=object)


def _reasons(model, rows: np.ndarray, top: int = 3) -> list[str]:
    """Top reasons per user: seed ties in chat groups, then the features that matched."""
    if len(rows) == 0:
        return []
    texts = [[] for _ in rows]
    graph = getattr(model, "_graph", None)
    if graph is not None and "graph" in model.scores_.columns:
        ties = graph.ties(rows, model.is_seed_)
        strong = model.scores_["graph"].to_numpy()[rows] > 1.0
        for i in np.flatnonzero(strong & (ties > 0)):
            texts[i].append(f"shares chat groups with {ties[i]} seed(s)")
    space = getattr(model, "space_", None)
    if space is not None:
        for i, found in enumerate(space.reasons(model._z(rows), top)):
            texts[i].extend(found)
    return ["; ".join(t[:top]) for t in texts]
