"""targeting: audience targeting and lookalike modelling on fused social, purchase and CRM data.

>>> import targeting as tg
>>> world = tg.demo_world(n_users=2_000, seed=0)
>>> features = tg.build_features(world.tables, world.as_of)
"""

from targeting.data.demo import DemoWorld, demo_world
from targeting.data.identity import resolve_identity
from targeting.data.schema import CONTRACTS, SchemaError, validate
from targeting.evaluation.attribution import attribute, compare_attribution, journeys
from targeting.evaluation.audience import LookalikeEvaluation, segment_seed
from targeting.evaluation.metrics import PropensityEvaluation
from targeting.features.pipeline import FeaturePipeline, build_features
from targeting.models.lookalike import Audience, LookalikeModel, SeedReport
from targeting.models.propensity import PropensityModel
from targeting.scoring import clear_model_cache, load_model, score

__version__ = "0.1.0"
__all__ = [
    "Audience", "CONTRACTS", "DemoWorld", "LookalikeEvaluation", "LookalikeModel", "SeedReport",
    "FeaturePipeline", "PropensityEvaluation", "PropensityModel",
    "SchemaError", "__version__", "attribute", "build_features", "compare_attribution",
    "journeys", "clear_model_cache", "demo_world",
    "load_model", "resolve_identity", "score", "segment_seed", "validate",
]
