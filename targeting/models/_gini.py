"""The normalised Gini of a value ranking (Wang, Liu & Miao 2019, "A deep probabilistic model
for customer lifetime value prediction", section 4): how much of the realised revenue a ranking
puts first, as a share of what the perfect ranking (by the realised revenue itself) puts first.

Users sorted by score, the cumulative share of revenue against the share of users is the
ranking's gain curve; its Gini is twice the area between it and the diagonal. Users with tied
scores are taken in every order alike (the curve grows linearly through a tie), so the value
does not depend on the order of the input. The value model chooses between its candidates by
it (on the validation snapshot), and the evaluation reports it: one definition, here, below
both.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata


def gini(y, s) -> float:
    """Gini of the gain curve of revenue ``y`` ranked by score ``s`` (highest first).

    With ``r_i`` the position of user ``i`` counted from the top (tied users share their
    average position) and ``Y`` the total, the area under the curve is
    ``sum_i y_i (n - r_i + 1/2) / (n Y)``, the trapezoid rule over the ``n`` steps.

    Examples
    --------
    >>> bool(gini([0, 0, 10], [3, 2, 1]) < 0 < gini([0, 0, 10], [1, 2, 3]))
    True
    """
    y, s = np.asarray(y, dtype=float), np.asarray(s, dtype=float)
    total, n = y.sum(), len(y)
    if n == 0 or total == 0:
        return float("nan")
    position = rankdata(-s, method="average")
    area = float(y @ (n - position + 0.5)) / (n * total)
    return 2 * area - 1


def normalised_gini(y, s) -> float:
    """Gini of the ranking by ``s`` divided by the Gini of the ranking by ``y`` itself: 1 is
    the perfect ranking, 0 a random one.

    Examples
    --------
    >>> normalised_gini([0, 5, 10], [0.1, 0.2, 0.3])
    1.0
    >>> normalised_gini([0, 5, 10], [1, 1, 1])
    0.0
    """
    best = gini(y, y)
    return float(gini(y, s) / best) if best > 0 else float("nan")
