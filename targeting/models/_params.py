"""Free LightGBM keyword parameters on an estimator, the way LightGBM's own sklearn wrapper
accepts ``**kwargs``: visible to ``get_params``, ``clone`` and grid search."""

from __future__ import annotations

from typing import Any


class LightGBMParamsMixin:
    """Put before ``BaseEstimator``; the estimator stores its ``**lightgbm_params`` in
    ``self._lightgbm_params`` in ``__init__``."""

    _lightgbm_params: dict[str, Any]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        params = super().get_params(deep=deep)
        params.update(self._lightgbm_params)
        return params

    def set_params(self, **params: Any):
        own = self._get_param_names()
        for key, value in params.items():
            if key in own:
                setattr(self, key, value)
            else:
                self._lightgbm_params[key] = value
        return self
