"""targeting: audience targeting and lookalike modelling on fused social, purchase and CRM data.

Names are imported on first use (PEP 562), so ``import targeting`` is quick and does not load
MLflow, shap or Dask until a name that needs them is touched.

>>> import targeting as tg
>>> world = tg.demo_world(n_users=2_000, random_state=0)
>>> features = tg.build_features(world.tables, world.as_of)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

# name -> module that defines it (the public API; see docs/architecture.md for the layers)
_API = {
    "DemoWorld": "data.demo", "demo_world": "data.demo",
    "fuse": "data.identity", "resolve_identity": "data.identity",
    "from_crm": "data.profile_input", "from_profiles": "data.profile_input",
    "CampaignInput": "data.io", "from_campaign": "data.io",
    "IntakeReport": "data.transactions", "from_transactions": "data.transactions",
    "read_tables": "data.io", "from_events": "data.event_input",
    "from_touchpoints": "data.event_input",
    "CONTRACTS": "data.schema", "InsufficientDataError": "data.schema",
    "SchemaError": "data.schema", "TargetingError": "data.schema", "validate": "data.schema",
    "CampaignData": "features.campaign", "campaign_dataset": "features.campaign",
    "FeaturePipeline": "features.pipeline", "build_features": "features.pipeline",
    "Audience": "models.lookalike", "LookalikeModel": "models.lookalike",
    "SeedReport": "models.lookalike",
    "PropensityModel": "models.propensity", "UpliftModel": "models.uplift",
    "ValueModel": "models.value", "GammaGammaModel": "models.spend",
    "evaluate": "evaluation",
    "attribute": "evaluation.attribution", "compare_attribution": "evaluation.attribution",
    "journeys": "evaluation.journeys", "journeys_from_paths": "evaluation.journeys",
    "LookalikeEvaluation": "evaluation.audience", "segment_seed": "evaluation.audience",
    "CampaignReport": "evaluation.campaign", "campaign_report": "evaluation.campaign",
    "DriftReport": "evaluation.drift",
    "Explanation": "evaluation.explain", "explain": "evaluation.explain",
    "PropensityEvaluation": "evaluation.metrics", "ValueEvaluation": "evaluation.value",
    "CampaignPlan": "evaluation.planning", "plan_campaign": "evaluation.planning",
    "UpliftComparison": "evaluation.uplift", "UpliftEvaluation": "evaluation.uplift",
    "compare_uplift": "evaluation.uplift", "evaluate_uplift": "evaluation.uplift",
    "uplift_scorer": "evaluation.uplift",
    "clear_model_cache": "scoring", "load_model": "scoring", "score": "scoring",
    "OwnerEvaluation": "evaluation.community", "OwnerPlan": "evaluation.community",
    "PotentialEvaluation": "evaluation.community", "evaluate_owners": "evaluation.community",
    "evaluate_potential": "evaluation.community", "plan_owners": "evaluation.community",
    "OwnerPotentialModel": "models.owner_potential", "OwnerValue": "models.owners",
    "rank_owners": "models.owners",
    "CampaignLoop": "loop", "LoopSimulation": "loop", "LoopReport": "loop",
    "simulate_loop": "loop",
    "incrementality": "evaluation.incrementality", "Incrementality": "evaluation.incrementality",
    "reliability_curve": "evaluation.audience", "persuadable_share": "evaluation.audience",
    "BetaGeoModel": "models.btyd", "DaskPropensityModel": "models.dask",
    "LoggedModel": "tracking", "log_attribution": "tracking", "log_lookalike": "tracking",
    "log_owners": "tracking", "log_propensity": "tracking", "log_uplift": "tracking",
    "log_value": "tracking",
    "check_store": "store", "log_drift": "review", "promote": "review",
    "ExperimentResult": "experiments", "run_experiment": "experiments",
}
_SUBMODULES = {"datasets", "data", "features", "models", "evaluation", "scoring", "store",
               "tracking", "server", "distributed", "experiments", "review", "privacy", "loop",
               "cli"}

__all__ = sorted([*_API, "__version__"])


def __getattr__(name: str):
    if name in _API:
        value = getattr(importlib.import_module(f"targeting.{_API[name]}"), name)
        globals()[name] = value  # the next access is a plain attribute
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"targeting.{name}")
    raise AttributeError(f"module 'targeting' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*_API, *_SUBMODULES, "__version__"])


if TYPE_CHECKING:  # for type checkers and IDEs: the same names, imported eagerly
    from targeting.data.demo import DemoWorld, demo_world  # noqa: F401
    from targeting.data.event_input import from_events, from_touchpoints  # noqa: F401
    from targeting.data.identity import fuse, resolve_identity  # noqa: F401
    from targeting.data.io import CampaignInput, from_campaign, read_tables  # noqa: F401
    from targeting.data.profile_input import from_crm, from_profiles  # noqa: F401
    from targeting.data.schema import (  # noqa: F401
        CONTRACTS,
        InsufficientDataError,
        SchemaError,
        TargetingError,
        validate,
    )
    from targeting.data.transactions import IntakeReport, from_transactions  # noqa: F401
    from targeting.evaluation import evaluate  # noqa: F401
    from targeting.evaluation.attribution import attribute, compare_attribution  # noqa: F401
    from targeting.evaluation.audience import (  # noqa: F401  # noqa: F401
        LookalikeEvaluation,
        persuadable_share,
        reliability_curve,
        segment_seed,
    )
    from targeting.evaluation.campaign import CampaignReport, campaign_report  # noqa: F401
    from targeting.evaluation.community import (  # noqa: F401
        OwnerEvaluation,
        OwnerPlan,
        PotentialEvaluation,
        evaluate_owners,
        evaluate_potential,
        plan_owners,
    )
    from targeting.evaluation.drift import DriftReport  # noqa: F401
    from targeting.evaluation.explain import Explanation, explain  # noqa: F401
    from targeting.evaluation.incrementality import Incrementality, incrementality  # noqa: F401
    from targeting.evaluation.journeys import journeys, journeys_from_paths  # noqa: F401
    from targeting.evaluation.metrics import PropensityEvaluation  # noqa: F401
    from targeting.evaluation.planning import CampaignPlan, plan_campaign  # noqa: F401
    from targeting.evaluation.uplift import (  # noqa: F401
        UpliftComparison,
        UpliftEvaluation,
        compare_uplift,
        evaluate_uplift,
        uplift_scorer,
    )
    from targeting.evaluation.value import ValueEvaluation  # noqa: F401
    from targeting.experiments import ExperimentResult, run_experiment  # noqa: F401
    from targeting.features.campaign import CampaignData, campaign_dataset  # noqa: F401
    from targeting.features.pipeline import FeaturePipeline, build_features  # noqa: F401
    from targeting.loop import CampaignLoop, LoopReport, LoopSimulation, simulate_loop  # noqa: F401
    from targeting.models.btyd import BetaGeoModel  # noqa: F401
    from targeting.models.dask import DaskPropensityModel  # noqa: F401
    from targeting.models.lookalike import Audience, LookalikeModel, SeedReport  # noqa: F401
    from targeting.models.owner_potential import OwnerPotentialModel  # noqa: F401
    from targeting.models.owners import OwnerValue, rank_owners  # noqa: F401
    from targeting.models.propensity import PropensityModel  # noqa: F401
    from targeting.models.spend import GammaGammaModel  # noqa: F401
    from targeting.models.uplift import UpliftModel  # noqa: F401
    from targeting.models.value import ValueModel  # noqa: F401
    from targeting.review import log_drift, promote  # noqa: F401
    from targeting.scoring import clear_model_cache, load_model, score  # noqa: F401
    from targeting.store import check_store  # noqa: F401
    from targeting.tracking import (  # noqa: F401
        LoggedModel,
        log_attribution,
        log_lookalike,
        log_owners,
        log_propensity,
        log_uplift,
        log_value,
    )
