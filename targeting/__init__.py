"""targeting: audience targeting and lookalike modelling on fused social, purchase and CRM data.

>>> import targeting as tg
>>> world = tg.demo_world(n_users=2_000, seed=0)
>>> features = tg.build_features(world.tables, world.as_of)
"""

from targeting.data.demo import DemoWorld, demo_world
from targeting.data.identity import resolve_identity
from targeting.data.io import CampaignInput, from_campaign, from_transactions, read_tables
from targeting.data.schema import (
    CONTRACTS,
    InsufficientDataError,
    SchemaError,
    TargetingError,
    validate,
)
from targeting.evaluation.attribution import (
    attribute,
    compare_attribution,
    journeys,
    journeys_from_paths,
)
from targeting.evaluation.audience import LookalikeEvaluation, segment_seed
from targeting.evaluation.campaign import CampaignReport, campaign_report
from targeting.evaluation.community import (
    OwnerEvaluation,
    OwnerPlan,
    PotentialEvaluation,
    evaluate_owners,
    evaluate_potential,
    plan_owners,
)
from targeting.evaluation.drift import DriftReport
from targeting.evaluation.explain import Explanation, explain
from targeting.evaluation.metrics import PropensityEvaluation
from targeting.evaluation.planning import CampaignPlan, plan_campaign
from targeting.evaluation.uplift import (
    UpliftComparison,
    UpliftEvaluation,
    compare_uplift,
    evaluate_uplift,
    uplift_scorer,
)
from targeting.features.campaign import CampaignData, campaign_dataset
from targeting.features.pipeline import FeaturePipeline, build_features
from targeting.models.lookalike import Audience, LookalikeModel, SeedReport
from targeting.models.owner_potential import OwnerPotentialModel
from targeting.models.owners import OwnerValue, rank_owners
from targeting.models.propensity import PropensityModel
from targeting.models.uplift import UpliftModel
from targeting.scoring import clear_model_cache, load_model, score

__version__ = "0.1.0"
__all__ = [
    "Audience", "CONTRACTS", "CampaignData", "CampaignInput", "CampaignPlan", "CampaignReport",
    "DemoWorld",
    "DriftReport", "Explanation", "FeaturePipeline", "InsufficientDataError",
    "LookalikeEvaluation", "LookalikeModel", "OwnerEvaluation", "OwnerPlan", "OwnerValue",
    "OwnerPotentialModel", "PotentialEvaluation", "evaluate_potential",
    "PropensityEvaluation", "PropensityModel", "SchemaError", "SeedReport",
    "TargetingError", "UpliftComparison",
    "UpliftEvaluation", "UpliftModel", "__version__", "attribute", "build_features",
    "campaign_dataset", "campaign_report", "clear_model_cache", "compare_attribution",
    "compare_uplift", "demo_world", "evaluate_uplift", "explain", "from_campaign",
    "from_transactions", "journeys", "journeys_from_paths", "load_model", "plan_campaign",
    "plan_owners", "rank_owners", "evaluate_owners",
    "read_tables", "resolve_identity", "score", "segment_seed", "uplift_scorer", "validate",
]
