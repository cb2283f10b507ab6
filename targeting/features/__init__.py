"""Features: the point-in-time feature table per user, one builder per silo, fused by
:class:`FeaturePipeline`. Reads only rows strictly before ``as_of``."""

from targeting.features.campaign import CampaignData, campaign_dataset
from targeting.features.pipeline import BUILDERS, FeaturePipeline, build_features
from targeting.features.reference import FeatureReference

__all__ = ["BUILDERS", "CampaignData", "FeatureReference", "FeaturePipeline", "build_features",
           "campaign_dataset"]
