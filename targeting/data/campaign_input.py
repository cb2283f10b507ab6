"""Adapters from the shape data arrives in to the package's contract tables.

:func:`from_campaign` turns one flat frame of a randomised campaign (a row per user: the arm,
the outcomes, the covariates measured before the send) into the contract ``campaign`` table and
a covariate frame, which :func:`~targeting.campaign_report`, :func:`~targeting.compare_uplift`
and :class:`~targeting.UpliftModel` take as they are.
"""

from __future__ import annotations

import html
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from targeting.data.dates import strict_timestamp
from targeting.data.schema import CONTRACTS, SchemaError, validate
from targeting.data.vocab import CONTROL_ARM

DEFAULT_SENT_AT = pd.Timestamp("1970-01-01")
_CONTRACT_COLUMNS = {c.name for c in CONTRACTS["campaign"].columns}


@dataclass
class CampaignInput:
    """A campaign in the package's format: the contract table, its covariates, what was filled.

    Unpacks as ``campaign, covariates = tg.from_campaign(...)``.

    Attributes
    ----------
    campaign : DataFrame
        The contract ``campaign`` table (``user_id``, ``campaign_id``, ``arm``, ``sent_at``,
        ``converted``, ``revenue``) plus any further binary outcomes under their own names.
    covariates : DataFrame
        Pre-campaign covariates, ``user_id`` index, in the campaign table's row order; text
        columns as pandas categories.
    outcomes : list of str
        The outcome columns of ``campaign`` that were given (``converted`` first).
    source_control : str
        The control arm's name in the source (renamed ``"control"`` in ``campaign``).
    notes : str
        One line: sizes, arms, outcomes, covariates and every default that was filled in.
    """

    campaign: pd.DataFrame
    covariates: pd.DataFrame
    outcomes: list[str]
    source_control: str
    notes: str

    def __iter__(self) -> Iterator[pd.DataFrame]:
        yield self.campaign
        yield self.covariates

    @property
    def control(self) -> str:
        return CONTROL_ARM

    @property
    def arms(self) -> list[str]:
        """The treatment arms, sorted."""
        return sorted(set(self.campaign["arm"].astype(str)) - {CONTROL_ARM})

    def _repr_html_(self) -> str:
        means = self.campaign.groupby("arm", observed=True)[self.outcomes].mean()
        return (f"<p>{html.escape(self.notes)}</p>"
                + means.to_html(float_format=lambda v: f"{v:.4f}"))

    def plot(self, ax=None):
        """Users per arm."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 3.5))
        sizes = self.campaign["arm"].astype(str).value_counts().sort_index()
        ax.bar(sizes.index, sizes.to_numpy(),
               color=["grey" if a == CONTROL_ARM else "tab:blue" for a in sizes.index])
        ax.set(ylabel="users", title="Users per arm")
        ax.figure.tight_layout()
        return ax.figure


def from_campaign(data: pd.DataFrame, *, treatment: str, user: str | None = None,
                  outcome: str | Sequence[str] | None = None, revenue: str | None = None,
                  covariates: Sequence[str] | None = None, control="control",
                  sent_at: str | pd.Timestamp | None = None,
                  campaign_id: str = "campaign") -> CampaignInput:
    """Turn a flat campaign frame (one row per user) into the contract campaign table.

    Parameters
    ----------
    data : DataFrame
        One row per user sent to (control included).
    treatment : str
        Column holding the randomised arm; any names (or codes) are accepted.
    user : str, optional
        Column of user ids (unique). Default: the row number.
    outcome : str or list of str, optional
        Binary outcome column(s): bool, or 0/1 numbers. The first becomes ``converted``; the
        others keep their names. Default: ``revenue > 0``.
    revenue : str, optional
        Non-negative amount per user (e.g. spend). Default: 0 for everyone, and the readout
        leaves revenue out.
    covariates : list of str, optional
        Pre-campaign columns for balance checks, breakdowns and uplift models. Default: every
        column not named above.
    control : default "control"
        The control arm's value in ``treatment`` (renamed ``"control"``). When no arm is
        called ``"control"`` and the arms are 0/1, ``0`` is the control (said in the notes).
    sent_at : str or Timestamp, optional
        Column of send times, or one time for everyone. Default: 1970-01-01 (the readout and
        uplift models do not use it; demo-world features do).
    campaign_id : str, default "campaign"

    Returns
    -------
    CampaignInput
        ``campaign`` (validated against ``CONTRACTS["campaign"]``), ``covariates``, ``notes``.
        When a default was filled in, the notes are also issued as a ``UserWarning``.

    Raises
    ------
    SchemaError
        Listing every problem: unknown columns, a missing control, duplicate users, missing or
        non-binary outcomes, negative revenue.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"id": range(6), "segment": ["No E-Mail", "Mens E-Mail"] * 3,
    ...                    "conversion": [0, 1, 0, 0, 1, 1], "spend": [0, 30.5, 0, 0, 12, 8],
    ...                    "recency": [1, 4, 2, 9, 3, 5]})
    >>> c = from_campaign(df, user="id", treatment="segment", outcome="conversion", revenue="spend",
    ...                   covariates=["recency"], control="No E-Mail", sent_at="2008-03-01")
    >>> c.campaign.dtypes["converted"], c.arms
    (dtype('bool'), ['Mens E-Mail'])
    >>> c.notes.split(";")[0]
    'from_campaign: 6 users, arms control (was No E-Mail) 3, Mens E-Mail 3'
    """
    if not isinstance(data, pd.DataFrame):
        raise SchemaError([f"from_campaign needs a pandas DataFrame, got {type(data).__name__}"])
    df = data
    outcomes = [outcome] if isinstance(outcome, str) else list(outcome or [])
    named = [c for c in [treatment, user, revenue, *outcomes] if c is not None]
    if isinstance(sent_at, str) and sent_at in df.columns:
        named.append(sent_at)
    _check_columns(df, named, covariates)
    if covariates is None:
        covariates = [c for c in df.columns if c not in set(named)]
    defaults: list[str] = []
    problems: list[str] = []
    users = _user_ids(df, user, defaults, problems)
    arms, source_control = _arms(df[treatment], control, defaults, problems)
    table = pd.DataFrame({"user_id": users, "campaign_id": campaign_id})
    table["arm"] = arms
    table["sent_at"] = _sent_at(df, sent_at, defaults, problems)
    table, given = _outcomes(table, df, outcomes, revenue, defaults, problems)
    if problems:
        raise SchemaError(problems)
    contract = [c.name for c in CONTRACTS["campaign"].columns]
    table = table[contract + [c for c in table.columns if c not in contract]]
    validate({"campaign": table})
    frame = _covariate_frame(df, covariates, users)
    notes = _notes(table, source_control, outcomes, revenue, given, frame, defaults)
    table.attrs["targeting_outcomes"] = list(given)
    if defaults:
        warnings.warn(notes, UserWarning, stacklevel=2)
    return CampaignInput(table, frame, given, str(source_control), notes)


def _check_columns(df: pd.DataFrame, named: list, covariates) -> None:
    wanted = [*named, *(covariates or [])]
    missing = [c for c in wanted if c not in df.columns]
    if missing:
        raise SchemaError([f"column(s) {missing} not in the frame; its columns are "
                           f"{list(df.columns)[:30]}"])
    clash = sorted(set(named) & set(covariates or []))
    if clash:
        raise SchemaError([f"column(s) {clash} are both an outcome/arm/user column and a "
                           "covariate; a covariate must be measured before the campaign"])


def _user_ids(df, user, defaults, problems) -> np.ndarray:
    if user is None:
        defaults.append("user_id = row number")
        return np.arange(len(df))
    ids = df[user]
    if ids.isna().any():
        problems.append(f"{user}: {int(ids.isna().sum())} missing user id(s)")
    dup = ids.duplicated(keep=False)
    if dup.any():
        problems.append(f"{user}: {int(dup.sum())} rows share a user id (e.g. "
                        f"{ids[dup].head(3).tolist()}); give one row per user")
    if not (ptypes.is_integer_dtype(ids) or ptypes.is_string_dtype(ids)):
        return ids.astype(str).to_numpy()
    return ids.to_numpy()


def _arms(values: pd.Series, control, defaults, problems):
    if values.isna().any():
        problems.append(f"{values.name}: {int(values.isna().sum())} user(s) without an arm")
    present = pd.unique(values.dropna())
    if control == CONTROL_ARM and CONTROL_ARM not in set(map(str, present)):
        if set(present.tolist()) <= {0, 1} and len(present) == 2:
            control = 0
            defaults.append("control = 0 (the arm is 0/1)")
        else:
            problems.append(f"{values.name}: which arm is the control? pass control= one of "
                            f"{sorted(map(str, present))}")
            return values.astype(str).to_numpy(), None
    elif control not in set(present.tolist()) and str(control) not in set(map(str, present)):
        problems.append(f"{values.name}: control={control!r} is not among the arms "
                        f"{sorted(map(str, present))}")
        return values.astype(str).to_numpy(), control
    if len(present) < 2:
        problems.append(f"{values.name}: only one arm ({present.tolist()}); a campaign needs "
                        "the control and at least one treatment")
    text = values.astype(str)
    if CONTROL_ARM in set(text) and str(control) != CONTROL_ARM:
        problems.append(f"{values.name}: a treatment arm is called {CONTROL_ARM!r}; rename it")
    text = text.where(text != str(control), CONTROL_ARM)
    treatments = sorted(set(text.dropna()) - {CONTROL_ARM})
    return pd.Categorical(text, categories=[CONTROL_ARM, *treatments]), control


def _sent_at(df, sent_at, defaults, problems):
    if sent_at is None:
        defaults.append(f"sent_at = {DEFAULT_SENT_AT.date()}")
        return np.full(len(df), DEFAULT_SENT_AT, dtype="datetime64[ns]")
    if isinstance(sent_at, str) and sent_at in df.columns:
        try:
            text = ptypes.is_string_dtype(df[sent_at]) or ptypes.is_object_dtype(df[sent_at])
            times = pd.to_datetime(df[sent_at], format="ISO8601" if text else None)
        except (ValueError, TypeError) as err:
            problems.append(f"{sent_at}: not readable as dates ({err})")
            return np.full(len(df), DEFAULT_SENT_AT, dtype="datetime64[ns]")
        if times.isna().any():
            problems.append(f"{sent_at}: {int(times.isna().sum())} missing send time(s)")
        return times.to_numpy()
    try:
        when = strict_timestamp(sent_at, "sent_at")
    except SchemaError as err:
        problems.append(f"sent_at={sent_at!r} is neither a column nor a date: "
                        f"{err.problems[0]}")
        return np.full(len(df), DEFAULT_SENT_AT, dtype="datetime64[ns]")
    return pd.Series(when, index=range(len(df))).to_numpy()


def _binary(s: pd.Series, problems) -> np.ndarray:
    if s.isna().any():
        problems.append(f"{s.name}: {int(s.isna().sum())} missing outcome(s); an outcome must "
                        "be known for every user sent to")
        return np.zeros(len(s), dtype=bool)
    if ptypes.is_bool_dtype(s):
        return s.to_numpy(dtype=bool)
    if ptypes.is_numeric_dtype(s):
        bad = ~s.isin((0, 1))
        if not bad.any():
            return s.to_numpy() == 1
        example = s[bad].unique()[:5].tolist()
    else:
        example = s.unique()[:5].tolist()
    problems.append(f"{s.name}: a binary outcome must be bool or 0/1, found {example}; pass "
                    "amounts as revenue=")
    return np.zeros(len(s), dtype=bool)


def _outcomes(table, df, outcomes, revenue, defaults, problems):
    if not outcomes and revenue is None:
        problems.append("no outcome: pass outcome= (a 0/1 column) and/or revenue= (an amount)")
        return table, []
    if revenue is not None:
        amount = df[revenue]
        if not ptypes.is_numeric_dtype(amount) or ptypes.is_bool_dtype(amount):
            problems.append(f"{revenue}: revenue must be numeric, found dtype {amount.dtype}")
            amount = pd.Series(0.0, index=df.index)
        elif amount.isna().any():
            problems.append(f"{revenue}: {int(amount.isna().sum())} missing amount(s); fill "
                            "them (0 for no purchase) first")
        elif (amount < 0).any():
            problems.append(f"{revenue}: {int((amount < 0).sum())} negative amount(s) "
                            f"(e.g. {amount[amount < 0].iloc[0]}); revenue must be >= 0")
        table["revenue"] = amount.to_numpy(dtype=float)
    else:
        table["revenue"] = 0.0
        defaults.append("revenue = 0 (none given)")
    if outcomes:
        table["converted"] = _binary(df[outcomes[0]], problems)
    else:
        table["converted"] = table["revenue"].to_numpy() > 0
        defaults.append(f"converted = {revenue} > 0")
    given = ["converted"]
    for name in outcomes[1:]:
        if name in _CONTRACT_COLUMNS:
            problems.append(f"{name}: an extra outcome cannot take a contract column's name")
            continue
        table[name] = _binary(df[name], problems)
        given.append(name)
    if revenue is not None:
        given.append("revenue")
    return table, given


def _covariate_frame(df, covariates, users) -> pd.DataFrame:
    frame = df[list(covariates)].copy()
    for col in frame.columns:
        s = frame[col]
        if ptypes.is_object_dtype(s) or ptypes.is_string_dtype(s):
            frame[col] = s.astype("category")
    frame.index = pd.Index(users, name="user_id")
    return frame


def _notes(table, source_control, outcomes, revenue, given, frame, defaults) -> str:
    sizes = table["arm"].astype(str).value_counts()
    arm_text = ", ".join(
        (f"control (was {source_control})" if a == CONTROL_ARM and str(source_control)
         != CONTROL_ARM else a) + f" {sizes[a]:,}"
        for a in table["arm"].cat.categories)
    names = {"converted": outcomes[0] if outcomes else None, "revenue": revenue}
    out_text = ", ".join(f"{g} <- {names[g]}" if names.get(g) and names[g] != g else g
                         for g in given)
    text = (f"from_campaign: {len(table):,} users, arms {arm_text}; outcomes {out_text}; "
            f"{frame.shape[1]} covariate(s)")
    if defaults:
        text += "; defaults: " + ", ".join(defaults)
    return text
