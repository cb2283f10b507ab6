"""Unknown keyword arguments are errors naming the closest valid name, not silently ignored."""

from __future__ import annotations

import pickle

import pytest
from sklearn.base import clone

import targeting as tg


@pytest.mark.parametrize(("make", "wrong", "right"), [
    (lambda **kw: tg.PropensityModel("snacks", **kw), "learning_rat", "learning_rate"),
    (lambda **kw: tg.UpliftModel("s", **kw), "colsample_bytre", "colsample_bytree"),
])
def test_misspelled_parameter_raises_with_the_closest_name(make, wrong, right):
    with pytest.raises(TypeError, match=f"'{wrong}': did you mean '{right}'"):
        make(**{wrong: 0.1})
    model = make(**{right: 0.1})
    with pytest.raises(TypeError, match=f"did you mean '{right}'"):
        model.set_params(**{wrong: 0.2})


def test_valid_lightgbm_names_and_aliases_survive_clone_and_pickle():
    model = tg.PropensityModel("snacks", num_leaves=7, n_estimators=10, min_child_samples=5)
    for copy in (clone(model), pickle.loads(pickle.dumps(model))):
        params = copy.get_params()
        assert (params["num_leaves"], params["n_estimators"]) == (7, 10)
