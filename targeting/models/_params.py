"""Free LightGBM keyword parameters on an estimator, the way LightGBM's own sklearn wrapper
accepts ``**kwargs``: visible to ``get_params``, ``clone`` and grid search."""

from __future__ import annotations

import difflib
from functools import cache
from typing import Any


@cache
def lightgbm_names() -> frozenset[str]:
    """Every LightGBM parameter name and alias, from the library itself."""
    from lightgbm.basic import _ConfigAliases

    aliases = _ConfigAliases._get_all_param_aliases()
    return frozenset(name for names in aliases.values() for name in names) | set(aliases)


def check_lightgbm_params(params: dict[str, Any], own: list[str] | tuple = ()) -> None:
    """Raise TypeError naming the closest valid name for any unknown keyword argument.

    Examples
    --------
    >>> check_lightgbm_params({"learning_rat": 0.1})
    Traceback (most recent call last):
    ...
    TypeError: unknown keyword argument 'learning_rat': did you mean 'learning_rate'? ...
    """
    valid = sorted(lightgbm_names() | set(own))
    for key in params:
        if key not in valid:
            close = difflib.get_close_matches(key, valid, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise TypeError(f"unknown keyword argument {key!r}: {hint}(neither an argument of "
                            "the estimator nor a LightGBM parameter)")


class LightGBMParamsMixin:
    """Put before ``BaseEstimator``; the estimator stores its ``**lightgbm_params`` in
    ``self._lightgbm_params`` in ``__init__``. Unknown names raise TypeError with the closest
    valid one (a misspelled ``learning_rat=`` used to be ignored silently)."""

    @property
    def _lightgbm_params(self) -> dict[str, Any]:
        found = self.__dict__.get("_lgb_params")
        # Models pickled before validation existed keep the dict under its attribute name.
        return found if found is not None else self.__dict__.setdefault("_lightgbm_params", {})

    @_lightgbm_params.setter
    def _lightgbm_params(self, params: dict[str, Any]) -> None:
        check_lightgbm_params(params, self._get_param_names())
        self.__dict__["_lgb_params"] = params

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
                check_lightgbm_params({key: value}, own)
                self._lightgbm_params[key] = value
        return self
