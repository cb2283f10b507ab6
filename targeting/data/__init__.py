"""Data: table contracts, adapters for a brand's own files, identity, dates, labels and the
simulated demo world. The lowest layer: it imports nothing else of the package."""

from targeting.data.dates import as_of_for, parse_as_of
from targeting.data.demo import DemoWorld, demo_world
from targeting.data.event_input import from_events, from_touchpoints
from targeting.data.identity import resolve_identity
from targeting.data.io import from_campaign, read_tables
from targeting.data.labels import purchase_labels
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
           "TargetingError", "ValidatedTables", "as_of_for", "checked_tables", "demo_world",
           "from_campaign", "from_events", "from_touchpoints", "from_transactions", "parse_as_of",
           "purchase_labels", "read_tables", "resolve_identity", "validate"]
