"""Lookalike audiences: seeds in, a ranked, sized and explainable audience out."""

from targeting.models.lookalike.audience import Audience
from targeting.models.lookalike.model import LookalikeModel, LookalikeScorer
from targeting.models.lookalike.seeds import SeedReport, round_count

__all__ = ["Audience", "LookalikeModel", "LookalikeScorer", "SeedReport", "round_count"]
