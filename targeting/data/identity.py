"""Identity resolution: one ``user_id`` for the social, store and CRM ids of a person.

Silos overlap only partly: a store customer may have no known social account, a social user no
store account, and only some customers are CRM members. The identity table holds one row per
user with whichever silo ids are known (missing ones are null). :func:`fuse` builds it for
tables that come from the adapters: the orders' customer id is the ``user_id``, and a silo
whose own id is another (a CRM member number) brings a link to it.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from targeting.data.schema import SchemaError

SILO_IDS = {"social_id": ("social_events", "groups"), "shop_id": ("orders",),
            "member_id": ("crm",)}


def resolve_identity(data: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Return the identity table, deriving it when a brand has a single silo.

    With an ``identity`` table it is returned as is. Without one, a brand whose data come from one
    silo only (say, store orders) needs no linking: each silo id becomes the user id. Two or more
    silos without an identity table cannot be linked, and that is an error.

    Examples
    --------
    >>> import pandas as pd
    >>> orders = pd.DataFrame({"shop_id": [7, 7, 9]})
    >>> resolve_identity({"orders": orders}).user_id.tolist()
    [7, 9]
    """
    resolved = getattr(data, "resolved_identity", None)  # ValidatedTables: done once
    if resolved is not None:
        return resolved
    if "identity" in data:
        return data["identity"]
    present = {sid: names for sid, names in SILO_IDS.items()
               if any(n in data for n in names)}
    if len(present) > 1:
        raise SchemaError([
            f"missing table 'identity': the silos {sorted(present)} cannot be linked without it "
            "(one row per user_id with its social_id, shop_id and member_id); tables from the "
            "adapters are joined by tg.fuse(orders, profiles, crm, ...)"])
    if not present:
        if "users" in data:
            return data["users"][["user_id"]].assign(social_id=None, shop_id=None,
                                                       member_id=None)
        raise SchemaError(["no user table found: pass 'identity' or at least one silo table"])
    (silo_id, names), = present.items()
    ids = pd.concat([data[n][silo_id] for n in names if n in data]).drop_duplicates()
    frame = pd.DataFrame({"user_id": ids.sort_values().to_numpy()})
    for sid in SILO_IDS:
        frame[sid] = frame.user_id if sid == silo_id else pd.NA
    return frame


def coverage(identity: pd.DataFrame) -> pd.Series:
    """Share of users known in each silo, and in all three.

    Examples
    --------
    >>> import pandas as pd
    >>> ident = pd.DataFrame({"user_id": [1, 2], "social_id": [5, None],
    ...                       "shop_id": [6, 7], "member_id": [None, None]})
    >>> float(coverage(ident)["social_id"])
    0.5
    """
    known = identity[list(SILO_IDS)].notna()
    out = known.mean()
    out["all silos"] = known.all(axis=1).mean()
    return out


def fuse(*data: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Tables from several adapters as one dict, with the identity table that links them.

    Each argument is a dict of contract tables (what :func:`~targeting.from_transactions`,
    :func:`~targeting.from_profiles`, :func:`~targeting.from_crm` or
    :func:`~targeting.from_events` return). The person is the customer: a silo's own id is
    the ``user_id`` (the orders' ``shop_id``, the profiles' ``user_id``), unless an
    ``identity`` table among the arguments links that silo's ids to user ids (``from_crm``
    with ``user=`` links member numbers to customer ids). Every user of any silo gets a row.

    Raises :class:`SchemaError` when a table comes twice, when the ids of the silos are of
    different kinds (customer ids as numbers in one table, as text in another: they would
    never join) or when a user is linked to two ids of one silo.

    Examples
    --------
    >>> import pandas as pd
    >>> orders = {"orders": pd.DataFrame({"shop_id": [7, 7, 9]})}
    >>> crm = {"crm": pd.DataFrame({"member_id": ["M1"]}),
    ...        "identity": pd.DataFrame({"user_id": [9], "member_id": ["M1"]})}
    >>> fuse(orders, crm)["identity"][["user_id", "shop_id", "member_id"]].to_dict("list")
    {'user_id': [7, 9], 'shop_id': [7, 9], 'member_id': [None, 'M1']}
    """
    tables: dict[str, pd.DataFrame] = {}
    links: list[pd.DataFrame] = []
    problems: list[str] = []
    for part in data:
        if not isinstance(part, Mapping):
            raise SchemaError([f"fuse: expected dicts of tables, got {type(part).__name__}"])
        for name, frame in part.items():
            if name == "identity":
                links.append(frame)
            elif name in tables:
                problems.append(f"fuse: table {name!r} given twice; pass each silo once")
            else:
                tables[name] = frame
    if problems:
        raise SchemaError(problems)
    pairs = [_silo_pairs(tables, links, sid, names) for sid, names in SILO_IDS.items()]
    users = [tables["users"].user_id] if "users" in tables else []
    people = [p.user_id for p in pairs if p is not None] + users
    if not people:
        raise SchemaError(["fuse: no silo table with user ids (orders, users, crm, ...)"])
    _check_kinds(people, pairs)
    identity = pd.DataFrame({"user_id": _distinct(pd.concat(people, ignore_index=True))})
    for sid, pair in zip(SILO_IDS, pairs, strict=True):
        identity = _with_silo(identity, sid, pair, problems)
    if problems:
        raise SchemaError(problems)
    return {"identity": identity[["user_id", *SILO_IDS]], **tables}


def _silo_pairs(tables, links, sid: str, names) -> pd.DataFrame | None:
    """(user_id, silo id) pairs of one silo: from the links when some link names the silo,
    else the silo's own ids as user ids (None when the silo is absent)."""
    linked = [link[["user_id", sid]].dropna() for link in links
              if sid in link.columns and link[sid].notna().any()]
    if linked:
        return pd.concat(linked, ignore_index=True).drop_duplicates()
    ids = [tables[n][sid] for n in names if n in tables]
    if not ids:
        return None
    own = _distinct(pd.concat(ids, ignore_index=True).dropna())
    return pd.DataFrame({"user_id": own, sid: own})


def _distinct(ids: pd.Series) -> pd.Series:
    return pd.Series(pd.unique(ids), dtype=ids.dtype).sort_values(ignore_index=True)


def _kind(ids: pd.Series) -> str:
    return ("integer" if pd.api.types.is_integer_dtype(ids) or pd.api.types.is_float_dtype(ids)
            else "text")


def _check_kinds(people: list[pd.Series], pairs) -> None:
    kinds = {_kind(ids.dropna()) for ids in people if ids.notna().any()}
    if len(kinds) > 1:
        raise SchemaError(["fuse: customer ids are numbers in one table and text in another, "
                           "so they never join; convert them to one type before the adapters "
                           "(e.g. .astype(str) on the id columns, or read every file as text)"])


def _with_silo(identity: pd.DataFrame, sid: str, pair: pd.DataFrame | None,
               problems: list[str]) -> pd.DataFrame:
    if pair is None:  # typed, so that the table validates; no id of its kind
        return identity.assign(**{sid: pd.Series(pd.NA, index=identity.index, dtype="string")})
    for column, other in (("user_id", sid), (sid, "user_id")):
        twice = pair[column].duplicated()
        if twice.any():
            problems.append(f"fuse: {int(twice.sum())} {column}(s) linked to several "
                            f"{other}s, e.g. {pair[column][twice].iloc[0]!r}; one each")
    pair = pair.drop_duplicates("user_id")
    out = identity.merge(pair, on="user_id", how="left")
    if pd.api.types.is_integer_dtype(pair[sid]):
        out[sid] = out[sid].astype("Int64")  # ids stay integers where some are missing
    elif pd.api.types.is_string_dtype(pair[sid]):
        out[sid] = out[sid].astype("string")
    return out
