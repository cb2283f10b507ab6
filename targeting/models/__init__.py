"""Models: LightGBM estimators on the feature table (propensity, value, uplift, lookalike) and
the BG/NBD and Gamma-Gamma baselines; each scorable model follows the contract in
:mod:`targeting.models._base`. Models never import evaluation. The Dask face
(:mod:`targeting.models.dask`) is imported only when used."""

from targeting.models._base import Scorable, decile_edges
from targeting.models.btyd import BetaGeoModel
from targeting.models.lookalike import Audience, LookalikeModel, LookalikeScorer, SeedReport
from targeting.models.propensity import PropensityModel
from targeting.models.spend import GammaGammaModel
from targeting.models.uplift import UpliftModel, UpliftScorer
from targeting.models.value import ValueModel

__all__ = ["Audience", "BetaGeoModel", "GammaGammaModel", "LookalikeModel", "LookalikeScorer",
           "PropensityModel", "Scorable", "SeedReport", "UpliftModel", "UpliftScorer",
           "ValueModel", "decile_edges"]
