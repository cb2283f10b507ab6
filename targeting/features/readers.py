"""Which feature builder reads which contract column, and the contracts' reference page.

Each builder module declares the columns it reads (``READS``); :data:`BUILDER_READS` gathers
them, and :func:`contracts_markdown` writes docs/reference/contracts.md from them and
:data:`~targeting.data.schema.CONTRACTS`. Regenerate the page after changing a contract or a
builder::

    python -m targeting.features.readers docs/reference/contracts.md

(tests/test_contracts_page.py fails while the page is stale, and checks every declaration
against what the builders really read).
"""

from __future__ import annotations

import sys
from pathlib import Path

from targeting.data.schema import _KIND_HINT, CONTRACTS, Column, TableContract
from targeting.features import community, crm, graph, profile, purchase, social

BUILDER_READS: dict[str, dict[str, tuple[str, ...]]] = {
    "profile": profile.READS, "social": social.READS, "purchase": purchase.READS,
    "crm": crm.READS, "graph": graph.READS, "community": community.READS,
}
"""Builder name -> table -> the columns it reads (``community`` is the owner-potential
model's invitations builder; the others are :class:`~targeting.FeaturePipeline`'s)."""

# Readers beyond the feature builders, by table (they live in higher layers).
OTHER_READERS = {
    "identity": "labels, scoring, every model (each silo's id to its user)",
    "users": "LookalikeModel.expand(where=) and Audience composition (city_tier, region, "
             "age_band); rank_owners and Audience.summary (lower-tier shares, 1-5 tiers only); "
             "campaign_report (city-tier breakdown, age band and gender balance)",
    "social_events": "",
    "groups": "rank_owners, OwnerPotentialModel, the lookalike graph method",
    "orders": "labels (shop_id, ts, category: purchases after as_of), baselines, "
              "campaign_report (store history), rank_owners",
    "crm": "LookalikeModel (non-consenting members are never in an audience)",
    "campaign": "campaign_dataset, campaign_report, UpliftModel, CampaignLoop (past campaigns)",
    "touchpoints": "journeys, attribute, incrementality",
    "conversions": "journeys, attribute, incrementality",
    "invites": "OwnerPotentialModel",
}


def readers_of(table: str, column: str) -> list[str]:
    """The builders that read ``table.column`` (every builder links through ``identity``).

    Examples
    --------
    >>> readers_of("orders", "ts")
    ['purchase', 'graph']
    """
    if table == "identity":
        return ["every builder"]
    return [name for name, reads in BUILDER_READS.items() if column in reads.get(table, ())]


def contracts_markdown() -> str:
    """The reference page of every table contract (docs/reference/contracts.md).

    Examples
    --------
    >>> contracts_markdown().splitlines()[0]
    '# Table contracts'
    """
    lines = [*_INTRO, "", "| table | key | time column | read by builders | also read by |",
             "|---|---|---|---|---|"]
    for contract in CONTRACTS.values():
        builders = sorted({b for c in contract.columns for b in readers_of(contract.name, c.name)})
        lines.append(f"| [`{contract.name}`](#{contract.name}) | {_key(contract)} | "
                     f"{_code(contract.time_column)} | {', '.join(builders) or '-'} | "
                     f"{OTHER_READERS.get(contract.name) or '-'} |")
    for contract in CONTRACTS.values():
        lines += ["", f"## {contract.name}", "", f"{contract.description.capitalize()}. "
                  f"Key: {_key(contract)}. Time column: {_code(contract.time_column)}.", "",
                  "| column | dtype | nullable | required | values | read by builders | notes |",
                  "|---|---|---|---|---|---|---|"]
        lines += [_row(contract, column) for column in contract.columns]
    return "\n".join(lines) + "\n"


_INTRO = (
    "# Table contracts",
    "",
    "Every table the package reads, as `targeting.validate` checks it: its columns, their "
    "dtypes, which may be missing, the values they take, the key, the time column, and the "
    "feature builders that read each column. Generated from `targeting.data.schema.CONTRACTS` "
    "and the builders by `python -m targeting.features.readers docs/reference/contracts.md`.",
    "",
    "**Values are the brand's own.** Regions, city tiers, age bands, genders, membership "
    "tiers, order channels, social events and scenes are *learnt from the data*: the "
    "`FeaturePipeline` learns them before `as_of` (the most frequent `max_categories` of "
    "each; rarer values are missing in the features, values never seen are refused or, with "
    "`unknown=\"ignore\"`, missing). Where features are named after values (`pur_share_<channel>`, "
    "`soc_n_<event>`, `soc_scene_<scene>`) the demo world's values come first, so their "
    "columns never move, then the brand's own. Validation checks dtypes, keys, missing values "
    "and time columns, and still refuses broken values (text in a numeric column); only a "
    "group's `role` is a closed set. `city_tier` holding numbers is an ordinal feature on the "
    "1-5 scale (1 = tier-1 city, 5 = rural; lower tier = 3 and above); holding text labels "
    "(`urban`, `rural`) it is a categorical feature, and lower-tier shares are skipped.",
    "",
    "A brand's own files become these tables through the adapters: `from_transactions` "
    "(orders), `from_profiles` (users), `from_crm` (crm, and its identity link), "
    "`from_events` (social_events), `from_touchpoints` (touchpoints, conversions), "
    "`from_campaign` (campaign); `fuse` joins them under one `user_id`.",
)


def _row(contract: TableContract, column: Column) -> str:
    readers = readers_of(contract.name, column.name)
    return (f"| `{column.name}` | {column.kind}: {_KIND_HINT[column.kind]} | "
            f"{'yes' if column.nullable else 'no'} | {'yes' if column.required else 'no'} | "
            f"{_values(column)} | {', '.join(readers) or '-'} | {column.doc or ''} |")


def _values(column: Column) -> str:
    if column.allowed is not None:
        return "one of " + ", ".join(f"`{v}`" for v in column.allowed)
    if column.demo_values is not None:
        demo = ", ".join(f"`{v}`" for v in column.demo_values)
        return f"learnt from the data (demo world: {demo})"
    if column.kind == "category":
        return "learnt from the data"
    if column.min_value is not None:
        return f"at least {column.min_value:g}"
    return {"id": "any id", "datetime": "any time", "bool": "true or false"}.get(column.kind,
                                                                               "any")


def _key(contract: TableContract) -> str:
    return ", ".join(f"`{k}`" for k in contract.key) or "-"


def _code(name: str | None) -> str:
    return f"`{name}`" if name else "-"


if __name__ == "__main__":  # python -m targeting.features.readers docs/reference/contracts.md
    Path(sys.argv[1]).write_text(contracts_markdown(), encoding="utf-8")
