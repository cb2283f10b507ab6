"""Data: table contracts, adapters for a brand's own files, identity, dates, labels and the
simulated demo world. The lowest layer: it imports nothing else of the package."""

from targeting.data.dates import as_of_for, parse_as_of
from targeting.data.demo import DemoWorld, demo_world
from targeting.data.event_input import from_events, from_touchpoints
from targeting.data.identity import fuse, resolve_identity
from targeting.data.io import from_campaign, read_tables
from targeting.data.labels import purchase_labels
from targeting.data.money import ValueSource, arm_costs, spend_budget, user_values
from targeting.data.profile_input import from_crm, from_profiles
from targeting.data.schema import (
    CONTRACTS,
    InsufficientDataError,
    SchemaError,
    TargetingError,
    validate,
)
from targeting.data.tables import ValidatedTables, checked_tables
from targeting.data.transactions import IntakeReport, from_transactions

__all__ = ["CONTRACTS", "DemoWorld", "InsufficientDataError", "IntakeReport", "SchemaError",
           "TargetingError", "ValidatedTables", "ValueSource", "arm_costs", "as_of_for",
           "checked_tables", "demo_world", "from_campaign", "from_crm", "from_events",
           "from_profiles", "from_touchpoints", "from_transactions", "fuse", "parse_as_of",
           "purchase_labels", "read_tables", "resolve_identity", "spend_budget", "user_values",
           "validate"]
