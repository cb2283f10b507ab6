"""Models: LightGBM estimators on the feature table (propensity, uplift, lookalike) and the
BG/NBD baseline; each scorable model follows the contract in :mod:`targeting.models._base`.
Models never import evaluation. The Dask face (:mod:`targeting.models.dask`) is imported only
when used."""

from targeting.models._base import Scorable, decile_edges
from targeting.models.btyd import BetaGeoModel
from targeting.models.lookalike import Audience, LookalikeModel, LookalikeScorer, SeedReport
from targeting.models.propensity import PropensityModel
from targeting.models.uplift import UpliftModel, UpliftScorer

__all__ = ["Audience", "BetaGeoModel", "LookalikeModel", "LookalikeScorer", "PropensityModel",
           "Scorable", "SeedReport", "UpliftModel", "UpliftScorer", "decile_edges"]
